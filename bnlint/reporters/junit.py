"""JUnit XML (Jenkins, GitLab test reports, Azure Pipelines): one test suite per file.

Each linted file is a suite; each finding a failed test case; a file without
findings gets one passing case, so the report also lists what was checked.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Dict, List

from ..findings import Finding
from ..paths import escape_path

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0


def render_junit(result, **_options) -> str:
    by_path: Dict[str, List[Finding]] = defaultdict(list)
    for f in result.findings:
        by_path[f.path].append(f)
    errors = defaultdict(list)
    for e in result.errors:
        errors[e.path].append(e)
    paths = sorted(set(result.checked) | set(by_path) | set(errors))
    root = ET.Element("testsuites", name="bnlint", tests=str(sum(max(1, len(by_path[p])) for p in paths)),
                      failures=str(len(result.findings)), errors=str(len(result.errors)))
    for path in paths:
        findings = by_path.get(path, [])
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(max(1, len(findings))),
                              failures=str(len(findings)), errors=str(len(errors.get(path, []))))
        for f in findings:
            case = ET.SubElement(suite, "testcase", name=f"{f.code} [{f.name}] at {f.location}",
                                 classname=path, file=path,
                                 line=str(f.line if f.cell is None else f.ipynb_line or 1))  # the file's line
            failure = ET.SubElement(case, "failure", message=f.message, type=f.code)
            failure.text = f"{f.location}: {f.code} {f.message}\n{f.url}"  # why and fix: on the rule's page
        if not findings:
            case = ET.SubElement(suite, "testcase", name="bnlint", classname=path, file=path)
            for e in errors.get(path, []):
                error = ET.SubElement(case, "error", message=e.message, type=e.kind)
                error.text = e.message
    # Paths that are not UTF-8, or hold control characters, would make the XML unreadable:
    # the same \xNN spelling as elsewhere.
    text = _XML_INVALID.sub(_escape_char, escape_path(ET.tostring(root, encoding="unicode")))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def _escape_char(match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
