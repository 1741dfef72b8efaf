"""Training with BN from a class-sorted dataset through an unshuffled DataLoader.

The pitfall (bnlint BN103): every batch holds one or two classes, so BN's
batch statistics are those of a class, never of the data; the running
statistics average over classes and disagree with every batch.
Compare with loader_shuffled.py.

    python loader_sorted.py
    bnlint confirm loader_sorted.py   # confirmed
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from common import SmallCNN, accuracy, add_loader_arguments, class_sorted_dataset


def train(epochs=5, batch_size=32, lr=1e-3, seed=0):
    torch.manual_seed(seed)
    dataset, test = class_sorted_dataset(seed)
    loader = DataLoader(dataset, batch_size=batch_size)  # no shuffle: batches follow the class order
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return accuracy(model, test)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_loader_arguments(parser)
    print(f"eval accuracy: {train(**vars(parser.parse_args(argv))):.1%}")


if __name__ == "__main__":
    main()
