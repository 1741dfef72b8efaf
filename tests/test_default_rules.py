"""The default rule set is a CI gate people keep: accuracy and correctness bugs only.

A standard, correct training script must pass `bnlint` with its defaults (exit 0), through the real
command line on a real file; the rules that are off by default still work when selected.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from bnlint.rules import ALL_RULES, DEFAULT_POLICY

# A plain MLP: Linear layers keep their default bias=True in front of BatchNorm1d (BN401's pattern: one
# wasted parameter per channel, no accuracy cost), a shuffled training loader, eval mode for validation.
MLP_SCRIPT = textwrap.dedent('''\
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader, TensorDataset


    class MLP(nn.Module):
        def __init__(self, d_in=20, hidden=64, classes=3):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(d_in, hidden),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
                nn.Linear(hidden, classes),
            )

        def forward(self, x):
            return self.net(x)


    def main(epochs=5):
        train_set = TensorDataset(torch.randn(512, 20), torch.randint(0, 3, (512,)))
        val_set = TensorDataset(torch.randn(128, 20), torch.randint(0, 3, (128,)))
        train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
        val_loader = DataLoader(val_set, batch_size=64)
        model = MLP()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        criterion = nn.CrossEntropyLoss()
        for epoch in range(epochs):
            model.train()
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
            model.eval()
            correct = 0
            with torch.no_grad():
                for x, y in val_loader:
                    correct += (model(x).argmax(1) == y).sum().item()
            print(f"epoch {epoch}: val acc {correct / len(val_set):.3f}")


    if __name__ == "__main__":
        main()
''')


def _bnlint(args, cwd):
    env = dict(os.environ, NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "bnlint", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=120)


def test_standard_mlp_with_bias_passes_the_default_rules(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    (tmp_path / "train.py").write_text(MLP_SCRIPT, encoding="utf-8")
    proc = _bnlint(["--no-cache", "train.py"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The bias pattern is really there: the opt-in rule still finds it (twice) when asked for.
    proc = _bnlint(["--no-cache", "--extend-select", "BN401", "--format", "json", "train.py"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert [f["code"] for f in json.loads(proc.stdout)["findings"]] == ["BN401", "BN401"]


def test_off_by_default_rules():
    """The decisions of the default-set policy (README "Default rule set policy"): only rules whose
    findings cost no accuracy, advisory or opinionated rules are off."""
    assert {r.code for r in ALL_RULES if not r.default_enabled and not r.code.startswith("BN9")} == \
        {"BN205", "BN301", "BN401"}
    assert not any(r.default_enabled for r in ALL_RULES if r.code.startswith("BN9"))  # opinionated


def test_rules_command_states_the_policy(tmp_path):
    proc = _bnlint(["rules"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().splitlines()[-1] == DEFAULT_POLICY
    assert "--extend-select" in DEFAULT_POLICY and "accuracy/correctness" in DEFAULT_POLICY
