"""A GAN whose BN discriminator sees mixed batches: real and fake concatenated.

The article's remedy for BN in a discriminator: every mini-batch holds both
real and fake samples (here 50/50), so BN's batch statistics are those of the
mixture in every call, also in the generator's step.

    python gan_mixed.py
    bnlint confirm gan_mixed.py       # not confirmed
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from common import LATENT, add_gan_arguments, make_discriminator, make_generator, mean_gap, real_samples


def train(steps=300, batch_size=64, lr=2e-4, seed=0):
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(seed)
    G, D = make_generator(), make_discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    labels = torch.cat([torch.ones(batch_size, 1), torch.zeros(batch_size, 1)])
    for _ in range(steps):
        real = real_samples(batch_size, data)
        fake = G(torch.randn(batch_size, LATENT))

        logits = D(torch.cat([real, fake.detach()]))  # one mixed batch
        d_loss = F.binary_cross_entropy_with_logits(logits, labels)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()

        logits = D(torch.cat([real, fake]))  # mixed here too; only the fake half drives G
        g_loss = F.binary_cross_entropy_with_logits(logits[batch_size:], labels[:batch_size])
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    return mean_gap(G, data)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_gan_arguments(parser)
    gap = train(**vars(parser.parse_args(argv)))
    print(f"distance between generated and real means: {gap:.3f}")


if __name__ == "__main__":
    main()
