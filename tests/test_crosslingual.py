"""The cross-lingual feature block: stems per language, concepts aligned on the taxonomy's
translated examples, and named entities spelt differently across languages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from narrative_tracker.classifier.crosslingual import (
    CrossLingualTerms,
    align,
    build_lexicon,
    load_entities,
    stems_of,
)
from narrative_tracker.classifier.dataset import example_records
from narrative_tracker.classifier.taxonomy import load_taxonomy
from narrative_tracker.classifier.training import translation_groups


@pytest.fixture(scope="module")
def lexicon() -> dict[str, str]:
    return build_lexicon(translation_groups(example_records(load_taxonomy())), load_entities())


def _concepts(terms: CrossLingualTerms, text: str) -> set[int]:
    return set(terms.transform([text]).indices.tolist())


def test_inflected_russian_forms_share_a_stem_and_latin_text_is_told_french_or_english() -> None:
    forms = [{stem for _, stem in stems_of(word)} for word in ("Украина", "Украины", "Украине")]
    assert forms[0] == forms[1] == forms[2]
    assert {lang for lang, _ in stems_of("Les sanctions contre la Russie sont inutiles pour les Européens")} == {"fr"}
    assert {lang for lang, _ in stems_of("The sanctions against Russia are useless for the Europeans")} == {"en"}
    assert {lang for lang, _ in stems_of("Санкции против России бесполезны")} == {"ru"}


def test_spellings_of_one_entity_across_languages_and_transliterations_are_one_concept(lexicon) -> None:
    terms = CrossLingualTerms(lexicon).fit([])
    kyiv = [_concepts(terms, text) for text in ("Kyiv", "Kiev", "Киев", "в Киеве", "à Kiev")]
    assert kyiv[0] and all(found == kyiv[0] for found in kyiv)
    assert _concepts(terms, "NATO") == _concepts(terms, "OTAN") == _concepts(terms, "НАТО")
    assert _concepts(terms, "Kyiv") != _concepts(terms, "NATO")


def test_stems_are_aligned_on_the_translated_examples(lexicon) -> None:
    aligned = align(translation_groups(example_records(load_taxonomy())))
    # Words of the taxonomy's translated examples (the nuclear and Nazi narratives).
    assert aligned[f"ru:{stems_of('ядерной', 'ru')[0][1]}"] == stems_of("nuclear", "en")[0][1]
    assert aligned[f"fr:{stems_of('nucléaire', 'fr')[0][1]}"] == stems_of("nuclear", "en")[0][1]
    # Function words take no part in the alignment.
    assert not any(key.endswith((":что", ":les", ":the")) for key in aligned)
    terms = CrossLingualTerms(lexicon).fit([])
    english = _concepts(terms, "The West is preparing a nuclear strike and sanctions")
    russian = _concepts(terms, "Запад готовит ядерный удар и санкции")
    assert len(english & russian) >= 3


def test_the_block_emits_counts_of_known_concepts_only(lexicon) -> None:
    terms = CrossLingualTerms(lexicon).fit([])
    X = terms.transform(["Киев, Киев и снова Киев", "", "zzz qqq"])
    assert X.shape == (3, terms.n_features_out_)
    assert X[0].sum() == 3 and X[0].nnz == 1
    assert X[1].nnz == 0 and X[2].nnz == 0
    assert np.all(X.data > 0)


def test_a_bad_entities_table_names_the_file_and_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "entities.toml"
    bad.write_text('[entities]\nkyiv = "Kyiv"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"entities\.toml: entities\.kyiv must be a list"):
        load_entities(bad)


def test_the_lexicon_is_the_same_whatever_the_string_hash_seed() -> None:
    """Python randomises string hashing per process (set order with it): a model retrained on the
    same labels must read text the same way, so the alignment may not depend on set order."""
    script = (
        "import hashlib, json\n"
        "from narrative_tracker.classifier.crosslingual import build_lexicon, load_entities\n"
        "from narrative_tracker.classifier.dataset import example_records\n"
        "from narrative_tracker.classifier.taxonomy import load_taxonomy\n"
        "from narrative_tracker.classifier.training import translation_groups\n"
        "lexicon = build_lexicon(translation_groups(example_records(load_taxonomy())), load_entities())\n"
        "print(hashlib.sha256(json.dumps(lexicon, sort_keys=True).encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1
