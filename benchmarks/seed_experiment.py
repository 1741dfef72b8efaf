"""Reproduce the article's table: concatenated batch vs weight-sharing towers vs
domain-specific BN, best / median / worst eval accuracy over 5 seeds.

Runs the training functions of examples/two_domains (synthetic digits-like
data, domain B a low-contrast or inverted copy; see common.py) on CPU.
Writes a Markdown table, and a PNG chart when matplotlib is installed, to
benchmarks/out/. Not part of the tests: a few minutes on one core.

    python benchmarks/seed_experiment.py [--steps 800] [--seeds 5] [--shifts contrast invert]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples" / "two_domains"))

import concat  # noqa: E402
import dsbn  # noqa: E402
import towers  # noqa: E402

VARIANTS = {"concatenated batch": concat, "two towers": towers, "domain-specific BN": dsbn}


def run(steps: int, seeds: int, shifts):
    """{shift: {variant: [accuracy per seed]}}; accuracy = mean over both domains."""
    table = {}
    for shift in shifts:
        table[shift] = {}
        for name, module in VARIANTS.items():
            accuracies = []
            for seed in range(seeds):
                result = module.train(steps=steps, seed=seed, shift=shift)
                accuracies.append((result["A"] + result["B"]) / 2)
            table[shift][name] = accuracies
            print(f"{shift:9s} {name:20s} " + " ".join(f"{a:.3f}" for a in accuracies), flush=True)
    return table


def markdown(table, steps: int, seeds: int) -> str:
    lines = [
        f"Eval accuracy (mean of both domains), {seeds} seeds, {steps} steps, batch 32 per domain.",
        "",
        "| domain B | variant | best | median | worst | spread | seeds where towers beat it |",
        "|---|---|---|---|---|---|---|",
    ]
    for shift, variants in table.items():
        for name, accuracies in variants.items():
            wins = ""
            if name != "two towers":
                wins = f"{sum(t > a for t, a in zip(variants['two towers'], accuracies))}/{seeds}"
            lines.append(
                f"| {shift} | {name} | {max(accuracies):.1%} | {statistics.median(accuracies):.1%} "
                f"| {min(accuracies):.1%} | {max(accuracies) - min(accuracies):.1%} | {wins} |"
            )
    return "\n".join(lines) + "\n"


def chart(table, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart written (pip install matplotlib)")
        return False
    fig, axes = plt.subplots(1, len(table), figsize=(5 * len(table), 4), squeeze=False)
    for ax, (shift, variants) in zip(axes[0], table.items()):
        names = list(variants)
        for i, name in enumerate(names):
            acc = sorted(variants[name])
            ax.plot([i] * len(acc), [100 * a for a in acc], "o", alpha=0.6)
            ax.plot([i - 0.2, i + 0.2], [100 * statistics.median(acc)] * 2, "k-")
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=15)
        ax.set_title(f"domain B: {shift}")
        ax.set_ylabel("eval accuracy (%)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--shifts", nargs="+", default=["contrast", "invert"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (tiny models: 1 is fastest)")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    table = run(args.steps, args.seeds, args.shifts)
    text = markdown(table, args.steps, args.seeds)
    (args.out / "seed_experiment.md").write_text(text, encoding="utf-8")
    print()
    print(text)
    if chart(table, args.out / "seed_experiment.png"):
        print(f"chart: {args.out / 'seed_experiment.png'}")
    print(f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
