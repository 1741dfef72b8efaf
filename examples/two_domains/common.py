"""Synthetic data and small models shared by the two-domain examples.

Domain A is a small "digits"-like task: 10 classes of 8x8 grey images, each
class a fixed random stroke pattern, samples jittered and noisy. Domain B is
the same task seen through another sensor: low contrast plus extra noise (or
inverted, with ``shift="invert"``). The article used MNIST and SVHN; what
matters for BN is only that the two domains have different statistics.
"""
from __future__ import annotations

from typing import Iterator, Tuple

import torch
import torch.nn.functional as F
from torch import nn

CLASSES = 10
SIZE = 8

Split = Tuple[torch.Tensor, torch.Tensor]


def _templates(generator: torch.Generator) -> torch.Tensor:
    noise = torch.randn(CLASSES, 1, SIZE, SIZE, generator=generator)
    smooth = F.avg_pool2d(noise, 3, stride=1, padding=1, count_include_pad=False)
    return torch.sigmoid(6 * smooth)


def _samples(templates: torch.Tensor, count: int, noise: float, generator: torch.Generator) -> Split:
    labels = torch.randint(CLASSES, (count,), generator=generator)
    images = templates[labels].clone()
    shifts = torch.randint(-1, 2, (count, 2), generator=generator)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        images[i] = torch.roll(images[i], shifts=(dy, dx), dims=(1, 2))
    images += noise * torch.randn(images.shape, generator=generator)
    return images.clamp(0, 1), labels


def to_domain_b(images: torch.Tensor, shift: str, generator: torch.Generator) -> torch.Tensor:
    if shift == "invert":
        return 1 - images
    if shift == "contrast":
        low = 0.5 + 0.2 * (images - 0.5)
        return (low + 0.08 * torch.randn(images.shape, generator=generator)).clamp(0, 1)
    raise ValueError(f"unknown domain shift {shift!r}")


def make_domains(train: int = 2000, test: int = 1000, noise: float = 0.3, shift: str = "contrast",
                 seed: int = 0):
    """(train_a, train_b, test_a, test_b), each an (images, labels) pair.

    The class patterns are the same for every seed (one task); ``seed`` draws the samples.
    """
    templates = _templates(torch.Generator().manual_seed(1234))
    generator = torch.Generator().manual_seed(seed)
    train_a, train_b, test_a, test_b = (
        _samples(templates, n, noise, generator) for n in (train, train, test, test)
    )
    train_b = (to_domain_b(train_b[0], shift, generator), train_b[1])
    test_b = (to_domain_b(test_b[0], shift, generator), test_b[1])
    return train_a, train_b, test_a, test_b


def random_batches(data: Split, batch_size: int, steps: int, generator: torch.Generator) -> Iterator[Split]:
    """``steps`` random mini-batches of ``data`` (sampling with reshuffling per batch)."""
    images, labels = data
    for _ in range(steps):
        index = torch.randint(len(images), (batch_size,), generator=generator)
        yield images[index], labels[index]


class DomainBatchNorm2d(nn.Module):
    """One BatchNorm per domain, everything else shared (domain-specific BN)."""

    def __init__(self, channels: int, domains: int):
        super().__init__()
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(domains))

    def forward(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        return self.norms[domain](x)


class SmallCNN(nn.Module):
    """conv-BN-ReLU twice, then a linear classifier. ``domains > 1``: domain-specific BN."""

    def __init__(self, domains: int = 1, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        if domains > 1:
            self.bn1 = DomainBatchNorm2d(width, domains)
            self.bn2 = DomainBatchNorm2d(2 * width, domains)
        else:
            self.bn1 = nn.BatchNorm2d(width)
            self.bn2 = nn.BatchNorm2d(2 * width)
        self.domains = domains
        self.head = nn.Linear(2 * width * (SIZE // 2) ** 2, CLASSES)

    def _norm(self, bn: nn.Module, x: torch.Tensor, domain: int) -> torch.Tensor:
        return bn(x, domain) if self.domains > 1 else bn(x)

    def forward(self, x: torch.Tensor, domain: int = 0) -> torch.Tensor:
        x = F.relu(self._norm(self.bn1, self.conv1(x), domain))
        x = F.relu(self._norm(self.bn2, self.conv2(x), domain))
        return self.head(F.max_pool2d(x, 2).flatten(1))


@torch.no_grad()
def accuracy(model: nn.Module, data: Split, **forward_kwargs) -> float:
    """Eval-mode accuracy: BN uses its running statistics, as at test time."""
    model.eval()
    images, labels = data
    correct = (model(images, **forward_kwargs).argmax(1) == labels).float().mean()
    model.train()
    return float(correct)


def add_common_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per domain per step")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shift", choices=["contrast", "invert"], default="contrast",
                        help="how domain B differs from domain A")


# --- GAN on vectors: a BN generator and a BN discriminator -------------------

FEATURES = 8
LATENT = 8


def real_samples(count: int, generator: torch.Generator) -> torch.Tensor:
    """The "real" data: a two-cluster Gaussian mixture in 8 dimensions."""
    centers = torch.tensor([[2.0] * FEATURES, [-1.0] * FEATURES])
    which = torch.randint(2, (count,), generator=generator)
    return centers[which] + 0.5 * torch.randn(count, FEATURES, generator=generator)


def make_generator(hidden: int = 32) -> nn.Module:
    return nn.Sequential(
        nn.Linear(LATENT, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, FEATURES)
    )


def make_discriminator(hidden: int = 32) -> nn.Module:
    return nn.Sequential(
        nn.Linear(FEATURES, hidden, bias=False), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )


def add_gan_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=300, help="training iterations")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)


@torch.no_grad()
def mean_gap(generator_net: nn.Module, generator: torch.Generator) -> float:
    """Distance between the means of generated and real samples (eval mode)."""
    generator_net.eval()
    fake = generator_net(torch.randn(1000, LATENT, generator=generator))
    generator_net.train()
    return float((fake.mean(0) - real_samples(1000, generator).mean(0)).norm())


# --- One domain stored class by class, as folders on disk often are ---------


def class_sorted_dataset(seed: int = 0):
    """Domain A's training set ordered by label, and its test split."""
    from torch.utils.data import TensorDataset

    (images, labels), _, test, _ = make_domains(seed=seed)
    order = torch.argsort(labels, stable=True)
    return TensorDataset(images[order], labels[order]), test


def add_loader_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
