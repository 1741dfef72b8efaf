"""Property tests: on any valid program, every rule selected, bnlint never raises and
reports only findings or per-file error entries (never an internal error).
"""
from __future__ import annotations

import os
import tempfile

import hypothesmith
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnlint.discovery import Target
from bnlint.engine import Linter
from bnlint.findings import FileError, Finding
from bnlint.parsing import ensure_recursion_headroom
from bnlint.rules import ALL_RULES

ensure_recursion_headroom()  # what every Linter does; done up front so Hypothesis sees a stable limit

ALL_CODES = [r.code for r in ALL_RULES]
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _lint_text(text: str):
    with tempfile.TemporaryDirectory() as root:
        path = os.path.join(root, "generated.py")
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return Linter(root, ALL_CODES).lint_file(Target(path, "generated.py"))


def _assert_only_findings_or_file_errors(result, text: str) -> None:
    assert all(isinstance(f, Finding) for f in result.findings)
    assert all(isinstance(e, FileError) and e.kind in ("read", "parse") for e in result.errors), \
        (result.errors, text)
    n_lines = text.count("\n") + 1
    assert all(1 <= f.line <= n_lines for f in result.findings)


@SETTINGS
@given(hypothesmith.from_grammar())
def test_generated_programs_never_crash_bnlint(source):
    _assert_only_findings_or_file_errors(_lint_text(source), source)


@SETTINGS
@given(hypothesmith.from_node())
def test_generated_syntax_trees_never_crash_bnlint(source):
    _assert_only_findings_or_file_errors(_lint_text(source), source)


# Training-script-like programs: the constructs the rules reason about, combined at random.
_MODELS = st.sampled_from([
    "model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())",
    "model = nn.Sequential(nn.Linear(4, 8), nn.GroupNorm(2, 8))",
    "model = torchvision.models.resnet18()",
    "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.bn = nn.BatchNorm1d(4)\n    def forward(self, x):\n        return self.bn(x)\nmodel = Net()",
    "model = DDP(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))",
    "swa = AveragedModel(model)",
])
_LOADERS = st.sampled_from([
    "loader = DataLoader(ds, batch_size=8)",
    "loader = DataLoader(ds, batch_size=1, shuffle=True)",
    "loader = DataLoader(ds, batch_size=args.bs, shuffle=args.shuffle)",
    "loader = DataLoader(ds, sampler=DistributedSampler(ds))",
    "real_loader, fake_loader = DataLoader(a), DataLoader(b)",
    "loader = zip(DataLoader(a), DataLoader(b))",
])
_STEPS = st.sampled_from([
    "out = model(x)", "out = torch.cat([model(x), model(y)])", "loss = crit(model(xa), ya) + crit(model(xb), yb)",
    "loss.backward()", "opt.step()", "opt.zero_grad()", "model.eval()", "model.train()",
    "with torch.no_grad():\n    model(x)", "d_real = D(real); d_fake = D(fake.detach())",
    "for p in model.parameters():\n    p.requires_grad = False", "x = checkpoint(model, x)",
    "update_bn(loader, swa)", "if epoch % 2:\n    model.eval()\nelse:\n    model.train()",
])
_HEADER = ("import torch\nimport torch.nn as nn\nimport torchvision\nfrom torch.utils.data import DataLoader, "
           "DistributedSampler\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n"
           "from torch.optim.swa_utils import AveragedModel, update_bn\n"
           "from torch.utils.checkpoint import checkpoint\n")


@st.composite
def training_scripts(draw):
    parts = [_HEADER, draw(_MODELS), draw(_LOADERS)]
    body = "\n".join(draw(st.lists(_STEPS, min_size=1, max_size=8)))
    loop_head = draw(st.sampled_from(["for x, y in loader:", "for epoch in range(3):\n    for x, y in loader:",
                                      "def train(loader):\n    for x, y in loader:"]))
    indent = "    " * (loop_head.count(":"))
    parts.append(loop_head + "\n" + "\n".join(indent + line for line in body.splitlines()))
    if loop_head.startswith("def"):
        parts.append("train(loader)")
    return "\n".join(parts) + "\n"


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(training_scripts())
def test_generated_training_scripts_never_crash_bnlint(source):
    _assert_only_findings_or_file_errors(_lint_text(source), source)
    assert not _lint_text(source).errors  # valid, ordinary code: no error entry either
