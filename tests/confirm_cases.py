"""Confirm case pairs for the measures beyond batch composition: for each rule, a
harmful model or script that confirm must confirm and a correct one it must not.

Shared by tests/test_confirm_measures.py (CPU) and
benchmarks/confirm_device_check.py (the same pairs on CUDA). The API cases take
the device to build on; the script cases move everything to ``DEVICE``, which
the scripts read from the environment variable BNLINT_CASE_DEVICE (default cpu).
Tiny models and synthetic data: seconds each.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn
from torch.utils.checkpoint import checkpoint
from torch.utils.data import DataLoader, TensorDataset

import bnlint.confirm as confirm


def _mlp(norm=None):
    norm = norm or (lambda c: nn.BatchNorm1d(c))
    return nn.Sequential(nn.Linear(8, 16), norm(16), nn.ReLU(), nn.Linear(16, 3))


def _data(n=256, shift=1.0, scale=2.0):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 8, generator=g) * scale + shift, torch.randint(0, 3, (n,), generator=g)


def _train(model, x, y, steps=5, device="cpu"):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    for i in range(steps):
        xb, yb = x[i * 32:(i + 1) * 32].to(device), y[i * 32:(i + 1) * 32].to(device)
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()


# --- API cases: name -> (harmful(device), correct(device)) ---------------------------


def _bn201(eval_mode):
    def case(device):
        torch.manual_seed(0)
        model = _mlp().to(device)
        x, y = _data()
        _train(model, x, y, device=device)
        if eval_mode:
            model.eval()
        # One evaluation batch of a single class region: batch statistics differ from running ones.
        return confirm.compare_modes(model, x[:16] * 0.5 + 3)
    return case


def _frozen_model(device):
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten())
    backbone.requires_grad_(False)
    return nn.Sequential(backbone, nn.Linear(8, 4)).to(device)


def _bn203(eval_mode):
    def case(device):
        model = _frozen_model(device)
        if eval_mode:
            model[0].eval()  # the frozen part stays in eval mode: its statistics cannot move
        images = [torch.randn(16, 3, 8, 8) * 2 + 1 for _ in range(6)]
        return confirm.frozen_bn_drift(model, images, steps=6)
    return case


def _sizes(total, batch_size, drop_last, conv=False):
    def case(device):
        torch.manual_seed(0)
        if conv:
            model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                  nn.Linear(4 * 36, 3)).to(device)
            data = TensorDataset(torch.rand(total, 1, 8, 8), torch.randint(0, 3, (total,)))
        else:
            model = _mlp().to(device)
            data = TensorDataset(*_data(total))
        loader = DataLoader(data, batch_size=batch_size, drop_last=drop_last)
        return confirm.batch_sizes(model, loader, steps=64)
    return case


def _bn204(refresh):
    def case(device):
        torch.manual_seed(0)
        model = _mlp().to(device)
        averaged = AveragedModel(model)
        x, y = _data()
        for _ in range(3):
            _train(model, x, y, device=device)
            averaged.update_parameters(model)
        batches = [x[i * 32:(i + 1) * 32].to(device) for i in range(8)]
        if refresh:
            update_bn(batches, averaged)
        return confirm.averaged_bn_gap(averaged, batches)
    return case


def _settings(**bn_kwargs):
    def case(device):
        torch.manual_seed(0)
        model = _mlp(lambda c: nn.BatchNorm1d(c, **bn_kwargs)).to(device)
        x, _ = _data(64, shift=0.0, scale=0.3)
        return confirm.bn_settings(model, x.to(device))
    return case


def _ddp(per_process):
    def case(device):
        # One process's batches; world_size as the launcher would give (no process group here).
        torch.manual_seed(0)
        model = _mlp().to(device)
        x, _ = _data(256)
        return confirm.ddp_batch_sizes(model, x, batch_size=per_process, world_size=4)
    return case


def _bn403(track):
    def case(device):
        torch.manual_seed(0)
        model = _mlp(lambda c: nn.BatchNorm1d(c, track_running_stats=track)).to(device)
        x, y = _data()
        _train(model, x, y, device=device)
        model.eval()
        return confirm.batch_dependence(model, x[:16].to(device))
    return case


def _critic(norm):
    return nn.Sequential(nn.Linear(8, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), norm(32), nn.LeakyReLU(0.2),
                         nn.Linear(32, 1))


def _bn404(norm):
    def case(device):
        torch.manual_seed(0)
        critic = _critic(norm).to(device)
        real, _ = _data(32)
        alpha = torch.rand(32, 1)
        interpolates = alpha * real + (1 - alpha) * torch.randn(32, 8)
        return confirm.critic_cross_sample(critic, interpolates.to(device))
    return case


def _bn405(dropout_first):
    def case(device):
        torch.manual_seed(0)
        if dropout_first:
            layers = [nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.5), nn.BatchNorm1d(64)]
        else:
            layers = [nn.Linear(8, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.5)]
        model = nn.Sequential(*layers, nn.Linear(64, 3)).to(device)
        x, y = _data()
        _train(model, x, y, device=device)
        return confirm.dropout_variance_shift(model, x, batch_size=32)
    return case


class _Checkpointed(nn.Module):
    """A conv-BN block under activation checkpointing (``bn_inside``), or only its
    convolution checkpointed and the BN run outside."""

    def __init__(self, bn_inside: bool, reentrant: bool = False):
        super().__init__()
        self.bn_inside, self.reentrant = bn_inside, reentrant
        self.stem = nn.Conv2d(3, 3, 1, bias=False)  # reentrant checkpointing needs an input that requires grad
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Linear(8, 4)

    def block(self, x):
        x = self.conv(x)
        return self.bn(x) if self.bn_inside else x

    def forward(self, x):
        x = checkpoint(self.block, self.stem(x), use_reentrant=self.reentrant)
        x = x if self.bn_inside else self.bn(x)
        return self.head(torch.relu(x).mean(dim=(2, 3)))


def _bn205(bn_inside):
    def case(device):
        torch.manual_seed(0)
        model = _Checkpointed(bn_inside).to(device)
        images = [torch.randn(8, 3, 8, 8) for _ in range(2)]
        return confirm.checkpoint_updates(model, images)
    return case


def _bn401(relu_between):
    def case(device):
        torch.manual_seed(0)
        layers = [nn.Conv2d(3, 8, 3), nn.ReLU(), nn.BatchNorm2d(8)] if relu_between else [
            nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()]
        model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).to(device)
        images = [torch.randn(16, 3, 8, 8) * 2 + 1 for _ in range(2)]
        return confirm.dead_bias(model, images)
    return case


API_CASES = {
    "BN201 evaluation in train mode": (_bn201(False), _bn201(True)),
    "BN203 frozen backbone in train mode": (_bn203(False), _bn203(True)),
    "BN104 last batch of one sample (conv)": (_sizes(9, 4, False, conv=True), _sizes(64, 8, True, conv=True)),
    "BN901 batches of two": (_sizes(64, 2, False), _sizes(64, 16, True)),
    "BN204 averaged model without update_bn": (_bn204(False), _bn204(True)),
    "BN402 Keras momentum": (_settings(momentum=0.99), _settings(momentum=0.01)),
    "BN406 eps 0.8": (_settings(eps=0.8), _settings()),
    "BN301 8 samples per process": (_ddp(8), _ddp(64)),
    "BN403 eval with track_running_stats=False": (_bn403(False), _bn403(True)),
    "BN404 BatchNorm in a gradient-penalty critic": (_bn404(nn.BatchNorm1d), _bn404(nn.LayerNorm)),
    "BN405 dropout before BatchNorm": (_bn405(True), _bn405(False)),
    "BN205 BatchNorm under activation checkpointing": (_bn205(True), _bn205(False)),
    "BN401 conv bias right before BatchNorm": (_bn401(False), _bn401(True)),
}


# --- script cases: name -> rule, harmful source, correct source, the harmful line ----

_HEAD = """
import os
import torch
from torch import nn
DEVICE = os.environ.get("BNLINT_CASE_DEVICE", "cpu")
torch.manual_seed(0)
"""

_FROZEN = _HEAD + """
backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten()).to(DEVICE)
head = nn.Linear(8, 4).to(DEVICE)
backbone.requires_grad_(False)
opt = torch.optim.SGD(head.parameters(), lr=0.1)
for step in range(30):
    x = (torch.randn(16, 3, 8, 8) * 2 + 1).to(DEVICE)
    y = torch.randint(0, 4, (16,)).to(DEVICE)
    loss = nn.functional.cross_entropy(head(backbone(x)), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""

_EVAL = _HEAD + """
model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3)).to(DEVICE)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
data = [(torch.randn(32, 8).to(DEVICE), torch.randint(0, 3, (32,)).to(DEVICE)) for _ in range(4)]
for epoch in range(2):
    model.train()
    for x, y in data:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    #EVAL
    with torch.no_grad():
        for x, y in data[:2]:
            pred = model(x[:8] * 3 + 2).argmax(1)
"""

_EVAL_TRAINING = _HEAD + """
model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3)).to(DEVICE)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
train = [(torch.randn(32, 8).to(DEVICE), torch.randint(0, 3, (32,)).to(DEVICE)) for _ in range(3)]
val = [(torch.randn(32, 8).to(DEVICE), torch.randint(0, 3, (32,)).to(DEVICE))]
model.train()
for epoch in range(4):
    #TRAIN
    for x, y in train:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        val_loss = sum(nn.functional.cross_entropy(model(x), y).item() for x, y in val)
"""

_AVERAGED = _HEAD + """
from torch.optim.swa_utils import AveragedModel, update_bn
model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3)).to(DEVICE)
swa_model = AveragedModel(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loader = [((torch.randn(32, 8) * 2 + 1).to(DEVICE), torch.randint(0, 3, (32,)).to(DEVICE)) for _ in range(3)]
for epoch in range(3):
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    swa_model.update_parameters(model)
#UPDATE
swa_model.eval()
with torch.no_grad():
    out = swa_model(loader[0][0])
"""

_LOADER = _HEAD + """
from torch.utils.data import DataLoader, TensorDataset
model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2)).to(DEVICE)
loader = DataLoader(TensorDataset(torch.randn(SIZE, 8), torch.randint(0, 2, (SIZE,))), BATCH, shuffle=True)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(3):
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x.to(DEVICE)), y.to(DEVICE))
        opt.zero_grad()
        loss.backward()
        opt.step()
"""

_SETTINGS = _HEAD + """
model = nn.Sequential(nn.Linear(8, 16), NORM, nn.ReLU(), nn.Linear(16, 2)).to(DEVICE)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(20):
    x, y = (torch.randn(32, 8) * 0.3).to(DEVICE), torch.randint(0, 2, (32,)).to(DEVICE)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""

_DDP = _HEAD + """
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3)).to(DEVICE)
model = DDP(model, device_ids=[0] if DEVICE.startswith("cuda") else None)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(20):
    x, y = torch.randn(PER_PROCESS, 8).to(DEVICE), torch.randint(0, 3, (PER_PROCESS,)).to(DEVICE)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""

_UNTRACKED = _HEAD + """
model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32, track_running_stats=TRACK), nn.ReLU(),
                      nn.Linear(32, 3)).to(DEVICE)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
data = [((torch.randn(32, 8) * 2 + 1).to(DEVICE), torch.randint(0, 3, (32,)).to(DEVICE)) for _ in range(4)]
for epoch in range(3):
    model.train()
    for x, y in data:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        for x, y in data[:2]:
            accuracy = (model(x[:16]).argmax(1) == y[:16]).float().mean()
"""

_WGAN_GP = _HEAD + """
G = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 8)).to(DEVICE)
D = nn.Sequential(nn.Linear(8, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), NORM, nn.LeakyReLU(0.2),
                  nn.Linear(32, 1)).to(DEVICE)
opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9))
for step in range(20):
    real = (torch.randn(32, 8) * 2 + 1).to(DEVICE)
    fake = G(torch.randn(32, 4).to(DEVICE)).detach()
    alpha = torch.rand(32, 1).to(DEVICE)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = D(interpolates)
    grads = torch.autograd.grad(outputs=scores, inputs=interpolates, grad_outputs=torch.ones_like(scores),
                                create_graph=True)[0]
    penalty = ((grads.norm(2, dim=1) - 1) ** 2).mean()
    loss_d = D(fake).mean() - D(real).mean() + 10 * penalty
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = -D(G(torch.randn(32, 4).to(DEVICE))).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
"""

_DROPOUT = _HEAD + """
model = nn.Sequential(
    nn.Linear(8, 64),
    LAYERS,
    nn.Linear(64, 3),
).to(DEVICE)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for step in range(20):
    x, y = (torch.randn(32, 8) * 2 + 1).to(DEVICE), torch.randint(0, 3, (32,)).to(DEVICE)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""

_CHECKPOINT = _HEAD + """
from torch.utils.checkpoint import checkpoint


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.block = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        FORWARD
        return self.head(x.mean(dim=(2, 3)))


model = Net().to(DEVICE)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for step in range(20):
    x, y = torch.randn(16, 3, 8, 8).to(DEVICE), torch.randint(0, 4, (16,)).to(DEVICE)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""

_BIAS = _HEAD + """
model = nn.Sequential(
    nn.Conv2d(3, 16, 3, padding=1),
    LAYERS,
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(16, 4),
).to(DEVICE)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for step in range(20):
    x, y = (torch.randn(16, 3, 8, 8) * 2 + 1).to(DEVICE), torch.randint(0, 4, (16,)).to(DEVICE)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""

SCRIPT_CASES = {
    "BN203 frozen backbone in train mode": dict(
        rule="BN203", line="backbone.requires_grad_(False)", harmful=_FROZEN,
        correct=_FROZEN.replace("backbone.requires_grad_(False)", "backbone.requires_grad_(False)\nbackbone.eval()"),
    ),
    "BN201 evaluation in train mode": dict(
        rule="BN201", line="pred = model(", harmful=_EVAL, correct=_EVAL.replace("#EVAL", "model.eval()"),
    ),
    "BN202 training after eval without train()": dict(
        rule="BN202", line="loss = nn.functional.cross_entropy(model(x), y)", harmful=_EVAL_TRAINING,
        correct=_EVAL_TRAINING.replace("#TRAIN", "model.train()"),
    ),
    "BN204 averaged model without update_bn": dict(
        rule="BN204", line="swa_model = AveragedModel(model)", harmful=_AVERAGED,
        correct=_AVERAGED.replace("#UPDATE", "update_bn(loader, swa_model, device=DEVICE)"),
    ),
    "BN104 last batch of one sample": dict(
        rule="BN104", line="loader = DataLoader(",
        harmful=_LOADER.replace("SIZE", "9").replace("BATCH", "batch_size=4"),
        correct=_LOADER.replace("SIZE", "96").replace("BATCH", "batch_size=16, drop_last=True"),
    ),
    "BN901 batches of two": dict(
        rule="BN901", line="loader = DataLoader(",
        harmful=_LOADER.replace("SIZE", "64").replace("BATCH", "batch_size=2"),
        correct=_LOADER.replace("SIZE", "96").replace("BATCH", "batch_size=16"),
    ),
    "BN402 Keras momentum": dict(
        rule="BN402", line="model = nn.Sequential(",
        harmful=_SETTINGS.replace("NORM", "nn.BatchNorm1d(16, eps=1e-3, momentum=0.99)"),
        correct=_SETTINGS.replace("NORM", "nn.BatchNorm1d(16, eps=1e-3, momentum=0.01)"),
    ),
    "BN406 eps passed positionally": dict(
        rule="BN406", line="model = nn.Sequential(",
        harmful=_SETTINGS.replace("NORM", "nn.BatchNorm1d(16, 0.8)"),
        correct=_SETTINGS.replace("NORM", "nn.BatchNorm1d(16, momentum=0.2)"),
    ),
    "BN301 DDP with 8 samples per process": dict(
        rule="BN301", line="model = DDP(",
        harmful=_DDP.replace("PER_PROCESS", "8"), correct=_DDP.replace("PER_PROCESS", "32"),
    ),
    "BN403 eval with track_running_stats=False": dict(
        rule="BN403", line="model.eval()",
        harmful=_UNTRACKED.replace("TRACK", "False"), correct=_UNTRACKED.replace("TRACK", "True"),
    ),
    "BN404 BatchNorm in a gradient-penalty critic": dict(
        rule="BN404", line="grads = torch.autograd.grad(",
        harmful=_WGAN_GP.replace("NORM", "nn.BatchNorm1d(32)"), correct=_WGAN_GP.replace("NORM", "nn.LayerNorm(32)"),
    ),
    "BN405 dropout before BatchNorm": dict(
        rule="BN405", line="nn.Dropout(0.5),",
        harmful=_DROPOUT.replace("LAYERS", "nn.ReLU(),\n    nn.Dropout(0.5),\n    nn.BatchNorm1d(64)"),
        correct=_DROPOUT.replace("LAYERS", "nn.BatchNorm1d(64),\n    nn.ReLU(),\n    nn.Dropout(0.5)"),
    ),
    "BN205 BatchNorm under activation checkpointing": dict(
        rule="BN205", line="x = checkpoint(self.block",
        harmful=_CHECKPOINT.replace("FORWARD", "x = checkpoint(self.block, x, use_reentrant=False)"),
        correct=_CHECKPOINT.replace(
            "FORWARD", "x = torch.relu(self.bn(checkpoint(self.conv, x, use_reentrant=False)))"),
    ),
    "BN401 conv bias right before BatchNorm": dict(
        rule="BN401", line="nn.Conv2d(3, 16, 3, padding=1),",
        harmful=_BIAS.replace("LAYERS", "nn.BatchNorm2d(16),\n    nn.ReLU()"),
        correct=_BIAS.replace("LAYERS", "nn.ReLU(),\n    nn.BatchNorm2d(16)"),
    ),
}
