"""The fixture Telegram channels of the crawler tests, served by the local news web.

    web = NewsWeb().start()
    site = build_channels(web)      # fills web.site, returns the expectations
    write_catalogue(path, site)     # the catalogue: one web outlet and the channels' outlets

The channel previews are served under the host name "localhost" (``telegram_base_url``), the
web outlet under "127.0.0.1", so a post's link to the outlet is a link to another site.

- ``alpha_news`` (25 posts, pages of 10): Russian and English posts, a photo-only post, an
  emoji-heavy post, HTML entities, a reply quoting another post, a service message, a post that
  links to the outlet's article (and one to its home page), and posts older than the window.
- ``beta_wire``: a repost of an alpha post, a repost from a hidden author; its first request is
  answered 429 with ``Retry-After: 1``.
- ``gamma_broken``: a malformed page. ``delta_private``: no public preview (redirects to /delta_private).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.newsweb.telegram import ChannelPost, channel_pages, emoji, text_html

from sites.news import _toml, article_html

ARTICLE_TITLE = "Pentagon: the pause in interceptor deliveries is a logistics review"
ARTICLE = [
    "The Pentagon said on Thursday that the pause in some deliveries of air defence interceptors to Ukraine "
    "is the result of a logistics review of American stockpiles and that the aid programme continues.",
    "Officials said the review would be finished within weeks and that deliveries already under way were "
    "not affected, while European partners offered to fill part of the gap from their own stocks.",
    "Ukrainian officials asked for talks to clarify the schedule and stressed that interceptors protect "
    "cities from nightly missile and drone attacks, which have intensified over the summer.",
]
RU_REPOSTED = (
    "Пауза в поставках американского оружия Киеву показывает, что Запад устал от этой войны.\n"
    "Вашингтон уступает, и это стратегическая победа России, говорят эксперты."
)
EN_POST = (
    "Washington has paused deliveries of air defence missiles to Kyiv. Western support is running out, "
    "and Ukraine will not hold without it."
)
EMOJI_POST = "🔥🔥🔥 " + "Срочно: Запад сдаётся! Поставки оружия остановлены 🇷🇺💪" + " 🔥"
ENTITIES_TEXT = 'Statement by the ministry: "aid & arms" <will> continue, officials say; nothing has changed.'
LONG_FIRST_LINE = (
    "Министр иностранных дел заявил сегодня на пресс-конференции в Москве, что решение Вашингтона о приостановке "
    "поставок вооружений Киеву окончательно подтверждает провал западной стратегии"
)


@dataclass
class Channels:
    web: NewsWeb
    base: str
    #: channel -> posts served
    posts: dict[str, list[ChannelPost]] = field(default_factory=dict)
    #: The outlet's article a post links to.
    article_url: str = ""

    def post_url(self, channel: str, post_id: int) -> str:
        return f"{self.base}/{channel}/{post_id}"

    def publish(self, channel: str, title: str, posts: list[ChannelPost], page_size: int = 10) -> None:
        self.posts[channel] = posts
        self.web.site.update(channel_pages(self.base, channel, title, posts, page_size=page_size))


class RateLimitedOnce(dict[str, Page]):
    """Site pages where the first request for each target in ``limited`` is answered 429."""

    def __init__(self, pages: MutableMapping[str, Page], limited: set[str]) -> None:
        super().__init__(pages)
        self.limited = set(limited)

    def get(self, key: str, default: Page | None = None) -> Page | None:  # type: ignore[override]
        if key in self.limited:
            self.limited.discard(key)
            return Page(b"Too Many Requests", "text/plain", status=429, headers={"Retry-After": "1"})
        return super().get(key, default)


def build_channels(web: NewsWeb, now: datetime | None = None) -> Channels:
    now = now or datetime.now(UTC)
    site = Channels(web, web.url("", host="localhost"))
    u = web.url
    web.site["/robots.txt"] = Page(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    web.site["/outlet/pause.html"] = Page(article_html(ARTICLE_TITLE, ARTICLE).encode())
    web.site["/outlet/feed.xml"] = Page(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet</title><link>http://x/</link>'
        b"<description>d</description></channel></rss>",
        "application/rss+xml",
    )
    site.article_url = u("/outlet/pause.html")

    def at(hours: float) -> datetime:
        return (now - timedelta(hours=hours)).astimezone(UTC).replace(microsecond=0)

    alpha: list[ChannelPost] = []
    for post_id in range(1, 26):
        hours = (26 - post_id) * 6.0  # post 25 is 6 h old, post 1 six days and six hours
        if post_id <= 3:
            hours = 24 * 9 + post_id  # older than the 7-day window
        text = f"Сводка номер {post_id}: обстановка на линии соприкосновения остаётся напряжённой, сообщают источники."
        alpha.append(ChannelPost(post_id, at(hours), text_html(text), views=f"{post_id}.{post_id % 10}K"))
    special = {
        25: ChannelPost(25, at(1), text_html(EN_POST), views="3.4M"),
        24: ChannelPost(24, at(2), None, views="980", photo=True),  # a photo alone
        23: ChannelPost(23, at(3), text_html(RU_REPOSTED), views="15K"),
        22: ChannelPost(
            22,
            at(4),
            "Пентагон признал: это «логистика». Читайте: "
            f'<a href="{u("/outlet/pause.html")}?utm_source=telegram" target="_blank">{u("/outlet/pause.html")}</a>'
            f' и <a href="{u("/")}">главная</a>',
            views="2.1K",
            preview=(u("/outlet/pause.html"), "Outlet", ARTICLE_TITLE, "The Pentagon said on Thursday..."),
        ),
        21: ChannelPost(21, at(5), "".join(emoji(c) if ord(c) > 0x2000 else c for c in EMOJI_POST), views="7K"),
        20: ChannelPost(
            20,
            at(5.5),
            "Statement by the ministry: &quot;aid &amp; arms&quot; &lt;will&gt; continue, officials say; "
            "nothing has&nbsp;changed.",
            views="512",
        ),
        19: ChannelPost(
            19,
            at(6),
            text_html(LONG_FIRST_LINE + ".\nВторая строка."),
            reply_to=("Alpha", "Цитата из другого поста, которая не является текстом этого поста."),
        ),
        18: ChannelPost(18, at(7), None, service=True),
    }
    alpha = [special.get(p.post_id, p) for p in alpha]
    site.publish("alpha_news", "Alpha News", alpha)

    beta = [
        ChannelPost(
            5,
            at(0.5),
            text_html(RU_REPOSTED),
            views="1.1K",
            forwarded=("Alpha News", f"{site.base}/alpha_news/23"),
        ),
        ChannelPost(4, at(2.5), text_html("Anonymous tip: the convoy has left the depot."), forwarded=("Ivan", None)),
        ChannelPost(3, at(3.5), text_html("Beta wire: the ministry will brief the press at noon on Friday.")),
    ]
    site.publish("beta_wire", "Beta Wire", beta)

    web.site["/s/gamma_broken"] = Page(b"<html><body><h1>Oops</h1><div class='x'>", conditional=False)
    web.site["/s/delta_private"] = Page(redirect_to="/delta_private", status=302)
    web.site["/delta_private"] = Page(b"<html><body>If you have Telegram, you can contact...</body></html>")
    web.site = RateLimitedOnce(web.site, {"/s/beta_wire"})
    return site


def write_catalogue(path: Path, site: Channels) -> Path:
    blocks = [
        {
            "slug": "outlet",
            "name": "Outlet",
            "group": "western",
            "country": "US",
            "languages": ["en"],
            "feeds": [site.web.url("/outlet/feed.xml")],
            "domains": ["127.0.0.1"],
        },
        {
            "slug": "alpha",
            "name": "Alpha",
            "group": "russian-state",
            "country": "RU",
            "languages": ["ru", "en"],
            "telegram": ["alpha_news", "gamma_broken", "delta_private"],
            "domains": ["localhost"],
        },
        {
            "slug": "beta",
            "name": "Beta",
            "group": "western",
            "country": "GB",
            "languages": ["en", "ru"],
            "telegram": ["beta_wire"],
            "domains": ["localhost"],
        },
    ]
    text = "\n".join(
        "[[source]]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in block.items()) for block in blocks
    )
    path.write_text(text, encoding="utf-8")
    return path
