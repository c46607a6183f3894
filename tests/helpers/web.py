"""A small world for the web app tests: outlets, articles (some with hostile markup), an alert,
trends, accounts of each role, and the app over it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

from narrative_tracker.settings import Settings, load_settings
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Alert
from narrative_tracker.trends.daily import update_trends
from narrative_tracker.web.accounts import add_user

from helpers.world import ARMS_PAUSE, World

PASSWORD = "correct-horse-battery"
ROLES = ("viewer", "analyst", "admin")
SECRET = "test-secret-" + "x" * 40
HOSTILE_TITLE = '<script>alert("t")</script><img src="https://evil.example/pixel.gif" onerror="alert(1)"> Pause'
HOSTILE_EVIDENCE = "Washington gave in <a href=\"javascript:alert('e')\" onclick=alert(2)>click</a> JaVaScRiPt:y"
HOSTILE_OUTLET = "<b onmouseover=alert(3)>Evil Wire</b>"
ACTIVE_PATTERN = re.compile(r"<script>alert|onerror=|javascript:|onmouseover=|onclick=", re.IGNORECASE)
RUSSIAN_WORD = "перемирие"


@dataclass
class WebWorld:
    settings: Settings
    database: Database
    day: date
    hostile_id: int
    russian_id: int
    plain_id: int


def build_web_world(database: Database) -> WebWorld:
    day = datetime.now(UTC).date() - timedelta(days=1)
    world = World(database)
    world.source("rt-en", "russian-state", name="RT English")
    world.source("wire", "western", name="Western Wire")
    world.source("evil", "western", name=HOSTILE_OUTLET)
    world.feed("wire", "https://wire.example/feed.xml")
    with world.batch():
        for offset in range(1, 20):
            world.articles("rt-en", day - timedelta(days=offset), 3, narratives={ARMS_PAUSE: "promotes"})
            world.articles("wire", day - timedelta(days=offset), 5)
        pushed = world.articles("rt-en", day, 4, narratives={ARMS_PAUSE: "promotes"})
        hostile = world.articles("evil", day, 1, narratives={ARMS_PAUSE: "promotes"}, title=HOSTILE_TITLE,
                                 url="javascript:alert(5)", evidence=HOSTILE_EVIDENCE,
                                 text=f"Intro.\n{HOSTILE_EVIDENCE}\nEnd.")
        russian = world.articles("rt-en", day, 1, lang="ru", title="Вашингтон и перемирие",
                                 text="Запад говорит о перемирие на Украине.", narratives={ARMS_PAUSE: "promotes"})
        plain = world.articles("wire", day, 1, narratives={ARMS_PAUSE: "reports"}, title="Pause in arms deliveries")
    update_trends(database, "UTC")
    with database.session() as session:
        session.execute(insert(Alert), [{
            "day": day, "kind": "crossover", "key": f"{ARMS_PAUSE}|western", "narrative_id": ARMS_PAUSE,
            "magnitude": 2.0, "repeat": False, "created_at": datetime.now(UTC),
            "details": {"reason": "2 Western articles promote it; Russian state media pushed it 61 times this week",
                        "numbers": {"promotes": 2}, "group": "western", "source": None,
                        "evidence_article_ids": [*hostile, *plain, *pushed[:2]]},
        }])
    for role in ROLES:
        add_user(database, role, role, PASSWORD)
    return WebWorld(load_settings(), database, day, hostile[0], russian[0], plain[0])
