"""The result cache: hits, invalidation through dependencies, isolation, robustness."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bnlint.cache import (DEFAULT_DIR, KEEP_FINGERPRINTS, MARKER, TREE_RECORD, Deps, ResultCache,
                          _finding_from_json,
                          _finding_to_json, _marker_text, files_digest)
from bnlint.cli import main
from bnlint.config import Config
from bnlint.engine import lint_paths
from bnlint.findings import Autofix, Edit, Finding, Related

REPO = Path(__file__).resolve().parent.parent

MODELS_BN = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)
'''
MODELS_GN = MODELS_BN.replace("nn.BatchNorm1d(8)", "nn.GroupNorm(2, 8)")
TRAIN = '''import torch
from torch.utils.data import DataLoader, TensorDataset

from models import Net

model = Net()
loader = DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
'''
TRAIN_LINE = 7


def cache_entries(cache_dir: Path):
    """The per-file result entries of a cache folder (not the tree record beside them)."""
    return sorted(p for p in cache_dir.rglob("*.json") if p.name != TREE_RECORD)


def _project(tmp_path: Path, models: str = MODELS_BN) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    (root / "train.py").write_text(TRAIN, encoding="utf-8")
    if models is not None:
        (root / "models.py").write_text(models, encoding="utf-8")
    return root


def _lint(paths, cache=True, select=("ALL",), **config):
    return lint_paths([str(p) for p in paths], Config(select=list(select), **config), jobs=1, cache=cache)


def _codes(result):
    return sorted((os.path.basename(f.path), f.line, f.code) for f in result.findings)


def _cache_for(root: Path, **kw) -> ResultCache:
    cfg = Config(select=["ALL"])
    from bnlint.config import selected_codes

    return ResultCache(str(root), sorted(selected_codes(cfg)), cfg.per_file_ignores, **kw)


def test_cold_then_warm_gives_the_same_findings_from_the_cache(tmp_path):
    root = _project(tmp_path)
    cold = _lint([root / "train.py"])
    assert ("train.py", TRAIN_LINE, "BN103") in _codes(cold)
    folder = root / DEFAULT_DIR
    assert (folder / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    hit = _cache_for(root).lookup(str(root / "train.py"), str(root / "train.py"))
    assert hit is not None and [f.line for f in hit[0]] == [f.line for f in cold.findings]
    warm = _lint([root / "train.py"])
    assert warm.findings == cold.findings and warm.errors == cold.errors


def test_editing_a_dependency_rechecks_the_dependent_file(tmp_path):
    root = _project(tmp_path)
    assert ("train.py", TRAIN_LINE, "BN103") in _codes(_lint([root / "train.py"]))
    (root / "models.py").write_text(MODELS_GN, encoding="utf-8")  # no BN any more: nothing to report
    assert _codes(_lint([root / "train.py"])) == []
    (root / "models.py").write_text(MODELS_BN, encoding="utf-8")
    assert ("train.py", TRAIN_LINE, "BN103") in _codes(_lint([root / "train.py"]))


def test_a_module_that_appears_later_rechecks_its_importer(tmp_path):
    root = _project(tmp_path, models=None)
    assert _codes(_lint([root / "train.py"])) == []  # `models` cannot be resolved: silent
    (root / "models.py").write_text(MODELS_BN, encoding="utf-8")
    assert ("train.py", TRAIN_LINE, "BN103") in _codes(_lint([root / "train.py"]))


def test_a_new_file_mentioning_a_searched_name_invalidates_the_entry(tmp_path):
    root = _project(tmp_path)
    cache = _cache_for(root)
    train = str(root / "train.py")
    cache.store(train, train, [], [], Deps(words={"fit": files_digest([], str(root))}))
    assert _cache_for(root).lookup(train, train) == ([], [])
    (root / "main.py").write_text("from train import fit\nfit()\n", encoding="utf-8")
    assert _cache_for(root).lookup(train, train) is None


def test_other_settings_do_not_share_entries(tmp_path):
    root = _project(tmp_path)
    assert ("train.py", TRAIN_LINE, "BN103") in _codes(_lint([root / "train.py"]))
    assert "BN103" not in {c for _, _, c in _codes(_lint([root / "train.py"], select=["BN2"]))}
    assert len([d for d in os.listdir(root / DEFAULT_DIR) if len(d) == 32]) == 2


def test_old_fingerprint_folders_are_pruned(tmp_path):
    root = _project(tmp_path)
    folder = root / DEFAULT_DIR
    for i in range(KEEP_FINGERPRINTS + 3):  # marked as the cache marks its own (only those are pruned)
        (folder / f"{i:032x}").mkdir(parents=True)
        (folder / f"{i:032x}" / MARKER).write_text(_marker_text(f"{i:032x}"), encoding="utf-8")
    _lint([root / "train.py"])
    assert len([d for d in os.listdir(folder) if len(d) == 32]) == KEEP_FINGERPRINTS


def test_corrupt_entry_is_a_miss_and_the_lint_still_works(tmp_path):
    root = _project(tmp_path)
    cold = _lint([root / "train.py"])
    for entry in cache_entries(root / DEFAULT_DIR):
        entry.write_text("{not json", encoding="utf-8")
    assert _lint([root / "train.py"]).findings == cold.findings
    for entry in cache_entries(root / DEFAULT_DIR):
        json.loads(entry.read_text(encoding="utf-8"))  # rewritten whole


def test_unwritable_cache_dir_never_fails_the_lint(tmp_path):
    root = _project(tmp_path)
    (root / "blocker").write_text("a file where the cache folder would go\n", encoding="utf-8")
    result = _lint([root / "train.py"], cache_dir="blocker/cache")
    assert ("train.py", TRAIN_LINE, "BN103") in _codes(result) and not result.errors


def test_cache_dir_setting_is_relative_to_the_project_root(tmp_path):
    root = _project(tmp_path)
    _lint([root / "train.py"], cache_dir="build/lint-cache")
    assert (root / "build" / "lint-cache" / ".gitignore").is_file()
    assert not (root / DEFAULT_DIR).exists()


def test_cli_caches_by_default_and_no_cache_writes_nothing(tmp_path):
    root = _project(tmp_path)
    runner = CliRunner()
    res = runner.invoke(main, ["check", "--no-cache", "--select", "ALL", str(root / "train.py")])
    assert res.exit_code == 1 and "BN103" in res.output
    assert not (root / DEFAULT_DIR).exists()
    res = runner.invoke(main, ["check", "--select", "ALL", str(root / "train.py")], env={"BNLINT_NO_CACHE": "1"})
    assert res.exit_code == 1 and not (root / DEFAULT_DIR).exists()
    res = runner.invoke(main, ["check", "--select", "ALL", str(root / "train.py")])
    assert res.exit_code == 1 and (root / DEFAULT_DIR / ".gitignore").is_file()
    again = runner.invoke(main, ["check", "--select", "ALL", str(root / "train.py")])
    assert again.exit_code == 1 and again.output == res.output


def test_concurrent_runs_agree_and_leave_no_temporary_files(tmp_path):
    root = _project(tmp_path)
    for i in range(12):
        (root / f"train_{i}.py").write_text(TRAIN, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    cmd = [sys.executable, "-m", "bnlint", "check", "--select", "ALL", "-q", "-j", "1", str(root)]
    procs = [subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 1 for p in procs)
    assert outputs[0].count("BN103") == 13 and outputs[0] == outputs[1] == outputs[2]
    assert not list((root / DEFAULT_DIR).rglob(".tmp-*"))
    warm = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert warm.stdout == outputs[0]


def test_finding_round_trips_through_json_with_autofix_and_related():
    finding = Finding("BN401", "bias-before-batchnorm", "a.py", 3, 5, 3, 20, "msg", "fix", "url",
                      (Related("b.py", 7, "there"),), Autofix("drop bias", (Edit(1, 4, "x"),), safe=False),
                      snippet="conv = nn.Conv2d(3, 8, 3)", cell=2, explanation="why")
    back = _finding_from_json(json.loads(json.dumps(_finding_to_json(finding))))
    assert back == finding and back.snippet == finding.snippet and back.autofix == finding.autofix
    assert back.explanation == "why"


def test_entry_of_the_format_before_explanations_is_a_miss():
    """An entry written before findings carried ``explanation`` (copied into today's folder) is
    not read with a blank why; the folder name (the fingerprint) also changes with ENTRY_FORMAT."""
    import pytest

    old = _finding_to_json(Finding("BN103", "unshuffled-train-loader", "a.py", 3, 5, 3, 20, "long message: why",
                                   "fix", "url", explanation="why"))
    del old["explanation"]
    with pytest.raises(KeyError):
        _finding_from_json(old)


def test_a_factory_that_starts_freezing_rechecks_the_script_importing_it(tmp_path):
    # The script shows neither a freeze nor a training step: BN203 reads it only because a file it
    # imports from freezes in a factory (a fact about the whole tree, recorded as its dependency).
    import shutil

    fixture = Path(__file__).parent / "fixtures" / "projects" / "bn203_factory_script_trainer_elsewhere"
    root = tmp_path / "proj"
    shutil.copytree(fixture, root)
    (root / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    factory = root / "nets" / "pretrained.py"
    frozen = factory.read_text(encoding="utf-8")
    unfrozen = frozen.replace("        for param in model.parameters():\n            param.requires_grad = False\n", "")
    assert "requires_grad" not in unfrozen
    factory.write_text(unfrozen, encoding="utf-8")
    assert _codes(_lint([root / "main.py"], select=("BN203",))) == []
    factory.write_text(frozen, encoding="utf-8")
    assert _codes(_lint([root / "main.py"], select=("BN203",))) == [("main.py", 12, "BN203")]
