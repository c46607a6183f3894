"""Text features: word 1-2 grams (TF-IDF), hashed character 3-5 grams (TF-IDF), concepts shared
across languages (TF-IDF, see ``classifier.crosslingual``), and a stance block.

Word n-grams carry the readable terms shown as explanations; character n-grams carry
morphology across inflected languages (Russian, French) and spelling variants. Character
n-grams are hashed (no vocabulary to look up) and read only from the start of the text, where
title and lead carry the story: they are the costly part of classifying.

The last ``STANCE_FEATURES`` columns are hashed word 1-2 grams of the body without the title:
the stance models read only those. A headline states a claim whoever writes it; how the body
treats the claim (asserts it, or says who claimed it and why it is false) is the stance.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from narrative_tracker.classifier.crosslingual import CrossLingualTerms

WORD_MAX_CHARS = 20_000
STANCE_FEATURES = 2**18
CHAR_MAX_CHARS = 1_000
# The concept block's weight next to the others (each block is L2-normalised). Grouped 5-fold CV on
# cases-dev.jsonl (coarse macro-F1; 0.656 without the block): 0.635 at 1.0, 0.638 at 0.5, 0.661 at
# 0.35, 0.659 at 0.25; on the short posts in Russian, coarse macro-F1 0.60 without, 0.80 at 0.35.
CONCEPT_WEIGHT = 0.35
_URL = re.compile(r"https?://\S+|www\.\S+")
_DIGITS = re.compile(r"\d+")


def prepare_words(text: str) -> str:
    """Lower-cased text with links and numbers folded into placeholder tokens."""
    text = _URL.sub(" weblink ", text[:WORD_MAX_CHARS].lower())
    return _DIGITS.sub("0", text)


def prepare_chars(text: str) -> str:
    """The start of the lower-cased text, for character n-grams."""
    return prepare_words(text[: CHAR_MAX_CHARS * 2])[:CHAR_MAX_CHARS]


def prepare_body(text: str) -> str:
    """The body of a composed document (see ``classifier.dataset.compose_document``): the text
    after the doubled title, for the stance block."""
    lines = text.split("\n", 2)
    if len(lines) >= 2 and lines[0] == lines[1]:
        text = lines[2] if len(lines) == 3 else ""
    return prepare_words(text)


def make_features(
    *, word_min_df: int = 1, char_features: int = 2**18, lexicon: dict[str, str] | None = None
) -> FeatureUnion:
    """The feature step; word features come first (their count is ``len(vocabulary_)``), the
    stance block last. With a ``lexicon`` (see ``classifier.crosslingual``), a block of concepts
    shared by English, French and Russian comes before the stance block."""
    words = TfidfVectorizer(
        preprocessor=prepare_words,
        ngram_range=(1, 2),
        min_df=word_min_df,
        max_features=200_000,
        sublinear_tf=True,
        dtype=np.float32,
    )
    chars = Pipeline(
        [
            (
                "hash",
                HashingVectorizer(
                    preprocessor=prepare_chars,
                    analyzer="char_wb",
                    ngram_range=(3, 5),
                    n_features=char_features,
                    alternate_sign=False,
                    norm=None,
                    dtype=np.float32,
                ),
            ),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
        ]
    )
    stance = Pipeline(
        [
            (
                "hash",
                HashingVectorizer(
                    preprocessor=prepare_body,
                    ngram_range=(1, 2),
                    n_features=STANCE_FEATURES,
                    alternate_sign=False,
                    norm=None,
                    dtype=np.float32,
                ),
            ),
            ("tfidf", TfidfTransformer(sublinear_tf=True)),
        ]
    )
    blocks: list[tuple[str, Any]] = [("words", words), ("chars", chars)]
    if lexicon is not None:
        concepts = Pipeline([("terms", CrossLingualTerms(lexicon)), ("tfidf", TfidfTransformer(sublinear_tf=True))])
        blocks.append(("concepts", concepts))
    weights = {"concepts": CONCEPT_WEIGHT} if lexicon is not None else None
    return FeatureUnion([*blocks, ("stance", stance)], transformer_weights=weights)
