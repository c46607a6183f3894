"""What the crawl reads from and writes to the database (SQLAlchemy Core on the hot paths).

Articles are inserted in batches, one transaction each, keyed by ``url_hash`` with "on conflict
do nothing": re-running a crawl, or two crawls at once, or a crawl killed mid-batch never stores
an article twice nor loses one that was committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, bindparam, or_, select, update
from sqlalchemy.engine import Connection

from narrative_tracker.crawler.dedup import NUM_PERM, DuplicateIndex
from narrative_tracker.crawler.sources import SourceSpec
from narrative_tracker.crawler.urls import url_hash
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, ArticleAlias, Feed, Source
from narrative_tracker.storage.models.base import table_of, utc_now

ARTICLES = table_of(Article)
ALIASES = table_of(ArticleAlias)
#: Key of an article row naming the hash of the link that led to it, when the article is stored
#: under another URL (its canonical one): kept as an alias, not a column of ``articles``.
ALIAS_KEY = "alias_hash"
FEEDS = table_of(Feed)
#: Rows per transaction when inserting articles.
BATCH_SIZE = 1000
#: Rows per INSERT ... VALUES statement. Each row count makes a different SQL text, and SQLite
#: keeps every prepared statement it has seen (a 1,000-row one is megabytes): small fixed pages
#: keep that cache small.
INSERT_PAGE_ROWS = 50
_CHUNK = 500  # keys per IN (...) query
SIGNATURE_BYTES = NUM_PERM * 4
#: Columns only Telegram posts fill: every row of a batch gets them (one INSERT statement for all).
POST_COLUMNS: dict[str, Any] = {
    "views": None,
    "views_granularity": None,
    "forwarded_from_channel": None,
    "forwarded_from_url": None,
}


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class FeedRow:
    """A feed, sitemap or listing URL of a source, with its stored state."""

    id: int
    source_id: int
    url: str
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    consecutive_failures: int
    next_poll_at: datetime | None


def sync_catalogue(db: Database, sources: Iterable[SourceSpec], *, telegram_base_url: str = "https://t.me") -> None:
    """Make the ``sources`` and ``feeds`` tables match the catalogue (rows of removed outlets stay)."""
    with db.session() as session:
        existing = {s.slug: s for s in session.scalars(select(Source))}
        known_feeds = {f.url: f for f in session.scalars(select(Feed))}
        for spec in sources:
            row = existing.get(spec.slug)
            if row is None:
                row = Source(slug=spec.slug)
                session.add(row)
            row.name, row.group, row.country = spec.name, spec.group, spec.country
            row.languages, row.domains = list(spec.languages), list(spec.domains)
            session.flush()
            for url in entry_urls(spec, telegram_base_url):
                feed = known_feeds.get(url)
                if feed is None:
                    feed = Feed(url=url, source_id=row.id)
                    session.add(feed)
                    known_feeds[url] = feed
                else:
                    feed.source_id = row.id


def entry_urls(spec: SourceSpec, telegram_base_url: str = "https://t.me") -> list[str]:
    """Every URL a crawl starts from for ``spec``: feeds, sitemaps, listing pages and channel previews."""
    urls = [
        *spec.feeds,
        *spec.sitemaps,
        *(spec.listing.urls if spec.listing else []),
        *telegram_entry_urls(spec, telegram_base_url),
    ]
    return list(dict.fromkeys(urls))


def telegram_entry_urls(spec: SourceSpec, base: str) -> list[str]:
    """The preview page of each of the outlet's channels (the channel's feed row, holding its state)."""
    return [f"{base.rstrip('/')}/s/{channel}" for channel in spec.telegram]


def load_source_ids(db: Database, slugs: Sequence[str]) -> dict[str, int]:
    with db.engine.connect() as connection:
        rows = connection.execute(select(Source.id, Source.slug).where(Source.slug.in_(list(slugs))))
        return {slug: source_id for source_id, slug in rows}


def load_feeds(db: Database, slugs: Sequence[str]) -> dict[str, FeedRow]:
    """Stored state of the entry URLs of the given sources, by URL."""
    query = select(Feed).join(Source, Source.id == Feed.source_id).where(Source.slug.in_(list(slugs)))
    with db.session() as session:
        return {
            feed.url: FeedRow(
                id=feed.id,
                source_id=feed.source_id,
                url=feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                content_hash=feed.content_hash,
                consecutive_failures=feed.consecutive_failures or 0,
                next_poll_at=feed.next_poll_at,
            )
            for feed in session.scalars(query)
        }


def known_url_hashes(db: Database, hashes: Sequence[str]) -> set[str]:
    with db.engine.connect() as connection:
        return _stored_hashes(connection, list(hashes))


def load_duplicate_index(db: Database, threshold: float, days: int) -> DuplicateIndex:
    """The near-duplicate index rebuilt from the signatures of the last ``days`` days of articles."""
    since = utc_now() - timedelta(days=days)
    query = (
        select(ARTICLES.c.id, ARTICLES.c.signature, ARTICLES.c.duplicate_of_id)
        .where(ARTICLES.c.fetched_at >= since, ARTICLES.c.signature.is_not(None))
        .order_by(ARTICLES.c.id)
    )
    ids: list[int] = []
    roots: list[int] = []
    signatures: list[bytes] = []
    with db.engine.connect() as connection:
        for article_id, sig, original in connection.execute(query.execution_options(yield_per=2000)):
            if sig is not None and len(sig) == SIGNATURE_BYTES:
                ids.append(article_id)
                roots.append(original or article_id)
                signatures.append(bytes(sig))
    return DuplicateIndex.build(threshold, ids, roots, signatures)


def refresh_duplicate_index(db: Database, index: DuplicateIndex, days: int, *, margin: int) -> int:
    """Teach ``index`` the articles of the last ``days`` days stored since it was loaded (by other
    crawl processes): those with ids above its highest one less ``margin`` that it lacks. Returns
    how many it learnt.

    For a crawl process that serves several tasks (``crawler.server``). ``margin`` covers ids that
    committed out of order: a sequence hands out ids at insert time, not at commit. The ids are
    read first and the signatures (512 bytes each) of the missing ones only.
    """
    after = max(index.highest_id() - margin, 0)
    known = index.ids_above(after)
    since = utc_now() - timedelta(days=days)
    recent = ARTICLES.c.fetched_at >= since, ARTICLES.c.signature.is_not(None)
    with db.engine.connect() as connection:
        ids = connection.scalars(select(ARTICLES.c.id).where(ARTICLES.c.id > after, *recent)).all()
        missing = sorted(set(ids) - known)
        learnt = 0
        for chunk in _chunks(missing):
            query = select(ARTICLES.c.id, ARTICLES.c.signature, ARTICLES.c.duplicate_of_id).where(
                ARTICLES.c.id.in_(chunk)
            )
            for article_id, sig, original in connection.execute(query.order_by(ARTICLES.c.id)):
                if sig is not None and len(sig) == SIGNATURE_BYTES:
                    index.add(article_id, bytes(sig), root=original or article_id)
                    learnt += 1
    index.compact()
    return learnt


def _insert(connection: Connection) -> Insert:
    return _insert_ignoring(connection, ARTICLES, "url_hash")


def _insert_ignoring(connection: Connection, table: Any, key: str) -> Insert:
    """INSERT ... ON CONFLICT (key) DO NOTHING."""
    # Imported here: the PostgreSQL dialect costs a SQLite crawl 20 ms of start-up.
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    if connection.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    raise NotImplementedError(f"no conflict-free insert for the {connection.dialect.name} database")


@dataclass(frozen=True)
class StoredBatch:
    new: int
    duplicates: int
    already_stored: int
    new_hashes: tuple[str, ...] = ()


def store_articles(db: Database, rows: list[dict[str, Any]], index: DuplicateIndex) -> StoredBatch:
    """Insert ``rows`` (article column values) in one transaction and link their copies.

    A row whose ``url_hash`` is stored already is left alone. Each new article is linked through
    ``duplicate_of_id`` to the first-seen article with the same text, or failing that to the
    first-seen one whose signature is at or above the threshold (always the root of a chain of
    copies, never a copy); the index learns the new signatures.

    A Telegram repost is linked to the post it was forwarded from (to that post's root), whatever
    its text, when that post is stored; and a post stored after its reposts becomes their root,
    since it was posted first (the index keeps the reposts' old roots until the next crawl).
    """
    aliases = {row[ALIAS_KEY]: row["url_hash"] for row in rows if row.get(ALIAS_KEY)}
    rows = [{**POST_COLUMNS, **{k: v for k, v in row.items() if k != ALIAS_KEY}} for row in rows]
    unique = list({row["url_hash"]: row for row in reversed(rows)}.values())[::-1]
    if not unique:
        return StoredBatch(0, 0, 0)
    added: list[int] = []
    links: list[dict[str, int]] = []
    try:
        with db.engine.begin() as connection:
            # Rows stored before (this or a concurrent crawl) conflict and are skipped; RETURNING
            # gives the ids of exactly the rows this statement inserted.
            inserted = connection.execute(
                _insert(connection).returning(ARTICLES.c.url_hash, ARTICLES.c.id),
                unique,
                execution_options={"insertmanyvalues_page_size": INSERT_PAGE_ROWS},
            ).all()
            by_hash = {row["url_hash"]: row for row in unique}
            fresh = sorted(((article_id, by_hash[digest]) for digest, article_id in inserted), key=_first)
            if aliases:
                _store_aliases(connection, aliases)
            if not fresh:
                return StoredBatch(0, 0, len(rows))
            by_content = _first_by_content(connection, [row["content_hash"] for _, row in fresh if row["content_hash"]])
            # The articles indexed before this batch, looked up for the whole batch at once.
            indexed = index.find_indexed([row["signature"] for _, row in fresh])
            fresh_ids = {article_id for article_id, _ in fresh}
            forwarded = _roots_by_url(connection, [row["forwarded_from_url"] for _, row in fresh])
            reposts = _reposts_of(connection, [row["url"] for _, row in fresh], fresh_ids)
            rechain: list[dict[str, Any]] = []
            linked = 0
            for (article_id, row), earlier in zip(fresh, indexed, strict=True):
                digest, sig = row["content_hash"], row["signature"]
                first = by_content.get(digest) if digest else None
                original = first[1] if first is not None and first[0] < article_id else None
                if original is None and sig is not None:
                    original = earlier if earlier is not None else index.find_live(sig)
                my_reposts = reposts.get(row["url"], [])
                if row["forwarded_from_url"] in forwarded and forwarded[row["forwarded_from_url"]] != article_id:
                    original = forwarded[row["forwarded_from_url"]]
                elif original in my_reposts:
                    original = None  # it resembles its own repost: it came first
                root = original or article_id
                for repost_id in my_reposts:
                    links.append({"article_id": repost_id, "original": root})
                    rechain.append({"old_root": repost_id, "root": root})
                if digest and (first is None or first[0] >= article_id):
                    by_content[digest] = (article_id, root)
                if sig is not None:
                    index.add(article_id, sig, root=root)
                    added.append(article_id)
                if original is not None:
                    links.append({"article_id": article_id, "original": original})
                    linked += 1
            if links:
                connection.execute(
                    update(ARTICLES)
                    .where(ARTICLES.c.id == bindparam("article_id"))
                    .values(duplicate_of_id=bindparam("original")),
                    links,
                )
            if rechain:  # copies of a repost now copy the post it reposted
                connection.execute(
                    update(ARTICLES)
                    .where(ARTICLES.c.duplicate_of_id == bindparam("old_root"))
                    .values(duplicate_of_id=bindparam("root")),
                    rechain,
                )
    except BaseException:
        for article_id in added:  # the transaction was rolled back: so are its signatures
            index.remove(article_id)
        raise
    index.compact()
    return StoredBatch(
        new=len(fresh),
        duplicates=linked,
        already_stored=len(rows) - len(fresh),
        new_hashes=tuple(row["url_hash"] for _, row in fresh),
    )


def _first(pair: tuple[int, dict[str, Any]]) -> int:
    return pair[0]


def _stored_hashes(connection: Connection, hashes: list[str]) -> set[str]:
    """The hashes stored as an article's URL or as an alias of one (a feed link)."""
    found: set[str] = set()
    for chunk in _chunks(hashes):
        found.update(connection.scalars(select(ARTICLES.c.url_hash).where(ARTICLES.c.url_hash.in_(chunk))))
        found.update(connection.scalars(select(ALIASES.c.url_hash).where(ALIASES.c.url_hash.in_(chunk))))
    return found


def _store_aliases(connection: Connection, aliases: dict[str, str]) -> None:
    """Record each link hash -> the article stored under its canonical URL (once; a link already
    recorded, or that is itself an article's URL, is left alone)."""
    targets: dict[str, int] = {}
    for chunk in _chunks(sorted(set(aliases.values()))):
        query = select(ARTICLES.c.url_hash, ARTICLES.c.id).where(ARTICLES.c.url_hash.in_(chunk))
        targets.update({digest: article_id for digest, article_id in connection.execute(query)})
    known = _stored_hashes(connection, list(aliases))
    values = [
        {"url_hash": link, "article_id": targets[canonical], "created_at": utc_now()}
        for link, canonical in aliases.items()
        if link not in known and canonical in targets
    ]
    if values:
        connection.execute(_insert_ignoring(connection, ALIASES, "url_hash"), values)


def _first_by_content(connection: Connection, digests: list[str]) -> dict[str, tuple[int, int]]:
    """content_hash -> (id, root id) of the first stored article with that text."""
    found: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(sorted(set(digests))):
        query = (
            select(ARTICLES.c.content_hash, ARTICLES.c.id, ARTICLES.c.duplicate_of_id)
            .where(ARTICLES.c.content_hash.in_(chunk))
            .order_by(ARTICLES.c.id)
        )
        for digest, article_id, original in connection.execute(query):
            found.setdefault(digest, (article_id, original or article_id))
    return found


def _roots_by_url(connection: Connection, urls: list[str | None]) -> dict[str, int]:
    """URL -> root id (its original's id, or its own) of the stored articles among ``urls``."""
    wanted = {url_hash(url): url for url in urls if url}
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(wanted)):
        query = select(ARTICLES.c.url_hash, ARTICLES.c.id, ARTICLES.c.duplicate_of_id).where(
            ARTICLES.c.url_hash.in_(chunk)
        )
        for digest, article_id, original in connection.execute(query):
            found[wanted[digest]] = original or article_id
    return found


def _reposts_of(connection: Connection, urls: list[str], exclude: set[int]) -> dict[str, list[int]]:
    """URL -> ids of the stored reposts of that post (other than ``exclude``)."""
    found: dict[str, list[int]] = {}
    for chunk in _chunks(sorted(set(urls))):
        query = select(ARTICLES.c.forwarded_from_url, ARTICLES.c.id).where(ARTICLES.c.forwarded_from_url.in_(chunk))
        for url, article_id in connection.execute(query.order_by(ARTICLES.c.id)):
            if article_id not in exclude:
                found.setdefault(url, []).append(article_id)
    return found


def update_feed_state(db: Database, feed_id: int, values: dict[str, Any]) -> None:
    """Write a feed's state after a poll; forward only: a poll that ended after a later one (two
    workers, or a redelivered crawl task) does not put an older ETag or date back."""
    query = update(FEEDS).where(FEEDS.c.id == feed_id)
    fetched = values.get("last_fetched_at")
    if fetched is not None:
        query = query.where(or_(FEEDS.c.last_fetched_at.is_(None), FEEDS.c.last_fetched_at <= fetched))
    with db.engine.begin() as connection:
        connection.execute(query.values(**values))
