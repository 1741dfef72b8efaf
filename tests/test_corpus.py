"""Corpus test (slow): real-world Python that needs no download, every rule selected.

Two passes over the running interpreter's standard library and the installed torch
package's own Python sources, each with ``-j 2``, requiring zero internal errors and
no crash:

- every file, as users run it (the pre-filter skips files no rule can fire on);
- a deterministic sample with the pre-filter off, so that every sampled file is
  parsed by LibCST and analysed by every rule: every k-th file in sorted order, k
  chosen so that each corpus contributes about ``BNLINT_CORPUS_MB`` (default 2)
  megabytes (``0``: everything, which takes far longer).
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


@pytest.mark.parametrize("corpus,whole", [("stdlib", True), ("torch", True), ("stdlib", False), ("torch", False)],
                         ids=["stdlib-all", "torch-all", "stdlib-sample-unfiltered", "torch-sample-unfiltered"])
def test_corpus_has_no_internal_errors(corpus, whole, tmp_path):
    root = sysconfig.get_paths()["stdlib"] if corpus == "stdlib" else _torch_dir()
    files = _python_files(root) if whole else _subset(_python_files(root))
    assert len(files) >= 20
    env = dict(os.environ)
    env.pop("BNLINT_NO_PREFILTER", None)
    if not whole:
        env["BNLINT_NO_PREFILTER"] = "1"  # every rule on every sampled file
    report = tmp_path / "report.json"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bnlint", "--select", "ALL", "-j", "2", "--no-cache",
                           "--format", "json", "--output", str(report), *files],
                          capture_output=True, text=True, timeout=1800, cwd=tmp_path, env=env)
    elapsed = time.monotonic() - start
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # never 2 (internal error) or a signal
    data = json.loads(report.read_text(encoding="utf-8"))
    internal = [e for e in data["errors"] if e["kind"] == "internal"]
    assert not internal, internal[:10]
    assert data["files_checked"] == len(files)
    print(f"\n{corpus} ({'all' if whole else 'sample, unfiltered'}): {len(files)} files, "
          f"{sum(os.path.getsize(f) for f in files) / 1e6:.1f} MB, {elapsed:.0f} s, "
          f"{len(data['findings'])} findings, {len(data['errors'])} file errors")
