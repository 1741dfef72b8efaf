"""The train/eval mode analysis (bnlint/analysis/modes.py) on real parsed files."""
from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from bnlint.analysis.context import Analysis
from bnlint.analysis.modes import (
    S_DEFAULT, S_EVAL, S_FRESH, S_UNKNOWN, S_USED, relation,
)
from bnlint.analysis.syntax import loop_data_names
from bnlint.index import ProjectIndex
from bnlint.rules import ALL_RULES
from tests.helpers import FIXTURES, found, lint, python_files

HEADER = """\
import copy
import torch
import torch.nn as nn


def make():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


"""


def _analyse(tmp_path, body: str):
    path = tmp_path / "script.py"
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    return analysis, index.module(str(path))


def _probe_states(analysis, module, scope_name="main"):
    """States of the model at the call ``probe(model)`` (a marker) in ``scope_name``."""
    scope = next(s for s in module.scopes if s.name == scope_name)
    ctx = analysis.resolver.ctx_for(scope)
    probe = next(s for s in scope.calls if isinstance(s.call.func, cst.Name) and s.call.func.value == "probe")
    model_expr = probe.call.args[0].value
    target = analysis.modes.target_of_expr(model_expr, ctx, analysis.resolver.resolve(model_expr, ctx))
    assert target, "the probed model must resolve"
    return analysis.modes.states_at(scope, probe.call, ctx, target)


@pytest.mark.parametrize("switch,expected", [
    ("model.eval()", {S_EVAL}),
    ("model.train(False)", {S_EVAL}),
    ("model.train(mode=False)", {S_EVAL}),
    ("model.train()", {S_FRESH}),
    ("model.train(True)", {S_FRESH}),
    ("model.train(flag)", {S_UNKNOWN}),
    ("model.apply(lambda m: None)", {S_UNKNOWN}),
    ("pass", {S_DEFAULT}),
])
def test_mode_calls(tmp_path, switch, expected):
    analysis, module = _analyse(tmp_path, f"""
        def main(flag):
            model = make()
            {switch}
            probe(model)



    """)
    assert _probe_states(analysis, module) == expected


def test_training_after_train_marks_train_mode_as_used(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def main():
            model = make()
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model.train()
            for x, y in [(torch.randn(2, 4), torch.randn(2, 2))]:
                opt.zero_grad()
                nn.functional.mse_loss(model(x), y).backward()
                opt.step()
            probe(model)
    """)
    assert _probe_states(analysis, module) == {S_USED}


def test_guarded_switch_adds_a_possibility(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def main(verbose):
            model = make()
            model.train()
            if verbose:
                model.eval()
            probe(model)
    """)
    assert _probe_states(analysis, module) == {S_FRESH, S_EVAL}


def test_switch_on_another_model_or_a_deepcopy_does_not_count(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def main():
            model = make()
            other = make()
            ema = copy.deepcopy(model)
            other.eval()
            ema.eval()
            probe(model)
    """)
    assert _probe_states(analysis, module) == {S_DEFAULT}


def test_helper_that_switches_is_followed_with_its_arguments(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def evaluate(net):
            net.eval()
            return 0


        def main():
            model = make()
            model.train()
            evaluate(model)
            probe(model)
    """)
    assert _probe_states(analysis, module) == {S_EVAL}


def test_may_switch_follows_helpers_as_deep_as_the_events_do(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def deep(net):
            net.eval()


        def middle(net):
            deep(net)


        def outer(net):
            middle(net)


        def log(net):
            print(net)


        def main():
            model = make()
            for step in range(3):
                log(model)
            for step in range(3):
                outer(model)
    """)
    scope = next(s for s in module.scopes if s.name == "main")
    quiet, switching = scope.loops
    ctx = analysis.resolver.ctx_for(scope)
    assert not analysis.modes.may_switch(scope, quiet, ctx)
    assert analysis.modes.may_switch(scope, switching, ctx)
    # Three helpers down is as deep as the events go: the switch is an event there too.
    target = analysis.modes.target(analysis.resolver.resolve(cst.Name("model"), ctx))
    call = next(s.call for s in scope.calls if switching in s.loops)
    assert analysis.modes.iteration_states(scope, call, switching, ctx, target)[1] is call


def test_caller_switch_reaches_the_callee(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def check(net):
            probe(net)


        def main():
            model = make()
            model.eval()
            check(model)


        main()
    """)
    assert _probe_states(analysis, module, "check") == {S_EVAL}


def test_loop_carried_switch_reaches_the_next_iteration(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def main():
            model = make()
            model.train()
            for epoch in range(3):
                probe(model)
                model.eval()
    """)
    assert _probe_states(analysis, module) == {S_FRESH, S_EVAL}


def test_overridden_train_keeps_the_backbone_in_eval(tmp_path):
    analysis, module = _analyse(tmp_path, """
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = make()
                self.head = nn.Linear(2, 2)

            def train(self, mode=True):
                super().train(mode)
                self.backbone.eval()
                return self


        def main():
            model = Net()
            model.train()
            probe(model.backbone)
    """)
    assert _probe_states(analysis, module) == {S_EVAL}


def test_relation_of_model_parts():
    model = ("inst", 1, 2)
    backbone = ("sub", model, "backbone")
    wrapped = ("sub", model, "module")  # DataParallel(model).module is the model
    assert relation(model, backbone) == "covers"
    assert relation(backbone, model) == "inside"
    assert relation(wrapped, model) == "covers"
    assert relation(("inst", 1, None), model) == "covers"  # `self` inside the class's methods
    assert relation(("ext", 9), model) is None


def test_no_grad_contexts_and_data_names(tmp_path):
    analysis, module = _analyse(tmp_path, """
        @torch.no_grad()
        def decorated(model, loader):
            for batch in loader:
                inputs = batch[0].float()
                model(inputs)


        def with_block(model, loader):
            with torch.inference_mode():
                for i in range(3):
                    model(torch.zeros(1, 4))


        def plain(model, loader):
            for x in loader:
                model(x)


        m = make()
        decorated(m, [])
        with_block(m, [])
        plain(m, [])
    """)
    results = {}
    for name in ("decorated", "with_block", "plain"):
        scope = next(s for s in module.scopes if s.name == name)
        loop = scope.loops[0]
        fcs = analysis.training.loop_forward_calls(loop, scope)
        results[name] = (any(analysis.modes.grad_disabled(fc) for fc in fcs),
                         loop_data_names(module, scope, loop))
    assert results["decorated"] == (True, frozenset({"batch", "inputs"}))
    assert results["with_block"] == (True, frozenset({"i"}))
    assert results["plain"][0] is False


BN2_RULES = [r for r in ALL_RULES if r.code.startswith("BN2")]


def test_prefilter_does_not_change_results(monkeypatch):
    """The pre-filter is an optimisation only: every rule, the whole fixture suite (single files,
    projects, the clean corpus), the same findings with and without it."""
    files = python_files(FIXTURES)
    with_filter = found(lint(files, select=["ALL"]))
    monkeypatch.setenv("BNLINT_NO_PREFILTER", "1")
    without_filter = found(lint(files, select=["ALL"]))
    assert with_filter == without_filter
    assert {code for _, _, code in with_filter} >= {r.code for r in ALL_RULES if r.default_enabled}


# Each clean BN2xx script is silent for a reason: undo that one line and the rule fires.
MUTATIONS = [
    ("bn2_finetune_frozen_backbone.py", "        self.backbone.eval()  # frozen: keep its BatchNorm statistics fixed\n",
     "        pass\n", "BN203"),
    ("bn2_classification_swa_ema.py", "    update_bn(train_loader, swa_model)\n", "    pass\n", "BN204"),
    ("bn2_classification_swa_ema.py", "    model.eval()\n", "    pass\n", "BN201"),
    ("bn2_trainer_and_inference.py", "        self.model.train(was_training)\n", "        pass\n", "BN202"),
    ("bn2_trainer_and_inference.py", "    return model.eval()\n", "    return model\n", "BN201"),
    ("bn2_finetune_frozen_backbone.py", "checkpoint(self.neck, tokens", "checkpoint(self.backbone.layer4, tokens",
     "BN205"),
]


@pytest.mark.parametrize("name,old,new,code", MUTATIONS, ids=[f"{m[3]}-{m[0]}" for m in MUTATIONS])
def test_clean_scripts_fire_without_their_safeguard(tmp_path, name, old, new, code):
    text = (FIXTURES / "clean" / name).read_text(encoding="utf-8")
    assert text.count(old) == 1
    mutated = tmp_path / name
    mutated.write_text(text.replace(old, new), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    assert {c for _, _, c in found(lint([mutated], select=[r.code for r in BN2_RULES]))} == {code}


FACTORY = """
class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3)


def get_model(name):
    if name == "conv":
        model = Conv()
    elif name == "conv_bn":
        model = make()
    else:
        model = Plain()
    return model


def main(g_name, d_name):
    G = get_model(g_name)
    D = get_model(d_name)
    G.train()
    D.train()
    G(x)
"""


def test_a_model_from_a_multi_branch_factory_is_its_own_receiver(tmp_path):
    # ``G`` may be any of three classes, two with BN: ``G.train()`` switches it, whichever it is;
    # ``D``, made by another call of the same factory, is another object.
    analysis, module = _analyse(tmp_path, FACTORY)
    scope = next(s for s in module.scopes if s.name == "main")
    ctx = analysis.resolver.ctx_for(scope)
    modes = analysis.modes
    forward = next(site.call for site in scope.calls
                   if isinstance(site.call.func, cst.Name) and site.call.func.value == "G")
    values = [v for v in analysis.resolver.resolve(forward.func, ctx) if analysis.bn.has_bn(v)]
    assert len(values) == 2
    target = modes.target_of_expr(forward.func, ctx, values)
    receivers = {site.call.func.value.value: site.call.func.value for site in scope.calls
                 if isinstance(site.call.func, cst.Attribute) and site.call.func.attr.value == "train"}
    assert modes.receiver_relation(receivers["G"], ctx, target) == "covers"
    assert modes.receiver_relation(receivers["D"], ctx, target) == "other"
