"""Reading a public Telegram channel's web preview (``BASE/s/CHANNEL``, ``?before=ID``).

The page lists the channel's latest posts, oldest first. Each post is a
``div.tgme_widget_message`` with ``data-post="CHANNEL/ID"``; its text is in
``div.tgme_widget_message_text`` (``<br>``, links and emoji images inside); its time in
``a.tgme_widget_message_date > time[datetime]``; a repost names its origin in
``.tgme_widget_message_forwarded_from_name`` (an ``<a href>`` when the origin is public, a
``<span>`` when its author is hidden); views in ``span.tgme_widget_message_views`` ("1.2K").

The page is hostile input: a post's identity and permanent URL are built from the channel that
was asked for and the numeric id, never taken from the page's own links, and posts that claim
another channel are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from narrative_tracker.crawler.urls import is_http, normalize_url

#: Titles are the post's first line, cut at a word near this many characters.
TITLE_CHARS = 120

_VIEWS = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([KkMm]?)\s*$")
_CLASS = "contains(concat(' ', normalize-space(@class), ' '), ' {} ')"
_MESSAGES = f"//div[{_CLASS.format('tgme_widget_message')}][@data-post]"
# The post's own text: not a quoted reply, not a link preview's description.
_TEXT = (
    f".//div[{_CLASS.format('tgme_widget_message_text')}]"
    f"[not(ancestor::*[{_CLASS.format('tgme_widget_message_reply')}])]"
    "[not(ancestor::*[contains(@class, 'link_preview')])]"
)
_DATE = f".//a[{_CLASS.format('tgme_widget_message_date')}]//time[@datetime]"
_VIEWS_SPAN = f".//span[{_CLASS.format('tgme_widget_message_views')}]"
_FORWARDED = f".//*[{_CLASS.format('tgme_widget_message_forwarded_from_name')}]"
_LINK_PREVIEW = f".//a[{_CLASS.format('tgme_widget_message_link_preview')}][@href]"
_MORE = f"//a[{_CLASS.format('tme_messages_more')}][@data-before]"
_HISTORY = f"//*[{_CLASS.format('tgme_channel_history')}]"


@dataclass(frozen=True)
class Post:
    channel: str
    post_id: int
    #: The permanent URL, ``BASE/CHANNEL/ID``.
    url: str
    published_at: datetime | None
    text: str
    views: int | None = None
    views_granularity: int | None = None
    #: A repost's origin: the channel (or the hidden author's shown name) and the original post's URL.
    forwarded_channel: str | None = None
    forwarded_url: str | None = None
    #: http(s) links in the text and the link preview, absolute, in order.
    links: tuple[str, ...] = ()
    #: A service message (channel created, photo changed): never an article.
    service: bool = False


@dataclass
class PreviewPage:
    posts: list[Post] = field(default_factory=list)
    #: The page's own "older posts" link (``data-before``), when it has one.
    before: int | None = None
    #: Post blocks that could not be read (no id, no date, another channel).
    unreadable: int = 0
    #: The page has a channel's post list (an empty channel has one; an error page has none).
    is_channel_page: bool = False


def channel_url(base: str, channel: str, before: int | None = None) -> str:
    """The preview page of ``channel`` (before post ``before``)."""
    url = f"{base.rstrip('/')}/s/{channel}"
    return f"{url}?before={before}" if before is not None else url


def post_url(base: str, channel: str, post_id: int) -> str:
    return normalize_url(f"{base.rstrip('/')}/{channel}/{post_id}")


def parse_views(text: str) -> tuple[int, int] | None:
    """("1.2K" -> (1200, 100)), ("3.4M" -> (3400000, 100000)), ("950" -> (950, 1)); None when unreadable.

    The granularity is kept so that rounding is never read as growth.
    """
    match = _VIEWS.match(text.replace("\u00a0", "").replace(" ", ""))
    if not match:
        return None
    number, suffix = match.group(1).replace(",", "."), match.group(2).upper()
    scale = {"": 1, "K": 1_000, "M": 1_000_000}[suffix]
    decimals = len(number.partition(".")[2])
    granularity = max(1, scale // 10**decimals)
    whole, _, fraction = number.partition(".")
    value = int(whole) * scale + (int(fraction) * scale // 10**decimals if fraction else 0)
    return value, granularity


def make_title(text: str, limit: int = TITLE_CHARS) -> str:
    """The first non-empty line, cut at the last word boundary before ``limit`` characters."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first) <= limit:
        return first
    cut = first[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def _text_of(element: etree._Element) -> str:
    """The text with its line breaks, emoji images as their characters, and spacing tidied."""
    copy = lxml.html.fromstring(etree.tostring(element, encoding="unicode"))
    for br in copy.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for img in copy.iter("img"):
        img.tail = (img.get("alt") or "") + (img.tail or "")
    raw = copy.text_content()
    lines = [" ".join(line.split()) for line in raw.splitlines()]
    text = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def _forwarded(block: etree._Element, base: str) -> tuple[str | None, str | None]:
    found = block.xpath(_FORWARDED)
    if not found:
        return None, None
    node = found[0]
    href = (node.get("href") or "").strip()
    name = " ".join(node.text_content().split()) or None
    if not href:
        return name, None  # a hidden author: a name, no link
    parts = [p for p in urlsplit(href).path.split("/") if p]
    if parts and parts[0] == "s":
        parts = parts[1:]
    if not parts:
        return name, None
    channel = parts[0]
    if len(parts) >= 2 and parts[1].isdigit():
        return channel, post_url(base, channel, int(parts[1]))
    return channel, None


def _links(block: etree._Element, text_node: etree._Element | None, page_url: str) -> tuple[str, ...]:
    hrefs: list[str] = []
    anchors = list(text_node.iter("a")) if text_node is not None else []
    anchors += block.xpath(_LINK_PREVIEW)
    for anchor in anchors:
        href = (anchor.get("href") or "").strip()
        if href:
            absolute = urljoin(page_url, href)
            if is_http(absolute) and absolute not in hrefs:
                hrefs.append(absolute)
    return tuple(hrefs)


def _published(block: etree._Element) -> datetime | None:
    for node in block.xpath(_DATE):
        try:
            value = datetime.fromisoformat(node.get("datetime", "").strip())
        except ValueError:
            return None
        return value if value.tzinfo is not None else None
    return None


def parse_preview(html: str | bytes, *, channel: str, base: str, page_url: str) -> PreviewPage:
    """The posts of one preview page of ``channel`` (oldest first, as the page lists them)."""
    page = PreviewPage()
    try:
        tree = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return page
    page.is_channel_page = bool(tree.xpath(_HISTORY)) or bool(tree.xpath(_MESSAGES))
    more = tree.xpath(_MORE)
    if more and (more[0].get("data-before") or "").strip().isdigit():
        page.before = int(more[0].get("data-before").strip())
    for block in tree.xpath(_MESSAGES):
        claimed, _, number = (block.get("data-post") or "").strip().partition("/")
        if claimed.lower() != channel.lower() or not number.isdigit():
            page.unreadable += 1
            continue
        post_id = int(number)
        classes = (block.get("class") or "").split()
        if "service_message" in classes:
            page.posts.append(Post(channel, post_id, post_url(base, channel, post_id), None, "", service=True))
            continue
        published = _published(block)
        if published is None:
            page.unreadable += 1
            continue
        texts = block.xpath(_TEXT)
        text_node = texts[0] if texts else None
        views = None
        for span in block.xpath(_VIEWS_SPAN):
            views = parse_views(span.text_content())
            break
        forwarded_channel, forwarded_url = _forwarded(block, base)
        page.posts.append(
            Post(
                channel=channel,
                post_id=post_id,
                url=post_url(base, channel, post_id),
                published_at=published,
                text=_text_of(text_node) if text_node is not None else "",
                views=views[0] if views else None,
                views_granularity=views[1] if views else None,
                forwarded_channel=forwarded_channel,
                forwarded_url=forwarded_url,
                links=_links(block, text_node, page_url),
            )
        )
    return page
