"""The synthetic history the alerts and digest tests read: 45 steady days, then injected events.

Which alerts these events must raise (and which not) is what ``test_alerts`` checks; the digest
tests build their reports from the same history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from helpers.world import ARMS_PAUSE, MILITARY_MIGHT, World, day_total

TODAY = date(2025, 7, 20)
NOW = datetime(2025, 7, 20, 23, 0, tzinfo=UTC)
HISTORY_DAYS = 45
SANCTIONS = "negative-consequences-for-the-west/sanctions-will-backfire"
HIDDEN = "hidden-plots"


def build_history(world: World) -> None:
    """45 days of steady news, then the injected events of the last two days.

    Steady: every outlet 20 articles a day; Russian state outlets promote "military might" 2 a
    day each and "arms pause" once a day (rs1); a Western outlet refuted "arms pause" 10 days ago.
    Injected yesterday: "sanctions" and "hidden plots" burst in rs1 (8 and 6 articles; never seen before).
    Injected today: "arms pause" jumps to 10 in rs1 (spike), w1 promotes it (crossover + new outlet),
    the fact-checker refutes it for the first time (crossover by first appearance), "sanctions"
    stays at 8 (ongoing: not repeated), "hidden plots" grows to 12 (repeated), ua1 publishes 2
    articles instead of 20 (volume), and w2's feed keeps failing.
    """
    for slug, group in (
        ("rs1", "russian-state"),
        ("rs2", "russian-state"),
        ("w1", "western"),
        ("w2", "western"),
        ("ua1", "ukrainian"),
        ("fc1", "fact-checker"),
    ):
        world.source(slug, group)
    with world.batch():
        _fill_days(world)
    world.feed("w2", "https://w2.example/rss", failures=6, healthy=False)
    world.feed("w1", "https://w1.example/rss")


def _fill_days(world: World) -> None:
    for back in range(HISTORY_DAYS, -1, -1):
        day = TODAY - timedelta(days=back)
        flagged = {slug: 0 for slug in world.sources}
        world.articles("rs1", day, 2, narratives={MILITARY_MIGHT: "promotes"})
        world.articles("rs2", day, 2, narratives={MILITARY_MIGHT: "promotes"})
        pause = 10 if back == 0 else 1
        world.articles("rs1", day, pause, narratives={ARMS_PAUSE: "promotes"})
        flagged["rs1"] += 2 + pause
        flagged["rs2"] += 2
        if back == 40:
            world.articles("w2", day, 1, narratives={ARMS_PAUSE: "refutes"})
            flagged["w2"] += 1
        if back in (0, 1):
            world.articles("rs1", day, 8, narratives={SANCTIONS: "promotes"})
            bursts = 6 if back == 1 else 12
            world.articles("rs2", day, bursts, narratives={HIDDEN: "promotes"})
            flagged["rs1"] += 8
            flagged["rs2"] += bursts
        if back == 0:
            world.articles("w1", day, 2, narratives={ARMS_PAUSE: "promotes"})
            world.articles("w2", day, 1, narratives={ARMS_PAUSE: "refutes"})
            world.articles("fc1", day, 1, narratives={ARMS_PAUSE: "refutes"})
            flagged["w1"] += 2
            flagged["w2"] += 1
            flagged["fc1"] += 1
        for slug in world.sources:
            total = 2 if (slug == "ua1" and back == 0) else 20
            day_total(world, slug, day, flagged[slug], total)
