"""The taxonomy as the pages read it: loaded once and again only when its file changes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from narrative_tracker.classifier.taxonomy import Taxonomy

_lock = threading.Lock()
_cache: dict[Path, tuple[float, Taxonomy]] = {}


def taxonomy(path: Path) -> Taxonomy:
    """The parsed taxonomy at ``path`` (parsing it on every request cost more than some queries)."""
    from narrative_tracker.classifier.taxonomy import load_taxonomy

    stamp = path.stat().st_mtime
    with _lock:
        cached = _cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    loaded = load_taxonomy(path)
    with _lock:
        _cache[path] = (stamp, loaded)
    return loaded


def names(path: Path) -> dict[str, str]:
    return {n.id: n.name for n in taxonomy(path).narratives.values()}
