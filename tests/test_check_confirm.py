"""`bnlint check --confirm SCRIPT`: static findings get the verdict measured on the real script."""
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytest.importorskip("torch")
EXAMPLES = REPO / "examples" / "two_domains"


@pytest.mark.parametrize("script,verdict", [("towers.py", "confirmed"), ("gan_separate.py", "confirmed")])
def test_check_confirm_attaches_verdicts(script, verdict):
    out = subprocess.run(
        [sys.executable, "-m", "bnlint", "check", "--no-cache", "--format", "json", "--select", "BN101,BN102",
         "--confirm", script, script],
        cwd=EXAMPLES, capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    assert out.returncode == 1, out.stderr
    findings = json.loads(out.stdout)["findings"]
    assert findings, "the static rule must fire on this example"
    assert {f["confirm"]["verdict"] for f in findings if "confirm" in f} == {verdict}


@pytest.mark.parametrize("case", [
    "BN201 evaluation in train mode", "BN203 frozen backbone in train mode", "BN406 eps passed positionally",
])
def test_check_confirm_attaches_verdicts_of_the_other_rules(tmp_path, case):
    """The findings of rules beyond batch composition get their measured verdict and number."""
    import textwrap

    from tests.confirm_cases import SCRIPT_CASES

    spec = SCRIPT_CASES[case]
    (tmp_path / "train.py").write_text(textwrap.dedent(spec["harmful"]), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "bnlint", "check", "--no-cache", "--format", "json", "--select", spec["rule"],
         "--confirm", "train.py", "train.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"),
    )
    assert out.returncode == 1, out.stderr
    findings = json.loads(out.stdout)["findings"]
    assert findings, "the static rule must fire on this case"
    verdicts = [f["confirm"] for f in findings if "confirm" in f]
    assert verdicts and {v["verdict"] for v in verdicts} == {"confirmed"}
    assert {v["rule"] for v in verdicts} == {spec["rule"]}
    assert all(v["value"] is not None and v["measured"] for v in verdicts)
