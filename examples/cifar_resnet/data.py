"""Synthetic CIFAR-like data (no download) and the loaders used by train.py.

The images are generated class by class, the way a dataset read from
per-class folders (``airplane/``, ``automobile/``, ...) comes out of disk.
"""
import torch
from torch.utils.data import DataLoader, TensorDataset

NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)


def make_split(samples_per_class, seed):
    """A dataset stored class by class: every class has its own mean image."""
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(NUM_CLASSES, *IMAGE_SHAPE, generator=torch.Generator().manual_seed(1234))
    images, labels = [], []
    for label in range(NUM_CLASSES):
        noise = torch.randn(samples_per_class, *IMAGE_SHAPE, generator=g)
        images.append(0.5 * prototypes[label] + noise)
        labels.append(torch.full((samples_per_class,), label, dtype=torch.long))
    return TensorDataset(torch.cat(images), torch.cat(labels))


def get_loaders(batch_size=128, workers=0, samples_per_class=500):
    train_set = make_split(samples_per_class, seed=0)
    test_set = make_split(samples_per_class // 5, seed=1)
    # `shuffle` is left at its default (False): every training batch holds a
    # single class, in the same order every epoch.
    train_loader = DataLoader(train_set, batch_size=batch_size, num_workers=workers)
    test_loader = DataLoader(test_set, batch_size=2 * batch_size, num_workers=workers)
    return train_loader, test_loader
