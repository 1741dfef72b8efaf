"""What `bnlint confirm` costs beyond the training steps it lets the script run,
as a ratio to running the same steps untraced.

Measured in process, per workload: the time of the training steps untraced,
the same steps with confirm's recorder installed (hooks, capped input copies),
and the measurement that follows (replay on a copy of the model).
Ratio = (traced steps + measurement) / untraced steps. Interpreter and torch
start-up, which a plain run pays too, are left out.

The recorder runs twice: with the batch-composition recording only
(``measures=False``: BN101-BN103) and with every measure (BN104/BN901 batch
sizes, BN201 no-grad calls, BN202 eval-mode training, BN203 frozen layers,
BN204 averaged models, BN205 checkpointed BN, BN301 DDP, BN401 biases before BN,
BN402/BN406 settings, BN403 batch-dependent eval, BN404 gradient penalties,
BN405 dropout before BN). The second table
gives the cost of the measures beyond batch composition per traced step.
Workloads (the medium CNN: 6 conv-BN pairs on 32x32x3):

- towers: the towers loop (two forward calls per step), tiny and medium CNN;
- frozen + eval: a frozen BN backbone in train mode under a trained head
  (BN203's watch), with a no-grad evaluation call in train mode every step
  (BN201's extra eval-mode pass: one more forward for each of the first 8
  no-grad calls of a site);
- DDP: the medium CNN wrapped in DistributedDataParallel (gloo, one process),
  BN301 (its sizes come from the per-layer watch: nothing extra per step);
- untracked + eval: the medium CNN with track_running_stats=False and an
  eval-mode no-grad call every step (BN403: the call on the two halves of its
  batch first, for the first 4 calls of a site);
- WGAN-GP: the medium CNN as a critic with a gradient penalty every step
  (BN404: for the first 2 penalties of a site, a copy of the critic, one
  forward and 5 backward passes);
- dropout: the medium CNN with Dropout2d(0.1) between each convolution and its
  BN (BN405: measured after the stop on a copy: one recorded call replayed to
  find the BN layers dropout feeds, then 4 with dropout on and 4 with it off;
  nothing extra per step);
- checkpointed: the medium CNN with its three conv-BN blocks each run through
  ``torch.utils.checkpoint`` (BN205: a count per BN call inside checkpointed
  code; the recomputation in backward is the workload's own cost);
- conv biases: the medium CNN with ``bias=True`` on every convolution before
  its BN (BN401: measured after the stop on a copy: one recorded call replayed
  to find the layers that feed BN, then 4 with a backward pass each).

    python benchmarks/confirm_overhead.py [--repeats 3] [--clock wall|cpu] [--only NAME]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torch.utils.checkpoint  # noqa: F401  (torch.utils.checkpoint.checkpoint below)
from torch import nn

from bnlint.confirm.script_analysis import result_from
from bnlint.confirm.tracer import Recorder

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "two_domains"
sys.path.insert(0, str(EXAMPLES))

from common import SmallCNN  # noqa: E402

STEPS, PROBE = 13, 8
NEW_RULES = ("BN205", "BN301", "BN401", "BN403", "BN404", "BN405")  # their numbers are shown in the first table
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = [time.perf_counter]


def clock() -> float:
    """Wall time by default; ``--clock cpu`` (this process's CPU time, fine with one torch
    thread) keeps the figures steady on a machine busy with other jobs."""
    return _clock[0]()


def medium_cnn(outputs=10, norm=nn.BatchNorm2d, dropout=0.0, bias=False):
    """A small ResNet-sized CNN for 32x32 RGB: 6 conv-BN pairs, 32-128 channels."""
    def block(cin, cout, stride):
        def conv(a, b, s):
            layers = [nn.Conv2d(a, b, 3, s, 1, bias=bias)]
            return layers + ([nn.Dropout2d(dropout)] if dropout else []) + [norm(b), nn.ReLU()]
        return nn.Sequential(*conv(cin, cout, stride), *conv(cout, cout, 1))

    return nn.Sequential(
        block(3, 32, 1), block(32, 64, 2), block(64, 128, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, outputs),
    )


def towers_steps(model, shape, batch, steps, seed=0):
    """The towers training loop: one forward call per domain, one optimizer step."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        xa = torch.rand(batch, *shape, generator=generator)
        xb = 0.5 + 0.2 * torch.rand(batch, *shape, generator=generator)
        y = torch.randint(10, (batch,), generator=generator)
        loss = F.cross_entropy(model(xa), y) + F.cross_entropy(model(xb), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def frozen_eval_steps(model, shape, batch, steps, seed=0):
    """A frozen BN backbone (requires_grad False, left in train mode) under a head that
    trains, plus a no-grad evaluation call in train mode each step (BN203 and BN201)."""
    generator = torch.Generator().manual_seed(seed)
    backbone, head = model
    backbone.requires_grad_(False)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.01)
    for _ in range(steps):
        x = torch.rand(batch, *shape, generator=generator)
        y = torch.randint(10, (batch,), generator=generator)
        loss = F.cross_entropy(head(backbone(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            backbone(torch.rand(batch, *shape, generator=generator))


def frozen_medium():
    net = medium_cnn()
    return net[:-1], net[-1]


def plain_steps(model, shape, batch, steps, seed=0):
    """One forward call per step: the ordinary training loop."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        x = torch.rand(batch, *shape, generator=generator)
        y = torch.randint(10, (batch,), generator=generator)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def eval_call_steps(model, shape, batch, steps, seed=0):
    """A training step, then an eval-mode no-grad evaluation call (BN403 on an untracked model)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        model.train()
        x = torch.rand(batch, *shape, generator=generator)
        y = torch.randint(10, (batch,), generator=generator)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            model(torch.rand(batch, *shape, generator=generator))


def penalty_steps(critic, shape, batch, steps, seed=0):
    """A WGAN-GP critic step: real, fake and the gradient penalty at interpolates (BN404)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    for _ in range(steps):
        real = torch.rand(batch, *shape, generator=generator)
        fake = 0.5 + 0.2 * torch.rand(batch, *shape, generator=generator)
        alpha = torch.rand(batch, 1, 1, 1, generator=generator)
        interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        scores = critic(interpolates)
        grads = torch.autograd.grad(scores, interpolates, torch.ones_like(scores), create_graph=True)[0]
        penalty = ((grads.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        loss = critic(fake).mean() - critic(real).mean() + 10 * penalty
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def ddp_medium():
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if not dist.is_initialized():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    return DistributedDataParallel(medium_cnn())


class CheckpointedCNN(nn.Module):
    """The medium CNN with each of its three conv-BN blocks run through checkpoint()."""

    def __init__(self):
        super().__init__()
        self.net = medium_cnn()

    def forward(self, x):
        for i, layer in enumerate(self.net):
            # Looked up at call time, as torch.utils.checkpoint.checkpoint(...) in a script is.
            x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False) if i < 3 else layer(x)
        return x


MEDIUM = ((3, 32, 32), 64)
WORKLOADS = {
    # name: (training loop, model factory, input shape per sample, batch size per call)
    "tiny (examples' SmallCNN, 8x8, 2x32)": (towers_steps, SmallCNN, (1, 8, 8), 32),
    "medium (6 conv-BN, 32x32x3, 2x64)": (towers_steps, medium_cnn, *MEDIUM),
    "medium frozen backbone + no-grad eval call (32x32x3, 64)": (frozen_eval_steps, frozen_medium, *MEDIUM),
    "BN301: medium in DDP, gloo, 1 process (64)": (plain_steps, ddp_medium, *MEDIUM),
    "BN403: medium, track_running_stats=False, + eval-mode call (64)": (
        eval_call_steps, lambda: medium_cnn(norm=lambda c: nn.BatchNorm2d(c, track_running_stats=False)), *MEDIUM),
    "BN404: medium as WGAN-GP critic, 3 calls + penalty (64)": (penalty_steps, lambda: medium_cnn(outputs=1),
                                                               *MEDIUM),
    "BN405: medium, Dropout2d(0.1) before each BN (64)": (plain_steps, lambda: medium_cnn(dropout=0.1), *MEDIUM),
    "BN205: medium, its 3 conv-BN blocks checkpointed (64)": (plain_steps, CheckpointedCNN, *MEDIUM),
    "BN401: medium, bias=True on each conv before its BN (64)": (plain_steps, lambda: medium_cnn(bias=True), *MEDIUM),
}


class _Stopped(BaseException):
    pass


def traced(loop, factory, shape, batch, measures):
    timings = {}

    def on_stop(recorder, how):
        timings["steps"] = clock() - start
        result = result_from(recorder, how, "", 0.0, "benchmark")
        timings["measure"] = clock() - start - timings["steps"]
        timings["verdict"] = result.verdict
        timings["rules"] = sorted({s.rule for s in result.sites if s.verdict == "confirmed"})
        timings["numbers"] = sorted({f"{s.rule} {s.number_cell()} ({s.verdict})" for s in result.sites
                                     if s.rule in NEW_RULES})
        raise _Stopped

    recorder = Recorder(steps=STEPS, probe=PROBE, max_seconds=1e9, cap_samples=128,
                        cap_bytes=32 * 2**20, on_stop=on_stop, measures=measures)
    recorder.install()
    try:
        start = clock()
        loop(factory(), shape, batch, STEPS + 1)
    except _Stopped:
        pass
    finally:
        recorder.uninstall()
    return timings


def in_process(loop, factory, shape, batch):
    torch.manual_seed(0)
    loop(factory(), shape, batch, 2)  # warm-up (allocator, kernels)
    start = clock()
    loop(factory(), shape, batch, STEPS + 1)
    plain = clock() - start
    return plain, traced(loop, factory, shape, batch, False), traced(loop, factory, shape, batch, True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    parser.add_argument("--only", default="", help="run the workloads whose name contains this")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    _clock[0] = CLOCKS[args.clock]
    print(f"device: cpu, torch threads: {args.threads}, {STEPS} steps ({PROBE} measured), "
          f"median of {args.repeats} runs, {args.clock} clock\n")
    rows = {}
    for name, workload in WORKLOADS.items():
        if args.only in name:
            rows[name] = [in_process(*workload) for _ in range(args.repeats)]

    def med(runs, pick):
        return statistics.median(pick(r) for r in runs)

    print("All measures (what `bnlint confirm` does):\n")
    print("| workload | untraced steps | traced steps | measurement | hooks only | ratio | confirmed "
          "| BN205/BN301/BN401/BN403-BN405 measured |")
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        plain = med(runs, lambda r: r[0])
        steps = med(runs, lambda r: r[2]["steps"])
        measure = med(runs, lambda r: r[2]["measure"])
        print(f"| {name} | {plain:.3f} s | {steps:.3f} s | {measure:.3f} s | {steps / plain:.2f} "
              f"| {(steps + measure) / plain:.2f} | {', '.join(runs[0][2]['rules']) or '-'} "
              f"| {'; '.join(runs[0][2]['numbers']) or '-'} |", flush=True)
    print("\nThe measures beyond batch composition, per traced step (all measures minus "
          "batch recording only):\n")
    print("| workload | untraced per step | batch recording per step | all measures per step "
          "| added per step | added measurement |")
    print("|---|---|---|---|---|---|")
    for name, runs in rows.items():
        plain = med(runs, lambda r: r[0]) / (STEPS + 1)
        batch_only = med(runs, lambda r: r[1]["steps"]) / STEPS
        every = med(runs, lambda r: r[2]["steps"]) / STEPS
        added_measure = med(runs, lambda r: r[2]["measure"] - r[1]["measure"])
        print(f"| {name} | {plain * 1e3:.2f} ms | {batch_only * 1e3:.2f} ms | {every * 1e3:.2f} ms "
              f"| {(every - batch_only) * 1e3:+.2f} ms ({(every - batch_only) / plain:+.0%}) "
              f"| {added_measure * 1e3:+.1f} ms |", flush=True)


if __name__ == "__main__":
    main()
