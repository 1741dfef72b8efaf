"""Bad configuration and bad baseline files: one clean line naming the problem, exit code 2,
never a traceback and never a hang. The real CLI in a child process, on real files.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .test_bad_inputs import BAD

REPO = Path(__file__).resolve().parent.parent
posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs as on POSIX")


def _bnlint(cwd: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "bnlint", "check", "--no-cache", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _assert_one_line_usage_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Error" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if needle in line]) == 1, proc.stderr
    assert proc.stdout == ""


def _tree(tmp_path: Path, pyproject: bytes) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_bytes(pyproject)
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("toml,needle", [
    (b"tool = 5\n", "`tool` must be a table"),
    (b"[[tool]]\nbnlint = 1\n", "`tool` must be a table"),
    (b'[tool.bnlint]\nselect = [""]\n', "empty rule code"),
    (b'[tool.bnlint]\nextend-select = ["BN103", "  "]\n', "empty rule code"),
    (b'[tool.bnlint]\nignore = [""]\n', "empty rule code"),
    (b'[tool.bnlint]\nper-file-ignores = { "tests/*" = [""] }\n', "empty rule code"),
    (b'[tool.bnlint]\ncache-dir = ""\n', "cache-dir"),
    (b'[tool.bnlint]\ncache-dir = "a\\u0000b"\n', "cache-dir"),
    (b'[tool.bnlint]\n# caf\xe9\nselect = ["BN103"]\n', "not valid UTF-8"),
    (b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
    (b"[tool.bnlint]\nx = { " + b"a = { " * 50_000 + b"}" * 50_000 + b"}\n", "nested too deeply"),
])
def test_bad_pyproject_is_a_one_line_usage_error(tmp_path, toml, needle):
    root = _tree(tmp_path, toml)
    _assert_one_line_usage_error(_bnlint(root, "train.py"), needle)


def test_bnlint_table_that_is_not_a_table(tmp_path):
    root = _tree(tmp_path, b"[tool]\nbnlint = 5\n")
    _assert_one_line_usage_error(_bnlint(root, "train.py"), "[tool.bnlint] must be a table")


@posix_only
def test_config_file_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    root = _tree(tmp_path, b"[tool.bnlint]\n")
    os.mkfifo(root / "bnlint.toml")
    proc = _bnlint(root, "--config", "bnlint.toml", "train.py", timeout=60)
    _assert_one_line_usage_error(proc, "not a regular file")


# -- baselines -----------------------------------------------------------------------

def _baseline(findings) -> str:
    return json.dumps({"version": 1, "tool": "bnlint", "findings": findings})


GOOD = {"fingerprint": "0" * 32, "code": "BN103", "path": "train.py", "line": 7, "statement": "x"}


@pytest.mark.parametrize("text,needle", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"version": 1, "findings": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    (_baseline([dict(GOOD, line="x")]), "`line`"),
    (_baseline([dict(GOOD, path=["train.py"])]), "`path`"),
    (_baseline([dict(GOOD, code=None)]), "`code`"),
    (_baseline([dict(GOOD, line=True)]), "`line`"),
    (_baseline([dict(GOOD, statement=3)]), "`statement`"),
    (_baseline([{"fingerprint": "0" * 32}]), "missing"),
    (_baseline([GOOD, {k: v for k, v in GOOD.items() if k != "path"}]), "entry 2"),
])
def test_bad_baseline_is_a_one_line_usage_error(tmp_path, text, needle):
    root = _tree(tmp_path, b"[tool.bnlint]\n")
    (root / "b.json").write_text(text, encoding="utf-8")
    proc = _bnlint(root, "--select", "BN103", "--baseline", "b.json", ".")
    _assert_one_line_usage_error(proc, needle)
    assert "b.json" in proc.stderr


@posix_only
def test_baseline_that_is_a_fifo_is_refused_without_blocking(tmp_path):
    root = _tree(tmp_path, b"[tool.bnlint]\n")
    os.mkfifo(root / "b.json")
    proc = _bnlint(root, "--select", "BN103", "--baseline", "b.json", ".", timeout=60)
    _assert_one_line_usage_error(proc, "not a regular file")


def test_write_baseline_over_a_baseline_with_wrongly_typed_entries(tmp_path):
    """The entries of files not linted now are kept from the old baseline, sorted with the new ones:
    wrongly typed ones made that sort raise. An unusable old baseline is replaced, as a corrupt one is."""
    root = _tree(tmp_path, b"[tool.bnlint]\n")
    old = [dict(GOOD, path="other.py", line="x", fingerprint="1" * 32),
           dict(GOOD, path="other.py", line=3, fingerprint="2" * 32)]
    (root / "b.json").write_text(_baseline(old), encoding="utf-8")
    proc = _bnlint(root, "--select", "BN103", "--write-baseline", "b.json", "train.py")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    entries = json.loads((root / "b.json").read_text(encoding="utf-8"))["findings"]
    assert [(e["path"], e["code"]) for e in entries] == [("train.py", "BN103")]
    assert _bnlint(root, "--select", "BN103", "--baseline", "b.json", ".").returncode == 0


@pytest.mark.parametrize("option", ["--select", "--extend-select", "--ignore"])
def test_empty_rule_option_is_a_usage_error(tmp_path, option):
    """`--select ""` names no rule: an error, not a run with every rule off (or none ignored)."""
    root = _tree(tmp_path, b"[tool.bnlint]\nignore = []\n")  # an empty list in the file is fine
    _assert_one_line_usage_error(_bnlint(root, option, " , ", "train.py"), f"{option}: empty rule code")
