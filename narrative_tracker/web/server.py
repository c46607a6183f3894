"""Running the web app under uvicorn (in the foreground, or in a thread for the demo and tests)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import uvicorn

from narrative_tracker.errors import ConfigError

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database


def make_server(settings: Settings, database: Database, *, host: str, port: int) -> uvicorn.Server:
    from narrative_tracker.web.app import create_app

    app = create_app(settings, database)
    # Behind a reverse proxy, X-Forwarded-* from 127.0.0.1 only (uvicorn's default trust list).
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            proxy_headers=True, server_header=False, lifespan="off")
    return uvicorn.Server(config)


def serve(settings: Settings, database: Database, *, host: str, port: int) -> None:
    server = make_server(settings, database, host=host, port=port)
    server.run()
    if not server.started:
        raise ConfigError(f"the web app could not listen on {host}:{port}: is the port taken? choose --port")


class BackgroundServer:
    """The app on a thread of this process, for ``demo --keep-running`` and the browser tests."""

    def __init__(self, settings: Settings, database: Database, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = make_server(settings, database, host=host, port=port)
        self.host = host
        self.thread = threading.Thread(target=self.server.run, name="web-app", daemon=True)

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the web app did not start on {self.host}")
            time.sleep(0.05)
        return self

    @property
    def port(self) -> int:
        sockets = [s for server in self.server.servers for s in server.sockets]
        return int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
