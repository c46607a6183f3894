"""Model versions and what each of them said about each article."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from narrative_tracker.storage.models.base import Base, UTCDateTime, utc_now


class ModelVersion(Base):
    """A trained model in the registry; the files live in ``<home>/models/<version>/``."""

    __tablename__ = "model_versions"
    # At most one model serves: two activations racing (two first runs, two admins) cannot both win.
    __table_args__ = (
        Index(
            "uq_model_versions_one_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: candidate | active | retired
    status: Mapped[str] = mapped_column(String(16), default="candidate", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    taxonomy_hash: Mapped[str] = mapped_column(String(64), default="")
    data_hash: Mapped[str] = mapped_column(String(64), default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    #: SHA-256 of model.skops, recorded at registration: the file is refused when it differs (the
    #: copy in metadata.json sits beside the file and could be rewritten with it). Empty for rows
    #: registered before revision 0006, until their first load records it.
    model_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")


class ClassifiedArticle(Base):
    """Marks an article as classified by a model version, whether or not anything was flagged."""

    __tablename__ = "classified_articles"

    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    classified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Classification(Base):
    """One flagged narrative in one article, by one model version."""

    __tablename__ = "classifications"
    __table_args__ = (
        Index("ix_classifications_article_model", "article_id", "model_version"),
        # Serves (model, narrative) look-ups, and the web app's "recent articles of a narrative"
        # walked backwards by article id (with a two-column index SQLite sorted every match).
        Index("ix_classifications_model_narrative_article", "model_version", "narrative_id", "article_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(64))
    narrative_id: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    #: promotes | refutes | reports
    stance: Mapped[str] = mapped_column(String(16))
    #: The 1-3 sentences that carry the narrative.
    evidence: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Top contributing terms with their weights.
    terms: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
