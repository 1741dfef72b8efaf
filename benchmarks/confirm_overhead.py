"""What `bnlint confirm` costs beyond the training steps it lets the script run,
as a ratio to running the same steps untraced.

Measured in process, per workload (a towers training loop): the time of the
training steps untraced, the same steps with confirm's recorder installed
(hooks, capped input copies), and the measurement that follows (replay on a
copy of the model). Ratio = (traced steps + measurement) / untraced steps.
Interpreter and torch start-up, which a plain run pays too, are left out.

    python benchmarks/confirm_overhead.py [--repeats 3]
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


class _Stopped(BaseException):
    pass


def in_process(factory, shape, batch):
    torch.manual_seed(0)
    towers_steps(factory(), shape, batch, 2)  # warm-up (allocator, kernels)
    start = time.perf_counter()
    towers_steps(factory(), shape, batch, STEPS + 1)
    plain = time.perf_counter() - start

    timings = {}

    def on_stop(recorder, how):
        timings["steps"] = time.perf_counter() - start
        result = result_from(recorder, how, "", 0.0, "benchmark")
        timings["measure"] = time.perf_counter() - start - timings["steps"]
        timings["verdict"] = result.verdict
        raise _Stopped

    recorder = Recorder(steps=STEPS, probe=PROBE, max_seconds=1e9, cap_samples=128,
                        cap_bytes=32 * 2**20, on_stop=on_stop)
    recorder.install()
    try:
        start = time.perf_counter()
        towers_steps(factory(), shape, batch, STEPS + 1)
    except _Stopped:
        pass
    finally:
        recorder.uninstall()
    return plain, timings["steps"], timings["measure"], timings["verdict"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"device: cpu, torch threads: {args.threads}, {STEPS} steps ({PROBE} measured), "
          f"median of {args.repeats} runs\n")
    print("| workload | untraced steps | traced steps | measurement | hooks only | ratio | verdict |")
    print("|---|---|---|---|---|---|---|")
    for name, (factory, shape, batch) in WORKLOADS.items():
        runs = [in_process(factory, shape, batch) for _ in range(args.repeats)]
        plain, traced, measure = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {name} | {plain:.3f} s | {traced:.3f} s | {measure:.3f} s | {traced / plain:.2f} "
              f"| {(traced + measure) / plain:.2f} | {runs[0][3]} |", flush=True)


if __name__ == "__main__":
    main()
