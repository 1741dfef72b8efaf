"""Plain linting reads; it never writes to the linted tree, imports or runs project code,
or evaluates configuration values. Checked on real trees with the real CLI in a child process.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .test_bad_inputs import BAD

# Every module runs this at import: a marker file proves it executed.
PAYLOAD = textwrap.dedent('''\
    import pathlib as _p
    _p.Path(__file__).with_name("EXECUTED_" + _p.Path(__file__).stem).write_text("ran")
    raise SystemExit("imported!")
''')


_MODEL_LINE = next(line for line in BAD.splitlines() if line.startswith("model = "))
TRAIN_WITH_IMPORTED_MODEL = PAYLOAD + BAD.replace(_MODEL_LINE, "from pkg.models import Net\nmodel = Net()")
LOADER_LINE = TRAIN_WITH_IMPORTED_MODEL.splitlines().index("loader = DataLoader(ds, batch_size=8)") + 1


def _tree_snapshot(root: Path) -> dict:
    """Relative path -> (sha256, mode) of every file and folder under ``root``."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            digest = ""
            if os.path.isfile(full) and not os.path.islink(full):
                digest = hashlib.sha256(Path(full).read_bytes()).hexdigest()
            snap[rel] = (digest, st.st_mode, st.st_size)
    return snap


def _project(root: Path) -> Path:
    files = {
        "setup.py": PAYLOAD + "from setuptools import setup\nsetup()\n",
        "conftest.py": PAYLOAD,
        "pkg/__init__.py": PAYLOAD,
        "pkg/models.py": PAYLOAD + "import torch.nn as nn\n"
                         "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                         "        self.bn = nn.BatchNorm1d(4)\n"
                         "    def forward(self, x):\n        return self.bn(x)\n",
        "pkg/train.py": TRAIN_WITH_IMPORTED_MODEL,
        "train.py": "import models\nimport pkg\nfrom pkg import train\n" + BAD,
        "models.py": PAYLOAD,
        "nb.ipynb": '{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", '
                    '"metadata": {}, "outputs": [], "execution_count": null, "source": ["import models\\n"]}]}',
        "pyproject.toml": '[tool.bnlint]\nextend-exclude = ["__import__(\'os\').system(\'touch EXECUTED_config\')"]\n'
                          'per-file-ignores = { "{{7*7}}" = ["BN9"] }\n',
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _lint(root: Path, *args: str) -> subprocess.CompletedProcess:
    # `python -m` puts the cwd, the project, on sys.path: an accidental import would find its modules.
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "bnlint", "--select", "ALL", "-j", "2", *args, "."],
                          cwd=root, capture_output=True, text=True, env=env, timeout=300)


def test_linting_never_writes_to_the_linted_tree(tmp_path):
    root = _project(tmp_path)
    before = _tree_snapshot(root)
    proc = _lint(root, "--no-cache")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert _tree_snapshot(root) == before  # same files, same bytes, same modes: not even __pycache__


def test_the_cache_is_the_only_thing_written_and_only_in_its_folder(tmp_path):
    root = _project(tmp_path)
    before = _tree_snapshot(root)
    assert _lint(root).returncode == 1
    after = _tree_snapshot(root)
    changed = {rel for rel in set(before) | set(after) if before.get(rel) != after.get(rel)}
    assert changed and all(rel.split(os.sep)[0] == ".bnlint_cache" for rel in changed), changed
    assert {rel: after[rel] for rel in before} == before


def test_linting_never_imports_or_runs_project_code(tmp_path):
    root = _project(tmp_path)
    proc = _lint(root, "--no-cache")
    assert "imported!" not in proc.stdout + proc.stderr
    assert not list(root.rglob("EXECUTED_*")), "linting executed project code"
    # The analysis did read the modules: the finding in pkg/train.py uses pkg/models.py's BatchNorm.
    assert f"{os.path.join('pkg', 'train.py')}:{LOADER_LINE}:" in proc.stdout, proc.stdout


def test_config_values_are_data(tmp_path):
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    for value in ["__import__('os').system('touch EXECUTED_select')", "${touch EXECUTED_shell}",
                  "$(touch EXECUTED_subshell)"]:
        (tmp_path / "pyproject.toml").write_text(f'[tool.bnlint]\nselect = ["{value}"]\n', encoding="utf-8")
        proc = subprocess.run([sys.executable, "-m", "bnlint", "--no-cache", "train.py"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "unknown rule code" in proc.stderr
    assert not list(tmp_path.glob("EXECUTED_*"))
