"""A GAN whose BN discriminator sees pure batches: all real, then all fake.

The pitfall the article warns about (bnlint BN102): the discriminator's BN
normalizes the real batch with real-only statistics and the fake batch with
fake-only statistics, so it can tell them apart by batch statistics, and its
running statistics match neither. Compare with gan_mixed.py.

    python gan_separate.py
    bnlint confirm gan_separate.py    # confirmed
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
    ones, zeros = torch.ones(batch_size, 1), torch.zeros(batch_size, 1)
    for _ in range(steps):
        real = real_samples(batch_size, data)
        fake = G(torch.randn(batch_size, LATENT))

        d_real = D(real)  # a batch of real samples only
        d_fake = D(fake.detach())  # a batch of fake samples only
        d_loss = F.binary_cross_entropy_with_logits(d_real, ones) + F.binary_cross_entropy_with_logits(d_fake, zeros)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()

        g_loss = F.binary_cross_entropy_with_logits(D(fake), ones)
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
