"""The invented Telegram channels of the demo world, served as public previews by the local news web.

- ``derzhava_news`` (Вестник Державы's channel, Russian) posts the arms-pause framing six days
  ago, early in the morning, a day before any website frames it, and again as the wave rises;
- ``novy_kurs_live`` (Новый курс's channel) reposts that first post the same morning, so the
  story is "first posted by @derzhava_news, reposted by @novy_kurs_live" before the websites have it;
- ``northern_chronicle`` (The Northern Chronicle's channel, English) posts its refutations with a
  link to its own article of the day;
- every channel also posts short ordinary news, one post a day.

Posts are short: a title line and the lede of a text from the demo writer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from narrative_tracker.demo.outlets import Outlet, outlet
from narrative_tracker.demo.world import DEFAULT_SEED, ORDINARY, DemoArticle, Writer
from narrative_tracker.newsweb import Page
from narrative_tracker.newsweb.telegram import ChannelPost, channel_pages, text_html


@dataclass(frozen=True)
class DemoChannel:
    name: str
    title: str
    outlet: Outlet
    #: (days before today, story) of the channel's narrative posts.
    narrative_posts: tuple[tuple[int, str], ...]


CHANNELS: tuple[DemoChannel, ...] = (
    DemoChannel(
        "derzhava_news",
        "Вестник Державы",
        outlet("vestnik-derzhavy"),
        (
            (6, "arms-pause-promotes"),
            (4, "arms-pause-promotes"),
            (2, "arms-pause-promotes"),
            (0, "arms-pause-promotes"),
        ),
    ),
    DemoChannel("novy_kurs_live", "Новый курс | Live", outlet("novy-kurs"), ((1, "arms-pause-promotes"),)),
    DemoChannel(
        "northern_chronicle",
        "The Northern Chronicle",
        outlet("northern-chronicle"),
        # Not today: one more Western item today would make a Western spike of its own.
        ((3, "arms-pause-refutes"), (1, "arms-pause-refutes")),
    ),
)
#: The channel that reposts derzhava_news's first framing post, the same morning.
REPOSTER = "novy_kurs_live"
FIRST_POSTER = "derzhava_news"
#: Days of posts a channel shows (the crawler reads the last week).
CHANNEL_DAYS = 7


@dataclass(frozen=True)
class DemoPost:
    channel: str
    post: ChannelPost
    #: The story it carries ("repost" for the repost).
    story: str


def _morning(now: datetime, days_ago: int, rng: random.Random) -> datetime:
    """A time before the websites' office hours (they publish from 06:00), or before now today."""
    day = datetime.combine((now - timedelta(days=days_ago)).date(), time(), tzinfo=UTC)
    if days_ago == 0:
        return day + (now - day) * rng.uniform(0.05, 0.9)
    return day + timedelta(minutes=rng.uniform(30, 300))


def plan_posts(
    articles: list[DemoArticle], web_base: str, tg_base: str, *, now: datetime | None = None, seed: int = DEFAULT_SEED
) -> dict[str, list[DemoPost]]:
    """Every channel's posts of the last week (today included), oldest first, by channel name."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    writer = Writer()
    planned: dict[str, list[tuple[datetime, str]]] = {}
    for channel in CHANNELS:
        rng = random.Random(f"{seed}:telegram:{channel.name}")
        items: list[tuple[datetime, str]] = []
        for days_ago in range(CHANNEL_DAYS - 1, -1, -1):
            items.append((_morning(now, days_ago, rng), rng.choice(ORDINARY)))
            items += [
                (_morning(now, days_ago, rng), story) for ago, story in channel.narrative_posts if ago == days_ago
            ]
        planned[channel.name] = sorted(items)
    first = next(when for when, story in planned[FIRST_POSTER] if story == "arms-pause-promotes")
    planned[REPOSTER] = sorted([*planned[REPOSTER], (first + timedelta(minutes=40), "repost")])

    posts: dict[str, list[DemoPost]] = {}
    for channel in CHANNELS:
        rng = random.Random(f"{seed}:telegram-text:{channel.name}")
        posts[channel.name] = []
        for number, (when, story) in enumerate(planned[channel.name], start=1):
            views = f"{rng.randint(2, 90)}.{rng.randint(0, 9)}K"
            if story == "repost":
                original = next(p for p in posts[FIRST_POSTER] if p.story == "arms-pause-promotes")
                source = next(c for c in CHANNELS if c.name == FIRST_POSTER)
                post = ChannelPost(
                    number, when, original.post.html, views=views,
                    forwarded=(source.title, f"{tg_base}/{FIRST_POSTER}/{original.post.post_id}"),
                )  # fmt: skip
                posts[channel.name].append(DemoPost(channel.name, post, story))
                continue
            text = writer.compose(channel.outlet.lang, story, channel.outlet.country, rng)
            body = text_html(f"{text.title}\n{text.paragraphs[0]}")
            if story == "arms-pause-refutes":
                own = _own_article(articles, channel.outlet, story, when)
                if own is not None:
                    url = f"{web_base}{own.path}"
                    body += f'<br/><a href="{url}" target="_blank" rel="noopener">{url}</a>'
            posts[channel.name].append(DemoPost(channel.name, ChannelPost(number, when, body, views=views), story))
    return posts


def _own_article(articles: list[DemoArticle], source: Outlet, story: str, when: datetime) -> DemoArticle | None:
    """The outlet's article of that story on that day, if it published one."""
    same_day = [a for a in articles if a.outlet.slug == source.slug and a.story == story]
    same_day = [a for a in same_day if a.published.date() == when.date()]
    return same_day[0] if same_day else None


def channel_site(posts: dict[str, list[DemoPost]], tg_base: str) -> dict[str, Page]:
    """The preview pages of every demo channel, by request target."""
    pages: dict[str, Page] = {}
    for channel in CHANNELS:
        items = [p.post for p in posts[channel.name]]
        pages.update(channel_pages(tg_base, channel.name, channel.title, items, page_size=8))
    return pages
