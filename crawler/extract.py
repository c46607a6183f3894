"""From a fetched page to an article: decode, extract the text, tell the language, sign it.

``extract_page`` is pure CPU work on plain values, so the crawl runs it in worker processes and
keeps Scrapy's reactor free for network I/O.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from narrative_tracker.crawler.decoding import decode_html
from narrative_tracker.crawler.dedup import fingerprints
from narrative_tracker.crawler.language import article_language

#: A feed summary at least this long stands in for a page whose text could not be extracted.
SUMMARY_MIN_CHARS = 80


@dataclass(frozen=True)
class PageInput:
    url: str
    body: bytes
    content_type: str | None
    content_language: str | None = None
    #: The feed's summary, which stands in for a page whose text cannot be extracted.
    summary: str = ""
    #: Shorter extracted text makes the page "not an article" (or summary-only).
    min_text_chars: int = 150
    #: Read title, author and date from the page too (costs as much as the text itself): only
    #: when the feed did not give a title and a date.
    with_metadata: bool = True


@dataclass(frozen=True)
class ExtractedPage:
    title: str
    text: str
    author: str | None
    lang: str
    published_at: datetime | None
    encoding: str
    content_hash: str | None
    signature: bytes | None
    #: The page's ``<link rel="canonical">`` as written (relative or absolute), if any.
    canonical: str | None
    #: False when neither the page nor the feed summary had enough text.
    is_article: bool
    summary_only: bool


def _page_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


@lru_cache(maxsize=2)
def _options(with_metadata: bool) -> Any:
    """trafilatura's extraction options, made once: building them reads its config file's values
    (about 5% of an extraction). Its default balance of precision and recall, comments left out."""
    from trafilatura.settings import Extractor

    return Extractor(output_format="python", comments=False, with_metadata=with_metadata)


def extract_text(html: str, url: str, *, with_metadata: bool = True) -> Any:
    """trafilatura's Document for the page, or None."""
    import trafilatura  # here: the crawl process itself never extracts, only its workers do

    options = copy.copy(_options(with_metadata))
    options.url = options.source = url
    result = trafilatura.bare_extraction(html, url=url, options=options)
    return result if isinstance(result, trafilatura.settings.Document) else None


_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_REL_CANONICAL = re.compile(r"""\brel\s*=\s*["']?canonical\b""", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def canonical_link(html: str) -> str | None:
    """The href of the page's ``<link rel="canonical">`` in its head, if any."""
    head = html[: html.lower().find("<body")] if "<body" in html[:200_000].lower() else html[:100_000]
    for tag in _LINK_TAG.findall(head):
        if _REL_CANONICAL.search(tag):
            found = _HREF.search(tag)
            if found:
                href = (found.group(1) or found.group(2) or found.group(3) or "").strip()
                return href or None
    return None


def warm_up() -> None:
    """Load trafilatura, feedparser and the language model once per worker, before the first page.

    Defined here, not beside the pipeline, so that workers never import Scrapy (30 MB each).
    """
    import trafilatura  # noqa: F401

    import narrative_tracker.crawler.feeds  # noqa: F401  (the workers parse the feeds too)
    from narrative_tracker.language import detect_language

    detect_language("warm up")


def extract_pages(pages: list[PageInput]) -> list[ExtractedPage | str]:
    """``extract_page`` for a batch (one round trip to a worker); a failure is its message, not a raise."""
    results: list[ExtractedPage | str] = []
    for page in pages:
        try:
            results.append(extract_page(page))
        except Exception as exc:  # one page that breaks the extractor must not lose the batch
            results.append(f"{type(exc).__name__}: {exc}")
    return results


def extract_page(page: PageInput) -> ExtractedPage:
    html, encoding = decode_html(page.body, page.content_type)
    document = extract_text(html, page.url, with_metadata=page.with_metadata)
    text = (document.text or "").strip() if document else ""
    title = " ".join((document.title or "").split()) if document else ""
    summary_only = False
    if len(text) < page.min_text_chars and len(page.summary) > len(text):
        text, summary_only = page.summary, True
    is_article = len(text) >= min(page.min_text_chars, SUMMARY_MIN_CHARS if summary_only else page.min_text_chars)
    lang = article_language(html, text or title, page.content_language)
    digest, sig = fingerprints(text)
    return ExtractedPage(
        title=title,
        text=text,
        author=(document.author or None) if document else None,
        lang=lang,
        published_at=_page_date(document.date) if document else None,
        encoding=encoding,
        content_hash=digest,
        signature=sig,
        canonical=canonical_link(html),
        is_article=is_article,
        summary_only=summary_only,
    )
