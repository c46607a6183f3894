"""Questions every stage asks of the database, answered in one place."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from narrative_tracker.storage.models import ModelVersion

ACTIVE = "active"


def active_model_version(session: Session) -> str | None:
    """The version of the model that serves, or None before any model was promoted.

    A partial unique index (``uq_model_versions_one_active``) keeps it to one row at most.
    """
    return session.scalar(select(ModelVersion.version).where(ModelVersion.status == ACTIVE))
