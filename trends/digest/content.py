"""What a digest says, gathered from storage: alerts with evidence, the narrative table, notes.

Everything here is plain data (crawled strings untouched); escaping happens when rendering.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from narrative_tracker.storage.database import Database
from narrative_tracker.storage.models import (
    Article,
    Classification,
    ClassifiedArticle,
    Feed,
    JobRun,
    ModelVersion,
    QueueTask,
    Source,
)
from narrative_tracker.storage.models.trends import ArticleDay, DailyTrend, SourceDay
from narrative_tracker.storage.queries import active_model_version
from narrative_tracker.trends.alerts import AlertRecord
from narrative_tracker.vocabulary import FETCH_FAILURE_CAUSES, PUSHING_GROUP, coarse_of, failure_cause, group_rank

log = logging.getLogger(__name__)

CHART_DAYS = 28
#: Evidence articles shown per alert.
ARTICLES_PER_ALERT = 3
#: Russian state articles shown under a crossover, after the crossing group's own.
PUSHERS_PER_CROSSOVER = 2
#: Alerted narratives that get a chart (the others are named, without one).
MAX_CHARTS = 8


@dataclass
class EvidenceArticle:
    id: int
    title: str
    url: str
    outlet: str
    group: str
    lang: str
    stance: str
    score: float
    evidence: str
    published_at: str | None
    #: "@channel" when the article is a Telegram post, else "".
    channel: str = ""
    #: How the story spread on Telegram: "first posted by X, reposted by Y, Z" ("" when not reposted).
    spread: str = ""


@dataclass
class AlertView:
    kind: str
    key: str
    narrative_id: str | None
    narrative_name: str | None
    group: str | None
    source: str | None
    magnitude: float
    reason: str
    numbers: dict[str, Any]
    articles: list[EvidenceArticle] = field(default_factory=list)
    #: Name of the chart of this alert's narrative (the cid in the email), if it has one.
    chart: str | None = None


@dataclass
class NarrativeRow:
    narrative_id: str
    name: str
    coarse: bool
    today: int
    promotes: int
    refutes: int
    reports: int
    last_7_days: int
    previous_7_days: int
    #: Percentage change of the last 7 days against the 7 before; None when those had nothing.
    change_percent: float | None


@dataclass
class Series:
    """Daily flagged counts of one narrative per source group, for a chart."""

    narrative_id: str
    days: list[date]
    by_group: dict[str, list[int]]


@dataclass
class Digest:
    day: date
    timezone: str
    generated_at: datetime
    alerts: list[AlertView]
    narratives: list[NarrativeRow]
    notes: dict[str, Any]
    series: dict[str, Series]
    #: Alerts of the day before that arose after that day's digest was delivered.
    earlier: list[AlertView] = field(default_factory=list)
    earlier_day: date | None = None
    #: The alert records shown (today's and earlier), to record them as reported once delivered.
    records: list[AlertRecord] = field(default_factory=list)
    #: chart name -> PNG bytes (filled by the renderer's chart step).
    charts: dict[str, bytes] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "timezone": self.timezone,
            "generated_at": self.generated_at.isoformat(),
            "alerts": [asdict(alert) for alert in self.alerts],
            "earlier_date": self.earlier_day.isoformat() if self.earlier_day else None,
            "earlier_alerts": [asdict(alert) for alert in self.earlier],
            "narratives": [asdict(row) for row in self.narratives],
            "notes": self.notes,
        }


def build_digest(
    database: Database,
    day: date,
    alerts: list[AlertRecord],
    *,
    timezone: str,
    names: dict[str, str],
    now: datetime | None = None,
    earlier: list[AlertRecord] | None = None,
) -> Digest:
    """Gather the digest for ``day`` from the reported alerts and the trend tables.

    ``earlier``: alerts of the day before that arose after that day's digest went out.
    """
    reported = [alert for alert in alerts if not alert.repeat]
    late = [alert for alert in earlier or [] if not alert.repeat]
    with database.session() as session:
        active = active_model_version(session) or ""
        articles = _evidence_articles(session, reported + late, active)
        views = [_view(alert, articles, names) for alert in reported]
        late_views = [_view(alert, articles, names) for alert in late]
        charted: list[str] = []
        for view in views + late_views:  # a narrative's chart goes with its first alert
            if view.narrative_id and view.narrative_id not in charted and len(charted) < MAX_CHARTS:
                charted.append(view.narrative_id)
                view.chart = f"chart-{len(charted)}"
        series = {f"chart-{n + 1}": _series(session, narrative, day) for n, narrative in enumerate(charted)}
        table = _narrative_table(session, day, names)
        notes = _notes(session, day, active)
    notes["alerts_reported"] = len(reported)
    notes["alerts_repeated"] = len(alerts) - len(reported)
    return Digest(
        day=day,
        timezone=timezone,
        generated_at=now or datetime.now(UTC),
        alerts=views,
        earlier=late_views,
        earlier_day=day - timedelta(days=1) if late_views else None,
        narratives=table,
        notes=notes,
        series=series,
    )


def _view(alert: AlertRecord, articles: dict[int, EvidenceArticle], names: dict[str, str]) -> AlertView:
    evidence = [articles[i] for i in alert.evidence_article_ids if i in articles]
    if alert.kind == "crossover":
        # The group that picked the narrative up, then the Russian state articles that pushed it.
        own = [a for a in evidence if a.group == alert.group][:ARTICLES_PER_ALERT]
        pushers = [a for a in evidence if a.group == PUSHING_GROUP][:PUSHERS_PER_CROSSOVER]
        shown = own + pushers
    else:
        shown = evidence[:ARTICLES_PER_ALERT]
    if not any(a.channel for a in shown):
        # Narratives often appear on Telegram first: the best post behind the alert is shown too.
        shown += [a for a in evidence if a.channel][:1]
    name = None
    if alert.narrative_id:
        name = names.get(alert.narrative_id) or names.get(coarse_of(alert.narrative_id))
    return AlertView(
        kind=alert.kind,
        key=alert.key,
        narrative_id=alert.narrative_id,
        narrative_name=name,
        group=alert.group,
        source=alert.source,
        magnitude=alert.magnitude,
        reason=alert.reason,
        numbers=alert.numbers,
        articles=shown,
    )


def _evidence_articles(session: Session, alerts: list[AlertRecord], active: str) -> dict[int, EvidenceArticle]:
    wanted: dict[int, set[str]] = defaultdict(set)
    for alert in alerts:
        for article_id in alert.evidence_article_ids:
            if alert.narrative_id:
                wanted[article_id].add(alert.narrative_id)
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Article.id,
            Article.title,
            Article.url,
            Article.lang,
            Article.published_at,
            Source.name,
            Source.group,
        )
        .join(Source, Source.id == Article.source_id)
        .where(Article.id.in_(list(wanted)))
    ).all()
    found: dict[int, EvidenceArticle] = {}
    classifications = session.execute(
        select(
            Classification.article_id,
            Classification.narrative_id,
            Classification.score,
            Classification.stance,
            Classification.evidence,
        ).where(Classification.article_id.in_(list(wanted)), Classification.model_version == active)
    ).all()
    best: dict[int, Row[int, str, float, str, list[str]]] = {}  # article id -> its best classification
    for labelled in classifications:
        narratives = wanted[labelled.article_id]
        if not any(labelled.narrative_id == n or labelled.narrative_id.startswith(n + "/") for n in narratives):
            continue
        if labelled.article_id not in best or labelled.score > best[labelled.article_id].score:
            best[labelled.article_id] = labelled
    for row in rows:
        label = best.get(row.id)
        sentences = label.evidence if label is not None and isinstance(label.evidence, list) else []
        found[row.id] = EvidenceArticle(
            id=row.id,
            title=row.title or "",
            url=row.url or "",
            outlet=row.name,
            group=row.group,
            lang=row.lang,
            stance=label.stance if label is not None else "",
            score=round(label.score, 3) if label is not None else 0.0,
            evidence=str(sentences[0]) if sentences else "",
            published_at=row.published_at.isoformat() if row.published_at else None,
        )
    for article_id, (channel, spread) in telegram_spread(session, list(found)).items():
        found[article_id].channel, found[article_id].spread = channel, spread
    return found


#: Reposts named in one "reposted by" line; more are counted.
REPOSTS_NAMED = 5


def _channel_of(url: str, feed_url: str | None) -> str:
    """The channel of a Telegram post (its URL is ``BASE/CHANNEL/ID`` and its feed ``BASE/s/CHANNEL``)."""
    if not feed_url or "/s/" not in feed_url:
        return ""
    channel = feed_url.rstrip("/").rsplit("/", 1)[-1]
    path = url.split("://", 1)[-1].split("/")
    return channel if len(path) >= 3 and path[1] == channel else ""


def telegram_spread(session: Session, ids: list[int]) -> dict[int, tuple[str, str]]:
    """For each article: its channel ("@name" or "") and, when its story was reposted on Telegram,
    "first posted by X, reposted by Y, Z" (X the first-seen copy, Y and Z the reposts, by time)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Article.id, Article.url, Article.duplicate_of_id, Feed.url).outerjoin(Feed, Feed.id == Article.feed_id)
        .where(Article.id.in_(ids))
    ).all()  # fmt: skip
    roots = {row[0]: row[2] or row[0] for row in rows}
    family = session.execute(
        select(
            Article.id, Article.url, Article.duplicate_of_id, Article.forwarded_from_url, Article.published_at,
            Source.name, Feed.url,
        )
        .join(Source, Source.id == Article.source_id)
        .outerjoin(Feed, Feed.id == Article.feed_id)
        .where((Article.id.in_(set(roots.values()))) | (Article.duplicate_of_id.in_(set(roots.values()))))
    ).all()  # fmt: skip
    label: dict[int, str] = {}
    reposts: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for article_id, url, original, forwarded, published, outlet, feed_url in family:
        channel = _channel_of(url, feed_url)
        label[article_id] = f"@{channel} ({outlet})" if channel else outlet
        if original is not None and forwarded is not None:
            when = published.isoformat() if published else ""
            reposts[original].append((when, article_id))
    result: dict[int, tuple[str, str]] = {}
    for article_id, url, _, feed_url in rows:
        channel = _channel_of(url, feed_url)
        root = roots[article_id]
        shared = sorted(reposts.get(root, []))
        spread = ""
        if shared and root in label:
            names = list(dict.fromkeys(label[i] for _, i in shared))
            more = f" and {len(names) - REPOSTS_NAMED} more" if len(names) > REPOSTS_NAMED else ""
            spread = f"first posted by {label[root]}, reposted by {', '.join(names[:REPOSTS_NAMED])}{more}"
        result[article_id] = (f"@{channel}" if channel else "", spread)
    return result


def _series(session: Session, narrative_id: str, day: date) -> Series:
    days = [day - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    by_group: dict[str, list[int]] = {}
    rows = session.execute(
        select(DailyTrend.day, DailyTrend.group, func.sum(DailyTrend.flagged))
        .where(DailyTrend.narrative_id == narrative_id, DailyTrend.day >= days[0], DailyTrend.day <= day)
        .group_by(DailyTrend.day, DailyTrend.group)
    ).all()
    index = {when: n for n, when in enumerate(days)}
    for when, group, flagged in rows:
        by_group.setdefault(group, [0] * len(days))[index[when]] = int(flagged or 0)
    ordered = {g: by_group[g] for g in sorted(by_group, key=lambda g: (group_rank(g), g))}
    return Series(narrative_id, days, ordered)


def _narrative_table(session: Session, day: date, names: dict[str, str]) -> list[NarrativeRow]:
    start = day - timedelta(days=13)
    rows = session.execute(
        select(
            DailyTrend.narrative_id,
            DailyTrend.day,
            func.sum(DailyTrend.flagged),
            func.sum(DailyTrend.promotes),
            func.sum(DailyTrend.refutes),
            func.sum(DailyTrend.reports),
        )
        .where(DailyTrend.day >= start, DailyTrend.day <= day)
        .group_by(DailyTrend.narrative_id, DailyTrend.day)
    ).all()
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0])
    for narrative_id, when, flagged, promotes, refutes, reports in rows:
        entry = stats[narrative_id]
        if when == day:
            entry[0], entry[1], entry[2], entry[3] = int(flagged), int(promotes), int(refutes), int(reports)
        if (day - when).days < 7:
            entry[4] += int(flagged)
        else:
            entry[5] += int(flagged)
    # Compact: every coarse narrative of the taxonomy (quiet ones with zeros), and the
    # sub-narratives flagged in the last 14 days.
    for narrative_id in names:
        if "/" not in narrative_id:
            stats[narrative_id]  # the defaultdict creates the zero entry
    table = []
    for narrative_id in sorted(stats, key=lambda n: (coarse_of(n), n != coarse_of(n), n)):
        today, promotes, refutes, reports, last7, prev7 = stats[narrative_id]
        change = round(100 * (last7 - prev7) / prev7, 1) if prev7 else None
        table.append(
            NarrativeRow(
                narrative_id=narrative_id,
                name=names.get(narrative_id, ""),
                coarse="/" not in narrative_id,
                today=today,
                promotes=promotes,
                refutes=refutes,
                reports=reports,
                last_7_days=last7,
                previous_7_days=prev7,
                change_percent=change,
            )
        )
    return table


def _cause(error: str | None) -> str | None:
    """What a feed's last error says happened, in words ("name not resolved", "connection refused")."""
    cause = failure_cause(error)
    return FETCH_FAILURE_CAUSES[cause][0] if cause else None


def _notes(session: Session, day: date, active: str) -> dict[str, Any]:
    model = session.get(ModelVersion, active) if active else None
    articles_today = session.scalar(select(func.coalesce(func.sum(SourceDay.total), 0)).where(SourceDay.day == day))
    stored_today = session.scalar(select(func.count()).select_from(ArticleDay).where(ArticleDay.day == day)) or 0
    classified_today = 0
    if active:
        classified_today = (
            session.scalar(
                select(func.count())
                .select_from(ArticleDay)
                .join(
                    ClassifiedArticle,
                    (ClassifiedArticle.article_id == ArticleDay.article_id)
                    & (ClassifiedArticle.model_version == active),
                )
                .where(ArticleDay.day == day)
            )
            or 0
        )
    feeds_total = session.scalar(select(func.count()).select_from(Feed)) or 0
    unhealthy = session.execute(
        select(Source.name, Feed.url, Feed.consecutive_failures, Feed.last_error)
        .join(Source, Source.id == Feed.source_id)
        .where(Feed.healthy.is_(False))
        .order_by(Source.name)
    ).all()
    last_crawl = session.execute(
        select(JobRun.status, JobRun.started_at, JobRun.finished_at)
        .where(JobRun.job == "crawl")
        .order_by(JobRun.started_at.desc())
        .limit(1)
    ).first()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    parked = session.execute(
        select(QueueTask.queue, QueueTask.subject, QueueTask.deliveries)
        .where(
            QueueTask.status == "parked",
            QueueTask.finished_at >= start,
            QueueTask.finished_at < start + timedelta(days=1),
        )
        .order_by(QueueTask.finished_at)
    ).all()
    return {
        # Tasks whose worker died on every delivery (see ``narrative-tracker workers status``).
        "tasks_parked": [{"queue": q, "subject": subject, "deliveries": n} for q, subject, n in parked],
        "model_version": active or None,
        "model_promoted_at": model.promoted_at.isoformat() if model and model.promoted_at else None,
        "articles_today": int(articles_today or 0),
        "articles_stored_today": stored_today,
        "articles_classified_today": classified_today,
        "classification_backlog_today": max(0, stored_today - classified_today) if active else stored_today,
        "feeds": feeds_total,
        "feeds_unhealthy": [
            {"outlet": name, "url": url, "consecutive_failures": failures, "cause": _cause(error)}
            for name, url, failures, error in unhealthy
        ],
        # An offline machine (every feed "name not resolved") is told apart from blocked or dead hosts.
        "feeds_failing_by_cause": dict(Counter(c for c in (_cause(row[3]) for row in unhealthy) if c)),
        "last_crawl": (
            {
                "status": last_crawl.status,
                "started_at": last_crawl.started_at.isoformat(),
                "finished_at": last_crawl.finished_at.isoformat() if last_crawl.finished_at else None,
            }
            if last_crawl
            else None
        ),
    }
