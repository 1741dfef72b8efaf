"""Parallel runs hand each worker a contiguous stretch of the tree first (its index is reused), and
the benchmark's generated ML projects are valid, self-importing Python."""
import ast
import sys
from pathlib import Path

import pytest

import bnlint.engine as engine

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("cores", [1, 2, 8, 64])
def test_chunks_cover_every_file_once_with_at_least_four_files(monkeypatch, cores):
    monkeypatch.setattr(engine, "available_cores", lambda: cores)
    for n in range(8, 300):
        for jobs in (2, 3, 4, 8, 16):
            chunks = engine._chunks(n, jobs)
            assert sorted(i for c in chunks for i in c) == list(range(n))
            assert all(len(c) >= 4 for c in chunks), (n, jobs, [len(c) for c in chunks])
            assert all(c == list(range(c[0], c[0] + len(c))) for c in chunks)  # contiguous
            # never more workers than chunks of at least 4 files, cores, or -j
            assert engine.worker_count(jobs, len(chunks)) <= max(1, min(jobs, cores, n // 4))


def test_first_chunks_are_one_contiguous_stretch_per_worker(monkeypatch):
    monkeypatch.setattr(engine, "available_cores", lambda: 2)
    chunks = engine._chunks(400, 2)
    assert chunks[0][0] == 0 and chunks[1][0] == 200  # each worker starts in its own half of the tree
    assert len(chunks[0]) == len(chunks[1]) == 50
    assert max(len(c) for c in chunks[2:]) < 50  # the rest in smaller chunks, for balance


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
    module; the same file read under another displayed path is walked again (its findings must
    carry the path the user gave), and the findings are those of fresh analyses."""
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
    assert len(built) == 3  # read as "z_models.py", linted as an absolute path: walked for each
    assert [(f.path, f.code) for f in absolute.findings] == [(str(tmp_path / "a_train.py"), "BN101")]
