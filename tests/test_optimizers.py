"""Which models an optimizer steps, read from its constructor's parameters (real parsed files)."""
from __future__ import annotations

import textwrap

import libcst as cst

from bnlint.analysis.context import Analysis
from bnlint.analysis.optimizers import stepped_models
from bnlint.analysis.provenance import model_key
from bnlint.index import ProjectIndex

HEADER = """
import itertools
import torch
import torch.nn as nn

G = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
P = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
D = nn.Sequential(nn.Linear(8, 1))
"""


_ALIVE: list = []  # what each test resolved, so that no id is reused while its keys are compared


def _stepped(tmp_path, body: str, name: str = "opt"):
    """(keys of G, P, D; what ``name`` steps) at the end of the module."""
    path = tmp_path / "script.py"
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    module = index.module(str(path))
    r = analysis.resolver
    ctx = r.ctx_for(module.scope)
    # (the resolved values are kept until the end: keys hold ids of the nodes they came from)
    values = {n: r.resolve(cst.parse_expression(n), ctx) for n in "GPD"}
    keys = {n: model_key(v) for n, v in values.items()}
    _ALIVE.append((index, module, values))
    return keys, stepped_models(r, cst.parse_expression(name), ctx)


def test_chained_parameters_of_two_models(tmp_path):
    keys, stepped = _stepped(tmp_path, """
        opt = torch.optim.Adam(itertools.chain(G.parameters(), P.parameters()), lr=1e-3)
    """)
    assert stepped.keys == {keys["G"], keys["P"]} and stepped.complete


def test_parameter_list_through_a_name_and_parameter_groups(tmp_path):
    keys, stepped = _stepped(tmp_path, """
        lr = 1e-3
        params = list(G.parameters()) + [p for p in P.parameters() if p.requires_grad]
        opt = torch.optim.SGD([{"params": params, "lr": lr}, {"params": D.parameters()}], lr=lr)
    """)
    assert stepped.keys == {keys["G"], keys["P"], keys["D"]} and stepped.complete


def test_parameters_from_an_unknown_source_are_incomplete(tmp_path):
    keys, stepped = _stepped(tmp_path, """
        def build(extra):
            return torch.optim.Adam(list(G.parameters()) + extra, lr=1e-3)
        opt = build(get_params())
    """)
    assert stepped.keys == {keys["G"]} and not stepped.complete


def test_not_an_optimizer(tmp_path):
    _keys, stepped = _stepped(tmp_path, """
        opt = torch.optim.Adam(G.parameters())
        sched = torch.optim.lr_scheduler.StepLR(opt, 10)
    """, "sched")
    assert stepped is None
