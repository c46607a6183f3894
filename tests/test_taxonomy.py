"""The taxonomy file: the shipped ids, examples in EN/FR/RU, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from narrative_tracker.classifier.taxonomy import DEFAULT_TAXONOMY_FILE, load_taxonomy
from narrative_tracker.errors import ConfigError
from narrative_tracker.settings import load_settings

SUBS = {
    "amplifying-war-related-fears": [
        "risk-of-world-war-iii",
        "nato-will-intervene",
        "russia-will-attack-other-countries",
        "nuclear-weapons-may-be-used",
    ],
    "blaming-others-for-the-war": ["ukraine-is-the-aggressor", "the-west-are-the-aggressors"],
    "discrediting-ukraine": [
        "ukrainian-government-and-officials",
        "ukrainian-military",
        "ukrainian-nation-and-society",
        "rewriting-ukraines-history",
        "situation-in-ukraine-is-hopeless",
        "ukraine-is-a-criminal-hub",
        "ukraine-is-a-puppet-of-the-west",
        "ukraine-is-associated-with-nazism",
    ],
    "discrediting-the-west": [
        "diplomacy-does-not-work",
        "the-eu-is-divided",
        "the-west-only-cares-about-its-interests",
        "the-west-is-overreacting",
        "the-west-is-weak",
        "west-is-tired-of-ukraine",
        "western-arms-pause-is-russian-victory",
    ],
    "distrust-towards-media": ["ukrainian-media-cannot-be-trusted", "western-media-is-propaganda"],
    "hidden-plots": [],
    "negative-consequences-for-the-west": ["sanctions-will-backfire", "refugee-flows-to-europe"],
    "overpraising-the-west": [
        "nato-will-destroy-russia",
        "the-west-is-on-the-right-side-of-history",
        "the-west-has-strongest-support",
    ],
    "praise-of-russia": [
        "praise-of-putin",
        "russian-military-might",
        "russia-has-international-support",
        "russia-is-a-guarantor-of-peace",
        "invasion-has-national-support",
    ],
    "russia-is-the-victim": [
        "russia-acts-in-self-defence",
        "the-west-is-russophobic",
        "ukraine-is-anti-russian-extremist",
    ],
    "speculating-war-outcomes": [
        "russian-army-is-collapsing",
        "russia-will-lose-occupied-territories",
        "ukrainian-army-is-collapsing",
    ],
}
EXPECTED = {coarse for coarse in SUBS} | {f"{coarse}/{sub}" for coarse, subs in SUBS.items() for sub in subs}


def test_the_shipped_taxonomy_has_exactly_the_contract_ids():
    taxonomy = load_taxonomy()
    assert set(taxonomy.ids) == EXPECTED
    assert taxonomy.leaf_ids() == [n for n in taxonomy.ids if "/" in n or n == "hidden-plots"]


def test_every_leaf_has_examples_in_english_french_and_russian():
    taxonomy = load_taxonomy()
    for narrative_id in taxonomy.leaf_ids():
        langs = {ex.lang for ex in taxonomy.narratives[narrative_id].examples if ex.stance == "promotes"}
        assert {"en", "fr", "ru"} <= langs, narrative_id
    assert {ex.lang for ex in taxonomy.neutral} == {"en", "fr", "ru"}
    arms = taxonomy.narratives["discrediting-the-west/western-arms-pause-is-russian-victory"]
    assert {(ex.lang, ex.stance) for ex in arms.examples} >= {
        (lang, stance) for lang in ("en", "fr", "ru") for stance in ("promotes", "refutes", "reports")
    }


def test_settings_point_at_the_shipped_taxonomy_by_default(tmp_path):
    assert load_settings(None).taxonomy_file == DEFAULT_TAXONOMY_FILE


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "narratives.toml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[narrative]]\nid = "Bad Id"\nname = "x"\ndescription = "y"\n', "'Bad Id'"),
        ('[[narrative]]\nid = "a"\ndescription = "y"\n', "missing 'name'"),
        ('[[narrative]]\nid = "a/b"\nname = "x"\ndescription = "y"\n', "coarse narrative 'a'"),
        ('[[narrative]]\nid = "a"\nname = "x"\ndescription = "y"\npatterns = ["(unclosed"]\n', "'(unclosed'"),
        ('[[narrative]]\nid = "a"\nname = "x"\ndescription = "y"\nexamples.en = "one"\n', "examples.en"),
        ('[[narrative]]\nid = "a"\nname = "x"\ndescription = "y"\nsynonyms = []\n', "'synonyms'"),
        ("[[narrative]\n", "not valid TOML"),
    ],
)
def test_a_bad_taxonomy_is_a_config_error_naming_the_entry(tmp_path, body, message):
    with pytest.raises(ConfigError, match=r"narratives\.toml") as error:
        load_taxonomy(_write(tmp_path, body))
    assert message in str(error.value)


def test_a_missing_taxonomy_file_says_which_setting_to_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"\[classifier\] taxonomy"):
        load_taxonomy(tmp_path / "nope.toml")
