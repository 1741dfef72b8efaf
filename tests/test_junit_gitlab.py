"""``--format junit`` (read back with ElementTree) and ``--format gitlab`` (Code Quality JSON)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tests.test_cli import BAD, BAD_LINE, invoke


def test_junit_has_a_suite_per_file_and_a_failure_per_finding(tmp_path):
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "ok.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    res = invoke(["--select", "BN103", "--format", "junit", "."], tmp_path)
    assert res.exit_code == 1
    root = ET.fromstring(res.output)
    assert root.tag == "testsuites" and root.get("failures") == "1" and root.get("errors") == "1"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"train.py", "ok.py", "broken.py"}
    (case,) = suites["train.py"].iter("testcase")
    failure = case.find("failure")
    assert failure.get("type") == "BN103" and case.get("line") == str(BAD_LINE)
    assert f"train.py:{BAD_LINE}:10: BN103" in failure.text
    # The short line plus the rule's page.
    assert failure.get("message").startswith("DataLoader without shuffling") and len(failure.get("message")) <= 120
    assert failure.text.splitlines()[-1].endswith("/rules/BN103.md") and len(failure.text.splitlines()) == 2
    assert suites["ok.py"].find("testcase").find("failure") is None
    assert "syntax error" in suites["broken.py"].find("testcase").find("error").get("message")


def test_gitlab_code_quality_report(tmp_path):
    (tmp_path / ".git").mkdir()  # the project root: report paths are relative to it
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(BAD, encoding="utf-8")
    res = invoke(["--select", "BN103", "--format", "gitlab", "src"], tmp_path)
    (issue,) = json.loads(res.output)
    assert issue["check_name"] == "BN103" and issue["severity"] == "major"
    assert issue["location"] == {"path": "src/train.py", "lines": {"begin": BAD_LINE, "end": BAD_LINE}}
    assert len(issue["fingerprint"]) == 32
    assert issue["description"].startswith("BN103 [unshuffled-train-loader] DataLoader without shuffling")
    assert "\n" not in issue["description"]
    body = issue["content"]["body"]  # the details: the why, the fix, the rule's page
    assert "help: pass `shuffle=True`" in body and body.endswith("/rules/BN103.md")
