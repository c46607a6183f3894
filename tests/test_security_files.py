"""Issue 13, item 11: settings, database, models and digests are owner-only; the crawl child gets no secret."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from narrative_tracker.classifier.features import prepare_words
from narrative_tracker.classifier.registry import save_model
from narrative_tracker.cli import main
from narrative_tracker.crawler import runner
from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import backup_sqlite, open_database
from narrative_tracker.trends.digest import produce
from narrative_tracker.trends.digest.delivery import write_files

from helpers.alerts_history import NOW, TODAY
from helpers.world import World
from sites.news import Site, article_html, rss, write_catalogue, write_config


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask: files world-readable unless the code says otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_init_writes_an_owner_only_config(tmp_path: Path, loose_umask: None) -> None:
    config = tmp_path / "conf" / "config.toml"
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(config), "init"])
    assert exit_.value.code == 0
    assert mode(config) == 0o600


def test_the_sqlite_database_its_wal_and_backups_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "data" / "tracker.db"
    database = open_database(f"sqlite:///{path}")
    try:
        World(database).source("rs", "russian-state")  # a write, so that the -wal file exists
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and mode(wal) == 0o600
        backup_sqlite(database.engine, tmp_path / "copy.db")
        assert mode(tmp_path / "copy.db") == 0o600
    finally:
        database.dispose()


def test_model_files_are_owner_only(tmp_path: Path, loose_umask: None) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["arms deliveries paused", "the west is weak", "weather is sunny", "football match tonight"]
    pipeline = Pipeline([("tfidf", TfidfVectorizer(preprocessor=prepare_words)), ("classifier", LogisticRegression())])
    folder = save_model(tmp_path / "models", "m1", pipeline.fit(texts, [1, 1, 0, 0]), {})
    assert mode(tmp_path / "models") == 0o700 and mode(folder) == 0o700
    assert {p.name: mode(p) for p in folder.iterdir()} == {"model.skops": 0o600, "metadata.json": 0o600}


def test_digest_files_are_owner_only(sqlite_database: Any, tmp_path: Path, loose_umask: None) -> None:
    World(sqlite_database).source("rs", "russian-state")
    digest = produce(sqlite_database, load_settings(None), TODAY, now=NOW)
    written = write_files(digest, tmp_path / "digests")
    assert written and all(mode(p) == 0o600 for p in written)
    assert mode(tmp_path / "digests") == 0o700


def test_the_crawl_child_gets_no_secret_in_its_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARRATIVE_TRACKER_SMTP_PASSWORD", "smtp-secret")
    monkeypatch.setenv("NARRATIVE_TRACKER_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cloud-secret")
    seen: list[dict[str, str]] = []
    real_popen = subprocess.Popen

    def spying_popen(*args: Any, **kwargs: Any) -> subprocess.Popen[str]:
        child = real_popen(*args, **kwargs)
        # Popen returns once exec has closed the child's close-on-exec pipe, which the kernel does
        # just before it lays out the new environment: until then /proc shows an empty one.
        raw = b""
        for _ in range(200):
            raw = Path(f"/proc/{child.pid}/environ").read_bytes()
            if raw:
                break
            time.sleep(0.01)
        seen.append(dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item))
        return child

    monkeypatch.setattr(runner.subprocess, "Popen", spying_popen)
    with NewsWeb() as web:
        web.site["/robots.txt"] = Page(b"User-agent: *\n", "text/plain")
        web.site["/a.html"] = Page(article_html("A", ["text " * 80]).encode())
        web.site["/rss.xml"] = Page(rss([("A", web.url("/a.html"), "")]), "application/rss+xml")
        catalogue = write_catalogue(tmp_path / "sources.toml", Site(web, feeds={"west": web.url("/rss.xml")}))
        settings = load_settings(write_config(tmp_path / "home", catalogue, f"sqlite:///{tmp_path / 'db.sqlite'}"))
        stats = runner.run_crawl(settings, timeout=120)
    assert stats["new_articles"] == 1  # the child still reaches the database (through its plan)
    [environment] = seen
    assert "PATH" in environment
    assert not [k for k in environment if k.startswith("NARRATIVE_TRACKER_") or k.startswith("AWS_")]
    assert not [v for v in environment.values() if "secret" in v]
