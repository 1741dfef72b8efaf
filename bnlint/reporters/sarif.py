"""SARIF 2.1.0 for code-scanning services (GitHub code scanning, Azure DevOps, ...).

Every registered rule is described in ``tool.driver.rules`` (so ``ruleIndex``
is stable between runs); each result carries 1-based positions and a
``partialFingerprints`` entry that does not depend on line numbers (see
``bnlint.baseline.fingerprints``), so an alert survives unrelated edits above
it. In a notebook the region's line is the line of the .ipynb file holding the
flagged line of the cell; the cell and its line are in the message, the region's
``properties`` (``cell``, ``cellLine``, ``cellColumn``) and a logical location.

A result's message is the finding's one short line; the rule's why (the page's
"Why is this bad?") is its ``fullDescription``, the fix ("Use instead") and the
link its ``help``; each result's own why and fix are in its ``properties``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional
from urllib.parse import quote

from .. import __version__
from ..baseline import fingerprints, project_path
from ..docs import rule_page
from ..findings import Finding, rule_url
from ..paths import escape_all, escape_path
from ..rules import ALL_RULES

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/bnlint/bnlint"
FINGERPRINT_KEY = "bnlint/v1"
ROOT_ID = "%SRCROOT%"


def _markdown_section(page: Optional[str], title: str) -> Optional[str]:
    """The Markdown of one ``## title`` section of a rule page."""
    if not page:
        return None
    m = re.search(rf"^## {re.escape(title)}\s*\n(.*?)(?=^## |\Z)", page, flags=re.M | re.S)
    return (m.group(1).strip() or None) if m else None


def _section(page: Optional[str], title: str) -> Optional[str]:
    """Plain text of one ``## title`` section of a rule page: paragraphs kept, code blocks left out."""
    markdown = _markdown_section(page, title)
    if not markdown:
        return None
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n", _CODE_BLOCK.sub("", markdown)))
    return "\n\n".join(p for p in paragraphs if p) or None


_CODE_BLOCK = re.compile(r"^```.*?^```[ \t]*$", flags=re.M | re.S)


def _level(rule) -> str:
    return "error" if rule.default_enabled else "warning"


def _rule(rule) -> dict:
    """The rule's descriptor: the summary (short), the why (full description), the fix and the
    link (help). Results carry only their short message; the rest is here, once per rule."""
    page = rule_page(rule.code)
    url = rule_url(rule.code)
    descriptor = {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": _section(page, "Why is this bad?") or rule.summary},
        "helpUri": url,
        "defaultConfiguration": {"level": _level(rule), "enabled": bool(rule.default_enabled)},
        "properties": {"tags": ["batchnorm", "pytorch", "correctness"]},
    }
    fix_text, fix_markdown = _section(page, "Use instead"), _markdown_section(page, "Use instead")
    descriptor["help"] = {
        "text": (f"{fix_text}\n\n" if fix_text else "") + f"Documentation, with a corrected example: {url}",
        "markdown": (f"**Use instead**\n\n{fix_markdown}\n\n" if fix_markdown else "")
                    + f"[{rule.code} {rule.name}]({url}): what it does, why it matters, examples, known false "
                    "positives and options.",
    }
    return descriptor


def _artifact(path: str, root: str) -> dict:
    return {"uri": quote(escape_path(project_path(path, root))), "uriBaseId": ROOT_ID}


def _region(f: Finding) -> dict:
    if f.cell is not None:
        # A notebook: the line of the .ipynb file (what code scanning shows) that holds the cell's
        # line; the cell and the line within it are in the properties and the message.
        region = {"startLine": f.ipynb_line or 1,
                  "properties": {"cell": f.cell, "cellLine": f.line, "cellColumn": f.column}}
        return region
    region = {"startLine": f.line, "startColumn": f.column}
    if (f.end_line, f.end_column) > (f.line, f.column):
        region.update(endLine=f.end_line, endColumn=f.end_column)
    return region


def _location(f: Finding, root: str) -> dict:
    location = {"physicalLocation": {"artifactLocation": _artifact(f.path, root), "region": _region(f)}}
    if f.cell is not None:
        location["logicalLocations"] = [{"name": f"cell {f.cell}", "kind": "notebookCell",
                                         "fullyQualifiedName": f"{project_path(f.path, root)}:cell {f.cell}"}]
    return location


def _result(f: Finding, fingerprint: str, index: dict, root: str) -> dict:
    rule_index = index.get(f.code)
    result = {
        "ruleId": f.code,
        "level": _level(ALL_RULES[rule_index]) if rule_index is not None else "error",
        "message": {"text": (f"cell {f.cell}, line {f.line}: " if f.cell is not None else "")
                    + f.message},  # one short line; the why and the fix: below and in the rule
        "locations": [_location(f, root)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint},
        # This finding's own why and remedy (they may name its values: `use momentum=0.1`).
        "properties": {"fixable": f.autofix is not None, "explanation": f.explanation, "fix": f.fix},
    }
    if rule_index is not None:
        result["ruleIndex"] = rule_index
    related = [
        {"id": i, "message": {"text": r.message},
         "physicalLocation": {"artifactLocation": _artifact(r.path, root), "region": {"startLine": r.line}}}
        for i, r in enumerate(f.related, 1) if r.line >= 1
    ]
    if related:
        result["relatedLocations"] = related
    return result


def _notification(error, root: str) -> dict:
    return {
        "level": "error",
        "message": {"text": f"{error.path}: {error.message}"},
        "locations": [{"physicalLocation": {"artifactLocation": _artifact(error.path, root)}}],
        "properties": {"kind": error.kind},
    }


def render_sarif(result, **_options) -> str:
    root = result.root or "."
    index = {rule.code: i for i, rule in enumerate(ALL_RULES)}
    findings: List[Finding] = list(result.findings)
    prints = fingerprints(findings, root)
    run = {
        "tool": {"driver": {
            "name": "bnlint",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": INFORMATION_URI,
            "rules": [_rule(rule) for rule in ALL_RULES],
        }},
        "originalUriBaseIds": {ROOT_ID: {"uri": Path(root).resolve().as_uri().rstrip("/") + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, fp, index, root) for f, fp in zip(findings, prints)],
        "invocations": [{
            "executionSuccessful": not result.internal_errors,
            "toolExecutionNotifications": [_notification(e, root) for e in result.errors],
        }],
    }
    payload = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(escape_all(payload), indent=2, ensure_ascii=False) + "\n"
