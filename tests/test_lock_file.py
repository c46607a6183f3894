"""requirements.lock pins every dependency of pyproject.toml (with the dev and postgres extras)
with hashes, at versions its specifiers accept, and this environment runs those versions."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s\\]+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (match[2], block.count("--hash=sha256:"))
    return pins


def test_every_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [
        *project["dependencies"],
        *project["optional-dependencies"]["dev"],
        *project["optional-dependencies"]["postgres"],
    ]
    pins = _locked()
    assert len(pins) > 20
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock"
        pinned, hashes = pins[name]
        assert hashes >= 1, name
        assert requirement.specifier.contains(Version(pinned), prereleases=True), (name, pinned)


def test_this_environment_runs_the_locked_versions_of_the_direct_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = _locked()
    for line in project["dependencies"]:
        name = canonicalize_name(Requirement(line).name)
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        assert Version(installed) == Version(pins[name][0]), f"{name} {installed} runs, the lock pins {pins[name][0]}"
