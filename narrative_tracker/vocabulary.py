"""The domain's words, defined once: source groups, stances, narrative ids and counts by stance.

Every stage speaks this vocabulary (the crawler files outlets by group, the classifier predicts
stances, the trends count them), so it lives below all of them, beside the errors and settings base.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SourceGroup(StrEnum):
    """Who publishes an outlet, in the order the digest and the CLI list them."""

    RUSSIAN_STATE = "russian-state"
    WESTERN = "western"
    UKRAINIAN = "ukrainian"
    INDEPENDENT_RUSSIAN = "independent-russian"
    FACT_CHECKER = "fact-checker"
    OTHER = "other"


#: The group values in display order.
GROUPS: tuple[str, ...] = tuple(group.value for group in SourceGroup)
#: The group whose promoting coverage a crossover is measured against.
PUSHING_GROUP = SourceGroup.RUSSIAN_STATE.value


def group_rank(group: str) -> int:
    """Position of ``group`` in display order; unknown groups sort last."""
    return GROUPS.index(group) if group in GROUPS else len(GROUPS)


class Stance(StrEnum):
    """How an article treats a narrative it carries."""

    PROMOTES = "promotes"
    REFUTES = "refutes"
    REPORTS = "reports"


STANCES: tuple[str, ...] = tuple(stance.value for stance in Stance)


def coarse_of(narrative_id: str) -> str:
    """The coarse narrative of an id: ``"discrediting-the-west/the-west-is-weak"`` -> ``"discrediting-the-west"``."""
    return narrative_id.split("/", 1)[0]


def is_sub_narrative(narrative_id: str) -> bool:
    return "/" in narrative_id


@dataclass(slots=True)
class StanceCounts:
    """Articles flagged for a narrative, and how many of them promote, refute or report it."""

    flagged: int = 0
    promotes: int = 0
    refutes: int = 0
    reports: int = 0

    def count(self, stance: str | None) -> None:
        """Count one flagged article with ``stance`` (an unknown or missing stance counts as flagged only)."""
        self.flagged += 1
        if stance == Stance.PROMOTES:
            self.promotes += 1
        elif stance == Stance.REFUTES:
            self.refutes += 1
        elif stance == Stance.REPORTS:
            self.reports += 1

    def add(self, other: StanceCounts) -> None:
        self.flagged += other.flagged
        self.promotes += other.promotes
        self.refutes += other.refutes
        self.reports += other.reports

    def as_dict(self) -> dict[str, int]:
        return {"flagged": self.flagged, "promotes": self.promotes, "refutes": self.refutes, "reports": self.reports}


#: Counts of nothing, for lookups that find no row (never mutate it).
NO_COUNTS = StanceCounts()


#: Why fetching a URL failed before any answer came, by the cause recorded in the crawl summary and
#: at the start of a feed's last error ("dns: ..."): what it means, and what to look at.
FETCH_FAILURE_CAUSES: dict[str, tuple[str, str]] = {
    "dns": ("name not resolved", "is this machine offline, or the host name misspelt?"),
    "private-address": (
        "resolves to a private or loopback address",
        "refused on purpose (set [crawler] allow_private_addresses only for a local test site)",
    ),
    "refused": ("connection refused", "the server is down, or the port is wrong"),
    "timeout": ("timed out", "the server or the network is too slow, or drops the connection"),
    "connection": ("connection lost", "the server closed the connection"),
}


def failure_cause(error: str | None) -> str | None:
    """The cause a recorded error starts with ("dns: ...", "refused: ..."), when it is one of
    FETCH_FAILURE_CAUSES; other errors (HTTP statuses, parse errors) give None."""
    if not error:
        return None
    head = error.split(":", 1)[0].strip()
    return head if head in FETCH_FAILURE_CAUSES else None
