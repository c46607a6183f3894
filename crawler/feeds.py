"""Reading RSS 2.0, Atom and RDF feeds (bytes fetched by Scrapy) with feedparser.

feedparser never fetches or opens anything here: it gets the response body (as a file object,
so that a body naming a path is not read from disk) and headers, so every request
goes through Scrapy's politeness, robots.txt and size limits.
"""

from __future__ import annotations

import calendar
import io
from dataclasses import dataclass
from datetime import UTC, datetime

import feedparser
from feedparser.exceptions import CharacterEncodingOverride, NonXMLContentType
from lxml import html as lxml_html

#: Feed entries dated further in the future than this are dated "now" (broken clocks, typos).
MAX_FUTURE_SECONDS = 24 * 3600


BENIGN_PROBLEMS = (CharacterEncodingOverride, NonXMLContentType)


class FeedParseError(ValueError):
    """The body is not a feed, or so broken that no entry could be read from it."""


@dataclass(frozen=True)
class FeedEntry:
    link: str
    title: str
    summary: str
    published_at: datetime | None
    author: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[FeedEntry]
    #: True when the feed was malformed and feedparser recovered what it could.
    malformed: bool
    problem: str | None


def _date(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                value = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
            except (OverflowError, ValueError, OSError):
                continue
            now = datetime.now(UTC)
            return now if (value - now).total_seconds() > MAX_FUTURE_SECONDS else value
    return None


def _plain(markup: str) -> str:
    """Text of an HTML summary (feeds put markup in descriptions)."""
    if not markup or "<" not in markup:
        return " ".join(markup.split())
    try:
        return " ".join(lxml_html.fromstring(markup).text_content().split())
    except (ValueError, TypeError, Exception):  # lxml raises several kinds on junk; the summary is optional
        return ""


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Entries of the feed in ``body``, newest first; FeedParseError when there are none to read."""
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    # A file object, never the bytes: feedparser tries open() on a bytes or str value first, so a
    # body that is a path ("/etc/...", "/dev/zero", a local feed file) would be read from disk.
    parsed = feedparser.parse(
        io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    error = parsed.get("bozo_exception") if parsed.get("bozo") else None
    # A missing or odd Content-Type, or a charset declared twice, is not a broken feed.
    malformed = error is not None and not isinstance(error, BENIGN_PROBLEMS)
    problem = str(error) if malformed else None
    entries: list[FeedEntry] = []
    for entry in parsed.entries:
        link = entry.get("link") or ""
        if not link:
            candidate = entry.get("id") or ""
            link = candidate if candidate.startswith(("http://", "https://")) else ""
        if not link:
            continue
        entries.append(
            FeedEntry(
                link=link.strip(),
                title=" ".join((entry.get("title") or "").split()),
                summary=_plain(entry.get("summary") or ""),
                published_at=_date(entry),
                author=" ".join((entry.get("author") or "").split())[:300] or None,
            )
        )
    if not entries and (malformed or not parsed.get("version")):
        raise FeedParseError(f"not a readable feed: {problem or 'no RSS, Atom or RDF entries found'}")
    oldest = datetime.min.replace(tzinfo=UTC)
    entries.sort(key=lambda e: e.published_at or oldest, reverse=True)
    return ParsedFeed(entries=entries, malformed=malformed, problem=problem)
