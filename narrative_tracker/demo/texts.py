"""The demo world's article texts: sentence pools per language and story, and how they are assembled.

The pools live in ``demo/data/texts_<lang>.toml``. An article is one title, one lede, a few body
sentences and one closing sentence, drawn without repetition, with ``{slots}`` (cities, teams,
people) filled consistently across the article. Drawing sentences from pools, rather than filling
one fixed template, keeps two articles of the same story far from each other, so that the
crawler's near-duplicate detection does not (rightly) fold them together.
"""

from __future__ import annotations

import random
import string
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
LANGUAGES = ("en", "fr", "ru")


@dataclass(frozen=True)
class Story:
    """The sentences of one kind of article in one language, each known by its index in ``sentences``."""

    id: str
    section: str
    #: One title per lede, in the same order (extra ledes take any title).
    titles: tuple[str, ...]
    sentences: tuple[str, ...]
    ledes: tuple[int, ...]
    body: tuple[int, ...]
    close: tuple[int, ...]
    #: Every article ends on a closing sentence (a debunk ends on its verdict).
    always_close: bool = False


def _story(story_id: str, table: dict[str, Any]) -> Story:
    sentences: dict[str, int] = {}

    def index(items: list[str]) -> tuple[int, ...]:
        return tuple(sentences.setdefault(item, len(sentences)) for item in items)

    return Story(
        id=story_id,
        section=table["section"],
        titles=tuple(table["titles"]),
        ledes=index(table["lede"]),
        body=index(table["body"]),
        close=index(table["close"]),
        sentences=tuple(sentences),
        always_close=bool(table.get("always_close", False)),
    )


@dataclass(frozen=True)
class Text:
    title: str
    section: str
    #: The first paragraph is the lede.
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Pools:
    lang: str
    stories: dict[str, Story]
    #: slot name -> values; ``country_slots[country][slot]`` overrides them for one country.
    slots: dict[str, tuple[str, ...]]
    country_slots: dict[str, dict[str, tuple[str, ...]]]

    def slot_values(self, name: str, country: str) -> tuple[str, ...]:
        return self.country_slots.get(country, {}).get(name) or self.slots[name]


@cache
def load_pools(lang: str) -> Pools:
    """Read and check ``texts_<lang>.toml`` (a packaging mistake should fail loudly, here)."""
    path = DATA_DIR / f"texts_{lang}.toml"
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    plain: dict[str, tuple[str, ...]] = {}
    by_country: dict[str, dict[str, tuple[str, ...]]] = {}
    for name, value in raw["slots"].items():
        if isinstance(value, dict):
            by_country[name] = {k: tuple(v) for k, v in value.items()}
        else:
            plain[name] = tuple(value)
    stories = {}
    for story_id, table in raw["story"].items():
        story = _story(story_id, table)
        for sentence in (*story.titles, *story.sentences):
            for _, field, _, _ in string.Formatter().parse(sentence):
                if field and field.removesuffix("2") not in {*plain, *_GENERATED, "score"}:
                    raise ValueError(f"{path}: story {story_id!r} uses unknown slot {{{field}}}")
        stories[story_id] = story
    return Pools(lang=lang, stories=stories, slots=plain, country_slots=by_country)


# Slots whose values are made up on the spot rather than drawn from a list: name -> (low, high).
_GENERATED = {"n": (2, 9), "num": (11, 95), "pct": (3, 18), "hours": (2, 6), "age": (17, 34), "year": (2012, 2021)}


def _fill(pools: Pools, country: str, rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in pools.slots:
        first, second = rng.sample(pools.slot_values(name, country), 2)
        values[name], values[name + "2"] = first, second
    for name, (low, high) in _GENERATED.items():
        first_number, second_number = rng.sample(range(low, high + 1), 2)
        values[name], values[name + "2"] = first_number, second_number
    winner, loser = rng.randint(1, 4), rng.randint(0, 2)
    values["score"] = f"{max(winner, loser + 1)}{':' if pools.lang == 'ru' else '-'}{loser}"
    return values


class Writer:
    """Writes articles, keeping each new one far from those already written for the same story.

    Each article draws a few candidate sentence sets and keeps the one that shares the fewest
    words with the earlier articles of its story and language. Together with the slots, this
    keeps any two articles of the world below the crawler's near-duplicate threshold.
    """

    CANDIDATES = 16

    def __init__(self) -> None:
        self._written: dict[tuple[str, str], list[frozenset[int]]] = {}

    def compose(self, lang: str, story_id: str, country: str, rng: random.Random) -> Text:
        """Write one article of ``story_id`` in ``lang``: several varied sentences, slots filled."""
        story = load_pools(lang).stories[story_id]
        weights = _weights(lang, story_id)
        earlier = self._written.setdefault((lang, story_id), [])
        best: tuple[float, list[int]] | None = None
        for _ in range(self.CANDIDATES):
            drawn = _draw(story, rng)
            keys = frozenset(drawn)
            overlap = 0.0
            for other in earlier:
                shared = sum(weights[i] for i in keys & other)
                if shared:
                    overlap = max(overlap, shared / sum(weights[i] for i in keys | other))
            if best is None or overlap < best[0]:
                best = (overlap, drawn)
        assert best is not None
        earlier.append(frozenset(best[1]))
        return _assemble(story, best[1], load_pools(lang), country, rng)


@cache
def _weights(lang: str, story_id: str) -> tuple[int, ...]:
    """Words per sentence: sharing a long lede weighs more than sharing a short closing line."""
    return tuple(len(s.split()) for s in load_pools(lang).stories[story_id].sentences)


def _draw(story: Story, rng: random.Random) -> list[int]:
    """Indexes of a lede, three to five body sentences and, often or always, a closing sentence."""
    count = min(len(story.body) // 2 + 1, rng.randint(3, 5))
    drawn = [rng.choice(story.ledes), *rng.sample(story.body, count)]
    if story.close and (story.always_close or rng.random() < 0.6):
        drawn.append(rng.choice(story.close))
    return drawn


def _assemble(story: Story, drawn: list[int], pools: Pools, country: str, rng: random.Random) -> Text:
    values = _fill(pools, country, rng)
    lede, *body = (story.sentences[i] for i in drawn)
    # One or two sentences per paragraph, as news copy is usually cut.
    paragraphs = [lede]
    while body:
        take = min(len(body), rng.choice((1, 2, 2)))
        paragraphs.append(" ".join(body[:take]))
        body = body[take:]
    # The title written for the chosen lede, where there is one.
    lede_number = story.ledes.index(drawn[0])
    title = story.titles[lede_number] if lede_number < len(story.titles) else rng.choice(story.titles)
    return Text(
        title=_capitalized(title.format_map(values)),
        section=story.section,
        paragraphs=tuple(_capitalized(p.format_map(values)) for p in paragraphs),
    )


def _capitalized(sentence: str) -> str:
    """A slot may open a sentence ("{team} beat ..."): its value may not be capitalised."""
    return sentence[:1].upper() + sentence[1:]


def byline(lang: str, country: str, rng: random.Random) -> str:
    return rng.choice(load_pools(lang).slot_values("person", country))
