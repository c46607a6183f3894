"""The CLI as a user meets it: fast help, clear errors with exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from narrative_tracker.cli import cli


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "narrative_tracker", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_commands_without_importing_heavy_libraries():
    code = (
        "import sys; from narrative_tracker.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('scrapy', 'sklearn', 'PIL', 'twisted', 'trafilatura', 'apscheduler')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "init" in result.stdout and "export" in result.stdout
    assert "HEAVY []" in result.stdout


def test_unknown_config_key_exits_2_naming_it(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage]\nno_such_key = 1\n")
    result = run("--config", str(bad), "db", "upgrade")
    assert result.returncode == 2
    assert "no_such_key" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_exits_2(tmp_path):
    result = run("--config", str(tmp_path / "none.toml"), "db", "upgrade")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_bad_database_url_fails_cleanly(tmp_path, monkeypatch):
    monkeypatch.setenv("NARRATIVE_TRACKER_DATABASE_URL", "mysqlx://nobody")
    result = run("db", "upgrade")
    assert result.returncode == 1
    assert "unknown database kind" in result.stderr and "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[storage]\nno_such_key = 1\n")
    result = run("--debug", "--config", str(bad), "db", "upgrade")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_init_then_db_upgrade_then_current(tmp_path):
    config = tmp_path / "conf" / "config.toml"
    assert run("--config", str(config), "init").returncode == 0
    assert config.exists()
    assert run("--config", str(config), "init").returncode == 2  # no silent overwrite
    result = run("--config", str(config), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    current = json.loads(run("--config", str(config), "db", "current", "--json").stdout)
    assert current["current"] == current["head"]


def test_export_on_an_empty_database_prints_nothing(tmp_path):
    result = run("export", "articles", "--format", "jsonl")
    assert (result.returncode, result.stdout) == (0, "")
    csv_out = run("export", "articles", "--format", "csv")
    assert csv_out.stdout.strip() == (
        "url,source,group,title,text,lang,published_at,fetched_at,duplicate_of,views,forwarded_from,narratives"
    )


def test_export_rejects_a_bad_date_with_usage_status():
    runner = CliRunner()
    result = runner.invoke(cli, ["export", "articles", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_writes_to_a_file(tmp_path, fmt):
    out = tmp_path / f"a.{fmt}"
    result = run("export", "articles", "--format", fmt, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.exists() and "Exported 0 articles" in result.stderr


def test_db_backup(tmp_path):
    assert run("db", "upgrade").returncode == 0
    target = tmp_path / "backup.db"
    result = run("db", "backup", str(target))
    assert result.returncode == 0, result.stderr
    assert target.stat().st_size > 0
    assert run("db", "backup", str(target)).returncode == 1  # never overwrites


def test_unknown_command_is_a_usage_error():
    result = run("no-such-command")
    assert result.returncode == 2 and "No such command" in result.stderr


def test_installed_console_script_exists():
    assert (Path(sys.executable).parent / "narrative-tracker").exists()
