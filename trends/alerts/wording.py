"""Counts in alert reasons, worded as a reader says them ("1 article", "2 western articles")."""

from __future__ import annotations


def articles(count: int, kind: str = "") -> str:
    """``count`` articles, with ``kind`` (a source group) before the noun when given."""
    noun = "article" if count == 1 else "articles"
    return " ".join(part for part in (str(count), kind, noun) if part)


def promote(count: int) -> str:
    """The verb agreeing with ``count`` articles."""
    return "promotes" if count == 1 else "promote"
