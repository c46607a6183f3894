"""The Starlette application: routes, security headers, error pages, and the shared state."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from narrative_tracker.trends.digest.safety import html_text, safe_url
from narrative_tracker.web import api, users, views
from narrative_tracker.web.auth import AuthConfig, CsrfFailed, Forbidden, RateLimiter, csrf_token, set_csrf_cookie
from narrative_tracker.web.todaycache import TodayCache
from narrative_tracker.web.training import TrainingState

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

HERE = Path(__file__).parent
CSRF_MESSAGE = "the form's CSRF token is missing or wrong (or the request came from another site): reload the page"
SECRET_FILE = "web-secret"  # noqa: S105 - a file name
# No inline script or style anywhere; everything comes from this app.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI middleware (BaseHTTPMiddleware would break streaming and context variables)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                if not scope["path"].startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def load_secret(home: Path) -> str:
    """The session secret: made on first start, owner-only (0600) in the data directory."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SECRET_FILE
    if not path.exists():
        try:
            fd = path.open("x", encoding="ascii")  # never overwrite one made concurrently
        except FileExistsError:
            pass
        else:
            with fd:
                path.chmod(0o600)
                fd.write(secrets.token_urlsafe(48))
    path.chmod(0o600)
    return path.read_text(encoding="ascii").strip()


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        # Every {{ value }} goes through the digest's HTML escaping (entities, then script schemes and
        # on*= handlers defused), so even a naive scan of a page finds nothing active in crawled text.
        finalize=html_text,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    return env


async def _forbidden(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, Forbidden) else CSRF_MESSAGE
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=403)
    return views.render(request, "error.html", {"status": 403, "message": message}, status=403)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    if exc.status_code == 404 and getattr(request.state, "account", None) is None:
        return PlainTextResponse("not found", status_code=404)
    return views.render(request, "error.html", {"status": exc.status_code, "message": exc.detail},
                        status=exc.status_code)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings, database: Database, *, secret: str | None = None) -> Starlette:
    routes: list[Any] = [
        Route("/healthz", healthz),
        Route("/login", views.login_form, methods=["GET"]),
        Route("/login", views.login, methods=["POST"]),
        Route("/logout", views.logout, methods=["POST"]),
        *views.ROUTES,
        *users.ROUTES,
        *api.ROUTES,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[],
        exception_handlers={Forbidden: _forbidden, CsrfFailed: _forbidden, HTTPException: _http_error},
    )
    base_url = settings.web.base_url or ""
    app.state.settings = settings
    app.state.database = database
    app.state.auth = AuthConfig(
        secret=secret or load_secret(settings.home),
        session_seconds=settings.web.session_hours * 3600,
        secure_cookies=base_url.startswith("https://"),
    )
    app.state.login_limiter = RateLimiter(limit=5, window=300)
    app.state.templates = templates()
    app.state.csrf_token = csrf_token
    app.state.set_csrf_cookie = set_csrf_cookie
    app.state.training = TrainingState()
    app.state.last_sign_in = {}  # user name -> when they last signed in here (kept in memory only)
    app.state.today_cache = TodayCache()
    app.state.stop = threading.Event()  # set when the server stops: jobs started from the app end
    app.add_middleware(SecurityHeaders)
    return app
