"""Cross-lingual terms: English, French and Russian words mapped onto shared concepts.

Analysts label mostly English text, so a model learns English words for each narrative, and
a Russian article about the same claim shares few features with its training data (the
character n-grams of names help a little). This feature block gives the three languages common
columns, with no translation service and no downloaded weights:

- words are stemmed per language with Snowball (``snowballstemmer``, rules shipped in the
  package), so that inflected forms (Украина, Украины, Украине) count as one;
- stems are aligned across the taxonomy's translated example sentences (the n-th example of a
  narrative is the same sentence in every language): a French or Russian stem that keeps
  appearing with the same English stem, and only with it, takes that stem as its concept;
- named entities whose spelling differs between languages and transliterations (Киев, Kyiv,
  Kiev) come from a hand-written table, ``data/entities.toml``.

Only concept tokens are emitted (a few dozen per article): the block is small next to the word
and character blocks, and carries just what the three languages share.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from narrative_tracker.stemming import SNOWBALL, is_cyrillic, stemmer

ENTITIES_FILE = Path(__file__).resolve().parent / "data" / "entities.toml"
#: Characters of an article read for its concepts (the word block reads as far).
MAX_CHARS = 20_000
_WORD = re.compile(r"[^\W\d_]{2,}")
# Function words of three letters or more: they tell French from English text, and take no part
# in the alignment (they co-occur with everything).
_STOPWORD_TEXT = {
    "en": """the and for that with was were are from this will has have had its their not but who which
        been they his her all more into than after said says also over such about would could""",
    "fr": """les des une que qui dans pour sur pas aux sont est par plus ses son leur leurs avec cette
        mais ont elle ils comme tout très été ces nous vous sans entre être fait selon dont""",
    "ru": """что это как для его она они был была были при все уже так или если после над под чем
        также который которые которая этого этот эти того тем может будет быть""",
}
STOPWORDS = {lang: frozenset(words.split()) for lang, words in _STOPWORD_TEXT.items()}
# A foreign stem takes an English stem as its concept when they appear together in at least this
# many translated example groups, with at least this Dice coefficient, each the other's best match.
MIN_ALIGNED_GROUPS = 2
MIN_DICE = 0.6


_STEMS: dict[tuple[str, str], str] = {}
_STEM_CACHE_LIMIT = 500_000


def stem(word: str, lang: str) -> str:
    """The Snowball stem of a lower-case ``word`` in ``lang`` (en, fr or ru); cached, news
    vocabulary being mostly the same few thousand words."""
    key = (lang, word)
    found = _STEMS.get(key)
    if found is None:
        found = stemmer(SNOWBALL[lang]).stemWord(word)
        if len(_STEMS) < _STEM_CACHE_LIMIT:
            _STEMS[key] = found
    return found


def latin_language(words: Sequence[str]) -> str:
    """ "fr" or "en" for the Latin-script words of a text, by their function words."""
    french = sum(w in STOPWORDS["fr"] for w in words)
    english = sum(w in STOPWORDS["en"] for w in words)
    return "fr" if french > english else "en"


def stems_of(text: str, lang: str | None = None) -> list[tuple[str, str]]:
    """(language, stem) of each word of ``text``: Cyrillic words are Russian, Latin ones French or
    English (``lang`` when given, else guessed from the text's function words)."""
    words = _WORD.findall(text[:MAX_CHARS].lower())
    cyrillic = [is_cyrillic(word) for word in words]
    latin_lang = (
        lang if lang in ("en", "fr") else latin_language([w for w, c in zip(words, cyrillic, strict=True) if not c])
    )
    out = []
    for word, in_cyrillic in zip(words, cyrillic, strict=True):
        word_lang = "ru" if in_cyrillic else latin_lang
        if word not in STOPWORDS[word_lang]:
            out.append((word_lang, stem(word, word_lang)))
    return out


def load_entities(path: Path = ENTITIES_FILE) -> dict[str, list[str]]:
    """Concept -> spellings, from the hand-written table (a ValueError names a bad entry)."""
    with path.open("rb") as handle:
        table = tomllib.load(handle).get("entities", {})
    for concept, spellings in table.items():
        if not isinstance(spellings, list) or not all(isinstance(s, str) and s.strip() for s in spellings):
            raise ValueError(f"{path}: entities.{concept} must be a list of spellings")
    return {str(concept): list(spellings) for concept, spellings in table.items()}


def _key(lang: str, stem_: str) -> str:
    return f"{lang}:{stem_}"


def align(groups: Iterable[dict[str, str]]) -> dict[str, str]:
    """Foreign stem -> English stem, from groups of translations (language -> sentence)."""
    together: Counter[tuple[str, str]] = Counter()
    seen: Counter[str] = Counter()
    for group in groups:
        if "en" not in group:
            continue
        english_stems = {s for _, s in stems_of(group["en"], "en") if len(s) >= 3}
        seen.update(_key("en", s) for s in english_stems)
        for lang, sentence in group.items():
            if lang == "en" or lang not in SNOWBALL:
                continue
            foreign_keys = {_key(lang, s) for _, s in stems_of(sentence, lang) if len(s) >= 3}
            seen.update(foreign_keys)
            together.update((f, e) for f in foreign_keys for e in english_stems)
    dice: dict[tuple[str, str], float] = {
        pair: 2 * n / (seen[pair[0]] + seen[_key("en", pair[1])])
        for pair, n in together.items()
        if n >= MIN_ALIGNED_GROUPS
    }
    best_for_foreign: dict[str, tuple[float, str]] = {}
    best_for_english: dict[tuple[str, str], float] = defaultdict(float)
    # In a fixed order, ties going to the first English stem alphabetically: the same lexicon in
    # every process (set order follows string hashing, which differs between runs).
    for (foreign, english), d in sorted(dice.items()):
        lang = foreign.split(":", 1)[0]
        if d > best_for_foreign.get(foreign, (0.0, ""))[0]:
            best_for_foreign[foreign] = (d, english)
        best_for_english[(lang, english)] = max(best_for_english[(lang, english)], d)
    return {
        foreign: english
        for foreign, (d, english) in best_for_foreign.items()
        if d >= MIN_DICE and d >= best_for_english[(foreign.split(":", 1)[0], english)]
    }


def build_lexicon(groups: Iterable[dict[str, str]], entities: dict[str, list[str]]) -> dict[str, str]:
    """ "lang:stem" -> concept: entities first, then aligned stems (an English stem names its
    concept, unless it is an entity's spelling: then its foreign partners join the entity)."""
    lexicon: dict[str, str] = {}
    for concept, spellings in entities.items():
        for spelling in spellings:
            langs = ("ru",) if is_cyrillic(spelling) else ("en", "fr")
            for lang in langs:
                for word in _WORD.findall(spelling.lower()):
                    lexicon[_key(lang, stem(word, lang))] = f"entity:{concept}"
    for foreign, english in sorted(align(groups).items()):
        concept = lexicon.setdefault(_key("en", english), english)
        lexicon.setdefault(foreign, concept)
    return lexicon


def concept_columns(lexicon: dict[str, str]) -> int:
    """Columns of the concept block made from ``lexicon``: one per concept (at least one)."""
    return max(1, len(set(lexicon.values())))


class CrossLingualTerms(TransformerMixin, BaseEstimator):
    """Counts of the lexicon's concepts in each text (one column per concept).

    ``lexicon`` maps "lang:stem" to a concept (see ``build_lexicon``); it is a parameter, saved
    with the model, so a model reads text as it did when trained whatever the taxonomy becomes.
    """

    def __init__(self, lexicon: dict[str, str] | None = None) -> None:
        self.lexicon = lexicon

    def fit(self, X: Any, y: Any = None) -> CrossLingualTerms:
        concepts = sorted(set((self.lexicon or {}).values()))
        self.columns_ = {concept: i for i, concept in enumerate(concepts)}
        self.n_features_out_ = concept_columns(self.lexicon or {})
        return self

    def transform(self, X: Any) -> sp.csr_matrix:
        lexicon = self.lexicon or {}
        indptr: list[int] = [0]
        indices: list[int] = []
        data: list[int] = []
        for text in X:
            counts = Counter(
                self.columns_[concept]
                for lang, stem_ in stems_of(text)
                if (concept := lexicon.get(_key(lang, stem_))) is not None
            )
            indices.extend(counts)
            data.extend(counts.values())
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
            shape=(len(indptr) - 1, self.n_features_out_),
        )
