"""Run confirm's case pairs on CUDA: every measure must give the same verdicts on the
GPU as on the CPU, and measure on the model's own device.

    python benchmarks/confirm_device_check.py [--device cpu]

Prints "skipped: no CUDA" (exit 0) where torch sees no GPU. ``--device cpu``
runs the same checks on the CPU (to check the check). Otherwise, for each
pair in tests/confirm_cases.py (the Python API on models built on cuda, and
the scripts under `bnlint confirm` with BNLINT_CASE_DEVICE=cuda) plus the
batch-composition pair of compare(), it prints one row per case and exits 1
if a harmful case is not confirmed, a correct one is, or a result reports a
device other than cuda. The pairs cover every measured rule (BN104/BN901,
BN201-BN205, BN301, BN401-BN406); the BN301 script wraps its model in
DistributedDataParallel over a one-process gloo group, the BN205 pair runs a
conv-BN block through torch.utils.checkpoint on the GPU.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    device = parser.parse_args(argv).device
    if device == "cuda" and not torch.cuda.is_available():
        print("skipped: no CUDA")
        return 0
    import bnlint.confirm as confirm
    from bnlint.confirm.runner import run_script
    from bnlint.confirm.verdict import ADVISORY, SEVERITY
    from tests.confirm_cases import API_CASES, SCRIPT_CASES

    failures = []
    print(f"device: {torch.cuda.get_device_name(0) if device == 'cuda' else 'cpu'}\n")
    print("| case | harmful | correct | device | seconds |")
    print("|---|---|---|---|---|")

    def verdict(result, rule):
        """The run's verdict; for an advisory rule (which does not decide a script's run),
        the worst verdict of that rule's rows."""
        if rule not in ADVISORY:
            return result.verdict
        return max((s.verdict for s in result.sites if s.rule == rule), key=SEVERITY.__getitem__,
                   default="not confirmed")

    def row(name, bad, good, seconds, rule=""):
        devices = {bad.device, good.device}
        bad_verdict, good_verdict = verdict(bad, rule), verdict(good, rule)
        ok = (bad.status == good.status == "ok" and bad_verdict == "confirmed"
              and good_verdict != "confirmed" and all(d.startswith(device) for d in devices))
        if not ok:
            failures.append(name)
        print(f"| {name} | {bad_verdict if bad.status == 'ok' else bad.message} "
              f"| {good_verdict if good.status == 'ok' else good.message} | {', '.join(sorted(devices))} "
              f"| {seconds:.1f} |", flush=True)

    # Batch composition (BN101): towers vs one mixed batch.
    start = time.perf_counter()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 36, 10)).to(device)
    a, b = torch.rand(512, 1, 8, 8), 0.5 + 0.2 * (torch.rand(512, 1, 8, 8) - 0.5)
    bad = confirm.compare(net, {"A": a, "B": b}, batch_size=64)
    good = confirm.compare(net, {"mixed": torch.cat([a, b])[torch.randperm(1024)]}, batch_size=128)
    row("BN101 towers (compare)", bad, good, time.perf_counter() - start)

    for name, (harmful, correct) in sorted(API_CASES.items()):
        start = time.perf_counter()
        row(f"{name} (API)", harmful(device), correct(device), time.perf_counter() - start)

    os.environ["BNLINT_CASE_DEVICE"] = device
    with tempfile.TemporaryDirectory() as tmp:
        for name, case in sorted(SCRIPT_CASES.items()):
            start = time.perf_counter()
            results = []
            for which in ("harmful", "correct"):
                path = Path(tmp) / f"{which}.py"
                path.write_text(textwrap.dedent(case[which]), encoding="utf-8")
                results.append(run_script(str(path), max_seconds=120).result)
            row(f"{name} (script)", *results, time.perf_counter() - start, rule=case["rule"])

    print()
    if failures:
        print(f"FAILED on {device}: {', '.join(failures)}")
        return 1
    print(f"all case pairs give the expected verdicts on {device}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
