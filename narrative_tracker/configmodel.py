"""Shared base for the settings sections that each package declares in its ``config`` module."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings table: unknown keys are errors, values are checked strictly, nothing is coerced silently."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True, validate_default=True)
