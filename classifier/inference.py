"""Running a fitted narrative Pipeline: flags, scores, stance, evidence sentences and top terms.

Features are computed once per batch and shared by the narrative scores, the stance model and
the explanations, so that classifying costs little more than a bare ``pipeline.predict``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from narrative_tracker.classifier.evaluation import Flag, Prediction
from narrative_tracker.classifier.taxonomy import Taxonomy

MAX_EVIDENCE = 3
MAX_TERMS = 5
MAX_SENTENCE_CHARS = 400
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"»”’)])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and len(s.strip()) > 1]


class Explainer:
    """What a fitted Pipeline needs to explain its flags with readable word n-grams."""

    def __init__(self, model: Pipeline) -> None:
        self.model = model
        self.classifier = model.named_steps["classifier"]
        self.words = model.named_steps["features"].transformer_list[0][1]

    @cached_property
    def vocabulary(self) -> dict[str, int]:
        return self.words.vocabulary_

    @cached_property
    def names(self) -> np.ndarray:
        return self.words.get_feature_names_out()

    @cached_property
    def analyzer(self) -> Any:
        return self.words.build_analyzer()

    @cached_property
    def word_coef(self) -> Any:
        return self.classifier.coef_[: len(self.vocabulary)].tocsc()

    def terms(self, row: Any, label: int) -> dict[int, float]:
        """Word features of one document weighted by their coefficient for ``label``."""
        words = row[:, : len(self.vocabulary)]
        column = self.word_coef[:, label]
        weights = column.toarray().ravel()[words.indices] * words.data
        return {int(i): float(w) for i, w in zip(words.indices, weights, strict=True) if w > 0}

    def sentence_features(self, document: str) -> tuple[list[str], list[set[int]]]:
        """The sentences of a document with the word features of each (computed once per document)."""
        sentences = split_sentences(document)
        features: list[set[int]] = []
        for sentence in sentences:
            found = (self.vocabulary.get(t) for t in self.analyzer(sentence))
            features.append({i for i in found if i is not None})
        return sentences, features

    def explain(
        self,
        parts: tuple[list[str], list[set[int]]],
        row: Any,
        label: int,
        patterns: Sequence[re.Pattern[str]] = (),
    ) -> tuple[list[str], list[tuple[str, float]]]:
        """Evidence sentences (1-3, in text order) and top terms of ``label`` for one document."""
        contributions = self.terms(row, label)
        top = sorted(contributions.items(), key=lambda item: -item[1])[:MAX_TERMS]
        terms = [(str(self.names[i]), round(w, 4)) for i, w in top]
        sentences, features = parts
        scored = []
        for position, (sentence, ids) in enumerate(zip(sentences, features, strict=True)):
            value = sum(contributions.get(f, 0.0) for f in ids)
            if any(p.search(sentence) for p in patterns):
                value += 1.0  # an analyst's phrase marks the sentence that carries the narrative
            if value > 0:
                scored.append((value, position))
        best = sorted(sorted(scored, reverse=True)[:MAX_EVIDENCE], key=lambda item: item[1])
        evidence = [sentences[p][:MAX_SENTENCE_CHARS] for _, p in best]
        return evidence, terms


def analyse(
    model: Pipeline,
    documents: Sequence[str],
    *,
    explainer: Explainer | None = None,
    taxonomy: Taxonomy | None = None,
    languages: Sequence[str] | None = None,
) -> list[Prediction]:
    """Flagged narratives per document, highest score first; evidence and terms when ``explainer`` is given.

    ``languages`` (one code per document) lets the model abstain on narratives it knows too little
    in a document's language (see ``NarrativeClassifier.little_known``).
    """
    if not documents:
        return []
    features = model[:-1].transform(list(documents))
    classifier = model.named_steps["classifier"]
    flags, scores = classifier.decide(classifier.raw_scores(features), languages)
    any_flag = flags.any(axis=1)
    stances = np.full(flags.shape, "promotes", dtype=object)
    if any_flag.any():
        flagged_languages = None if languages is None else [languages[int(i)] for i in np.flatnonzero(any_flag)]
        stances[any_flag] = classifier.predict_stance(features[any_flag], flagged_languages)
    labels = classifier.classes_
    results: list[Prediction] = []
    for i in range(len(documents)):
        found = []
        parts = None
        for j in np.flatnonzero(flags[i]).tolist():
            flag = Flag(id=str(labels[j]), score=round(float(scores[i, j]), 4), stance=str(stances[i, j]))
            if explainer is not None:
                source = _explaining_label(classifier, flags[i], scores[i], j)
                patterns = taxonomy.patterns_of(str(labels[source])) if taxonomy else ()
                if parts is None:
                    parts = explainer.sentence_features(documents[i])
                flag.evidence, flag.terms = explainer.explain(parts, features[i], source, patterns)
            found.append(flag)
        found.sort(key=lambda f: (-f.score, f.id))
        results.append(found)
    return results


def _explaining_label(classifier: Any, flags: np.ndarray, scores: np.ndarray, j: int) -> int:
    """A coarse narrative flagged through sub-narratives is explained by its best flagged sub."""
    label = str(classifier.classes_[j])
    if "/" in label:
        return j
    subs = [k for k, other in enumerate(classifier.classes_) if str(other).startswith(label + "/") and flags[k]]
    return max(subs, key=lambda k: scores[k]) if subs else j
