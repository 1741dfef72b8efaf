"""Parallel runs hand each worker a stretch of files that import each other first (its index is
reused), and the benchmark's generated ML projects are valid, self-importing Python."""
import ast
import sys
from pathlib import Path

import pytest

import bnlint.engine as engine

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("cores", [1, 2, 8, 64])
def test_stretches_cover_every_file_once_with_at_least_four_files_per_worker(monkeypatch, cores):
    monkeypatch.setattr(engine, "available_cores", lambda: cores)
    for n in range(8, 300):
        for jobs in (2, 3, 4, 8, 16):
            pieces, bounds = engine._stretches(n, jobs)
            assert [i for p in pieces for i in p] == list(range(n))  # in order, each file once
            assert all(p == list(range(p[0], p[0] + len(p))) for p in pieces)  # contiguous
            # one stretch per worker, together every piece; never more workers than cores, -j or n // 4
            assert bounds[0][0] == 0 and bounds[-1][1] == len(pieces)
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert all(lo < hi for lo, hi in bounds)
            assert len(bounds) <= max(1, min(jobs, cores, n // 4))
            assert all(sum(len(pieces[j]) for j in range(lo, hi)) >= 4 for lo, hi in bounds)


def test_workers_take_their_own_stretch_first_then_the_far_end_of_the_longest():
    import multiprocessing

    claims = multiprocessing.get_context().Array("i", [0, 4, 4, 10])  # stretch 0: pieces 0-3, stretch 1: 4-9
    taken0 = [engine._claim(claims, 0) for _ in range(4)]
    assert taken0 == [0, 1, 2, 3]
    assert engine._claim(claims, 1) == 4  # its own front
    assert engine._claim(claims, 0) == 9  # stretch 0 is done: the back of stretch 1
    rest = []
    while True:
        j = engine._claim(claims, 1)
        if j is None:
            break
        rest.append(j)
    assert rest == [5, 6, 7, 8] and engine._claim(claims, 0) is None


def test_import_order_keeps_a_package_with_the_scripts_that_import_it(tmp_path):
    from bnlint.schedule import import_order

    files = {
        "alpha/models.py": "import torch\n",
        "alpha/train_utils.py": "from .models import Net\n",
        "beta/net.py": "x = 1\n",
        "beta/run.py": "import net\n",  # script style: the module next to it
        "gamma.py": "print(1)\n",
        "scripts/train_alpha.py": "from alpha.train_utils import fit\nfrom alpha import models\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    paths = sorted(str(tmp_path / rel) for rel in files)
    order = [Path(paths[i]).relative_to(tmp_path).as_posix() for i in import_order(paths, str(tmp_path))]
    assert sorted(order) == sorted(files)
    assert order == ["alpha/models.py", "alpha/train_utils.py", "scripts/train_alpha.py",
                     "beta/net.py", "beta/run.py", "gamma.py"]


def test_generated_ml_projects_parse_and_import_each_other(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import ml_projects
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    files = ml_projects.generate(str(tmp_path), 2)
    assert len(files) == 2 * ml_projects.FILES_PER_PROJECT == len(set(files))
    for rel in files:
        ast.parse((tmp_path / rel).read_text(encoding="utf-8"), rel)
    script = (tmp_path / "scripts1" / "train_dann.py").read_text(encoding="utf-8")
    assert "from mlproj1.models import" in script and "from mlproj1.trainers.dann import" in script


def test_a_module_read_for_another_file_is_not_built_again_when_linted(tmp_path, monkeypatch):
    """A linted file that an earlier file's analysis already read (parsed and walked) reuses that
    module, also when the user named absolute paths (a module read for the analysis is then shown
    by its absolute path too), and the findings are those of fresh analyses."""
    import bnlint.analysis.module as module
    from bnlint.engine import lint_paths

    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\n")
    (tmp_path / "a_train.py").write_text(
        "import torch\nfrom z_models import Net\n\n"
        "def train(xs, xt):\n    net = Net()\n    opt = torch.optim.SGD(net.parameters(), lr=0.1)\n"
        "    for s, t in zip(xs, xt):\n        loss = net(s).mean() + net(t).mean()\n"
        "        opt.zero_grad()\n        loss.backward()\n        opt.step()\n")
    (tmp_path / "z_models.py").write_text(
        "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.bn = nn.BatchNorm1d(4)\n\n    def forward(self, x):\n        return self.bn(x)\n")
    built = []
    real_init = module.ModuleInfo.__init__

    def counting_init(self, source, *args, **kwargs):
        built.append(source.path)
        real_init(self, source, *args, **kwargs)

    monkeypatch.setattr(module.ModuleInfo, "__init__", counting_init)
    monkeypatch.chdir(tmp_path)
    result = lint_paths(["."])
    assert sorted(built) == ["a_train.py", "z_models.py"]  # z_models.py: read for a_train.py, then linted
    assert [(f.path, f.code) for f in result.findings] == [("a_train.py", "BN101")]
    built.clear()
    absolute = lint_paths([str(tmp_path)])
    assert sorted(built) == [str(tmp_path / "a_train.py"), str(tmp_path / "z_models.py")]
    assert [(f.path, f.code) for f in absolute.findings] == [(str(tmp_path / "a_train.py"), "BN101")]
