"""One network, one concatenated batch of both domains per step.

Same data, loss and optimizer as towers.py, but BN sees the mixture in every
training step, which is what its running statistics (and eval mode) use.

    python concat.py --steps 300
    bnlint confirm concat.py          # not confirmed
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from common import SmallCNN, accuracy, add_common_arguments, make_domains, random_batches


def train(steps=300, batch_size=32, lr=1e-3, seed=0, shift="contrast"):
    torch.manual_seed(seed)
    train_a, train_b, test_a, test_b = make_domains(shift=shift, seed=seed)
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    batches = zip(random_batches(train_a, batch_size, steps, generator),
                  random_batches(train_b, batch_size, steps, generator))
    model.train()
    for (xa, ya), (xb, yb) in batches:
        logits = model(torch.cat([xa, xb]))  # one call: BN statistics of the mixture
        loss = F.cross_entropy(logits, torch.cat([ya, yb])) * 2  # same scale as two summed losses
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"A": accuracy(model, test_a), "B": accuracy(model, test_b)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    result = train(**vars(parser.parse_args(argv)))
    print(f"eval accuracy: domain A {result['A']:.1%}, domain B {result['B']:.1%}")


if __name__ == "__main__":
    main()
