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
BN204 averaged models, BN402/BN406 settings). The second table gives the
cost of the new measures per traced step. Workloads:

- towers: the towers loop (two forward calls per step), tiny and medium CNN;
- frozen + eval: a frozen BN backbone in train mode under a trained head
  (BN203's watch), with a no-grad evaluation call in train mode every step
  (BN201's extra eval-mode pass, the costliest measure: one more forward for
  each of the first 8 no-grad calls of a site).

    python benchmarks/confirm_overhead.py [--repeats 3] [--clock wall|cpu]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bnlint.confirm.script_analysis import result_from
from bnlint.confirm.tracer import Recorder

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples" / "two_domains"
sys.path.insert(0, str(EXAMPLES))

from common import SmallCNN  # noqa: E402

STEPS, PROBE = 13, 8
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = [time.perf_counter]


def clock() -> float:
    """Wall time by default; ``--clock cpu`` (this process's CPU time, fine with one torch
    thread) keeps the figures steady on a machine busy with other jobs."""
    return _clock[0]()


def block(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
    )


def medium_cnn():
    """A small ResNet-sized CNN for 32x32 RGB: 6 conv-BN pairs, 32-128 channels."""
    return nn.Sequential(
        block(3, 32, 1), block(32, 64, 2), block(64, 128, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
    )


WORKLOADS = {
    # name: (model factory, input shape per sample, batch size per domain)
    "tiny (examples' SmallCNN, 8x8, 2x32)": (SmallCNN, (1, 8, 8), 32),
    "medium (6 conv-BN, 32x32x3, 2x64)": (medium_cnn, (3, 32, 32), 64),
}


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


LOOPS = {"towers": towers_steps, "frozen + eval": frozen_eval_steps}
WORKLOADS["medium frozen backbone + no-grad eval call (32x32x3, 64)"] = (frozen_medium, (3, 32, 32), 64)
LOOP_OF = {name: ("frozen + eval" if "frozen" in name else "towers") for name in WORKLOADS}


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


def in_process(name, factory, shape, batch):
    loop = LOOPS[LOOP_OF[name]]
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
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    _clock[0] = CLOCKS[args.clock]
    print(f"device: cpu, torch threads: {args.threads}, {STEPS} steps ({PROBE} measured), "
          f"median of {args.repeats} runs, {args.clock} clock\n")
    rows = {}
    for name, (factory, shape, batch) in WORKLOADS.items():
        rows[name] = [in_process(name, factory, shape, batch) for _ in range(args.repeats)]

    def med(runs, pick):
        return statistics.median(pick(r) for r in runs)

    print("All measures (what `bnlint confirm` does):\n")
    print("| workload | untraced steps | traced steps | measurement | hooks only | ratio | confirmed |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        plain = med(runs, lambda r: r[0])
        steps = med(runs, lambda r: r[2]["steps"])
        measure = med(runs, lambda r: r[2]["measure"])
        print(f"| {name} | {plain:.3f} s | {steps:.3f} s | {measure:.3f} s | {steps / plain:.2f} "
              f"| {(steps + measure) / plain:.2f} | {', '.join(runs[0][2]['rules']) or '-'} |", flush=True)
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
