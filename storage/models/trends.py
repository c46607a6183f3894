"""Daily trend counts, the per-article and per-outlet day tables they are built from, alerts and digests.

The trends job keeps three denormalised tables so that a digest never has to join a million
classification rows:

- ``article_days``: the publication day of each article (in ``[digest] timezone``) and whether it
  counts (a copy of a story the same outlet already published does not);
- ``source_days`` / ``source_narrative_days``: per day x outlet x language, all counted articles
  and the flagged ones per narrative with their stances (alerts about outlets read these);
- ``daily_trends``: the same summed per source group (what users chart).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from narrative_tracker.storage.models.base import Base, UTCDateTime, utc_now


class ArticleDay(Base):
    """The day an article belongs to, and whether it counts in the trends."""

    __tablename__ = "article_days"
    __table_args__ = (
        Index("ix_article_days_day_source", "day", "source_id", "lang", "counted"),
        Index("ix_article_days_root_source", "root_id", "source_id"),
    )

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    #: Publication date in [digest] timezone (fetch date when the publication date is missing or in the future).
    day: Mapped[date] = mapped_column(Date)
    source_id: Mapped[int] = mapped_column(Integer)
    lang: Mapped[str] = mapped_column(String(8))
    #: The first-seen copy of the story (the article itself when it is no duplicate).
    root_id: Mapped[int] = mapped_column(Integer)
    #: False for a second copy of a story in the same outlet: duplicates count once per outlet.
    counted: Mapped[bool] = mapped_column(Boolean, default=True)


class SourceDay(Base):
    """Counted articles per day x outlet x language: the denominators, and each outlet's volume."""

    __tablename__ = "source_days"
    __table_args__ = (Index("ix_source_days_source_day", "source_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    total: Mapped[int] = mapped_column(Integer, default=0)


class SourceNarrativeDay(Base):
    """Flagged articles per day x outlet x narrative (fine and coarse) x language, by stance."""

    __tablename__ = "source_narrative_days"
    __table_args__ = (Index("ix_source_narrative_days_narrative_source", "narrative_id", "source_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    narrative_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    flagged: Mapped[int] = mapped_column(Integer, default=0)
    promotes: Mapped[int] = mapped_column(Integer, default=0)
    refutes: Mapped[int] = mapped_column(Integer, default=0)
    reports: Mapped[int] = mapped_column(Integer, default=0)


class DailyTrend(Base):
    """Per day x narrative (fine and coarse) x source group x language; denormalised for fast reads.

    Rows exist where the narrative was flagged at least once; ``total`` is all counted articles of
    that group and language that day (the denominator of the share).
    """

    __tablename__ = "daily_trends"
    __table_args__ = (Index("ix_daily_trends_narrative_day", "narrative_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    narrative_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    group: Mapped[str] = mapped_column(String(40), primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), primary_key=True)
    flagged: Mapped[int] = mapped_column(Integer, default=0)
    #: All articles of that group and language that day: the denominator of ``share``.
    total: Mapped[int] = mapped_column(Integer, default=0)
    promotes: Mapped[int] = mapped_column(Integer, default=0)
    refutes: Mapped[int] = mapped_column(Integer, default=0)
    reports: Mapped[int] = mapped_column(Integer, default=0)
    model_version: Mapped[str] = mapped_column(String(64), default="")


class TrendState(Base):
    """Watermarks of the incremental trends job, and when each date's digest was first delivered."""

    __tablename__ = "trend_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("day", "kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    #: spike | crossover | new-outlet | source-health
    kind: Mapped[str] = mapped_column(String(20))
    #: What the alert is about, e.g. "narrative-id|western"; one alert per (day, kind, key).
    key: Mapped[str] = mapped_column(String(300))
    narrative_id: Mapped[str | None] = mapped_column(String(200))
    #: How strong the condition is (e.g. a count); a repeat alert must grow in it.
    magnitude: Mapped[float] = mapped_column(Float, default=0.0)
    #: True when the condition held the day before too and did not grow: recorded, not reported.
    repeat: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The reason in numbers, and the evidence article ids.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    #: When a digest first showed it (kept when the day's alerts are evaluated again): an alert of
    #: yesterday that arose after yesterday's digest goes into today's.
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DigestDelivery(Base):
    """A digest for one date on one channel; never sent twice for the same date and channel."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (UniqueConstraint("day", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    #: smtp | webhook | folder
    channel: Mapped[str] = mapped_column(String(20))
    #: sending | sent | failed (``sending`` left behind by a crash is never re-sent automatically)
    status: Mapped[str] = mapped_column(String(16), default="sending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
