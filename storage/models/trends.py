"""Daily trend counts, alerts and digests with their delivery status per channel."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utc_now


class DailyTrend(Base):
    """Per day x narrative (fine and coarse) x source group x language; denormalised for fast reads."""

    __tablename__ = "daily_trends"

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
    #: How strong the condition is (e.g. z-score, count); a repeat alert must grow in it.
    magnitude: Mapped[float] = mapped_column(Float, default=0.0)
    #: The reason in numbers, and the evidence article ids.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class DigestDelivery(Base):
    """A digest for one date on one channel; never sent twice for the same date and channel."""

    __tablename__ = "digest_deliveries"
    __table_args__ = (UniqueConstraint("day", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    #: smtp | webhook | folder
    channel: Mapped[str] = mapped_column(String(20))
    #: pending | sent | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
