"""A run served from the cache: the rule catalog it selects from, what it imports, and the
cache's record of the tree (name searches checked without an identifier table)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bnlint.cache
import bnlint.rules
from bnlint.cache import DEFAULT_DIR, TREE_RECORD, ResultCache, TreeRecord
from bnlint.config import Config, selected_codes
from bnlint.engine import lint_paths
from bnlint.rules.catalog import CATALOG, check_matches, declared

from .test_cache_safety import _fingerprint_folders, _skip_if_sources_changed

REPO = Path(__file__).resolve().parent.parent

MODELS = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)
'''
ENGINE = '''def fit(model, loader, opt):
    for x, y in loader:
        loss = model(x).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
'''
# The loader is built here and trained on in engine.py: the analysis searches the project for
# the callers of `fit`, so the entry of train.py records that name search.
TRAIN = '''import torch
from torch.utils.data import DataLoader, TensorDataset

from engine import fit
from models import Net

model = Net()
loader = DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8)
fit(model, loader, torch.optim.SGD(model.parameters(), lr=0.1))
'''
OTHER_CALLS_FIT = "fit(None, [], None)  # a caller now\n"
OTHER = "# no caller of the training loop".ljust(len(OTHER_CALLS_FIT) - 1) + "\n"  # the same size
assert len(OTHER) == len(OTHER_CALLS_FIT)


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    for name, text in {"pyproject.toml": "[tool.bnlint]\n", "models.py": MODELS, "engine.py": ENGINE,
                       "train.py": TRAIN, "other.py": OTHER}.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def _lint(root: Path, cache: bool = True):
    return lint_paths([str(root)], Config(), jobs=1, cache=cache)


def _cache(root: Path) -> ResultCache:
    cfg = Config()
    return ResultCache(str(root), sorted(selected_codes(cfg)), cfg.per_file_ignores)


def _record_path(root: Path) -> Path:
    (path,) = (root / DEFAULT_DIR).glob(f"*/{TREE_RECORD}")
    return path


def _no_table(monkeypatch) -> None:
    def refuse(files):
        raise AssertionError("the cache built an identifier table of the tree")

    monkeypatch.setattr(bnlint.cache, "word_table", refuse)


# -- the catalog --------------------------------------------------------------------------
def test_the_catalog_lists_exactly_what_the_rule_classes_declare():
    rules = bnlint.rules.ALL_RULES
    assert [(r.code, r.name, r.default_enabled) for r in CATALOG] == [declared(r) for r in rules]
    assert [(r.module, r.cls) for r in CATALOG] == [(r.__module__.rsplit(".", 1)[1], r.__name__) for r in rules]
    # Every rule module is listed: a new rule file cannot be left out of the registry.
    modules = sorted(p.stem for p in Path(bnlint.rules.__file__).parent.glob("bn[0-9]*.py"))
    assert modules == sorted(r.module for r in CATALOG)
    assert [r.code for r in CATALOG] == sorted(r.code for r in CATALOG)


def test_a_catalog_row_that_drifted_from_its_rule_is_an_error():
    info = CATALOG[0]
    check_matches(bnlint.rules.RULES_BY_CODE[info.code], info)
    with pytest.raises(RuntimeError, match="update the catalog"):
        check_matches(bnlint.rules.RULES_BY_CODE[info.code], info._replace(default_enabled=not info.default_enabled))


# -- what a cached run imports ---------------------------------------------------------------
PROBE = """
import sys
from bnlint.cli import main
try:
    main(sys.argv[1:], prog_name="bnlint")
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("libcst", "rich")
               or m.startswith(("bnlint.analysis", "bnlint.rules.bn", "bnlint.rules.base", "bnlint.parsing",
                                "bnlint.index")))
sys.stderr.write("HEAVY " + " ".join(heavy) + "\\n")
"""


def _probe(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    env.pop("BNLINT_NO_CACHE", None)
    return subprocess.run([sys.executable, "-c", PROBE, "check", "--format", "json", "-j", "1", "."],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def _heavy(proc: subprocess.CompletedProcess):
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY")]
    return line.split()[1:]


def test_a_fully_cached_run_imports_neither_libcst_nor_the_rules_nor_rich(tmp_path):
    root = _project(tmp_path)
    cold = _probe(root)
    assert "libcst" in _heavy(cold) and "bnlint.rules.base" in _heavy(cold)  # it linted
    folders = _fingerprint_folders(root / DEFAULT_DIR)
    warm = _probe(root)
    _skip_if_sources_changed(root / DEFAULT_DIR, folders)
    assert warm.stdout == cold.stdout and json.loads(warm.stdout)["findings"]
    assert _heavy(warm) == []


# -- the tree record ------------------------------------------------------------------------
def test_a_warm_run_checks_name_searches_from_the_tree_record(tmp_path, monkeypatch):
    root = _project(tmp_path)
    cold = _lint(root)
    record = json.loads(_record_path(root).read_text(encoding="utf-8"))
    assert "fit" in record["words"] and [rel for rel, _ in record["files"]] == [
        "engine.py", "models.py", "other.py", "train.py"]
    _no_table(monkeypatch)
    assert _cache(root).lookup(str(root / "train.py"), str(root / "train.py")) is not None
    warm = _lint(root)
    assert warm.findings == cold.findings and warm.errors == cold.errors


def test_an_edit_that_keeps_size_and_times_still_invalidates_a_name_search(tmp_path):
    """The record compares content hashes, never file times: a new caller of `fit` written within the
    same timestamp tick, with the same size (here: times put back by hand), is seen."""
    root = _project(tmp_path)
    _lint(root)
    train = str(root / "train.py")
    assert _cache(root).lookup(train, train) is not None
    other = root / "other.py"
    before = os.stat(other)
    other.write_text(OTHER_CALLS_FIT, encoding="utf-8")
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(other)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert _cache(root).lookup(train, train) is None
    assert _lint(root).findings == _lint(root, cache=False).findings


def test_after_an_edit_names_are_looked_up_in_the_changed_files_only(tmp_path, monkeypatch):
    from bnlint.index import ProjectIndex

    root = _project(tmp_path)
    _lint(root)
    (root / "notes.py").write_text("x = 1\n", encoding="utf-8")  # a new file: the record is updated...
    _lint(root)  # ...and, its names' files now listed, the next edits need no identifier table
    record = json.loads(_record_path(root).read_text(encoding="utf-8"))
    assert all(files is not None for _, files in record["words"].values())
    _no_table(monkeypatch)
    train = str(root / "train.py")
    for edit in ("# still no caller, other length\n", OTHER_CALLS_FIT):
        (root / "other.py").write_text(edit, encoding="utf-8")
        (root / "notes.py").unlink(missing_ok=True)
        cache = _cache(root)
        expected = ProjectIndex(str(root)).mentions_digest("fit")
        assert cache.mentions_digest("fit") == expected
        assert (cache.lookup(train, train) is None) == (edit == OTHER_CALLS_FIT)


@pytest.mark.parametrize("text", [
    "{not json",
    "[]",
    '{"format": 1, "files": [["a.py", 5]], "words": {}}',
    '{"format": 1, "files": [], "words": {"fit": ["0", [3]]}}',  # a file index out of range
    '{"format": 1, "files": [], "words": {"fit": "0"}}',
    '{"format": 99, "files": [], "words": {}}',
    "[" * 100_000 + "]" * 100_000,
])
def test_a_corrupt_tree_record_is_ignored_and_replaced(tmp_path, text):
    root = _project(tmp_path)
    cold = _lint(root)
    path = _record_path(root)
    good = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    warm = _lint(root)
    assert warm.findings == cold.findings and warm.errors == cold.errors
    assert json.loads(path.read_text(encoding="utf-8"))["files"] == good["files"]


def test_a_record_that_lies_about_a_name_is_not_trusted_once_the_tree_differs(tmp_path):
    """A record only speaks for the exact tree it lists: a recorded digest is used only while every
    file hashes as recorded."""
    root = _project(tmp_path)
    _lint(root)
    path = _record_path(root)
    record = json.loads(path.read_text(encoding="utf-8"))
    record["files"][0][1] = "0" * 32  # engine.py "was" something else
    record["words"]["fit"] = ["0" * 32, None]
    path.write_text(json.dumps(record), encoding="utf-8")
    train = str(root / "train.py")
    assert _cache(root).lookup(train, train) is not None


def test_no_record_is_written_when_the_tree_changes_during_the_run(tmp_path):
    root = _project(tmp_path)
    tree = TreeRecord(str(root))
    tree.record("fit", "0" * 32)
    assert tree.dumps() is not None
    (root / "models.py").write_text(MODELS + "\n# edited while linting\n", encoding="utf-8")
    assert tree.dumps() is None
    tree = TreeRecord(str(root))
    tree.record("fit", "0" * 32)
    (root / "late.py").write_text("x = 1\n", encoding="utf-8")
    assert tree.dumps() is None
    tree = TreeRecord(str(root))
    tree.record("fit", "0" * 32)
    tree.record("fit", "1" * 32)  # two answers for one search: the tree changed between them
    assert tree.dumps() is None
