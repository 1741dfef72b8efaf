"""Domain-specific BN: every weight shared except the BN layers, one per domain.

The article's best variant: each BN layer only ever sees one domain, in
training and in eval mode, so its running statistics match its batches.

    python dsbn.py --steps 300
    bnlint confirm dsbn.py            # not confirmed
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from common import SmallCNN, accuracy, add_common_arguments, make_domains, random_batches

DOMAIN_A, DOMAIN_B = 0, 1


def train(steps=300, batch_size=32, lr=1e-3, seed=0, shift="contrast"):
    torch.manual_seed(seed)
    train_a, train_b, test_a, test_b = make_domains(shift=shift, seed=seed)
    model = SmallCNN(domains=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    batches = zip(random_batches(train_a, batch_size, steps, generator),
                  random_batches(train_b, batch_size, steps, generator))
    model.train()
    for (xa, ya), (xb, yb) in batches:
        logits_a = model(xa, domain=DOMAIN_A)
        logits_b = model(xb, domain=DOMAIN_B)
        loss = F.cross_entropy(logits_a, ya) + F.cross_entropy(logits_b, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {
        "A": accuracy(model, test_a, domain=DOMAIN_A),
        "B": accuracy(model, test_b, domain=DOMAIN_B),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    result = train(**vars(parser.parse_args(argv)))
    print(f"eval accuracy: domain A {result['A']:.1%}, domain B {result['B']:.1%}")


if __name__ == "__main__":
    main()
