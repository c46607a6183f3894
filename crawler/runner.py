"""Running one crawl in a child process: the entry point of ``narrative-tracker crawl`` and the crawl job.

    stats = run_crawl(settings, sources=["tass"], max_articles=50, stop=event, progress=callback)

The catalogue is validated and synchronised into the database here, in the calling process, so
that a bad catalogue or an unreachable database is reported before anything starts. The crawl
itself runs in ``python -m crawler.child`` (Twisted's reactor cannot restart in a long-lived
process); it is stopped when ``stop`` is set or the timeout passes: first politely (SIGTERM,
Scrapy finishes and stores what is in flight), then by force after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypedDict

from narrative_tracker.crawler.sources import SourceSpec, load_sources
from narrative_tracker.crawler.store import sync_catalogue
from narrative_tracker.crawler.tracker import CrawlTracker
from narrative_tracker.errors import CrawlError, UsageError
from narrative_tracker.interrupt import StopFlag, stop_requested

if TYPE_CHECKING:
    from narrative_tracker.settings import Settings
    from narrative_tracker.storage.database import Database

logger = logging.getLogger(__name__)

#: Seconds a stopped crawl gets to store what it has before it is killed (the CLI's default; the
#: crawl job passes a shorter one that fits in the job's own grace, see jobs.crawl).
STOP_GRACE_SECONDS = 15.0

Progress = Callable[[int, int | None], None]


class SourceCheck(TypedDict):
    """One entry point fetched by ``check_sources`` (``sources check``)."""

    slug: str
    kind: str  # feed | sitemap | listing | telegram
    url: str
    items: int | None
    newest: str | None  # ISO 8601 date of the newest item, when the entry point dates them
    status: str  # ok | failed
    http_status: int | None
    error: str | None
    #: Why it failed before any answer: a key of vocabulary.FETCH_FAILURE_CAUSES (dns, refused...).
    cause: str | None


def select_sources(catalogue: list[SourceSpec], slugs: Sequence[str]) -> list[SourceSpec]:
    if not slugs:
        return catalogue
    by_slug = {spec.slug: spec for spec in catalogue}
    unknown = [slug for slug in slugs if slug not in by_slug]
    if unknown:
        raise UsageError(
            f"unknown source {unknown[0]!r}: see `narrative-tracker sources list` for the slugs of the catalogue"
        )
    return [by_slug[slug] for slug in dict.fromkeys(slugs)]


def run_crawl(
    settings: Settings,
    *,
    database: Database | None = None,
    sources: Sequence[str] = (),
    max_articles: int | None = None,
    stop: StopFlag | None = None,
    timeout: float | None = None,
    progress: Progress | None = None,
    worker_mode: bool = False,
    stop_grace: float = STOP_GRACE_SECONDS,
) -> dict[str, Any]:
    """Crawl the catalogue's sources (or the named ones) once and return the summary stats.

    ``worker_mode`` (a queue worker's crawl task): politeness is shared with every other crawl
    process through the database (``crawler.limiter``). Every crawl process dies with its caller
    (``crawler.lifetime``).

    The stats hold ``feeds_fetched``, ``feeds_not_modified``, ``feeds_failed``,
    ``feeds_postponed``, ``new_articles``, ``duplicates``, ``already_stored``, ``pages_fetched``,
    ``skipped`` (reason -> count), ``errors`` (kind -> count), ``seconds``, ``timed_out`` and
    ``interrupted``. Raises ConfigError (bad catalogue), UsageError (unknown slug),
    StorageError (database) or CrawlError (the crawl process failed) when nothing could run.
    """
    plan = prepare_crawl(settings, database=database, sources=sources, max_articles=max_articles)
    if worker_mode:
        plan["shared_limits"] = True
        # A task crawls one source: starting a fork server that preloads trafilatura and the
        # language model for it cost more than the extraction it spreads (the worker processes
        # are the parallelism here).
        plan["crawler"]["extraction_workers"] = 0
    limit = timeout if timeout is not None else settings.crawler.crawl_timeout
    return _run_child(plan, stop=stop, timeout=limit, progress=progress, stop_grace=stop_grace)


def prepare_crawl(
    settings: Settings,
    *,
    database: Database | None = None,
    sources: Sequence[str] = (),
    max_articles: int | None = None,
) -> dict[str, Any]:
    """Validate the catalogue, synchronise it into the database and return the crawl process's plan."""
    catalogue = load_sources(settings.sources_file)
    selected = select_sources(catalogue, sources)
    own_database = database is None
    if database is None:
        from narrative_tracker.storage.database import open_database

        database = open_database(settings.database_url)
    try:
        sync_catalogue(database, catalogue, telegram_base_url=settings.crawler.telegram_base_url)
    finally:
        if own_database:
            database.dispose()
    return {
        "database_url": settings.database_url,
        "crawler": settings.crawler.model_dump(mode="json"),
        "sources": [spec.model_dump(mode="json") for spec in selected],
        # Every outlet: a Telegram post's links to any of them are crawled as their articles.
        "outlets": [spec.model_dump(mode="json") for spec in catalogue],
        "max_articles": max_articles,
        # Scrapy at INFO is a line per request: the child logs warnings unless the caller debugs.
        "log_level": "DEBUG" if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else "WARNING",
    }


def check_sources(
    settings: Settings, *, path: Path | None = None, sources: Sequence[str] = (), timeout: float = 300.0
) -> list[SourceCheck]:
    """Fetch every entry point of the catalogue once: one dict per URL with ``slug``, ``kind``,
    ``url``, ``status`` (ok | failed), ``http_status``, ``items``, ``newest``, ``error`` and
    ``cause`` (why no answer came: dns, private-address, refused, timeout, connection).
    Nothing is stored."""
    catalogue = load_sources(path or settings.sources_file)
    plan = {
        "mode": "check",
        "crawler": settings.crawler.model_dump(mode="json"),
        "sources": [spec.model_dump(mode="json") for spec in select_sources(catalogue, sources)],
        "log_level": "DEBUG" if logging.getLogger().getEffectiveLevel() <= logging.DEBUG else "WARNING",
    }
    results: list[SourceCheck] = []

    def collect(event: dict[str, Any]) -> None:
        results.append(
            SourceCheck(
                slug=event["slug"],
                kind=event["kind"],
                url=event["url"],
                items=event["items"],
                newest=event["newest"],
                status=event["status"],
                http_status=event["http_status"],
                error=event["error"],
                cause=event.get("cause"),
            )
        )

    _run_child(plan, stop=None, timeout=timeout, progress=None, on_event=collect)
    return results


#: Environment variables the crawl process keeps: it parses hostile input, so it gets no secret
#: (NARRATIVE_TRACKER_SMTP_PASSWORD, the database URL, cloud credentials...). The database URL
#: reaches it on stdin, in the plan, where /proc/<pid>/environ does not show it.
CHILD_ENVIRONMENT = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
        "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHASHSEED", "PYTHONIOENCODING", "PYTHONUTF8",
        "PYTHONDONTWRITEBYTECODE", "PYTHONSAFEPATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
        "COVERAGE_PROCESS_START",
    }
)  # fmt: skip


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The crawl process's environment: the allow-listed variables and the locale (LC_*)."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if k in CHILD_ENVIRONMENT or k.startswith("LC_")}


def start_child(plan: dict[str, Any]) -> subprocess.Popen[str]:
    """Start the crawl process in its own process group and hand it the plan.

    ``-P`` keeps the working directory off its import path (and off its workers', which inherit the
    flag): a folder that happens to hold a ``narrative_tracker`` or ``crawler`` package must not
    replace the installed code.
    """
    try:
        child = subprocess.Popen(
            [sys.executable, "-P", "-m", "narrative_tracker.crawler.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=child_environment(),
            start_new_session=True,  # its own process group: the extraction workers go with it
        )
    except OSError as exc:
        raise CrawlError(f"cannot start the crawl process ({sys.executable}): {exc.strerror}") from None
    assert child.stdin is not None
    try:
        # Its parent's pid: it dies with us, even if we die before it asked (crawler.lifetime).
        child.stdin.write(json.dumps({**plan, "parent_pid": os.getpid()}))
        child.stdin.close()
    except BrokenPipeError:
        pass  # it died at once: its exit status and log tell why
    return child


def _run_child(
    plan: dict[str, Any],
    *,
    stop: StopFlag | None,
    timeout: float,
    progress: Progress | None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    stop_grace: float = STOP_GRACE_SECONDS,
) -> dict[str, Any]:
    began = time.monotonic()
    child = start_child(plan)
    assert child.stdout is not None
    summary: dict[str, Any] = {}
    reader = threading.Thread(target=_read_events, args=(child.stdout, summary, progress, on_event), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    timed_out = interrupted = False
    # The reader ends when the child's stdout does, that is when the child exits: joining it wakes
    # at once (``Popen.wait`` with a timeout polls, up to 50 ms late).
    while not _ended(reader, child, within=0.2):
        stopped = stop_requested(stop)  # read once: a flag set between two reads made it neither
        if stopped or time.monotonic() >= deadline:
            interrupted, timed_out = stopped, not stopped
            logger.warning("crawl %s: stopping the crawl process", "interrupted" if interrupted else "timed out")
            _stop_child(child, stop_grace)
            break
    reader.join(timeout=10)
    returncode = child.wait()
    if "stats" not in summary and not (interrupted or timed_out):
        raise CrawlError(f"the crawl process failed (exit status {returncode}); its log above says why")
    # A crawl process stopped before Scrapy started sends no summary: it fetched nothing, and the
    # caller still gets every count (as zeros) rather than a partial dict.
    stats = dict(summary["stats"]) if "stats" in summary else CrawlTracker(started=began).summary()
    stats["timed_out"] = timed_out
    stats["interrupted"] = interrupted
    return stats


def _ended(reader: threading.Thread, child: subprocess.Popen[str], *, within: float) -> bool:
    if reader.is_alive():
        reader.join(timeout=within)
        if reader.is_alive():
            return False
    try:
        child.wait(timeout=within)  # at once, unless the child closed its stdout and went on
    except subprocess.TimeoutExpired:
        return False
    return True


def _read_events(
    stream: IO[str],
    summary: dict[str, Any],
    progress: Progress | None,
    on_event: Callable[[dict[str, Any]], None] | None,
) -> None:
    for line in stream:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("event") == "check" and on_event is not None:
            on_event({k: v for k, v in event.items() if k != "event"})
        elif event.get("event") == "summary":
            summary["stats"] = event.get("stats") or {}
        elif event.get("event") == "progress" and progress is not None:
            try:
                progress(int(event.get("done", 0)), event.get("total"))
            except Exception:  # a broken progress display must not break the crawl
                logger.debug("progress callback failed", exc_info=True)


def _stop_child(child: subprocess.Popen[str], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM (Scrapy closes gracefully and stores what it has), then SIGKILL the whole group."""
    try:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
