"""Resolution reach found on real code: imports from a folder above the importer, a project
function named like a tensor method, and the message naming one loader once."""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

from bnlint.analysis.context import Analysis
from bnlint.index import ProjectIndex

from .helpers import analysed_module, expectations, found, lint


def _write(root: Path, files: dict) -> list:
    (root / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    out = []
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        out.append(path)
    return out


def test_an_import_resolves_from_a_folder_between_the_importer_and_the_root(tmp_path):
    # ``seg/models/factory.py`` imports ``models.nets``: a script in ``seg/`` puts ``seg/`` on sys.path.
    _write(tmp_path, {"seg/models/__init__.py": "", "seg/models/nets.py": "X = 1\n",
                      "seg/models/factory.py": "from models.nets import X\n"})
    index = ProjectIndex(str(tmp_path))
    importer = str(tmp_path / "seg" / "models" / "factory.py")
    assert index.resolve_module("models.nets", importer) == str((tmp_path / "seg" / "models" / "nets.py").resolve())
    assert index.resolve_module("models.absent", importer) is None


def test_a_module_next_to_the_importer_wins_over_a_folder_of_that_name_above_it(tmp_path):
    # ``uda/DSAN/main.py``: ``from DSAN import DSAN`` is the class in ``uda/DSAN/DSAN.py`` (the
    # script's folder is first on sys.path), not the module ``DSAN.DSAN`` seen from ``uda/``.
    _write(tmp_path, {"uda/DSAN/DSAN.py": "class DSAN:\n    pass\n", "uda/DSAN/main.py": "from DSAN import DSAN\n"})
    index = ProjectIndex(str(tmp_path))
    importer = str(tmp_path / "uda" / "DSAN" / "main.py")
    assert index.resolve_module("DSAN.DSAN", importer) is None
    assert index.resolve_module("DSAN", importer) == str((tmp_path / "uda" / "DSAN" / "DSAN.py").resolve())


def test_a_module_named_like_its_package_does_not_hide_the_package(tmp_path):
    # ``code/dg/alg/alg.py`` imports ``alg.algs.erm``: the ``alg`` it means is its own package,
    # as the script in ``code/dg/`` sees it, not the file ``alg.py`` itself.
    _write(tmp_path, {"code/dg/alg/__init__.py": "", "code/dg/alg/algs/__init__.py": "",
                      "code/dg/alg/algs/erm.py": "class ERM:\n    pass\n",
                      "code/dg/alg/alg.py": "from alg.algs.erm import ERM\n"})
    index = ProjectIndex(str(tmp_path))
    importer = str(tmp_path / "code" / "dg" / "alg" / "alg.py")
    assert index.resolve_module("alg.algs.erm", importer) == str(
        (tmp_path / "code" / "dg" / "alg" / "algs" / "erm.py").resolve())


def test_a_copy_of_torch_in_a_folder_of_the_tree_stays_torch(tmp_path):
    # ``vendor/torch/nn/modules/conv.py`` importing ``torch.nn.functional``: the analysis knows torch
    # by its qualified names, so a copy in the tree is never taken for the project's own package.
    _write(tmp_path, {"vendor/torch/__init__.py": "", "vendor/torch/nn/__init__.py": "",
                      "vendor/torch/nn/functional.py": "def relu(x):\n    return x\n",
                      "vendor/torch/nn/modules/conv.py": "import torch.nn.functional as F\n"})
    index = ProjectIndex(str(tmp_path))
    importer = str(tmp_path / "vendor" / "torch" / "nn" / "modules" / "conv.py")
    assert index.resolve_module("torch.nn.functional", importer) is None


def test_module_lookup_ends_when_the_root_is_the_file_system_root(tmp_path):
    index = ProjectIndex("/")  # two linted paths with nothing in common but "/"
    start = time.monotonic()
    assert index.resolve_module("no_such_package.mod", str(tmp_path / "a" / "b" / "c.py")) is None
    assert time.monotonic() - start < 5


MODELS = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                                  nn.LazyLinear(2))

    def forward(self, x):
        return self.body(x)
"""

UTILS = """
def cuda(xs):
    if isinstance(xs, (list, tuple)):
        return [x.cuda() for x in xs]
    return xs.cuda()
"""

TRAIN = """
import torch
import torch.nn.functional as F

import utils
from models import Net

model = utils.cuda(Net())
opt = torch.optim.SGD(model.parameters(), lr=0.1)


def train(src_loader, tgt_loader):
    for (xs, ys), (xt, _) in zip(src_loader, tgt_loader):
        xs, ys, xt = utils.cuda([xs, ys, xt])
        out_s = model(xs)  # expect: BN101
        out_t = model(xt)
        loss = F.cross_entropy(out_s, ys) + out_t.softmax(1).var()
        opt.zero_grad()
        loss.backward()
        opt.step()
"""


def test_a_project_function_named_like_a_tensor_method_is_followed(tmp_path):
    # ``utils.cuda(Net())`` is the project's helper, not ``Tensor.cuda`` on the module ``utils``;
    # ``utils.cuda([xs, ys, xt])`` hands back what it was given, each batch with its source.
    paths = _write(tmp_path, {"models.py": MODELS, "utils.py": UTILS, "train.py": TRAIN})
    result = lint(paths, select=["BN101"])
    assert not result.errors
    assert found(result) == expectations(paths[-1], "BN101") != set()
    message = result.findings[0].message
    assert "`xs` and `xt` of" not in message and "`src_loader`" in message and "`tgt_loader`" in message


def test_one_loader_is_named_once_for_its_two_domains(tmp_path):
    paths = _write(tmp_path, {"models.py": MODELS, "train.py": """
        import torch
        from models import Net

        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)


        def train(paired_loader_of_two_domains):
            for source, target in paired_loader_of_two_domains:
                loss = model(source[0]).mean() + model(target[0]).var()
                opt.zero_grad()
                loss.backward()
                opt.step()
    """})
    result = lint(paths, select=["BN101"])
    assert [f.line for f in result.findings] == [10]
    assert "gets batches from `source` and `target` of `paired_loader_of_two_…` in separate" in result.findings[0].message


def test_a_table_model_finding_names_the_candidate_with_batchnorm():
    # ``nets.NETS[args.arch]()``: one candidate has BN, the other none; the finding says which.
    project = Path(__file__).parent / "fixtures" / "projects" / "bn101_model_table"
    result = lint([project], select=["BN101"])
    (finding,) = result.findings
    notes = [r.message for r in finding.related]
    assert "`SmallCNN` has BatchNorm; 1 other candidate(s) for `model` have none" in notes


def test_truth_tells_a_known_none_from_an_unknown_value(tmp_path):
    # ``const`` answers None both for "the value None" and for "unknown"; conditions need the
    # difference: ``if args.resume:`` with ``default=None`` is known not to be taken.
    import libcst as cst

    from bnlint.analysis.context import Analysis

    (path,) = _write(tmp_path, {"script.py": """
        import argparse
        import os

        parser = argparse.ArgumentParser()
        parser.add_argument("--resume", default=None)
        parser.add_argument("--amp", action="store_true")
        parser.add_argument("--epochs", type=int, default=3)
        args = parser.parse_args()
        where = os.environ.get("WHERE")
    """})
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    index.start_file()
    module = index.module(str(path))
    ctx = analysis.resolver.ctx_for(module.scope)

    asked = []  # the memo is keyed by node identity: keep every parsed expression alive

    def truth(text):
        asked.append(cst.parse_expression(text))
        return analysis.resolver.truth(asked[-1], ctx)

    assert truth("args.resume") is False and analysis.resolver.const(asked[-1], ctx) is None
    assert truth("not args.resume") is True
    assert truth("args.epochs") is True and truth("args.amp") is False
    assert truth("where") is None and truth("not where") is None  # unknown stays unknown
    assert truth("args.amp and where") is False and truth("where and args.amp") is False
    assert truth("args.epochs or where") is True and truth("args.amp or where") is None
    assert truth("args.resume is None") is True


ISINSTANCE = """
import torch.nn as nn


class SyncBN(nn.BatchNorm2d):
    pass


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(4)


class Special(Tower):
    pass


def checks(tower, special, pick):
    a = isinstance(tower, nn.DataParallel)
    b = isinstance(tower, (nn.BatchNorm2d, SyncBN))
    for cls in [nn.BatchNorm1d, nn.BatchNorm2d]:
        c = isinstance(tower, cls)
    d = isinstance(special, Tower)
    e = isinstance(tower, Special)
    f = isinstance(pick, Tower)
    g = isinstance(tower, nn.Module)


checks(Tower(), Special(), Tower() if len(__file__) > 3 else 7)
"""


def test_isinstance_on_a_project_network_is_decided_when_every_value_and_class_is_known(tmp_path):
    # sync-BN's ``convert_model``: ``if isinstance(module, pth_module): mod = sync_module(...)`` is never
    # taken for a whole network, so what it returns is the network itself.
    _write(tmp_path, {"m.py": ISINSTANCE})
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    index.start_file()
    info = index.module(str(tmp_path / "m.py"))
    scope = info.functions["checks"]
    ctx = analysis.resolver.ctx_for(scope)
    tests = {name: bindings[0].expr for name, bindings in scope.bindings.items() if name in "abcdefg"}
    truth = {name: analysis.resolver.truth(expr, ctx) for name, expr in tests.items()}
    # an outside class other than nn.Module is never a base of a project network; a loop over classes
    # reads each; project classes by MRO; a value that may be a constant, or nn.Module itself: unknown
    assert truth == {"a": False, "b": False, "c": False, "d": True, "e": False, "f": None, "g": None}


def test_an_import_under_the_checkout_name_resolves_from_the_root(tmp_path):
    # ``from PytorchUNet.unet import UNet`` in a clone of ``Pytorch-UNet``; another top name stays unknown.
    root = tmp_path / "owner__Pytorch-UNet"
    root.mkdir()
    _write(root, {"unet/__init__.py": "from .model import UNet\n", "unet/model.py": "class UNet:\n    pass\n",
                  "train.py": "from PytorchUNet.unet import UNet\n"})
    index = ProjectIndex(str(root))
    importer = str(root / "train.py")
    assert index.resolve_module("PytorchUNet.unet", importer) == str((root / "unet" / "__init__.py").resolve())
    assert index.resolve_module("OtherName.unet", importer) is None
    assert str(root / "PytorchUNet.py") in index.probed  # a module of that name appearing changes the answer


REPLACED = """
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--attention", default=False, type=bool)
args = parser.parse_args()


def pick(flag):
    a = None
    if args.attention == True:
        a = 0
    if args.attention == False:
        a = 1
    use_a = a
    b = None
    if flag:
        b = 2
    use_b = b
    if flag:
        c = None
    else:
        if not args.attention:
            c = 3
    use_c = c
    d = None
    for _ in range(flag):
        if not args.attention:
            d = 4
    use_d = d
    e = None
    if flag:
        if not args.attention:
            e = 5
    use_e = e
    f = None
    if not args.attention:
        use_f = f
        f = 6
    return use_a, use_b, use_c, use_d, use_e, use_f
"""


def test_a_binding_on_a_branch_the_defaults_take_replaces_the_ones_before_it(tmp_path):
    # ``encoder = None`` then ``if args.attention == False: encoder = ...``: None never reaches past
    # the ``if``. An ``if`` that may go either way, a loop, or a read before the binding keep it.
    _write(tmp_path, {"m.py": REPLACED})
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    index.start_file()
    scope = index.module(str(tmp_path / "m.py")).functions["pick"]
    ctx = analysis.resolver.ctx_for(scope)
    values = {name: sorted(str(getattr(v, "value", "?")) for v in
                           analysis.resolver.resolve(scope.bindings[name][0].expr, ctx))
              for name in ("use_a", "use_b", "use_c", "use_d", "use_e", "use_f")}
    assert values == {"use_a": ["1"], "use_b": ["2", "None"], "use_c": ["3", "None"], "use_d": ["4", "None"],
                      "use_e": ["5", "None"], "use_f": ["None"]}


def test_a_batch_dict_moved_by_a_comprehension_is_named_by_its_loader():
    # ``batch = {k: v.to(device) for k, v in batch.items()}`` keeps each entry: the real batch is the
    # loader's, not "``batch.items()``".
    fixture = Path(__file__).parent / "fixtures" / "BN102" / "pos_batch_dict_moved_by_comprehension.py"
    (finding,) = lint([fixture], select=["BN102"]).findings
    assert "gets real (`loader`) and fake (`generator`) batches" in finding.message


def test_an_unresolved_generator_called_through_forward_is_named_without_it(tmp_path):
    # ``self.generator.forward(noise)`` with the generator handed in from nowhere the analysis sees:
    # the fake is named ``self.generator``, as a resolved one is.
    paths = _write(tmp_path, {"trainer.py": """
        import torch
        import torch.nn as nn


        class ForwardCallDisc(nn.Module):
            def __init__(self):
                super().__init__()
                self.net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Flatten())

            def forward(self, x):
                return self.net(x)


        class ForwardCallTrainer:
            def __init__(self, gen, loader):
                self.discriminator = ForwardCallDisc()
                self.generator = gen
                self.loader = loader
                self.opt = torch.optim.Adam(self.discriminator.parameters())

            def fit(self):
                for real, _ in self.loader:
                    self.opt.zero_grad()
                    judge_real = self.discriminator.forward(real)
                    fake = self.generator.forward(torch.randn(real.size(0), 16))
                    judge_fake = self.discriminator.forward(fake.detach())
                    (judge_fake.mean() - judge_real.mean()).backward()
                    self.opt.step()
    """})
    (finding,) = lint(paths, select=["BN102"]).findings
    assert "fake (`self.generator`) batches" in finding.message


KEYWORD_DICTS = """
def make_parts(scale):
    return {"width": 8 * scale, "depth": 2}


def build(width, depth=1, extra=None):
    return width, depth, extra


def hand_on(parts):
    return build(**parts)


def run():
    a = build(**make_parts(2))
    b = hand_on(make_parts(3))
    c = build(**dict(width=5, extra=7))
    grown = make_parts(1)
    grown["extra"] = 9
    d = build(**grown)
    return a, b, c, d
"""


def test_a_dict_passed_as_keywords_binds_its_keys_when_they_are_written_out(tmp_path):
    # ``Trainer(**models)`` with ``models`` a dict literal a set-up function returns, or ``dict(k=v)``,
    # through a parameter handed on; a dict changed after it is built passes unknown keywords.
    _write(tmp_path, {"m.py": KEYWORD_DICTS})
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    index.start_file()
    module = index.module(str(tmp_path / "m.py"))
    build = module.functions["build"]
    resolver = analysis.resolver

    def bound(caller: str, var: str) -> dict:
        scope = module.functions[caller]
        call = scope.bindings[var][0].expr
        env = resolver.bind_args(build, call, resolver.ctx_for(scope), False)
        return {k: module.code(e) for k, [(e, _)] in env.items()}

    assert bound("run", "a") == {"width": "8 * scale", "depth": "2"}
    assert bound("run", "c") == {"width": "5", "extra": "7"}
    assert set(bound("run", "d")) == {"*"}  # unknown: an item is stored into it
    hand_on = module.functions["hand_on"]
    env = resolver.bind_args(build, hand_on.returns[0], resolver.ctx_for(hand_on), False)
    assert {k: module.code(e) for k, [(e, _)] in env.items()} == {"width": "8 * scale", "depth": "2"}


def test_keywords_handed_around_a_cycle_of_callers_stay_unknown(tmp_path):
    # ``def a(**kwargs): return b(**kwargs)`` and back (torch.fx's tracing helpers): reading what
    # ``**kwargs`` holds goes to the callers, which hand on their own ``**kwargs``; the search stops.
    _write(tmp_path, {"m.py": """
        def first(**kwargs):
            return second(**kwargs)


        def second(**kwargs):
            if kwargs:
                return first(**kwargs)
            return 0
        """})
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    index.start_file()
    module = index.module(str(tmp_path / "m.py"))
    first, second = module.functions["first"], module.functions["second"]
    resolver = analysis.resolver
    env = resolver.bind_args(second, first.returns[0], resolver.ctx_for(first), False)
    assert set(env) == {"*"}


LOOP_RANGE = """
EPOCHS = 10
EVAL_EVERY = 20


def loops(n):
    for epoch in range(EPOCHS):
        a = (epoch + 1) % EVAL_EVERY == 0
        b = epoch % 5 == 0
        c = epoch >= 0
    for step in range(1, 5000):
        d = step > 10000
    for k in range(n):
        e = k > 100
    for j in range(3):
        j = j * 2
        f = j > 10
"""


def _answers(tmp_path, code: str, function: str, question: str) -> dict:
    """What the resolver's ``question`` (``truth`` or ``const``) answers for the value of each
    one-letter local of ``function``."""
    analysis, info = analysed_module(tmp_path, code)
    scope = info.functions[function]
    ctx = analysis.resolver.ctx_for(scope)
    ask = getattr(analysis.resolver, question)
    return {name: ask(bindings[0].expr, ctx) for name, bindings in scope.bindings.items()
            if len(name) == 1 and bindings[0].kind == "assign"}


def test_a_condition_on_a_range_loop_variable_is_decided_over_every_value(tmp_path):
    # ``if (epoch + 1) % EVAL_EVERY == 0:`` inside ``for epoch in range(EPOCHS)`` with EPOCHS < EVAL_EVERY
    # never holds; values that disagree, too many values, unknown bounds or a rebound variable stay unknown.
    truth = _answers(tmp_path, LOOP_RANGE, "loops", "truth")
    assert {k: truth[k] for k in "abcdef"} == {"a": False, "b": None, "c": True, "d": None, "e": None, "f": None}


CHAINED = """
LOW, HIGH = 1, 2

def chained(n):
    a = LOW <= 2 <= HIGH
    b = LOW <= 5 <= HIGH
    c = n < 1 < 0
    d = LOW < n < HIGH
    e = 0 < LOW == 1
"""


def test_a_chained_comparison_is_decided_link_by_link(tmp_path):
    # ``elif 1 <= i <= 2:`` picks the blocks with BatchNorm: every link known, or one known to fail.
    values = _answers(tmp_path, CHAINED, "chained", "const")
    assert {k: values[k] for k in "abcde"} == {"a": True, "b": False, "c": False, "d": None, "e": None}
