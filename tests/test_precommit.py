"""End to end with the real pre-commit tool, in a throw-away git repository, offline.

The hooks come from this checkout's ``.pre-commit-hooks.yaml`` (file types,
``require_serial``, entry); only two things are changed so that no network is
needed: ``repo: local`` with ``language: system``, and the entry runs this
interpreter's bnlint instead of one pre-commit would pip-install.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.test_cli import BAD
from tests.test_notebooks import DATA, IMPORTS, TRAIN, notebook

REPO = Path(__file__).resolve().parent.parent
CLEAN = BAD.replace("batch_size=8)", "batch_size=8, shuffle=True)")
MODELS = '''import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, x):
        return self.body(x)
'''
TRAIN_WITH_IMPORTED_MODEL = '''import torch
from torch.utils.data import DataLoader, TensorDataset

from models import Net

model = Net()
loader = DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in loader:
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
'''

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _hooks():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    local = []
    for hook in hooks:
        assert hook["language"] == "python" and hook["require_serial"] is True
        assert hook["types_or"] == ["python", "jupyter"]
        assert hook["entry"].split()[0] == "bnlint"
        hook = dict(hook, language="system", args=["--select", "BN103"],
                    entry=" ".join([shlex.quote(sys.executable), "-m", "bnlint"] + hook["entry"].split()[1:]))
        local.append(hook)
    return local


class Repo:
    def __init__(self, path: Path, hook_id: str):
        self.path = path
        home = path.parent / "home"
        home.mkdir(exist_ok=True)
        self.env = dict(os.environ, HOME=str(home), PRE_COMMIT_HOME=str(path.parent / "pre-commit-cache"),
                        GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
                        GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
                        PYTHONPATH=str(REPO), NO_COLOR="1")
        self.env.pop("PRE_COMMIT", None)
        path.mkdir()
        self.git("init", "-q")
        hooks = [h for h in _hooks() if h["id"] == hook_id]
        (path / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]}),
                                                      encoding="utf-8")
        (path / "README.md").write_text("# demo\n", encoding="utf-8")
        self.git("add", ".pre-commit-config.yaml", "README.md")
        self.git("commit", "-q", "-m", "init")

    def git(self, *args):
        subprocess.run(["git", *args], cwd=self.path, env=self.env, check=True, capture_output=True)

    def write(self, name: str, text: str):
        (self.path / name).write_text(text, encoding="utf-8")

    def pre_commit(self, *args):
        proc = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--color", "never", *args], cwd=self.path,
                              env=self.env, capture_output=True, text=True, timeout=300)
        return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path / "repo", "bnlint")


def test_staged_bad_script_fails_with_the_finding(repo):
    repo.write("train.py", BAD)
    repo.git("add", "train.py")
    rc, out = repo.pre_commit()
    assert rc == 1, out
    assert "bnlint" in out and "Failed" in out
    assert "train.py:7:10: BN103 [unshuffled-train-loader]" in out


def test_staged_clean_script_passes(repo):
    repo.write("train.py", CLEAN)
    repo.git("add", "train.py")
    rc, out = repo.pre_commit()
    assert rc == 0, out
    assert "Passed" in out


def test_model_in_an_unstaged_unchanged_module_is_still_found(repo):
    repo.write("models.py", MODELS)
    repo.git("add", "models.py")
    repo.git("commit", "-q", "-m", "models")
    repo.write("train.py", TRAIN_WITH_IMPORTED_MODEL)
    repo.git("add", "train.py")
    rc, out = repo.pre_commit()
    assert rc == 1, out
    assert "train.py:7:10: BN103" in out and "models.py:" not in out  # only the staged file is reported


def test_staged_notebook_is_linted(repo):
    repo.write("explore.ipynb", notebook(IMPORTS, DATA, TRAIN))
    repo.git("add", "explore.ipynb")
    rc, out = repo.pre_commit()
    assert rc == 1, out
    assert "explore.ipynb:cell 3:line 2:10: BN103" in out


def test_zero_files_and_non_python_files_do_not_crash(repo):
    rc, out = repo.pre_commit()  # nothing staged
    assert rc == 0, out
    repo.write("notes.txt", "DataLoader(shuffle=False)\n")
    repo.git("add", "notes.txt")
    rc, out = repo.pre_commit()
    assert rc == 0 and "Traceback" not in out, out
    rc, out = repo.pre_commit("--files", "README.md", "notes.txt")
    assert rc == 0 and "Skipped" in out, out


def test_fix_hook_fixes_then_passes(tmp_path):
    repo = Repo(tmp_path / "repo", "bnlint-fix")
    repo.write("train.py", BAD)
    repo.git("add", "train.py")
    rc, out = repo.pre_commit()
    assert rc == 1 and "files were modified by this hook" in out, out
    assert (repo.path / "train.py").read_text(encoding="utf-8") == CLEAN
    repo.git("add", "train.py")
    rc, out = repo.pre_commit()
    assert rc == 0, out


def test_staged_r_notebook_does_not_block_the_commit(repo):
    from tests.test_conventions import r_notebook

    repo.write("analysis.ipynb", r_notebook({"kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
                                             "language_info": {"name": "R"}}))
    repo.write("train.py", CLEAN)
    repo.git("add", "analysis.ipynb", "train.py")
    rc, out = repo.pre_commit()
    assert rc == 0, out
    assert "Passed" in out and "error" not in out
