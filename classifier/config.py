"""Settings of the ``[classifier]`` table (``taxonomy`` is a public contract)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from narrative_tracker.configmodel import Section


class ClassifierSettings(Section):
    #: Narratives taxonomy (TOML); default: the taxonomy shipped in ``classifier/data/narratives.toml``.
    taxonomy: Path | None = None
    #: Articles classified per batch (one transaction per batch).
    batch_size: int = Field(default=500, ge=1)
