"""Reach of the shared step analysis behind BN101/BN102: object state, update segments, a model's own
``forward``, helpers in other files, and the pre-filter that lets a model file host its findings."""
from __future__ import annotations

import textwrap

import libcst as cst

from bnlint.analysis.context import Analysis
from bnlint.analysis.values import Instance
from bnlint.index import ProjectIndex
from bnlint.rules.triggers import STEP_OR_FORWARD

from .helpers import analysed_module, lint

GAN = """
import torch
import torch.nn as nn
import torch.nn.functional as F

D = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))
G = nn.Sequential(nn.Linear(4, 2))
opt_d = torch.optim.Adam(D.parameters())
opt_g = torch.optim.Adam(G.parameters())
"""


def _write(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")


def _analyse(tmp_path, body: str):
    path = tmp_path / "script.py"
    path.write_text(GAN + textwrap.dedent(body), encoding="utf-8")
    index = ProjectIndex(str(tmp_path))
    return Analysis(index), index.module(str(path))


def test_object_state_is_followed_across_methods(tmp_path):
    analysis, module = _analyse(tmp_path, """
        class Trainer:
            def set_input(self, batch):
                self.real = batch[0]

            def generate(self):
                self.fake = G(torch.randn(4, 4))

            def probe_all(self):
                probe(self.real)
                probe(self.fake)

        def fit(loader):
            t = Trainer()
            for batch in loader:
                t.set_input(batch)
                t.generate()
                t.probe_all()
    """)
    scope = next(s for s in module.scopes if s.name == "Trainer.probe_all")
    ctx = analysis.resolver.ctx_for(scope)
    real, fake = [analysis.steps.prov.of(site.call.args[0].value, ctx) for site in scope.calls
                  if isinstance(site.call.func, cst.Name) and site.call.func.value == "probe"]
    assert real.pure and not real.parts[0].generated and real.parts[0].origin.label == "`loader`"
    assert fake.pure and fake.parts[0].generated


def test_optimizer_steps_split_a_step_into_updates(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def train(loader, sched):
            for real, _ in loader:
                fake = G(torch.randn(4, 4))
                g = D(fake).mean()
                opt_g.step()
                sched.step()  # resolved to nothing: counts as an optimizer step
                r = D(real).mean()
                f = D(fake.detach()).mean()
                (r + f).backward()
                opt_d.step()
    """)
    steps = analysis.steps
    ((_scope, forwards, _across),) = steps.steps(module)
    (group,) = [g for g in steps.bn_model_uses(forwards) if g.callee == "D"]
    segments = {module.line(u.anchor.call): steps.segment(u) for u in group.uses}
    lines = sorted(segments)
    assert [segments[line] for line in lines] == [0, 2, 2]


def test_scheduler_step_is_not_an_update_boundary(tmp_path):
    analysis, module = _analyse(tmp_path, """
        sched = torch.optim.lr_scheduler.StepLR(opt_d, 10)

        def train(loader):
            for real, _ in loader:
                r = D(real).mean()
                sched.step()
                f = D(G(torch.randn(4, 4))).mean()
                (r + f).backward()
                opt_d.step()
    """)
    steps = analysis.steps
    ((_scope, forwards, _across),) = steps.steps(module)
    (group,) = [g for g in steps.bn_model_uses(forwards) if g.callee == "D"]
    assert {steps.segment(u) for u in group.uses} == {0}


def test_prefilter_keeps_a_model_file_without_a_training_step():
    assert STEP_OR_FORWARD.search("class Net(nn.Module):\n    def forward(self, a, b):\n        pass\n")
    assert not STEP_OR_FORWARD.search("def forward_pass(x):\n    return x\n")


_MODEL_FORWARD_PROJECT = {
    "models.py": """
        import torch.nn as nn
        import torchvision


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.trunk = torchvision.models.resnet18()

            def forward(self, a, b):
                return self.trunk(a), self.trunk(b)
    """,
    "train.py": """
        import torch
        from models import Net


        def train(src_loader, tgt_loader):
            net = Net()
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            for (xs, _), (xt, _) in zip(src_loader, tgt_loader):
                ys, yt = net(xs, xt)
                (ys.sum() + yt.sum()).backward()
                opt.step()
    """,
}


def test_forward_of_a_model_in_another_file_reports_there_with_the_loop_related(tmp_path):
    _write(tmp_path, _MODEL_FORWARD_PROJECT)
    alone_model = lint([tmp_path / "models.py"], select=["BN101"])
    alone_train = lint([tmp_path / "train.py"], select=["BN101"])
    both = lint([tmp_path], select=["BN101"])
    assert not alone_train.findings
    (finding,) = alone_model.findings
    assert finding.line == 12 and "in the `forward` of `net`" in finding.message
    assert any(r.path.endswith("train.py") and r.line == 10 for r in finding.related)
    assert [(f.path, f.line) for f in both.findings] == [(finding.path, finding.line)]


def test_related_places_are_written_as_the_linted_paths_are(tmp_path, monkeypatch):
    # Absolute arguments give absolute paths everywhere in a finding; relative ones relative paths
    # (a module read for the analysis is shown like the file it was read for).
    _write(tmp_path, _MODEL_FORWARD_PROJECT)
    (absolute,) = lint([tmp_path], select=["BN101"]).findings
    assert absolute.path == str(tmp_path / "models.py")
    assert str(tmp_path / "train.py") in {r.path for r in absolute.related}
    assert {r.path for r in absolute.related} <= {str(tmp_path / "train.py"), str(tmp_path / "models.py")}
    monkeypatch.chdir(tmp_path)
    (relative,) = lint(["."], select=["BN101"]).findings
    assert relative.path == "models.py"
    assert "train.py" in {r.path for r in relative.related} and {r.path for r in relative.related} <= {"train.py", "models.py"}


def test_generator_step_discriminator_call_is_not_paired_with_the_discriminator_step(tmp_path):
    _write(tmp_path, {"gan.py": GAN + textwrap.dedent("""
        def train(loader, pool):
            for real, _ in loader:
                fake = G(torch.randn(4, 4))
                F.softplus(-D(fake)).mean().backward()
                opt_g.step()
                d = F.softplus(-D(real)).mean() + F.softplus(D(pool.query(fake))).mean()
                d.backward()
                opt_d.step()
    """)})
    assert not lint([tmp_path / "gan.py"], select=["BN102"]).findings


def test_editing_the_training_loop_rechecks_the_model_file_from_the_cache(tmp_path):
    from bnlint.config import Config
    from bnlint.engine import lint_paths

    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    models = """
        import torch.nn as nn
        import torchvision


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.trunk = torchvision.models.resnet18()

            def forward(self, a, b):
                return self.trunk(a), self.trunk(b)
    """
    train = """
        import torch
        from models import Net


        def train(src_loader, tgt_loader):
            net = Net()
            opt = torch.optim.SGD(net.parameters(), lr=0.1)
            for (xs, _), (xt, _) in zip(src_loader, tgt_loader):
                ys, yt = net({a}, {b})
                (ys.sum() + yt.sum()).backward()
                opt.step()
    """
    _write(tmp_path, {"models.py": models, "train.py": train.format(a="xs", b="xt")})

    def run():
        return [f.line for f in lint_paths([str(tmp_path / "models.py")], Config(select=["BN101"]), jobs=1,
                                           cache=True).findings]

    assert run() == [12]
    assert run() == [12]  # from the cache
    _write(tmp_path, {"train.py": train.format(a="xs", b="xs")})  # one source: nothing to report
    assert run() == []


NETWORK_CALLS = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class TensorLoss(nn.Module):
    def forward(self, fm_s, fm_t):
        return F.mse_loss(self.gram(fm_s), self.gram(fm_t)) + (fm_s - fm_t).pow(2)[fm_s > 0].mean()

    def gram(self, fm):
        fm = fm.view(fm.size(0), -1)
        return torch.mm(fm, fm.t())


class Plugin(nn.Module):
    def forward(self, student, images):
        return student(images).mean()


class Trunked(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(4, 4)

    def forward(self, a, b):
        return self.helper(a) + self.helper(b)

    def helper(self, x):
        return self.trunk(x)


class Layered(nn.Module):
    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
"""


def test_a_forward_of_tensor_arithmetic_runs_no_network(tmp_path):
    # A distillation loss's ``forward`` (module functions, tensor methods, its own helper methods) runs
    # no network, so the step analysis need not follow it; one that calls a model it is handed, a
    # submodule (also through a helper method) or a layer taken from a loop does.
    analysis, info = analysed_module(tmp_path, NETWORK_CALLS)
    runs = {}
    for name, cls in info.classes.items():
        runs[name] = analysis.training.may_run_network(cls.methods["forward"], Instance(cls, info))
    assert runs == {"TensorLoss": False, "Plugin": True, "Trunked": True, "Layered": True}
