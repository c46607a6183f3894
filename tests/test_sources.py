"""The sources catalogue: the shipped one is valid and complete; bad ones are refused naming slug and field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from narrative_tracker.crawler.sources import DEFAULT_SOURCES_FILE, load_sources
from narrative_tracker.errors import ConfigError
from narrative_tracker.vocabulary import GROUPS


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "narrative_tracker", *args], capture_output=True, text=True, timeout=120
    )


def test_shipped_catalogue_covers_every_group_with_real_outlets() -> None:
    sources = load_sources(DEFAULT_SOURCES_FILE)
    assert len(sources) >= 25
    assert {s.group for s in sources} == set(GROUPS)
    assert {lang for s in sources for lang in s.languages} >= {"en", "fr", "ru"}
    for spec in sources:
        for url in [*spec.feeds, *spec.sitemaps]:
            host = urlsplit(url).hostname or ""
            assert "." in host and not host.endswith((".example", ".test", ".invalid", "localhost")), url
        assert spec.feeds or spec.telegram, f"{spec.slug} has neither feed nor channel"
    channels = {channel for s in sources for channel in s.telegram}
    assert {"tass_agency", "rian_ru", "MID_Russia"} <= channels  # state media and officials (issue 17)
    assert {s.group for s in sources if s.telegram} >= {"russian-state", "ukrainian", "western"}


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """
[[source]]
slug = "one"
name = "One"
group = "western"
country = "GB"
languages = ["en"]
feeds = ["https://one.example.org/rss"]
domains = ["one.example.org"]
"""


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ('group = "western"', 'group = "tabloid"', "source 'one': field 'group'"),
        (
            'feeds = ["https://one.example.org/rss"]',
            'feeds = ["ftp://one.example.org/rss"]',
            "field 'feeds': URL 'ftp://one.example.org/rss' is not an http(s) URL",
        ),
        ('domains = ["one.example.org"]', 'domains = ["https://one.example.org/"]', "field 'domains'"),
        ('languages = ["en"]', 'languages = ["en"]\nlanguage = "en"', "unknown field 'language'"),
        ('feeds = ["https://one.example.org/rss"]', "feeds = []", "give at least one of feeds, sitemaps, listing"),
    ],
)
def test_bad_catalogue_names_the_source_and_field(tmp_path: Path, replace: str, by: str, message: str) -> None:
    path = _write(tmp_path, GOOD.replace(replace, by))
    with pytest.raises(ConfigError, match="sources catalogue") as error:
        load_sources(path)
    assert message in str(error.value)


def test_duplicate_slug_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="slug 'one' appears twice"):
        load_sources(_write(tmp_path, GOOD + GOOD))


def test_sources_check_and_list_commands(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    checked = run("sources", "check", "--no-fetch", str(path))
    assert checked.returncode == 0 and "1 sources, 1 feeds; 1 western." in checked.stdout
    bad = _write(tmp_path, GOOD.replace('group = "western"', 'group = "tabloid"'))
    refused = run("sources", "check", str(bad))  # refused before anything is fetched
    assert refused.returncode == 2 and "source 'one': field 'group'" in refused.stderr
    assert "Traceback" not in refused.stderr
    listed = run("sources", "list", "--json")
    assert listed.returncode == 0
    slugs = [s["slug"] for s in json.loads(listed.stdout)]
    assert slugs == [s.slug for s in load_sources(DEFAULT_SOURCES_FILE)]
    home = Path(os.environ["NARRATIVE_TRACKER_HOME"])
    assert not (home / "tracker.db").exists()  # listing the catalogue creates no database
