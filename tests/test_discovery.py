"""File discovery: exclude patterns keep fnmatch semantics (compiled once per pattern list)."""
from __future__ import annotations

import fnmatch
import os

import pytest

from bnlint.config import DEFAULT_EXCLUDES
from bnlint.discovery import _excluded, discover


def _reference(rel: str, patterns) -> bool:
    # The plain fnmatch reading: the whole path, or (for a pattern without "/") any one part.
    parts = rel.split("/")
    for pattern in patterns:
        pat = pattern.rstrip("/")
        if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat + "/*"):
            return True
        if "/" not in pat and any(fnmatch.fnmatch(part, pat) for part in parts):
            return True
    return False


PATTERNS = [list(DEFAULT_EXCLUDES), ["build"], ["docs/*"], ["src/gen/"], ["*_pb2.py", "test_*"], ["a/b"],
            ["[ab]*.py"], ["?.py"], []]
PATHS = ["train.py", "build/x.py", "pkg/build/x.py", "docs/conf.py", "docs/api/x.py", "src/gen/m.py",
         "src/generated.py", "m_pb2.py", "pkg/test_model.py", "a/b/c.py", "a/bc.py", "alpha.py", "b.py",
         ".venv/lib/x.py", "node_modules/x.py", "x/__pycache__/y.py", "notebooks/n.ipynb"]


@pytest.mark.parametrize("patterns", PATTERNS)
def test_excluded_matches_the_fnmatch_reading(tmp_path, patterns):
    for rel in PATHS:
        assert _excluded(str(tmp_path / rel), str(tmp_path), patterns) == _reference(rel, patterns), (rel, patterns)


def test_discover_skips_excluded_folders_and_files(tmp_path):
    for rel in ("train.py", "build/gen.py", "pkg/model.py", "pkg/test_model.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n", encoding="utf-8")
    targets, errors = discover([str(tmp_path)], ["build", "test_*"], str(tmp_path))
    assert not errors
    assert sorted(os.path.relpath(t.fs_path, tmp_path) for t in targets) == ["pkg/model.py", "train.py"]
