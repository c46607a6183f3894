"""A settings file stands alone: ``--config FILE`` finds the models, locks and database that belong to it.

The data directory is NARRATIVE_TRACKER_HOME, else ``[storage] data_dir``, else the folder of the
settings file, else the platform's user data directory. The CLI tests build a data directory laid
out as the demo leaves it (settings, SQLite database, sources catalogue, models/<version>) and use
it with ``--config`` alone: no NARRATIVE_TRACKER_HOME, and a platform data directory that is empty.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from narrative_tracker.cli import cli
from narrative_tracker.errors import ModelNotFoundError
from narrative_tracker.settings import load_settings
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Article, Source

from helpers.models import install_model

PUSH = (
    "The pause of American arms deliveries to Kiev shows that Washington gave in to the Kremlin's demands. "
    "Experts call it a strategic victory for Russia and the beginning of the collapse of the Kyiv regime."
)


@pytest.fixture
def no_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No NARRATIVE_TRACKER_HOME, and the platform's data directory an empty folder of this test."""
    monkeypatch.delenv("NARRATIVE_TRACKER_HOME", raising=False)
    platform = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(platform))
    return platform / "narrative-tracker"


def _config(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(f'[storage]\ndatabase_url = "sqlite:///{folder / "tracker.db"}"\n{extra}', encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<out>/data`` as the demo leaves it: config.toml naming its database, models/<version> beside it,
    stored articles; made with NARRATIVE_TRACKER_HOME pointing at it, as the demo does. Shared by
    the tests of this module, which only read it."""
    data = tmp_path_factory.mktemp("demo") / "data"
    config = _config(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NARRATIVE_TRACKER_HOME", str(data))
        settings = load_settings(config)
    assert settings.models_dir == data / "models"
    database = open_database(settings.database_url)
    try:
        install_model(settings.models_dir, database, "m-demo")
        with database.session() as session:
            source = Source(
                slug="tass", name="TASS", group="russian-state", country="RU", languages=["en"], domains=["tass.com"]
            )
            for n in range(3):
                session.add(
                    Article(
                        source=source,
                        url=f"https://tass.com/{n}",
                        url_hash=f"{n:040d}",
                        title=f"Arms pause, day {n}",
                        text=PUSH,
                        lang="en",
                        published_at=datetime(2025, 7, 5 + n, tzinfo=UTC),
                    )
                )
    finally:
        database.dispose()
    return config


def run(config: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=input, catch_exceptions=False)


def test_data_directory_is_the_settings_files_folder_unless_a_setting_says_otherwise(
    tmp_path: Path, no_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path / "etc")
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "etc" and settings.models_dir == tmp_path / "etc" / "models"
    assert "folder of the settings file" in settings.home_origin

    relative = _config(tmp_path / "etc2", 'data_dir = "../var/nt"\n')
    settings = load_settings(relative)
    assert settings.data_dir == (tmp_path / "var" / "nt").resolve()
    assert settings.home_origin == f"[storage] data_dir in {relative}"

    monkeypatch.setenv("NARRATIVE_TRACKER_HOME", str(tmp_path / "override"))
    settings = load_settings(relative)
    assert settings.data_dir == tmp_path / "override" and "NARRATIVE_TRACKER_HOME" in settings.home_origin


def test_without_a_settings_file_the_platform_directory_holds_everything(no_home: Path) -> None:
    settings = load_settings()
    assert settings.config_file is None and settings.data_dir == no_home
    assert settings.database_url == f"sqlite:///{no_home / 'tracker.db'}"


def test_the_settings_file_named_by_the_environment_counts_as_given(
    tmp_path: Path, no_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path / "srv")
    monkeypatch.setenv("NARRATIVE_TRACKER_CONFIG", str(config))
    assert load_settings().data_dir == tmp_path / "srv"


def test_demo_like_data_directory_with_config_alone(demo_like: Path, no_home: Path) -> None:
    listed = run(demo_like, "models", "list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(row["version"], row["status"]) for row in json.loads(listed.stdout)] == [("m-demo", "active")]

    shown = run(demo_like, "models", "show")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["version"] == "m-demo"

    flagged = run(demo_like, "classify-text", "-", "--json", input=PUSH)
    assert flagged.exit_code == 0, flagged.output
    assert "discrediting-the-west/western-arms-pause-is-russian-victory" in {
        n["id"] for n in json.loads(flagged.stdout)["narratives"]
    }

    # The labelling queue starts, shows the first article and asks; "q" ends the session.
    session = run(demo_like, "label", "--limit", "2", input="q\n")
    assert session.exit_code == 0, session.output
    assert "[1/" in session.output and "Arms pause, day" in session.output and "[a]ccept" in session.output
    assert "labelled: 0 accepted" in session.output

    # Nothing went to the platform's data directory: no model trained there, no database made.
    assert not no_home.exists()


def test_evaluate_uses_the_settings_files_folder(demo_like: Path, no_home: Path, tmp_path: Path) -> None:
    records = tmp_path / "gold.jsonl"
    record = {"id": "g1", "lang": "en", "text": PUSH, "narratives": []}
    records.write_text(json.dumps(record) + "\n", encoding="utf-8")
    scored = run(demo_like, "evaluate", "--dataset", str(records), "--json")
    assert scored.exit_code == 0, scored.output
    assert "model m-demo on 1 records" in scored.output
    assert not no_home.exists()


def test_missing_model_files_name_the_folder_searched_and_the_setting_that_chose_it(
    demo_like: Path, no_home: Path, tmp_path: Path
) -> None:
    # The same database named from a settings file in another folder: its models are not there.
    elsewhere = tmp_path / "elsewhere" / "config.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(demo_like.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ModelNotFoundError) as caught:
        run(elsewhere, "classify-text", "-", input=PUSH)
    message = str(caught.value)
    assert str(tmp_path / "elsewhere" / "models") in message
    assert f"the folder of the settings file {elsewhere}" in message and "[storage] data_dir" in message

    # Pointing [storage] data_dir at the demo's folder fixes it.
    elsewhere.write_text(demo_like.read_text(encoding="utf-8") + f'data_dir = "{demo_like.parent}"\n', encoding="utf-8")
    assert run(elsewhere, "classify-text", "-", input=PUSH).exit_code == 0
