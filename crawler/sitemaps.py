"""Reading XML sitemaps and Google News sitemaps (plain or gzipped), safely and boundedly.

Only recent entries are kept (``lastmod`` or ``news:publication_date`` within ``max_age``; an
entry without a date is kept, the per-entry cap bounds those), newest first. Entities are never
resolved and nothing is fetched by the parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

from lxml import etree
from scrapy.utils.gz import gunzip

#: Largest sitemap accepted after decompression (the sitemap protocol allows 50 MB).
MAX_SITEMAP_BYTES = 50 * 1024 * 1024


class SitemapError(ValueError):
    """Not a sitemap, or unreadable."""


@dataclass(frozen=True)
class SitemapUrl:
    url: str
    published_at: datetime | None
    title: str


@dataclass(frozen=True)
class ParsedSitemap:
    urls: list[SitemapUrl]
    #: Child sitemaps of a sitemap index.
    sitemaps: list[str]


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _date(text: str | None) -> datetime | None:
    if not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_sitemap(body: bytes, *, url: str, max_age: timedelta) -> ParsedSitemap:
    if body[:2] == b"\x1f\x8b":
        try:
            body = gunzip(body, max_size=MAX_SITEMAP_BYTES)
        except (OSError, ValueError) as exc:
            raise SitemapError(f"cannot decompress the sitemap: {exc}") from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SitemapError(f"not XML: {exc}") from None
    if root is None or _local(root.tag) not in ("urlset", "sitemapindex"):
        raise SitemapError("not a sitemap (no <urlset> or <sitemapindex>)")
    oldest = datetime.now(UTC) - max_age
    urls: list[SitemapUrl] = []
    sitemaps: list[str] = []
    for node in root:
        fields: dict[str, str] = {}
        for child in node.iter():
            name = _local(child.tag)
            if name in ("loc", "lastmod", "publication_date", "title") and child.text and name not in fields:
                fields[name] = child.text.strip()
        loc = fields.get("loc")
        if not loc:
            continue
        published = _date(fields.get("publication_date") or fields.get("lastmod"))
        if published is not None and published < oldest:
            continue
        if _local(node.tag) == "sitemap":
            sitemaps.append(urljoin(url, loc))
        elif _local(node.tag) == "url":
            urls.append(SitemapUrl(urljoin(url, loc), published, fields.get("title", "")))
    floor = datetime.min.replace(tzinfo=UTC)
    urls.sort(key=lambda u: u.published_at or floor, reverse=True)
    return ParsedSitemap(urls=urls, sitemaps=sitemaps)
