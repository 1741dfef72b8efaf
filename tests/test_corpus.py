"""Corpus test (slow): real-world Python that needs no download, every rule selected.

Lints the running interpreter's standard library and the installed torch package's
own Python sources with ``-j 2`` and requires zero internal errors and no crash.
Both together are ~78 MB of Python, about half an hour on two cores, so by default
a deterministic subset is linted: every k-th file in sorted order, k chosen so that
each corpus contributes about ``BNLINT_CORPUS_MB`` (default 2) megabytes. Set
``BNLINT_CORPUS_MB=0`` to lint everything.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import sysconfig
import time

import pytest

pytestmark = pytest.mark.slow

BUDGET_MB = float(os.environ.get("BNLINT_CORPUS_MB", "2"))


def _python_files(root: str):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "__pycache__"))
        out.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))
    return out


def _subset(files):
    total = sum(os.path.getsize(f) for f in files)
    if BUDGET_MB <= 0:
        return files
    step = max(1, math.ceil(total / (BUDGET_MB * 1e6)))
    return files[::step]


def _torch_dir():
    spec = importlib.util.find_spec("torch")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torch is not installed")
    return list(spec.submodule_search_locations)[0]


@pytest.mark.parametrize("corpus", ["stdlib", "torch"])
def test_corpus_has_no_internal_errors(corpus, tmp_path):
    root = sysconfig.get_paths()["stdlib"] if corpus == "stdlib" else _torch_dir()
    files = _subset(_python_files(root))
    assert len(files) >= 20
    report = tmp_path / "report.json"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bnlint", "--select", "ALL", "-j", "2", "--no-cache",
                           "--format", "json", "--output", str(report), *files],
                          capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # never 2 (internal error) or a signal
    data = json.loads(report.read_text(encoding="utf-8"))
    internal = [e for e in data["errors"] if e["kind"] == "internal"]
    assert not internal, internal[:10]
    assert data["files_checked"] == len(files)
    print(f"\n{corpus}: {len(files)} files, {sum(os.path.getsize(f) for f in files) / 1e6:.1f} MB, "
          f"{elapsed:.0f} s, {len(data['findings'])} findings, {len(data['errors'])} file errors")
