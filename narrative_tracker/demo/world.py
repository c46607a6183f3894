"""What each demo outlet publishes on each day: ordinary news, steady background narratives and
the "Western slowdown as Russian victory" wave.

The plan is deterministic for a given seed and is laid out relative to "today", so the digest
always has a today and a rising wave that ends on it:

- six days ago the US pauses some arms shipments, and Western, Ukrainian and independent
  outlets report it as news;
- from five days ago Russian state outlets frame the pause as the West giving in, a strategic
  Russian victory and the start of Ukraine's collapse, more of them every day;
- today one Western opinion outlet (The Atlantic Courier) repeats that framing;
- from three days ago Western outlets, Ukrainian and independent Russian media and the
  fact-checkers refute it (the pause was logistical, aid continues);
- throughout, Russian state outlets carry four background narratives at a steady rate, one article
  per outlet per day, and every outlet publishes ordinary news that carries none.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from narrative_tracker.demo.outlets import OUTLETS, Outlet
from narrative_tracker.demo.texts import Text, Writer, byline

DEFAULT_SEED = 20250705
DEFAULT_DAYS = 28
#: The wave needs six days before today plus a quiet baseline before it.
MIN_DAYS = 8

WAVE_NARRATIVE = "discrediting-the-west/western-arms-pause-is-russian-victory"

#: Narratives Russian state outlets carry at a steady rate (taxonomy ids), one per outlet per day in turn.
BACKGROUND: dict[str, str] = {
    "nazism": "discrediting-ukraine/ukraine-is-associated-with-nazism",
    "sanctions-backfire": "negative-consequences-for-the-west/sanctions-will-backfire",
    "russophobia": "russia-is-the-victim/the-west-is-russophobic",
    "world-war-iii": "amplifying-war-related-fears/risk-of-world-war-iii",
}

#: Promoting articles across the Russian state outlets, by days before today.
STATE_WAVE = {5: 1, 4: 1, 3: 2, 2: 3, 1: 4, 0: 6}

#: (days before today, outlet slug, story): the news event, the pick-up and the refutations.
EVENTS: tuple[tuple[int, str, str], ...] = (
    (6, "northern-chronicle", "arms-pause-news"),
    (6, "quotidien-du-rhone", "arms-pause-news"),
    (6, "atlantic-courier", "arms-pause-news"),
    (5, "kyiv-ledger", "arms-pause-news"),
    (5, "dniprovsky-vestnik", "arms-pause-news"),
    (5, "svobodny-vzglyad", "arms-pause-news"),
    (3, "northern-chronicle", "arms-pause-refutes"),
    (2, "quotidien-du-rhone", "arms-pause-refutes"),
    (2, "svobodny-vzglyad", "arms-pause-refutes"),
    (2, "dniprovsky-vestnik", "arms-pause-refutes"),
    (1, "northern-chronicle", "arms-pause-refutes"),
    (1, "kyiv-ledger", "arms-pause-refutes"),
    (1, "factlens", "arms-pause-factcheck"),
    (0, "northern-chronicle", "arms-pause-refutes"),
    (0, "quotidien-du-rhone", "arms-pause-refutes"),
    (0, "svobodny-vzglyad", "arms-pause-refutes"),
    (0, "factlens", "arms-pause-factcheck"),
    (0, "verifie", "arms-pause-factcheck"),
    (0, "atlantic-courier", "arms-pause-pickup"),
    (0, "atlantic-courier", "arms-pause-pickup"),
)

#: What each story is meant to carry: (taxonomy id, stance), or None for plain news.
STORY_NARRATIVE: dict[str, tuple[str, str] | None] = {
    "arms-pause-promotes": (WAVE_NARRATIVE, "promotes"),
    "arms-pause-pickup": (WAVE_NARRATIVE, "promotes"),
    "arms-pause-refutes": (WAVE_NARRATIVE, "refutes"),
    "arms-pause-factcheck": (WAVE_NARRATIVE, "refutes"),
    **{story: (narrative, "promotes") for story, narrative in BACKGROUND.items()},
}

ORDINARY = ("sport", "culture", "economy", "local-politics", "weather", "science")
FACT_CHECKER_ORDINARY = ("factcheck-misc",)
#: Outlets that cover the war day to day (plain reporting, no narrative).
WAR_DESK = {"northern-chronicle", "quotidien-du-rhone", "kyiv-ledger", "dniprovsky-vestnik", "svobodny-vzglyad"}


@dataclass(frozen=True)
class DemoArticle:
    outlet: Outlet
    story: str
    published: datetime
    author: str
    text: Text
    #: Where the news web serves the page.
    path: str

    @property
    def intended(self) -> tuple[str, str] | None:
        """The narrative and stance the article was written to carry (None: plain news)."""
        return STORY_NARRATIVE.get(self.story)


def _stories_for_day(outlet: Outlet, index: int, days_ago: int, rng: random.Random) -> list[str]:
    """The stories one outlet publishes on one day, narratives first, filled up with ordinary news."""
    stories: list[str] = []
    if outlet.group == "russian-state":
        background = list(BACKGROUND)
        stories.append(background[(days_ago + index) % len(background)])
        state = [o for o in OUTLETS if o.group == "russian-state"]
        wave = STATE_WAVE.get(days_ago, 0)
        # Round-robin over the state outlets, starting at a different one each day.
        stories += ["arms-pause-promotes"] * sum(
            1 for n in range(wave) if state[(n + days_ago) % len(state)].slug == outlet.slug
        )
    stories += [story for ago, slug, story in EVENTS if ago == days_ago and slug == outlet.slug]
    if outlet.slug in WAR_DESK and (days_ago + index) % 2 == 0:
        stories.append("war-news")
    ordinary = FACT_CHECKER_ORDINARY if outlet.group == "fact-checker" else ORDINARY
    # Narratives replace ordinary news rather than add to it: volume stays steady (no health alert).
    filler = max(outlet.per_day - len(stories), 1 if outlet.group == "fact-checker" else 2)
    picks = rng.sample(ordinary, min(filler, len(ordinary)))
    while len(picks) < filler:
        picks.append(rng.choice(ordinary))
    return stories + picks


def _times(day: datetime, count: int, now: datetime, rng: random.Random) -> list[datetime]:
    """Publication times within ``day``: office hours on past days, spread up to ``now`` today."""
    if day.date() == now.date():
        span = max((now - day).total_seconds() - 60, 60.0)
        offsets = sorted(rng.uniform(0.02, 0.98) * span for _ in range(count))
        return [day + timedelta(seconds=s) for s in offsets]
    offsets = sorted(rng.uniform(6 * 3600, 22 * 3600) for _ in range(count))
    return [day + timedelta(seconds=s) for s in offsets]


def plan(days: int = DEFAULT_DAYS, *, now: datetime | None = None, seed: int = DEFAULT_SEED) -> list[DemoArticle]:
    """Every article of the demo world over the last ``days`` days (today included), oldest first."""
    if days < MIN_DAYS:
        raise ValueError(f"the demo world needs at least {MIN_DAYS} days (got {days})")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    articles: list[DemoArticle] = []
    writer = Writer()
    for index, outlet in enumerate(OUTLETS):
        for days_ago in range(days - 1, -1, -1):
            rng = random.Random(f"{seed}:{outlet.slug}:{days_ago}")
            day = datetime.combine((now - timedelta(days=days_ago)).date(), time(), tzinfo=UTC)
            stories = _stories_for_day(outlet, index, days_ago, rng)
            rng.shuffle(stories)
            for number, (story, published) in enumerate(zip(stories, _times(day, len(stories), now, rng), strict=True)):
                text = writer.compose(outlet.lang, story, outlet.country, rng)
                path = f"{outlet.prefix}/{published:%Y/%m/%d}/{story}-{number + 1}.html"
                articles.append(
                    DemoArticle(outlet, story, published, byline(outlet.lang, outlet.country, rng), text, path)
                )
    articles.sort(key=lambda a: (a.published, a.path))
    return articles


def live_article(outlet: Outlet, now: datetime, writer: Writer, rng: random.Random, number: int) -> DemoArticle:
    """One more article published ``now`` (for a demo left running): the wave goes on in Russian
    state media, everybody else publishes ordinary news."""
    if outlet.group == "russian-state" and rng.random() < 0.4:
        story = "arms-pause-promotes"
    else:
        story = rng.choice(FACT_CHECKER_ORDINARY if outlet.group == "fact-checker" else ORDINARY)
    text = writer.compose(outlet.lang, story, outlet.country, rng)
    path = f"{outlet.prefix}/{now:%Y/%m/%d}/{story}-live-{number}.html"
    return DemoArticle(outlet, story, now, byline(outlet.lang, outlet.country, rng), text, path)


def by_outlet(articles: list[DemoArticle]) -> Iterator[tuple[Outlet, list[DemoArticle]]]:
    for outlet in OUTLETS:
        yield outlet, [a for a in articles if a.outlet.slug == outlet.slug]
