"""Plain linting must never import torch nor run the linted code."""
import subprocess
import sys

from tests.helpers import FIXTURES, REPO


def test_linting_never_imports_torch():
    code = (
        "import sys, bnlint\n"
        "from bnlint.cli import main\n"
        f"r = bnlint.lint_paths([{str(FIXTURES / 'BN103')!r}, {str(REPO / 'examples')!r}])\n"
        "assert r.findings, 'expected findings'\n"
        "leaked = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'))\n"
        "assert not leaked, leaked\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
