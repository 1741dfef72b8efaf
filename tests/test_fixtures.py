"""Every rule against its fixtures: marked lines fire, nothing else does."""
from __future__ import annotations

import pytest

from bnlint.rules import ALL_RULES
from tests.helpers import FIXTURES, expectations, found, lint, python_files

CODES = [r.code for r in ALL_RULES]
PROJECTS = sorted(p for p in (FIXTURES / "projects").iterdir() if p.is_dir()) if (FIXTURES / "projects").is_dir() else []


def _single_file_cases():
    for code in CODES:
        folder = FIXTURES / code
        for path in python_files(folder) if folder.is_dir() else []:
            yield pytest.param(code, path, id=f"{code}/{path.name}")


@pytest.mark.parametrize("code,path", list(_single_file_cases()))
def test_rule_fixture(code, path):
    result = lint([path], select=[code])
    assert not result.errors, result.errors
    expected = expectations(path, code)
    actual = found(result, {code})
    assert actual == expected, _diff(expected, actual)


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_project_fixture(project):
    """Multi-file projects, with every rule selected; markers in any file of the project."""
    result = lint([project], select=["ALL"])
    assert not result.errors, result.errors
    expected = set()
    for path in python_files(project):
        expected |= expectations(path)
    assert found(result) == expected, _diff(expected, found(result))


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_project_single_staged_file(project):
    """pre-commit passes only staged files: findings in a file must not depend on linting its siblings."""
    for path in python_files(project):
        expected = expectations(path)
        result = lint([path], select=["ALL"])
        assert found(result) == expected, (path.name, _diff(expected, found(result)))


def test_clean_scripts_stay_silent():
    folder = FIXTURES / "clean"
    files = python_files(folder)
    assert files, "the clean corpus is missing"
    result = lint(files, select=["ALL"])
    assert not result.errors, result.errors
    assert not result.findings, [(f.path, f.line, f.code) for f in result.findings]


def _diff(expected, actual) -> str:
    missing = sorted(expected - actual)
    extra = sorted(actual - expected)
    return f"missing (expected but not reported): {missing}\nunexpected: {extra}"
