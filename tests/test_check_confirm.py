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
