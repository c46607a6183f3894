"""Full-text search over article titles and texts: SQLite FTS5 and PostgreSQL text search.

The index objects are made by migration 0007, not by the models:

- SQLite: the FTS5 table ``articles_fts`` (external content: it holds the index only, the text
  stays in ``articles``), tokenised by ``unicode61 remove_diacritics 2`` (case and accents folded,
  Cyrillic included), kept in step by triggers on every insert, delete and change of title or
  text, whoever writes (ORM, the crawler's batched inserts, retention deletes, raw SQL).
  A later migration that rebuilds ``articles`` with Alembic's batch mode drops those triggers:
  it must create them again (``test_search`` checks that an article stored at head is found).
- PostgreSQL: a GIN index over ``SEARCH_VECTOR``, stemmed with the article's language
  (russian, french, english; simple otherwise).

FTS5 does not stem: a query word is searched in its forms instead (``word_forms``).
User text is never handed to a query language: it is cut into words here, each word quoted
for FTS5 or passed to ``plainto_tsquery``, so quotes, ``NEAR``, ``*``, ``-`` or ``title:`` are
only characters.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Integer, bindparam, column, func, literal_column, table

from narrative_tracker.stemming import SNOWBALL, is_cyrillic, stemmer
from narrative_tracker.storage.endings import ENDINGS

FTS_TABLE = "articles_fts"
POSTGRES_INDEX = "ix_articles_search"

#: At most this many words of a query are used (a pasted paragraph is not a query).
MAX_WORDS = 8
#: A shorter stem is not given endings: "a" + "s" is another word, not a form of "a".
MIN_STEM = 3
#: A longer "word" is searched as typed only (no language has such words; pasted junk does).
MAX_STEMMED = 40

#: The tsvector that the PostgreSQL index covers. A query must use this very expression for the
#: planner to use the index (migration 0007 holds a copy of it: migrations do not change).
SEARCH_VECTOR = (
    "to_tsvector(CASE articles.lang WHEN 'ru' THEN 'russian'::regconfig WHEN 'fr' THEN 'french'::regconfig "
    "WHEN 'en' THEN 'english'::regconfig ELSE 'simple'::regconfig END, articles.title || ' ' || articles.text)"
)
#: Configurations a query is parsed with: each article's vector was made with one of them.
POSTGRES_CONFIGS = ("russian", "french", "english", "simple")

#: Snowball stemmers tried on a word, by its script (the article's language is not known from
#: the query; a lang filter narrows it).
_WORD = re.compile(r"[^\W_]+")

fts_table = table(FTS_TABLE, column("rowid", Integer), column(FTS_TABLE))


def is_search_index_table(name: str | None) -> bool:
    """The FTS5 table and its shadow tables (``articles_fts_data``, ``_idx``, ``_docsize``,
    ``_config``): made by migration 0007, not declared by the models."""
    return bool(name) and (name == FTS_TABLE or str(name).startswith(FTS_TABLE + "_"))


def include_in_schema_comparison(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic's ``include_name``: everything but the full-text index objects."""
    if type_ == "table":
        return not is_search_index_table(name)
    return not (type_ == "index" and name == POSTGRES_INDEX)


def query_words(text: str) -> list[str]:
    """The words of a user's query: letters and digits, as the FTS5 tokenizer cuts them."""
    return _WORD.findall(unicodedata.normalize("NFKC", text))[:MAX_WORDS]


def _languages(word: str, lang: str) -> list[str]:
    """Stemmers for the word's script, narrowed to the lang filter's language when it is one."""
    if is_cyrillic(word):
        by_script = ["russian"]
    elif any(_latin(c) for c in word):
        by_script = ["english", "french"]
    else:
        return []
    chosen = SNOWBALL.get(lang)
    return [chosen] if chosen in by_script else by_script


def _latin(char: str) -> bool:
    return (char.isascii() and char.isalpha()) or "\u00c0" <= char <= "\u024f"


def word_forms(word: str, lang: str = "") -> list[str]:
    """The word (lower-case) and its other forms: its Snowball stem with each ending of the
    language (``storage/endings.py``). "перемирия" gives перемирие, перемирии, перемирием...
    Measured on the EUvsDisinfo texts against "same stem" (docs/decisions.md): 98% of the
    documents found (the word alone: 65%), 96% of those found right."""
    lowered = word.lower()
    forms = dict.fromkeys([lowered])
    for language in _languages(lowered, lang):
        forms.update(dict.fromkeys(_forms(language, lowered)))
    return list(forms)


def _forms(language: str, word: str) -> list[str]:
    if len(word) > MAX_STEMMED:
        return []
    stem = stemmer(language).stemWord(word)
    if len(stem) < MIN_STEM:
        return []
    forms = [stem + ending for ending in ENDINGS[language]]
    if language == "english":
        forms += [stem + stem[-1] + ending for ending in ("ing", "ed", "er", "ers", "est")]  # stop: stopping
    return forms


def fts5_query(words: list[str], lang: str = "") -> str:
    """An FTS5 query: every word, each in any of its forms. Whole terms, not prefixes: FTS5 merges
    every term under a prefix in memory (140 ms for a word in every one of 1M articles), while 40
    whole terms cost under a millisecond. Terms are quoted strings, so nothing the user typed is
    read as FTS5 syntax."""
    clauses = []
    for word in words:
        terms = [_quoted(form) for form in word_forms(word, lang)]
        clauses.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
    return " AND ".join(clauses)


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def sqlite_match(words: list[str], lang: str = "") -> ColumnElement[bool]:
    """``articles_fts MATCH ...`` for a query that joins ``fts_table`` on ``rowid``."""
    return fts_table.c[FTS_TABLE].op("MATCH")(bindparam("fts_query", fts5_query(words, lang)))


def postgres_match(words: list[str]) -> ColumnElement[bool]:
    """The indexed tsvector matches the words under any of the language configurations."""
    text: BindParameter[str] = bindparam("search_text", " ".join(words))
    queries: list[ColumnElement[Any]] = [
        func.plainto_tsquery(literal_column(f"'{c}'::regconfig"), text) for c in POSTGRES_CONFIGS
    ]
    combined = queries[0]
    for query in queries[1:]:
        combined = combined.op("||")(query)
    return literal_column(SEARCH_VECTOR).op("@@")(combined)
