"""What the demo run produced, read back from storage and from the digest it wrote."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import distinct, func, select

from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import Article, Classification, Source
from narrative_tracker.storage.queries import active_model_version
from narrative_tracker.vocabulary import group_rank


@dataclass
class GroupRow:
    group: str
    outlets: int
    articles: int
    #: Articles the active model flagged for at least one narrative.
    flagged: int
    #: Flagged articles by the stance of their highest-scoring narrative.
    promotes: int = 0
    refutes: int = 0
    reports: int = 0


@dataclass
class AlertLine:
    kind: str
    narrative: str | None
    group: str | None
    reason: str


@dataclass
class DemoSummary:
    model_version: str | None
    groups: list[GroupRow]
    narratives_flagged: int
    alerts: list[AlertLine] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def summarize(database: Database, digest_json: Path | None) -> DemoSummary:
    with database.session() as session:
        active = active_model_version(session)
        outlets = dict(session.execute(select(Source.group, func.count()).group_by(Source.group)).all())
        by_group = select(Source.group, func.count(Article.id)).join(Article.source).group_by(Source.group)
        articles = dict(session.execute(by_group).all())
        flagged: Counter[str] = Counter()
        stances: Counter[tuple[str, str]] = Counter()
        narratives = 0
        if active is not None:
            mine = Classification.model_version == active
            rows = session.execute(
                select(Source.group, Classification.article_id, Classification.score, Classification.stance)
                .join(Article, Article.id == Classification.article_id)
                .join(Source, Source.id == Article.source_id)
                .where(mine)
            ).all()
            # An article counts once, with the stance of its highest-scoring narrative.
            best: dict[int, tuple[float, str, str]] = {}
            for group, article_id, score, stance in rows:
                if article_id not in best or score > best[article_id][0]:
                    best[article_id] = (score, group, stance)
            for _, group, stance in best.values():
                flagged[group] += 1
                stances[(group, stance)] += 1
            narratives = session.scalar(select(func.count(distinct(Classification.narrative_id))).where(mine)) or 0
    groups = [
        GroupRow(
            group=group,
            outlets=count,
            articles=articles.get(group, 0),
            flagged=flagged.get(group, 0),
            promotes=stances.get((group, "promotes"), 0),
            refutes=stances.get((group, "refutes"), 0),
            reports=stances.get((group, "reports"), 0),
        )
        for group, count in outlets.items()
    ]
    groups.sort(key=lambda row: group_rank(row.group))
    alerts = []
    if digest_json is not None and digest_json.exists():
        for alert in json.loads(digest_json.read_text(encoding="utf-8")).get("alerts", []):
            alerts.append(
                AlertLine(
                    kind=alert["kind"],
                    narrative=alert.get("narrative_name") or alert.get("narrative_id"),
                    group=alert.get("group"),
                    reason=alert.get("reason", ""),
                )
            )
    return DemoSummary(model_version=active, groups=groups, narratives_flagged=narratives, alerts=alerts)
