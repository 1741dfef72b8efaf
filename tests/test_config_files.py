"""Settings files read by the analysis (YAML/JSON named by a constant path): data only, inside the
project only, and a dependency of the cached result."""
from __future__ import annotations

import os
from pathlib import Path

from bnlint.analysis import config_files
from bnlint.config import Config
from bnlint.engine import lint_paths

MODELS = '''import torch.nn as nn

__all__ = ["NetBN", "NetGN"]


class NetBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)


class NetGN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8, bias=False), nn.GroupNorm(2, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)
'''
TRAIN = '''import torch
import yaml

import models

with open({path!r}) as f:
    config = yaml.safe_load(f)
net = models.__dict__[config["model"]["name"]]()
opt = torch.optim.SGD(net.parameters(), lr=0.1)
from data import source_loader, target_loader
for (xs, ys), (xt, _) in zip(source_loader, target_loader):
    loss = torch.nn.functional.cross_entropy(net(xs), ys) + net(xt).softmax(1).var()
    opt.zero_grad()
    loss.backward()
    opt.step()
'''
CALL_LINE = 12


def _project(tmp_path: Path, name: str = "NetBN", path: str = "configs/train.yaml") -> Path:
    root = tmp_path / "proj"
    (root / "configs").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    (root / "models.py").write_text(MODELS, encoding="utf-8")
    (root / "train.py").write_text(TRAIN.format(path=path), encoding="utf-8")
    (root / "configs" / "train.yaml").write_text(f"model:\n  name: {name}\n", encoding="utf-8")
    return root


def _bn101(root: Path, cache: bool = False):
    result = lint_paths([str(root / "train.py")], Config(select=["BN101"]), jobs=1, cache=cache)
    assert not result.errors, result.errors
    return [(os.path.basename(f.path), f.line) for f in result.findings]


def test_network_named_in_yaml_with_bn_is_reported_and_without_bn_is_not(tmp_path):
    root = _project(tmp_path, "NetBN")
    assert _bn101(root) == [("train.py", CALL_LINE)]
    (root / "configs" / "train.yaml").write_text("model:\n  name: NetGN\n", encoding="utf-8")
    assert _bn101(root) == []


def test_editing_the_settings_file_rechecks_the_script_through_the_cache(tmp_path):
    root = _project(tmp_path, "NetGN")
    assert _bn101(root, cache=True) == []
    (root / "configs" / "train.yaml").write_text("model:\n  name: NetBN\n", encoding="utf-8")
    assert _bn101(root, cache=True) == [("train.py", CALL_LINE)]


def test_a_settings_file_that_appears_later_rechecks_the_script(tmp_path):
    # Nothing there yet: the name is unknown, so any network `models` offers may be built, and one
    # of them has BatchNorm.
    root = _project(tmp_path, "NetGN", path="settings.yaml")
    assert _bn101(root, cache=True) == [("train.py", CALL_LINE)]
    (root / "settings.yaml").write_text("model:\n  name: NetGN\n", encoding="utf-8")
    assert _bn101(root, cache=True) == []


def test_paths_outside_the_project_are_never_read(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    assert config_files.candidate_paths(str(root), str(root), "/etc/passwd") == []
    assert config_files.candidate_paths(str(root), str(root), "../outside.yaml") == []
    assert config_files.candidate_paths(str(root), str(root / "sub"), "../../x.yaml") == []
    assert config_files.candidate_paths(str(root), str(root / "sub"), "c.yaml") == [
        str(root / "c.yaml"), str(root / "sub" / "c.yaml")]
    # a link inside the project to a file outside it is not followed either
    (root / "linked.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    assert config_files.candidate_paths(str(root), str(root), "linked.yaml") == []
    # a settings file written outside the project is not followed: the network stays unknown, any
    # of the module's networks (one has BatchNorm), where the file read would have named NetGN
    outside = tmp_path / "outside.yaml"
    outside.write_text("model:\n  name: NetGN\n", encoding="utf-8")
    project = _project(tmp_path / "p", "NetGN", path="../../outside.yaml")
    assert _bn101(project) == [("train.py", CALL_LINE)]


def test_yaml_is_read_as_plain_data_only(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"model: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    assert config_files.load_data(str(evil), True, {}) is None  # the safe loader refuses the tag
    assert not marker.exists()
    big = tmp_path / "big.yaml"
    big.write_text("x: " + "a" * (config_files.MAX_CONFIG_BYTES + 1), encoding="utf-8")
    assert config_files.load_data(str(big), True, {}) is None
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert config_files.load_data(str(broken), False, {}) is None
    good = tmp_path / "good.json"
    good.write_text('{"model": {"name": "NetBN"}}', encoding="utf-8")
    assert config_files.load_data(str(good), False, {}) == {"model": {"name": "NetBN"}}
