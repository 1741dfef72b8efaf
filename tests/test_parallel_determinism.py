"""Findings do not depend on how a run is executed: -j 1 vs -j N, cold vs warm cache,
with or without the trigger-word pre-filter. Checked on the fixture suite and on a
generated multi-file project (cross-file models, helpers called from other files)."""
from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from bnlint.config import Config
from bnlint.engine import lint_paths

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"

MODEL = '''import torch.nn as nn


class {name}(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8{bias}), {norm}, nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)
'''
HELPER = '''import torch


def fit_{i}(model, loader, opt):
    model.train()
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def evaluate_{i}(model, loader):
    with torch.no_grad():
        return [model(x) for x, _ in loader]
'''
SCRIPT = '''import torch
from torch.utils.data import DataLoader, TensorDataset

from models_{m} import {model}
from helpers_{h} import evaluate_{h}, fit_{h}


def main():
    model = {model}()
    data = TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    loader = DataLoader(data, batch_size={bs}{shuffle})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    fit_{h}(model, loader, opt)
    {eval_line}


if __name__ == "__main__":
    main()
'''
UNRELATED = '''def add(a, b):
    return a + b


print(add(1, 2))
'''


def generate_project(root: Path, seed: int = 7, scripts: int = 24) -> None:
    rng = random.Random(seed)
    (root / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    norms = ["nn.BatchNorm1d(8)", "nn.GroupNorm(2, 8)", "nn.LayerNorm(8)"]
    for m in range(4):
        (root / f"models_{m}.py").write_text(
            MODEL.format(name=f"Net{m}", norm=norms[m % 3], bias=rng.choice(["", ", bias=False"])), encoding="utf-8")
    for h in range(3):
        (root / f"helpers_{h}.py").write_text(HELPER.format(i=h), encoding="utf-8")
    for s in range(scripts):
        m, h = rng.randrange(4), rng.randrange(3)
        sub = root / f"pkg{s % 3}"
        sub.mkdir(exist_ok=True)
        # Script-style sibling imports: the scripts live next to copies of what they import.
        for name in (f"models_{m}.py", f"helpers_{h}.py"):
            if not (sub / name).exists():
                (sub / name).write_text((root / name).read_text(encoding="utf-8"), encoding="utf-8")
        (sub / f"train_{s}.py").write_text(SCRIPT.format(
            m=m, h=h, model=f"Net{m}", bs=rng.choice([1, 8, 32]),
            shuffle=rng.choice(["", ", shuffle=True", ", shuffle=False"]),
            eval_line=rng.choice(["evaluate_%d(model, loader)" % h, "model.eval()", "pass"])), encoding="utf-8")
    for u in range(6):
        (root / f"util_{u}.py").write_text(UNRELATED, encoding="utf-8")


def _run(paths, jobs, cache_dir=None, **config):
    result = lint_paths([str(p) for p in paths], Config(select=["ALL"], cache_dir=cache_dir, **config), jobs=jobs,
                        cache=cache_dir is not None)
    return ([f.to_json() for f in result.findings], sorted((e.path, e.kind, e.message) for e in result.errors))


def _assert_all_modes_agree(paths, tmp_path: Path, monkeypatch, jobs: int = 3):
    baseline = _run(paths, 1)
    cache = str(tmp_path / "cache")
    assert _run(paths, jobs) == baseline, "-j N differs from -j 1"
    assert _run(paths, 1, cache_dir=cache) == baseline, "cold cached run differs"
    assert list(Path(cache).rglob("*.json")), "the cached run stored nothing"
    assert _run(paths, 1, cache_dir=cache) == baseline, "warm run (-j 1) differs"
    assert _run(paths, jobs, cache_dir=cache) == baseline, "warm run (-j N) differs"
    monkeypatch.setenv("BNLINT_NO_PREFILTER", "1")
    assert _run(paths, jobs) == baseline, "results depend on the trigger-word pre-filter"
    return baseline


def test_generated_tree_same_findings_in_every_mode(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    root.mkdir()
    generate_project(root)
    findings, errors = _assert_all_modes_agree([root], tmp_path, monkeypatch)
    assert not errors
    codes = {f["code"] for f in findings}
    assert "BN103" in codes  # the generated tree exercises cross-file rules, not just silence


def test_warm_cache_sees_an_edit_in_a_generated_tree(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    generate_project(root)
    cache = str(tmp_path / "cache")
    cold = _run([root], 2, cache_dir=cache)
    for models in root.rglob("models_*.py"):  # no BN anywhere any more
        text = models.read_text(encoding="utf-8").replace("nn.BatchNorm1d(8)", "nn.GroupNorm(2, 8)")
        models.write_text(text, encoding="utf-8")
    edited_warm = _run([root], 2, cache_dir=cache)
    assert edited_warm == _run([root], 1)
    assert edited_warm != cold


@pytest.mark.slow
def test_fixture_suite_same_findings_in_every_mode(tmp_path, monkeypatch):
    findings, _ = _assert_all_modes_agree([FIXTURES], tmp_path, monkeypatch, jobs=2)
    assert findings


def test_small_run_does_not_start_a_pool(tmp_path, monkeypatch):
    """A single file (the pre-commit case) is linted in-process: no pool start-up to pay."""
    import concurrent.futures

    root = tmp_path / "proj"
    root.mkdir()
    generate_project(root, scripts=3)

    def refuse(*args, **kwargs):
        raise AssertionError("a process pool was started for a small run")

    monkeypatch.setattr("bnlint.engine.ProcessPoolExecutor", refuse)
    assert concurrent.futures.ProcessPoolExecutor is not refuse
    findings, _ = _run([next(root.rglob("train_*.py"))], jobs=os.cpu_count() or 2)
    assert isinstance(findings, list)


def test_pre_commit_runs_one_process(monkeypatch):
    """pre-commit runs hooks in parallel already: bnlint must not add its own pool on top."""
    from bnlint.engine import default_jobs

    monkeypatch.setenv("PRE_COMMIT", "1")
    assert default_jobs() == 1
    monkeypatch.delenv("PRE_COMMIT")
    assert default_jobs() >= 1
