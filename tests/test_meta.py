"""Every registered rule has fixtures, a complete documentation page, a README row and short messages."""
from __future__ import annotations

import re

import pytest

from bnlint.findings import MAX_MESSAGE
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


# -- messages: one short line says what; the why and the fix are separate fields ---------------------
def _message_problems(findings) -> list:
    problems = []
    for f in findings:
        where = f"{f.code} {f.path}:{f.line}"
        if len(f.message) > MAX_MESSAGE:
            problems.append(f"{where}: message of {len(f.message)} > {MAX_MESSAGE} characters: {f.message}")
        if len(f.message.splitlines()) != 1 or f.message != f.message.strip():
            problems.append(f"{where}: message is not a single line: {f.message!r}")
        if not f.explanation.strip() or not f.fix.strip():
            problems.append(f"{where}: empty explanation or fix")
        if f.explanation in f.message or f.fix in f.message:
            problems.append(f"{where}: the why or the fix is repeated in the message")
    return problems


@pytest.mark.parametrize("rule", RULES)
def test_fixture_messages_are_one_short_line_with_why_and_fix_apart(rule):
    """Every finding of the rule's fixtures: message <= MAX_MESSAGE characters (120: rules aim at
    about 100, quoted names from the code make some longer), one line; explanation and fix set."""
    result = lint(python_files(FIXTURES / rule.code), select=[rule.code])
    assert result.findings, "no fixture finding to check"
    assert not _message_problems(result.findings), "\n".join(_message_problems(result.findings))


def test_project_fixture_messages_are_one_short_line_with_why_and_fix_apart():
    projects = sorted(p for p in (FIXTURES / "projects").iterdir() if p.is_dir())
    result = lint(projects, select=["ALL"])
    assert result.findings
    assert not _message_problems(result.findings), "\n".join(_message_problems(result.findings))


def test_no_source_search_starts_with_a_word_boundary():
    """A pattern that starts with ``\\b`` defeats the regex engine's jump to its first literal: over
    whole files it ran 30 times slower than the same pattern with the boundary as a look-behind after
    the name (``MethodType(?<!\\wMethodType)``). Patterns searched over file text must not start so."""
    leading = re.compile(r"""re\.compile\(\s*r?b?r?["']\\b""")
    offenders = []
    for path in sorted((REPO / "bnlint").rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if leading.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert offenders == [], offenders
