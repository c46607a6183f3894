"""A local imitation of Telegram's public channel preview (``/s/CHANNEL``, ``?before=ID``).

Written from public descriptions of the page and open-source readers of it (no network here):
the page lists a channel's latest posts oldest first in ``div.tgme_channel_history``; each post
is a ``div.tgme_widget_message`` with ``data-post="CHANNEL/ID"``, its text in
``div.tgme_widget_message_text``, its date in ``a.tgme_widget_message_date > time[datetime]``
(whose ``href`` is the permanent URL), its views in ``span.tgme_widget_message_views`` and,
for a repost, ``a.tgme_widget_message_forwarded_from_name`` (or a ``span`` when the author is
hidden). An ``a.tme_messages_more[data-before]`` link leads to older posts. Tests and the demo
build channels with :func:`channel_pages` and serve them from :class:`NewsWeb`::

    web.site.update(channel_pages(web.base_url, "alpha", "Alpha", posts, page_size=10))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from narrative_tracker.newsweb.server import Page


@dataclass(frozen=True)
class ChannelPost:
    post_id: int
    published_at: datetime
    #: The text as the page's HTML (``<br>``, ``<a>``, emoji markup); None for a photo or video alone.
    html: str | None
    views: str = "1.2K"
    #: A repost: (shown name, href of the original post or channel; None when the author is hidden).
    forwarded: tuple[str, str | None] | None = None
    #: A quoted post this one replies to: (author, quoted text); the quote is not the post's text.
    reply_to: tuple[str, str] | None = None
    #: A link preview card: (href, site name, title, description).
    preview: tuple[str, str, str, str] | None = None
    photo: bool = False
    service: bool = False


def text_html(text: str) -> str:
    """Plain text as a post's HTML: escaped, lines joined with ``<br/>``."""
    return "<br/>".join(escape(line) for line in text.split("\n"))


def emoji(char: str) -> str:
    """An emoji as the preview marks it up: an image background with the character inside."""
    code = "".join(f"{b:02X}" for b in char.encode("utf-8"))
    return (
        f'<i class="emoji" style="background-image:url(\'//telegram.org/img/emoji/40/{code}.png\')"><b>{char}</b></i>'
    )


def _post(base: str, channel: str, title: str, post: ChannelPost) -> str:
    url = f"{base}/{channel}/{post.post_id}"
    if post.service:
        return (
            f'<div class="tgme_widget_message_wrap"><div class="tgme_widget_message service_message js-widget_message"'
            f' data-post="{channel}/{post.post_id}"><div class="tgme_widget_message_service">'
            "Channel photo updated</div></div></div>"
        )
    parts = [
        f'<div class="tgme_widget_message_wrap js-widget_message_wrap">'
        '<div class="tgme_widget_message text_not_supported_wrap js-widget_message"'
        f' data-post="{channel}/{post.post_id}" data-view="eyJjIjotMTAwfQ">'
        '<div class="tgme_widget_message_user"><a href="' + escape(f"{base}/{channel}") + '">'
        '<i class="tgme_widget_message_user_photo"></i></a></div>'
        '<div class="tgme_widget_message_bubble">'
        f'<div class="tgme_widget_message_author"><a class="tgme_widget_message_owner_name" href="{base}/{channel}">'
        f'<span dir="auto">{escape(title)}</span></a></div>'
    ]
    if post.forwarded is not None:
        name, href = post.forwarded
        if href:
            parts.append(
                '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
                f'<a class="tgme_widget_message_forwarded_from_name" href="{escape(href)}">'
                f'<span dir="auto">{escape(name)}</span></a></div>'
            )
        else:
            parts.append(
                '<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
                f'<span class="tgme_widget_message_forwarded_from_name">{escape(name)}</span></div>'
            )
    if post.reply_to is not None:
        author, quoted = post.reply_to
        parts.append(
            f'<a class="tgme_widget_message_reply" href="{base}/{channel}/1">'
            f'<div class="tgme_widget_message_author accent_color"><span class="tgme_widget_message_author_name">'
            f"{escape(author)}</span></div>"
            f'<div class="tgme_widget_message_text js-message_reply_text" dir="auto">{escape(quoted)}</div></a>'
        )
    if post.photo:
        parts.append(
            f'<a class="tgme_widget_message_photo_wrap" href="{url}" '
            "style=\"width:800px;background-image:url('https://cdn4.telesco.pe/file/photo.jpg')\">"
            '<div class="tgme_widget_message_photo" style="padding-top:56%"></div></a>'
        )
    if post.html is not None:
        parts.append(f'<div class="tgme_widget_message_text js-message_text" dir="auto">{post.html}</div>')
    if post.preview is not None:
        href, site, heading, description = post.preview
        parts.append(
            f'<a class="tgme_widget_message_link_preview" href="{escape(href)}">'
            f'<div class="link_preview_site_name accent_color" dir="auto">{escape(site)}</div>'
            f'<div class="link_preview_title" dir="auto">{escape(heading)}</div>'
            f'<div class="link_preview_description" dir="auto"><div class="tgme_widget_message_text">'
            f"{escape(description)}</div></div></a>"
        )
    parts.append(
        '<div class="tgme_widget_message_footer compact js-message_footer"><div class="tgme_widget_message_info '
        f'short js-message_info"><span class="tgme_widget_message_views">{escape(post.views)}</span>'
        f'<span class="copyonly"> views</span><span class="tgme_widget_message_meta">'
        f'<a class="tgme_widget_message_date" href="{url}"><time datetime="{post.published_at.isoformat()}" '
        f'class="time">{post.published_at:%H:%M}</time></a></span></div></div>'
        "</div></div></div>"
    )
    return "".join(parts)


def preview_page(base: str, channel: str, title: str, posts: Sequence[ChannelPost], *, before: int | None) -> bytes:
    """One page: ``posts`` oldest first, and a link to older ones (``before``) when there are some."""
    more = (
        f'<div class="tgme_widget_message_centered js-messages_more_wrap"><a href="/s/{channel}?before={before}" '
        f'class="tme_messages_more js-messages_more" data-before="{before}"></a></div>'
        if before is not None
        else ""
    )
    body = "".join(_post(base, channel, title, p) for p in sorted(posts, key=lambda p: p.post_id))
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>' + escape(title) + " – Telegram</title>"
        f'<meta property="og:title" content="{escape(title)}"></head><body class="widget_frame_base tgme_webpage">'
        '<header class="tgme_header"><div class="tgme_header_title"><span dir="auto">' + escape(title) + "</span>"
        '</div><div class="tgme_header_counter">12 345 subscribers</div></header>'
        '<main class="tgme_main"><section class="tgme_channel_history js-message_history">'
        f"{more}{body}</section></main></body></html>"
    ).encode()


def channel_pages(
    base: str, channel: str, title: str, posts: Sequence[ChannelPost], *, page_size: int = 20
) -> dict[str, Page]:
    """The preview pages of a channel by request target: ``/s/CHANNEL`` (the newest ``page_size``
    posts) and ``/s/CHANNEL?before=ID`` for each older page, as the paging links name them."""
    ordered = sorted(posts, key=lambda p: p.post_id, reverse=True)
    pages: dict[str, Page] = {}
    target = f"/s/{channel}"
    for start in range(0, max(len(ordered), 1), page_size):
        chunk = ordered[start : start + page_size]
        older = ordered[start + page_size :]
        before = chunk[-1].post_id if chunk and older else None
        pages[target] = Page(preview_page(base, channel, title, chunk, before=before), conditional=False)
        if before is None:
            break
        target = f"/s/{channel}?before={before}"
    return pages
