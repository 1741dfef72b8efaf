"""Reach across files for the catalogue rules and the shared analysis: an argparse parser built in
another module, a model method that freezes its own backbone, DomainBed's per-domain minibatches."""
from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst

from .helpers import expectations, found, lint


def _project(tmp_path: Path, files: dict) -> list:
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    paths = []
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        paths.append(path)
    return paths


def _expected(paths, code):
    return set().union(*(expectations(p, code) for p in paths))


PARSER = """
import argparse


def add_common(parser):
    parser.add_argument("--batch_size", type=int, default={batch})
    return parser


def get_training_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=1e-3)
    return add_common(parser)
"""

TRAINER = """
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from options import get_training_parser

parser = get_training_parser()
args = parser.parse_args()
model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
opt = torch.optim.SGD(model.parameters(), lr=args.lr)


def train(dataset):
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)  # {marker}
    model.train()
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def test_bn104_reads_the_default_of_a_parser_built_in_another_module(tmp_path):
    paths = _project(tmp_path, {"options.py": PARSER.format(batch=1),
                                "trainer.py": TRAINER.format(marker="expect: BN104")})
    result = lint(paths, select=["BN104"])
    assert not result.errors
    assert found(result) == _expected(paths, "BN104") != set()


def test_bn104_silent_when_that_default_is_a_real_batch(tmp_path):
    paths = _project(tmp_path, {"options.py": PARSER.format(batch=16),
                                "trainer.py": TRAINER.format(marker="batch of 16")})
    result = lint(paths, select=["BN104"])
    assert not result.errors and found(result) == set()


MODELS = """
import torch.nn as nn
import torchvision


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = torchvision.models.resnet101()

    def forward(self, images):
        return self.resnet(images)

    def fine_tune(self, fine_tune=True):
        for p in self.resnet.parameters():
            p.requires_grad = fine_tune


class FrozenEncoder(Encoder):
    def fine_tune(self, fine_tune=True):
        for p in self.resnet.parameters():
            p.requires_grad = False
"""

CAPTION_TRAIN = """
import torch
from models import {cls}


def train(loader, decoder, epochs=10):
    encoder = {cls}()
    encoder.fine_tune(False){marker}
    opt = torch.optim.Adam(decoder.parameters(), lr=4e-4)
    for epoch in range(epochs):
        encoder.train()
        for imgs, caps in loader:
            loss = decoder(encoder(imgs), caps)
            opt.zero_grad()
            loss.backward()
            opt.step()
"""


def test_bn203_follows_a_freezing_method_defined_in_the_model_file(tmp_path):
    paths = _project(tmp_path, {"models.py": MODELS,
                                "train.py": CAPTION_TRAIN.format(cls="FrozenEncoder", marker="  # expect: BN203")})
    result = lint(paths, select=["BN203"])
    assert not result.errors
    assert found(result) == _expected(paths, "BN203") != set()


def test_bn203_decides_a_requires_grad_set_from_the_argument_per_call(tmp_path):
    # ``p.requires_grad = fine_tune``: ``encoder.fine_tune(False)`` freezes, ``fine_tune(True)`` does not.
    paths = _project(tmp_path, {"models.py": MODELS,
                                "train.py": CAPTION_TRAIN.format(cls="Encoder", marker="  # expect: BN203")})
    result = lint(paths, select=["BN203"])
    assert not result.errors
    assert found(result) == _expected(paths, "BN203") != set()

    unfrozen = CAPTION_TRAIN.format(cls="Encoder", marker="").replace("fine_tune(False)", "fine_tune(True)")
    (tmp_path / "unfrozen").mkdir()
    paths = _project(tmp_path / "unfrozen", {"models.py": MODELS, "train.py": unfrozen})
    result = lint(paths, select=["BN203"])
    assert not result.errors and found(result) == set()


ALGORITHMS = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet50


class CORAL(nn.Module):
    def __init__(self):
        super().__init__()
        self.featurizer = resnet50()
        self.featurizer.fc = nn.Identity()
        self.classifier = nn.Linear(2048, 7)
        self.opt = torch.optim.SGD(self.parameters(), lr=0.01)

    def update(self, minibatches):
        features = [self.featurizer(x) for x, _ in minibatches]  # expect: BN101
        loss = sum(F.cross_entropy(self.classifier(f), y) for f, (_, y) in zip(features, minibatches))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
"""

DG_TRAIN = """
from torch.utils.data import DataLoader
from algorithms import CORAL


def main(envs, steps=5000):
    train_loaders = [DataLoader(env, batch_size=32, shuffle=True) for env in envs]
    algorithm = CORAL()
    algorithm.train()
    iterator = zip(*train_loaders)
    for step in range(steps):
        minibatches = [(x.cuda(), y.cuda()) for x, y in next(iterator)]
        algorithm.update(minibatches)
"""


def test_bn101_per_domain_minibatches_zipped_in_the_training_script(tmp_path):
    paths = _project(tmp_path, {"algorithms.py": ALGORITHMS, "train.py": DG_TRAIN})
    result = lint(paths, select=["BN101"])
    assert not result.errors
    assert found(result) == _expected(paths, "BN101") != set()


REGISTRY = ALGORITHMS.replace("class CORAL(nn.Module):", '''class ERM(nn.Module):
    def update(self, minibatches):
        raise NotImplementedError


class CORAL(ERM):''') + '''

def get_algorithm_class(name):
    return globals()[name]
'''

REGISTRY_TRAIN = """
import argparse
from torch.utils.data import DataLoader
import algorithms

parser = argparse.ArgumentParser()
parser.add_argument("--algorithm", default="ERM")
args = parser.parse_args()


def main(envs, steps=5000):
    train_loaders = [DataLoader(env, batch_size=32, shuffle=True) for env in envs]
    algorithm = algorithms.get_algorithm_class(args.algorithm)()
    iterator = zip(*train_loaders)
    for step in range(steps):
        algorithm.update([(x.cuda(), y.cuda()) for x, y in next(iterator)])
"""


def test_bn101_override_reached_through_a_globals_registry_and_the_base_method(tmp_path):
    # ``algorithm`` resolves to the argparse default's class (ERM); CORAL.update overrides
    # ERM.update, so the base method's call site is where CORAL's minibatches come from.
    paths = _project(tmp_path, {"algorithms.py": REGISTRY, "train.py": REGISTRY_TRAIN})
    result = lint(paths, select=["BN101"])
    assert not result.errors
    assert found(result) == _expected(paths, "BN101") != set()


def test_a_global_reassigned_in_the_function_keeps_its_module_value_possible(tmp_path):
    # ``global checkpoint``: the function's own assignment (``torch.load``) further down is not the
    # value its guard sees. Only ``main`` rebinds it, so on entry it is the module's None: the
    # guard holds (a second function rebinding it makes it undecided: ``test_reaching``).
    from bnlint.analysis.context import Analysis
    from bnlint.index import ProjectIndex

    (path,) = _project(tmp_path, {"script.py": """
        import torch

        checkpoint = None


        def main():
            global checkpoint
            if checkpoint is None:
                start = 0
            else:
                checkpoint = torch.load(checkpoint)
    """})
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    index.start_file()
    module = index.module(str(path))
    main = next(s for s in module.scopes if s.name == "main")
    test = next(node for node in module.parents if isinstance(node, cst.If)).test
    assert analysis.resolver.const(test, analysis.resolver.ctx_for(main)) is True
    plain = next(s for s in module.scopes if s.name == "<module>")
    assert analysis.resolver.const(cst.parse_expression("checkpoint is None"), analysis.resolver.ctx_for(plain)) is True


def test_pre_0_4_async_arguments_are_analysed_but_never_fixed(tmp_path):
    # ``x.cuda(async=True)``: valid before Python 3.7, common in old training code. The analysis reads
    # a same-length renamed copy; no fix is offered (the fixed file could not be compiled to check it).
    fixture = Path(__file__).parent / "fixtures" / "BN103" / "pos_legacy_async_argument.py"
    (path,) = _project(tmp_path, {"old.py": fixture.read_text(encoding="utf-8")})
    result = lint([path], select=["BN103"])
    assert not result.errors
    assert found(result) == _expected([path], "BN103") != set()
    assert all(f.autofix is None for f in result.findings)


def test_async_elsewhere_is_still_a_syntax_error(tmp_path):
    (path,) = _project(tmp_path, {"bad.py": "import torch\nasync = torch.cuda.is_available()\n"})
    result = lint([path])
    assert [e.kind for e in result.errors] == ["parse"] and not result.findings


def test_the_model_named_is_the_one_trained_not_a_method_called_on_it(tmp_path):
    # ``D.zero_grad()`` is the first call on the model in the loop; the message names the network
    # (its class), never ``discriminator.zero_grad``.
    path = tmp_path / "gan.py"
    path.write_text(
        "import torch\n"
        "import torch.nn as nn\n"
        "from torch.utils.data import DataLoader, TensorDataset\n\n"
        "class discriminator(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.Linear(8, 1))\n\n"
        "    def forward(self, x):\n"
        "        return self.body(x)\n\n"
        "D = discriminator()\n"
        "opt = torch.optim.Adam(D.parameters())\n"
        "loader = DataLoader(TensorDataset(torch.randn(64, 4)), batch_size=16)\n"
        "for (x,) in loader:\n"
        "    D.zero_grad()\n"
        "    D(x).mean().backward()\n"
        "    opt.step()\n", encoding="utf-8")
    (finding,) = lint([path], select=["BN103"]).findings
    assert "`discriminator` (BatchNorm)" in finding.message and "zero_grad" not in finding.message
