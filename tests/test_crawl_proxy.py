"""A proxy named in the environment is not used: it would resolve hosts itself, out of reach of the
private-address check on the addresses the crawl connects to."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from narrative_tracker.crawler.runner import run_crawl
from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.settings import load_settings

from sites.news import article_html, rss, write_config


def test_a_crawl_ignores_the_proxy_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = socket.socket()
    proxy.bind(("127.0.0.1", 0))
    proxy.listen(8)
    proxy.settimeout(0.2)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def count_connections() -> None:
        while not done.is_set():
            try:
                accepted.append(proxy.accept()[0])
            except OSError:
                continue

    listener = threading.Thread(target=count_connections, daemon=True)
    listener.start()
    address = f"http://127.0.0.1:{proxy.getsockname()[1]}"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, address)

    web = NewsWeb().start()
    try:
        paragraphs = [
            "The district council voted on the regional budget for roads, schools and the new library.",
            "Officials said the money would be spent within two years, and residents asked questions.",
            "The opposition said the plan came late, and asked for a review of the spending next spring.",
        ]
        web.site["/news/1.html"] = Page(article_html("Budget vote", paragraphs).encode())
        web.site["/news/rss.xml"] = Page(rss([("Budget vote", web.url("/news/1.html"), "")]), "application/rss+xml")
        catalogue = tmp_path / "sources.toml"
        catalogue.write_text(
            '[[source]]\nslug = "local"\nname = "Local"\ngroup = "western"\ncountry = "GB"\nlanguages = ["en"]\n'
            f'feeds = ["{web.url("/news/rss.xml")}"]\ndomains = ["127.0.0.1"]\n'
        )
        settings = load_settings(write_config(tmp_path / "home", catalogue, f"sqlite:///{tmp_path / 'db.sqlite'}"))
        stats = run_crawl(settings, timeout=120)
    finally:
        web.stop()
        done.set()
        listener.join(timeout=5)
        for connection in accepted:
            connection.close()
        proxy.close()
    assert stats["new_articles"] == 1
    assert accepted == []
