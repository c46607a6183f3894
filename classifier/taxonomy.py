"""The narratives taxonomy: a TOML file analysts can edit, with a shipped default.

Ids are ``narrative`` or ``narrative/sub-narrative``. A coarse narrative with sub-narratives is
derived from them: an article carries it when it carries any of its sub-narratives. Each entry
holds hand-written example sentences per language (what promotes it, and optionally what refutes
or reports it) and optional ``patterns`` (analyst regular expressions). The file also ships
``[neutral]`` sentences (other news: negatives for every narrative) and ``[stance]`` cue sentences.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from narrative_tracker.errors import ConfigError
from narrative_tracker.vocabulary import STANCES, coarse_of

log = logging.getLogger(__name__)

DEFAULT_TAXONOMY_FILE = Path(__file__).parent / "data" / "narratives.toml"
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*(?:/[a-z0-9]+(?:-[a-z0-9]+)*)?$")
# Example tables per stance in a [[narrative]] entry.
EXAMPLE_KEYS = {"examples": "promotes", "refutes": "refutes", "reports": "reports"}


@dataclass(frozen=True)
class Example:
    text: str
    lang: str
    stance: str


@dataclass(frozen=True)
class Narrative:
    id: str
    name: str
    description: str
    examples: tuple[Example, ...] = ()
    patterns: tuple[str, ...] = ()

    @property
    def coarse(self) -> str:
        return coarse_of(self.id)


@dataclass(frozen=True)
class Taxonomy:
    path: Path
    narratives: dict[str, Narrative]
    neutral: tuple[Example, ...] = ()
    stance_cues: tuple[Example, ...] = ()
    sha256: str = ""
    _compiled: dict[str, list[re.Pattern[str]]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ids(self) -> list[str]:
        return list(self.narratives)

    def subs_of(self, coarse: str) -> list[str]:
        return [n for n in self.narratives if n.startswith(coarse + "/")]

    def leaf_ids(self) -> list[str]:
        """Sub-narratives, plus coarse narratives that have none (``hidden-plots``)."""
        return [n for n in self.narratives if "/" in n or not self.subs_of(n)]

    def name_of(self, narrative_id: str) -> str:
        narrative = self.narratives.get(narrative_id)
        return narrative.name if narrative else narrative_id

    def patterns_of(self, narrative_id: str) -> list[re.Pattern[str]]:
        return self._compiled.get(narrative_id, [])


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: expected a list of non-empty strings")
    return [v.strip() for v in value]


def _examples(entry: dict[str, Any], where: str) -> list[Example]:
    found = []
    for key, stance in EXAMPLE_KEYS.items():
        table = entry.get(key, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {key!r} must be a table of language -> sentences, e.g. {key}.en = [...]")
        for lang, sentences in table.items():
            found += [Example(s, lang, stance) for s in _str_list(sentences, f"{where} {key}.{lang}")]
    return found


def _lang_table(table: Any, stance: str, where: str) -> list[Example]:
    if table is None:
        return []
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table of language -> sentences")
    return [Example(s, lang, stance) for lang, items in table.items() for s in _str_list(items, f"{where}.{lang}")]


def parse_taxonomy(raw: dict[str, Any], path: Path, digest: str = "") -> Taxonomy:
    allowed_top = {"narrative", "neutral", "stance", "version"}
    for key in raw:
        if key not in allowed_top:
            raise ConfigError(f"taxonomy {path}: unknown key {key!r} (expected one of {sorted(allowed_top)})")
    entries = raw.get("narrative")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"taxonomy {path}: no [[narrative]] entries")
    narratives: dict[str, Narrative] = {}
    compiled: dict[str, list[re.Pattern[str]]] = {}
    allowed = {"id", "name", "description", "patterns", *EXAMPLE_KEYS}
    for index, entry in enumerate(entries, 1):
        where = f"taxonomy {path}, narrative #{index}"
        narrative_id = entry.get("id")
        if not isinstance(narrative_id, str) or not ID_PATTERN.match(narrative_id):
            raise ConfigError(f"{where}: id {narrative_id!r} must look like 'narrative' or 'narrative/sub-narrative'")
        where = f"taxonomy {path}, narrative {narrative_id!r}"
        unknown = set(entry) - allowed
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r} (allowed: {sorted(allowed)})")
        if narrative_id in narratives:
            raise ConfigError(f"{where}: the id appears twice")
        for key in ("name", "description"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ConfigError(f"{where}: missing {key!r}")
        patterns = _str_list(entry.get("patterns", []), f"{where} patterns")
        try:
            compiled[narrative_id] = [re.compile(p, re.IGNORECASE) for p in patterns]
        except re.error as exc:
            raise ConfigError(f"{where}: pattern {exc.pattern!r} is not a valid regular expression: {exc}") from None
        narratives[narrative_id] = Narrative(
            id=narrative_id,
            name=entry["name"].strip(),
            description=entry["description"].strip(),
            examples=tuple(_examples(entry, where)),
            patterns=tuple(patterns),
        )
    for narrative_id in narratives:
        if "/" in narrative_id and coarse_of(narrative_id) not in narratives:
            raise ConfigError(
                f"taxonomy {path}, narrative {narrative_id!r}: its coarse narrative {coarse_of(narrative_id)!r} "
                "has no [[narrative]] entry"
            )
    stance = raw.get("stance", {})
    if not isinstance(stance, dict) or set(stance) - set(STANCES):
        raise ConfigError(f"taxonomy {path}: [stance] may only hold tables named {list(STANCES)}")
    cues = [ex for name, table in stance.items() for ex in _lang_table(table, name, f"taxonomy {path} [stance.{name}]")]
    neutral = _lang_table(raw.get("neutral"), "", f"taxonomy {path} [neutral]")
    return Taxonomy(
        path=path,
        narratives=narratives,
        neutral=tuple(neutral),
        stance_cues=tuple(cues),
        sha256=digest,
        _compiled=compiled,
    )


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read and validate a taxonomy file; ConfigError names the file and the entry at fault."""
    path = Path(path) if path else DEFAULT_TAXONOMY_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"taxonomy file {path} does not exist: fix [classifier] taxonomy in the settings") from None
    except OSError as exc:
        raise ConfigError(f"taxonomy file {path} cannot be read: {exc.strerror}") from None
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"taxonomy file {path}: not valid TOML: {exc}") from None
    return parse_taxonomy(raw, path, hashlib.sha256(data).hexdigest())


def narrative_names(path: Path | str | None = None) -> dict[str, str]:
    """Narrative id -> the name people read, for the digest; empty when the taxonomy cannot be read
    (the digest then shows ids: it must not fail because the taxonomy is missing or broken)."""
    try:
        taxonomy = load_taxonomy(path)
    except ConfigError as exc:
        log.warning("narrative names unavailable, the digest shows ids: %s", exc)
        return {}
    return {narrative_id: narrative.name for narrative_id, narrative in taxonomy.narratives.items()}
