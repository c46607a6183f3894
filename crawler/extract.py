"""From a fetched page to an article: decode, extract the text, tell the language, sign it.

``extract_page`` is pure CPU work on plain values, so the crawl runs it in worker processes and
keeps Scrapy's reactor free for network I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crawler.decoding import decode_html
from crawler.dedup import content_hash, signature
from crawler.language import article_language

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


@dataclass(frozen=True)
class ExtractedPage:
    title: str
    text: str
    author: str | None
    lang: str
    published_at: datetime | None
    content_hash: str | None
    signature: bytes | None
    encoding: str
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


def extract_text(html: str, url: str) -> Any:
    """trafilatura's Document: its default balance of precision and recall, comments left out."""
    import trafilatura  # here: the crawl process itself never extracts, only its workers do

    result = trafilatura.bare_extraction(html, url=url, include_comments=False, with_metadata=True)
    return result if isinstance(result, trafilatura.settings.Document) else None


def extract_page(page: PageInput) -> ExtractedPage:
    html, encoding = decode_html(page.body, page.content_type)
    document = extract_text(html, page.url)
    text = (document.text or "").strip() if document else ""
    title = " ".join((document.title or "").split()) if document else ""
    summary_only = False
    if len(text) < page.min_text_chars and len(page.summary) > len(text):
        text, summary_only = page.summary, True
    is_article = len(text) >= min(page.min_text_chars, SUMMARY_MIN_CHARS if summary_only else page.min_text_chars)
    lang = article_language(html, text or title, page.content_language)
    return ExtractedPage(
        title=title,
        text=text,
        author=(document.author or None) if document else None,
        lang=lang,
        published_at=_page_date(document.date) if document else None,
        content_hash=content_hash(text) if text else None,
        signature=signature(text) if text else None,
        encoding=encoding,
        is_article=is_article,
        summary_only=summary_only,
    )
