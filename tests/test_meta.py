"""Every registered rule has fixtures, a complete documentation page and a README row."""
from __future__ import annotations

import re

import pytest

from bnlint.rules import ALL_RULES
from tests.helpers import FIXTURES, REPO, expectations, found, lint, python_files

SECTIONS = ["What it does", "Why is this bad?", "Example", "Use instead", "Dynamic confirmation",
            "Known false positives", "Options", "References"]
RULES = [pytest.param(r, id=r.code) for r in ALL_RULES]


@pytest.mark.parametrize("rule", RULES)
def test_rule_has_positive_and_negative_fixtures(rule):
    files = python_files(FIXTURES / rule.code)
    positives = [p for p in files if expectations(p, rule.code)]
    negatives = [p for p in files if not expectations(p)]
    assert len(positives) >= 3 and len(negatives) >= 3, (len(positives), len(negatives))


def _page(rule) -> str:
    path = REPO / "rules" / f"{rule.code}.md"
    assert path.is_file(), f"missing rules/{rule.code}.md"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("rule", RULES)
def test_rule_page_title_and_sections(rule):
    text = _page(rule)
    assert text.splitlines()[0] == f"# {rule.code} {rule.name}"
    headings = re.findall(r"^## (.+?)\s*$", text, flags=re.M)
    assert [h for h in headings if h in SECTIONS] == SECTIONS, headings


def _section_code(text: str, section: str) -> str:
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", body, flags=re.S)
    assert len(blocks) == 1, f"{section}: expected exactly one python block"
    return blocks[0]


@pytest.mark.parametrize("rule", RULES)
def test_rule_page_example_fires_and_fix_is_silent(rule, tmp_path):
    text = _page(rule)
    bad = tmp_path / "example" / "example.py"
    good = tmp_path / "use_instead" / "example.py"
    for path, section in ((bad, "Example"), (good, "Use instead")):
        path.parent.mkdir()
        path.write_text(_section_code(text, section), encoding="utf-8")
    assert {c for _, _, c in found(lint([bad], select=[rule.code]))} == {rule.code}
    assert not found(lint([good], select=[rule.code]))


def test_readme_rule_table_matches_registry():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- rules-table:start", 1)[1].split("<!-- rules-table:end", 1)[0]
    rows = re.findall(r"^\| \[(BN\d{3})\]\(rules/BN\d{3}\.md\) \| ([a-z0-9-]+) \| (on|off) \|", table, flags=re.M)
    assert rows == [(r.code, r.name, "on" if r.default_enabled else "off") for r in ALL_RULES]


def test_rules_index_page_lists_every_rule():
    index = (REPO / "rules" / "README.md").read_text(encoding="utf-8")
    for rule in ALL_RULES:
        assert rule.code in index and rule.name in index


def test_rules_folder_is_documentation_only():
    assert not list((REPO / "rules").rglob("*.py")), "rules/ must hold Markdown only"
