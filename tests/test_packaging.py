"""One import package: what the distribution installs, and code that the working directory cannot replace."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from narrative_tracker.newsweb import NewsWeb, Page
from narrative_tracker.storage.database import open_database
from narrative_tracker.storage.models import Article

from sites.news import article_html, rss, write_config

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("crawler", "classifier", "trends", "storage", "jobs")


def _setuptools_config() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_folder_is_listed_under_the_one_import_name() -> None:
    config = _setuptools_config()
    mapping: dict[str, str] = config["package-dir"]  # type: ignore[assignment]
    listed = set(config["packages"])  # type: ignore[call-overload]
    assert {name.split(".")[0] for name in listed} == {"narrative_tracker"}
    assert {f"narrative_tracker.{stage}": stage for stage in STAGES}.items() <= mapping.items()
    found = {
        ".".join((package, *init.parent.relative_to(ROOT / folder).parts))
        for package, folder in mapping.items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found - listed == set(), "package folders missing from [tool.setuptools] packages in pyproject.toml"
    assert "narrative_tracker.storage.migrations.versions" in listed  # Alembic's revisions have no __init__.py


def test_the_stage_folders_are_not_importable_by_their_own_names_outside_the_checkout(tmp_path: Path) -> None:
    probe = "import importlib.util, sys; print([n for n in sys.argv[1:] if importlib.util.find_spec(n)])"
    result = subprocess.run(
        [sys.executable, "-P", "-c", probe, *STAGES, "narrative_tracker.crawler", "narrative_tracker.trends"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "['narrative_tracker.crawler', 'narrative_tracker.trends']"


HOSTILE = "import pathlib; pathlib.Path({marker!r}).write_text(__name__)\n"


@pytest.mark.slow
def test_a_crawl_and_a_job_started_in_a_folder_with_look_alike_packages_run_the_installed_code(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("narrative-tracker")
    if not cli.exists():
        pytest.skip(f"the narrative-tracker command is not installed beside {sys.executable}")
    workdir, marker = tmp_path / "project", tmp_path / "hostile-code-ran"
    # A Scrapy project's usual layout, a package named like ours, and one named like the standard
    # module every child process imports first: none of it may be imported.
    for package in (
        "crawler",
        "narrative_tracker",
        "narrative_tracker/crawler",
        "classifier",
        "storage",
        "multiprocessing",
    ):
        (workdir / package).mkdir(parents=True)
        (workdir / package / "__init__.py").write_text(HOSTILE.format(marker=str(marker)))
    (workdir / "narrative_tracker" / "crawler" / "child.py").write_text(HOSTILE.format(marker=str(marker)))
    (workdir / "crawler" / "child.py").write_text(HOSTILE.format(marker=str(marker)))

    web = NewsWeb().start()
    try:
        items = []
        for n in range(3):
            path = f"/news/{n}.html"
            paragraphs = [
                f"Report {n} covers the regional budget of {n * 1000} euros that the district council voted on.",
                f"Officials quoted in report {n} said the money would be spent within {n + 2} months on roads.",
                "Residents interviewed for the report described the change in their own words and asked questions.",
            ]
            web.site[path] = Page(article_html(f"Report {n}", paragraphs).encode())
            items.append((f"Report {n}", web.url(path), ""))
        web.site["/news/rss.xml"] = Page(rss(items), "application/rss+xml")
        catalogue = tmp_path / "sources.toml"
        catalogue.write_text(
            '[[source]]\nslug = "local"\nname = "Local"\ngroup = "western"\ncountry = "GB"\nlanguages = ["en"]\n'
            f'feeds = ["{web.url("/news/rss.xml")}"]\ndomains = ["127.0.0.1"]\n'
        )
        database_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        config = write_config(tmp_path / "home", catalogue, database_url)
        environment = {**os.environ, "PYTHONPATH": ""}
        result = subprocess.run(
            [str(cli), "--config", str(config), "crawl"],
            cwd=workdir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # The scheduler's path: each job runs in a spawned process of its own.
        job = subprocess.run(
            [str(cli), "--config", str(config), "jobs", "run", "trends"],
            cwd=workdir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        web.stop()
    assert result.returncode == 0, result.stderr
    assert job.returncode == 0, job.stderr
    assert not marker.exists(), f"code from the working directory ran: {marker.read_text()}"
    database = open_database(database_url)
    try:
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(Article)) == 3
    finally:
        database.dispose()
