"""A worker process that dies under ``-j N`` (a segfault in the native parser, an OOM
kill, ``os._exit``) loses only the file it was linting: that file is reported as an
internal error, every other file is still linted and reported, in order.

The crash is real and bnlint has no test hook for it: the child interpreter gets a
``sitecustomize`` (on ``PYTHONPATH``) that makes ``Linter.lint_file`` kill its own
process when it reaches a file named in ``CRASH_ON``. Worker processes inherit it
(fork) or run it again at start-up (spawn, forkserver), so the pool really breaks.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
POSITIVE = FIXTURES / "BN401" / "pos_linear_bn1d_mlp.py"  # one BN401 finding

SITECUSTOMIZE = textwrap.dedent('''\
    import os

    _CRASH_ON = set(filter(None, os.environ.get("CRASH_ON", "").split(",")))
    if _CRASH_ON:
        import ctypes
        import resource

        from bnlint import engine

        _real = engine.Linter.lint_file

        def _lint_file(self, target):
            if os.path.basename(target.fs_path) in _CRASH_ON:
                if os.environ.get("CRASH_HOW") == "segfault":
                    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file
                    ctypes.string_at(0)  # a real SIGSEGV, as a native parser bug would give
                os._exit(70)
            return _real(self, target)

        engine.Linter.lint_file = _lint_file
''')

SCRIPT = textwrap.dedent('''\
    import json
    import sys

    from bnlint.config import Config, selected_codes
    from bnlint.discovery import discover
    from bnlint.engine import run

    targets, _ = discover(["."], Config().excludes, ".", False)
    done = []
    results = run(targets, ".", sorted(selected_codes(Config(select=["ALL"]))), {}, jobs=2,
                  progress=done.append)
    json.dump({"targets": [t.display for t in targets], "results": [r.path for r in results],
               "progress": sum(done)}, sys.stdout)
''')

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX crash signals")


def _tree(root: Path, n: int = 20) -> None:
    for i in range(n):
        shutil.copy(POSITIVE, root / f"model_{i:02d}.py")


def _env(tmp_path: Path, crash_on: str = "", how: str = "") -> dict:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, NO_COLOR="1", PYTHONPATH=path, CRASH_ON=crash_on, CRASH_HOW=how)


def _bnlint(args, cwd, env):
    proc = subprocess.run([sys.executable, "-m", "bnlint", "--no-color", "--no-cache", "--select", "ALL",
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode >= 0, f"bnlint died from signal {-proc.returncode}:\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _findings(data):
    return sorted((f["path"], f["line"], f["code"]) for f in data["findings"])


@pytest.mark.parametrize("how,reason", [("segfault", "killed by SIGSEGV"), ("exit", "exit code 70")])
@pytest.mark.parametrize("crash_on", [["model_05.py"], ["model_05.py", "model_13.py"]])
def test_crashing_worker_loses_only_its_file(tmp_path, how, reason, crash_on):
    tree = tmp_path / "tree"
    tree.mkdir()
    _tree(tree)
    env = _env(tmp_path, ",".join(crash_on), how)
    text = _bnlint(["-j", "2", "."], tree, env)
    data = json.loads(_bnlint(["-j", "2", "--format", "json", "."], tree, env).stdout)

    assert text.returncode == 2  # an internal error (a bug in bnlint) on some file, as for a failing rule
    for name in crash_on:
        line = next(line for line in text.stdout.splitlines() if line.startswith(f"{name}: error: "))
        assert "crashed" in line and reason in line and "please report it at https://" in line
    errors = sorted((e["path"], e["kind"]) for e in data["errors"])
    assert errors == sorted((name, "internal") for name in crash_on)

    # Every other file: the same findings as a -j 1 run without the crashing files.
    for name in crash_on:
        (tree / name).unlink()
    baseline = json.loads(_bnlint(["-j", "1", "--format", "json", "."], tree, _env(tmp_path)).stdout)
    assert len(baseline["findings"]) == 20 - len(crash_on)
    assert _findings(data) == _findings(baseline)


def test_results_stay_in_order_and_progress_adds_up(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    _tree(tree)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tree, env=_env(tmp_path, "model_07.py", "exit"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert len(out["targets"]) == 20
    assert out["results"] == out["targets"]
    assert out["progress"] == 20
