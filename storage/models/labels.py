"""Training data: labelled texts (imported records or stored articles) and their labels.

A narrative with no Label row for a text is *unknown* for that text, not negative, unless the
text is ``complete`` (it was checked against the whole taxonomy, as imported datasets are).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from narrative_tracker.storage.models.base import Base, UTCDateTime, utc_now


class LabelledText(Base):
    __tablename__ = "labelled_texts"
    __table_args__ = (UniqueConstraint("dataset", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Where the text came from: an imported file's name, "analyst" for queue labels, "pattern".
    dataset: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(200))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"), index=True)
    lang: Mapped[str] = mapped_column(String(8), default="und")
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    #: True when every narrative of the taxonomy was checked: missing ones are negatives.
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("text_id", "narrative_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    text_id: Mapped[int] = mapped_column(ForeignKey("labelled_texts.id", ondelete="CASCADE"))
    #: Taxonomy id; kept as text so that a taxonomy change never breaks stored labels.
    narrative_id: Mapped[str] = mapped_column(String(200), index=True)
    positive: Mapped[bool] = mapped_column(Boolean)
    #: promotes | refutes | reports, for positive labels.
    stance: Mapped[str | None] = mapped_column(String(16))
    #: 1.0 for analyst and imported labels; lower for weak (pattern) labels, never used as gold.
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    labeller: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
