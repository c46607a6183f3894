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
    """The sentence pools of one kind of article in one language."""

    id: str
    section: str
    titles: tuple[str, ...]
    lede: tuple[str, ...]
    body: tuple[str, ...]
    close: tuple[str, ...]


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
        story = Story(
            id=story_id,
            section=table["section"],
            titles=tuple(table["titles"]),
            lede=tuple(table["lede"]),
            body=tuple(table["body"]),
            close=tuple(table["close"]),
        )
        for sentence in (*story.titles, *story.lede, *story.body, *story.close):
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
        first, second = rng.sample(range(low, high + 1), 2)
        values[name], values[name + "2"] = first, second
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
        sentences = _sentences(story)
        return _assemble(story, [sentences[i] for i in best[1]], load_pools(lang), country, rng)


def _sentences(story: Story) -> tuple[str, ...]:
    """Ledes, body and closing sentences in one sequence; a sentence is known by its index here."""
    return (*story.lede, *story.body, *story.close)


@cache
def _weights(lang: str, story_id: str) -> tuple[int, ...]:
    """Words per sentence: sharing a long lede weighs more than sharing a short closing line."""
    return tuple(len(s.split()) for s in _sentences(load_pools(lang).stories[story_id]))


def _draw(story: Story, rng: random.Random) -> list[int]:
    """Indexes of a lede, three to five body sentences and, often, a closing sentence."""
    ledes, body = len(story.lede), len(story.body)
    count = min(body // 2 + 1, rng.randint(3, 5))
    drawn = [rng.randrange(ledes), *(ledes + i for i in rng.sample(range(body), count))]
    if rng.random() < 0.6:
        drawn.append(ledes + body + rng.randrange(len(story.close)))
    return drawn


def _assemble(story: Story, sentences: list[str], pools: Pools, country: str, rng: random.Random) -> Text:
    values = _fill(pools, country, rng)
    lede, *body = sentences
    # One or two sentences per paragraph, as news copy is usually cut.
    paragraphs = [lede]
    while body:
        take = min(len(body), rng.choice((1, 2, 2)))
        paragraphs.append(" ".join(body[:take]))
        body = body[take:]
    # A title written for the chosen lede where there is one (pools list them in the same order).
    lede_index = story.lede.index(lede)
    title = story.titles[lede_index] if lede_index < len(story.titles) else rng.choice(story.titles)
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
