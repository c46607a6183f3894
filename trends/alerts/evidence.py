"""The articles behind each narrative alert, best-scoring first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from narrative_tracker.trends.alerts.record import AlertRecord
from narrative_tracker.trends.alerts.window import Window
from narrative_tracker.trends.daily import ClassifiedRow, day_classifications
from narrative_tracker.vocabulary import PUSHING_GROUP

EVIDENCE_LIMIT = 10
#: Of a crossover's evidence, the top promoting Russian state articles of the day shown after the group's own.
PUSHER_EVIDENCE = 3


def _first_articles(rows: Sequence[ClassifiedRow], limit: int) -> list[int]:
    ids: list[int] = []
    for row in rows:
        if row.article_id not in ids:
            ids.append(row.article_id)
        if len(ids) >= limit:
            break
    return ids


def attach_evidence(session: Session, alerts: list[AlertRecord], day: date, active: str, window: Window) -> None:
    """Attach the best-scoring articles behind each narrative alert.

    Promoting ones first for crossovers and new outlets; a crossover also shows the Russian state
    articles that pushed the narrative that day.
    """
    wanted = [alert for alert in alerts if alert.narrative_id]
    if not wanted or not active:
        return
    # One read of the day's classifications, shared by every alert (a day is a few thousand rows).
    by_narrative: dict[str, list[ClassifiedRow]] = defaultdict(list)
    for row in day_classifications(session, day, active):
        by_narrative[row.narrative_id].append(row)
    slug_to_id = {source.slug: source_id for source_id, source in window.sources.items()}
    for alert in wanted:
        narrative = alert.narrative_id or ""
        # The narrative's rows and its sub-narratives' (scanning the whole day per alert cost
        # 15 ms an alert at a million articles).
        rows = [
            row
            for narrative_id, rows_of in by_narrative.items()
            if narrative_id == narrative or narrative_id.startswith(narrative + "/")
            for row in rows_of
        ]
        if alert.source:
            members = {slug_to_id[alert.source]}
        else:
            members = {source_id for source_id, source in window.sources.items() if source.group == alert.group}
        mine = [row for row in rows if row.source_id in members]
        wants_promotes = alert.kind in ("crossover", "new-outlet")
        mine.sort(key=lambda r: (wants_promotes and r.stance != "promotes", -r.score, r.article_id))
        limit = EVIDENCE_LIMIT - PUSHER_EVIDENCE if alert.kind == "crossover" else EVIDENCE_LIMIT
        ids = _first_articles(mine, limit)
        if alert.kind == "crossover":
            # A crossover is about who picked the narrative up from whom: show the pushers too.
            pushers = {source_id for source_id, source in window.sources.items() if source.group == PUSHING_GROUP}
            pushing = [row for row in rows if row.source_id in pushers and row.stance == "promotes"]
            pushing.sort(key=lambda r: (-r.score, r.article_id))
            ids += [i for i in _first_articles(pushing, PUSHER_EVIDENCE) if i not in ids]
        alert.evidence_article_ids = ids
        if alert.group:
            alert.numbers["languages"] = dict(sorted(window.languages.get((narrative, alert.group), {}).items()))
