"""The test suite's own layout: test modules hold tests, shared helpers live in ``helpers/``.

A test module imported by another is collected by pytest under one name and imported again under
another (or runs its tests' module-level setup twice), so a model cached there is fitted twice.
Helpers are imported as ``from helpers.world import World``; fixtures come from conftest.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TEST_MODULES = sorted(TESTS.glob("test_*.py"))
HELPER_MODULES = sorted((TESTS / "helpers").rglob("*.py")) + sorted((TESTS / "sites").rglob("*.py"))


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file, nested ones included; relative ones start with '.'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def _is_test_module(name: str) -> bool:
    top = name.split(".")[0]
    return name.startswith(".") or top in ("tests", "conftest") or top.startswith("test_")


def _test_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.name.lower().startswith("test")
    ]


def test_the_suite_has_test_modules_and_helpers():
    assert len(TEST_MODULES) > 10
    assert (TESTS / "helpers" / "__init__.py").is_file()
    assert not (TESTS / "__init__.py").exists()  # tests/ is on sys.path; it is not a package


def test_no_test_module_or_helper_imports_a_test_module():
    offenders = [
        f"{path.relative_to(TESTS)}:{line} imports {module}"
        for path in TEST_MODULES + HELPER_MODULES
        for line, module in _imported_modules(path)
        if _is_test_module(module)
    ]
    assert offenders == [], "import shared code from tests/helpers/ instead:\n" + "\n".join(offenders)


def test_every_test_module_holds_tests_and_no_helper_does():
    without_tests = [path.name for path in TEST_MODULES if not _test_functions(path)]
    assert without_tests == [], f"test_*.py modules without tests (move them to helpers/): {without_tests}"
    helpers_with_tests = [
        f"{path.relative_to(TESTS)}: {names}" for path in HELPER_MODULES if (names := _test_functions(path))
    ]
    assert helpers_with_tests == [], f"tests in helper modules are never collected: {helpers_with_tests}"
