"""A small world for the web app tests: outlets, articles (some with hostile markup), an alert,
trends, accounts of each role, and the app over it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert

from narrative_tracker.settings import Settings, load_settings
from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Alert
from narrative_tracker.trends.daily import update_trends
from narrative_tracker.web import accounts
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


def fast_password_hashing(patch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters for the tests (the defaults cost ~0.5 s a hash on a busy machine);
    the hashes are still argon2id, verified by the same code."""
    patch.setattr(accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    patch.setattr(accounts, "_DUMMY_HASH", accounts._HASHER.hash("dummy-password"))


def small_pipeline() -> object:
    """A classifier fitted on the taxonomy's examples of one narrative family: enough for the
    queue and the promote gate, in a fraction of the out-of-the-box model's fitting time."""
    from narrative_tracker.classifier.dataset import example_records, label_ids, stance_cue_records
    from narrative_tracker.classifier.taxonomy import load_taxonomy
    from narrative_tracker.classifier.training import fit_model

    taxonomy = load_taxonomy()
    examples = example_records(taxonomy)
    chosen = [r for r in examples if any(n.startswith("discrediting-the-west") for n in r.positives)]
    chosen += [r for r in examples if not r.positives][:40]
    return fit_model(chosen + stance_cue_records(taxonomy), label_ids(taxonomy))


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


def form_csrf(client: Any, path: str = "/login") -> str:
    """The CSRF token in the first form of ``path`` (a Starlette TestClient)."""
    page = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def signed_in_client(app: Any, name: str, password: str = PASSWORD) -> Any:
    """A TestClient signed in as ``name``."""
    from starlette.testclient import TestClient

    client = TestClient(app, base_url="http://127.0.0.1")
    answer = client.post("/login", data={"username": name, "password": password, "csrf_token": form_csrf(client)},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return client


def small_training_data(patch: pytest.MonkeyPatch) -> None:
    """Let ``train`` fit on one narrative family's taxonomy examples (plus neutral news and the
    stance cues): a real training run, saved and registered, in seconds rather than a minute."""
    from narrative_tracker.classifier import service

    collect = service.collect_training_data

    def smaller(*args: Any, **kwargs: Any) -> Any:
        data = collect(*args, **kwargs)
        data.examples = [r for r in data.examples
                         if not r.positives or any(n.startswith("discrediting-the-west") for n in r.positives)]
        return data

    patch.setattr(service, "collect_training_data", smaller)
