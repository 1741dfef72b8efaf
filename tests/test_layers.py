"""The shared layer analysis (bnlint/analysis/layers.py) on real parsed code, plus the BN4xx
autofix and the pre-filter contract of the rules built on it."""
from __future__ import annotations

import shutil
import textwrap

import pytest

from bnlint.analysis.context import Analysis
from bnlint.analysis.layers import ABSENT, UNREADABLE
from bnlint.index import ProjectIndex
from bnlint.rules.base import Rule
from tests.helpers import FIXTURES, found, lint, python_files

MY_CODES = ["BN104", "BN301", "BN401", "BN402", "BN403", "BN404", "BN405", "BN901"]


def analyse(tmp_path, code: str, name: str = "model.py"):
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    path = tmp_path / name
    path.write_text(code, encoding="utf-8")
    index = ProjectIndex(str(tmp_path))
    module = index.module(str(path))
    return module, Analysis(index)


def pairs(tmp_path, code: str):
    module, analysis = analyse(tmp_path, textwrap.dedent(code))
    return [(p.first.qualname.rsplit(".", 1)[-1], p.second.qualname.rsplit(".", 1)[-1], p.how)
            for p in analysis.layers.adjacent_pairs(module)]


def test_sequential_pairs_in_order(tmp_path):
    got = pairs(tmp_path, """
        import torch.nn as nn
        net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2))
    """)
    assert got == [("Conv2d", "BatchNorm2d", "sequential"), ("BatchNorm2d", "ReLU", "sequential"),
                   ("ReLU", "Dropout", "sequential"), ("Dropout", "Linear", "sequential")]


def test_ordered_dict_and_aliases(tmp_path):
    got = pairs(tmp_path, """
        from collections import OrderedDict
        from torch.nn import BatchNorm1d as BN, Linear as L, Sequential as S
        head = S(OrderedDict([("fc", L(4, 4)), ("bn", BN(4))]))
    """)
    assert got == [("Linear", "BatchNorm1d", "sequential")]


def test_unknown_element_breaks_the_chain(tmp_path):
    got = pairs(tmp_path, """
        import torch.nn as nn
        from blocks import Custom
        net = nn.Sequential(nn.Conv2d(3, 8, 3), Custom(), nn.BatchNorm2d(8))
    """)
    assert got == []


def test_star_list_pairs_need_their_own_conditions(tmp_path):
    code = """
        import torch.nn as nn

        def make(cfg, batch_norm={flag}):
            layers = []
            for v in cfg:
                conv = nn.Conv2d(3, v, 3)
                if batch_norm:
                    layers += [conv, nn.BatchNorm2d(v)]
                else:
                    layers += [conv, nn.ReLU()]
            return nn.Sequential(*layers)
    """
    code = textwrap.dedent(code)
    assert ("Conv2d", "BatchNorm2d", "sequential") in pairs(tmp_path, code.format(flag="True"))
    # A flag the callers set both ways: the conv also exists without BN, so no pair.
    both = code.format(flag="False") + "\nmake([8], batch_norm=True)\nmake([8], batch_norm=False)\n"
    assert ("Conv2d", "BatchNorm2d", "sequential") not in pairs(tmp_path, both)


def test_forward_chain_straight_line_nested_and_with(tmp_path):
    got = pairs(tmp_path, """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.bn = nn.BatchNorm2d(8)
                self.fc = nn.Linear(8, 8)
                self.bn1 = nn.BatchNorm1d(8)

            def forward(self, x):
                y = self.conv(x)
                y = self.bn(y)
                with torch.no_grad():
                    z = F.dropout(x, 0.1)
                    z = self.bn(z)
                return self.bn1(self.fc(y.mean((2, 3))))
    """)
    assert sorted(got) == [("Conv2d", "BatchNorm2d", "forward"), ("Linear", "BatchNorm1d", "forward"),
                           ("dropout", "BatchNorm2d", "forward")]


def test_forward_chain_is_cut_by_branches_and_other_ops(tmp_path):
    got = pairs(tmp_path, """
        import torch.nn as nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.bn = nn.BatchNorm2d(8)
                self.use_bn = True

            def forward(self, x):
                x = self.conv(x)
                if self.use_bn:
                    x = self.bn(x)
                y = self.conv(x).relu()
                y = self.bn(y)
                return x + y
    """)
    assert got == []


def _bn_sites(tmp_path, code, var="model"):
    module, analysis = analyse(tmp_path, textwrap.dedent(code))
    values = analysis.resolver.lookup(var, analysis.resolver.ctx_for(module.scope), 0)
    return analysis, [s for v in values for s in analysis.layers.bn_sites(v)]


def test_bn_arguments_keyword_positional_partial(tmp_path):
    analysis, sites = _bn_sites(tmp_path, """
        from functools import partial
        import torch.nn as nn

        Norm = partial(nn.BatchNorm2d, track_running_stats=False)

        class Net(nn.Module):
            def __init__(self, norm_layer=Norm):
                super().__init__()
                self.a = nn.BatchNorm1d(8, 1e-3, 0.99, True, False)
                self.b = norm_layer(8)
                self.c = nn.LazyBatchNorm2d(1e-3, 0.3)
                self.d = nn.BatchNorm2d(8, **{"momentum": 0.5})

            def forward(self, x):
                return self.d(self.c(self.b(x))) + self.a(x)

        model = Net()
    """)
    layers = analysis.layers
    values = []
    for s in sites:
        entry = {}
        for arg in ("momentum", "track_running_stats"):
            state, expr, ctx = layers.bn_argument(s, arg)
            entry[arg] = layers.const_values(expr, ctx) if state == "given" else state
        values.append(entry)
    assert {"momentum": [0.99], "track_running_stats": [False]} in values
    assert {"momentum": ABSENT, "track_running_stats": [False]} in values  # through the partial
    assert {"momentum": [0.3], "track_running_stats": ABSENT} in values  # Lazy: no num_features
    assert {"momentum": UNREADABLE, "track_running_stats": UNREADABLE} in values


def test_bn_sites_follow_helpers_and_containers(tmp_path):
    _analysis, sites = _bn_sites(tmp_path, """
        import torch.nn as nn
        import torchvision

        def block(c):
            return nn.Sequential(nn.Conv2d(c, c, 3, bias=False), nn.SyncBatchNorm(c))

        model = nn.Sequential(block(8), nn.GroupNorm(2, 8), torchvision.models.resnet18())
    """)
    assert sorted((s.qualname, s.external) for s in sites) == [
        ("torch.nn.SyncBatchNorm", False), ("torchvision.models.resnet18", True)]


# -- BN401 autofix ---------------------------------------------------------------------------
def _apply(text: str, edits) -> str:
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        text = text[:edit.start] + edit.text + text[edit.end:]
    return text


@pytest.mark.parametrize("before,after", [
    ("nn.Conv2d(3, 64, 3, padding=1)", "nn.Conv2d(3, 64, 3, padding=1, bias=False)"),
    ("nn.Conv2d(3, 64, 3, bias=True)", "nn.Conv2d(3, 64, 3, bias=False)"),
    ("nn.Linear(\n        128,\n        64,\n    )", "nn.Linear(\n        128,\n        64, bias=False,\n    )"),
])
def test_bn401_autofix_turns_the_bias_off(tmp_path, before, after):
    bn = "nn.BatchNorm1d(64)" if "Linear" in before else "nn.BatchNorm2d(64)"
    path = tmp_path / "net.py"
    path.write_text(f"import torch.nn as nn\n\nnet = nn.Sequential(\n    {before},\n    {bn},\n)\n", encoding="utf-8")
    result = lint([path], select=["BN401"])
    [finding] = result.findings
    assert finding.autofix is not None and not finding.autofix.safe  # changes the state_dict
    fixed = _apply(path.read_text(encoding="utf-8"), finding.autofix.edits)
    assert after in fixed
    path.write_text(fixed, encoding="utf-8")
    assert not lint([path], select=["BN401"]).findings


def test_bn401_no_autofix_for_a_variable_bias(tmp_path):
    path = tmp_path / "net.py"
    path.write_text("import torch.nn as nn\nUSE_BIAS = True\n"
                    "net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=USE_BIAS), nn.BatchNorm2d(8))\n", encoding="utf-8")
    [finding] = lint([path], select=["BN401"]).findings
    assert finding.autofix is None


# -- pre-filter contract -----------------------------------------------------------------------
def _copy_fixtures(dest):
    """This task's fixtures under a small project root (a copy: the index stays small and fast)."""
    (dest / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    folders = [FIXTURES / code for code in MY_CODES] + sorted((FIXTURES / "projects").glob("bn[34]*"))
    for folder in folders:
        shutil.copytree(folder, dest / folder.name, ignore=shutil.ignore_patterns("__pycache__"))
    return python_files(dest)


def test_prefilter_does_not_change_results(tmp_path, monkeypatch):
    files = _copy_fixtures(tmp_path)
    with_filter = found(lint(files, select=MY_CODES))
    monkeypatch.setattr(Rule, "wants", lambda self, source, seen=None: True)
    without_filter = found(lint(files, select=MY_CODES))
    assert with_filter == without_filter
    assert len(with_filter) >= 50  # the fixtures do produce findings


def test_forward_pair_is_not_exclusive_when_the_output_is_reused(tmp_path):
    module, analysis = analyse(tmp_path, textwrap.dedent("""
        import torch.nn as nn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.bn = nn.BatchNorm2d(8)

            def forward(self, x):
                x = self.conv(x)
                x = self.bn(x)
                y = self.conv(x)
                z = self.bn(y)
                return z + y
    """))
    got = [(module.line(p.where), p.exclusive) for p in analysis.layers.adjacent_pairs(module)
           if p.second.kind == "bn"]
    assert got == [(12, True), (14, False)]


def test_two_calls_of_a_factory_with_a_nested_class_have_their_own_bn(tmp_path):
    # The nested block reads the factory's ``use_bn``: one call builds BN and the other does not,
    # although both objects come from the same constructor call inside the factory (whichever is
    # asked first must not decide for the other).
    module, analysis = analyse(tmp_path, textwrap.dedent("""
        import torch.nn as nn

        def make_net(use_bn=True):
            class Block(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = nn.Conv2d(3, 8, 3)
                    if use_bn:
                        self.bn = nn.BatchNorm2d(8)

                def forward(self, x):
                    x = self.conv(x)
                    return self.bn(x) if use_bn else x
            return Block()

        with_bn = make_net(use_bn=True)
        without_bn = make_net(use_bn=False)
        """))
    ctx = analysis.resolver.ctx_for(module.scope)

    def has_bn(name):
        return [analysis.bn.has_bn(v) for v in analysis.resolver.lookup(name, ctx, 0)]

    assert has_bn("with_bn") == [True]
    assert has_bn("without_bn") == [False]
