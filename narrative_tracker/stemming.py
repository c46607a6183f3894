"""Snowball stemmers for the product's languages, in one place for the article search and the
classifier's cross-lingual features (``snowballstemmer``: its rules ship in the package)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import snowballstemmer

#: ISO 639-1 code -> Snowball's name for the language.
SNOWBALL = {"en": "english", "fr": "french", "ru": "russian"}
_CYRILLIC = re.compile("[\u0400-\u04ff]")


@cache
def stemmer(language: str) -> Any:
    """The Snowball stemmer for ``language`` (Snowball's name: "english", "french", "russian")."""
    return snowballstemmer.stemmer(language)


def is_cyrillic(word: str) -> bool:
    """Whether ``word`` has a Cyrillic letter (read as Russian by both users of the stemmers)."""
    return _CYRILLIC.search(word) is not None
