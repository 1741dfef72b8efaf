"""The ``bnlint confirm`` command. Importing this module does not import torch
(the child process does); bnlint's main CLI registers ``confirm_command``."""
from __future__ import annotations

import sys

import click

from .runner import run_script

HELP = """Run SCRIPT (your training script) for a few optimizer steps and measure
whether BatchNorm's training statistics disagree with its eval statistics.

\b
WARNING: this command RUNS YOUR SCRIPT, with ARGS, in a child process, as you
would with `python SCRIPT ARGS`. It is the only part of bnlint that runs your
code. The script is stopped after --steps training steps or --max-seconds,
and every process it started is killed (also on Ctrl-C, SIGTERM, SIGHUP).

Pass the script's own arguments after `--`:

\b
    bnlint confirm train.py -- --data ./data --batch-size 64

For every forward call site of a model with BN (file:line), and every loader
feeding one, it reports confirmed / inconclusive / not confirmed with the
measured z (deviation of the batch statistics from fair-batch statistics, in
units of sampling error) and the train/eval output gap. It also measures the
other rules, each with its number: batch sizes at BN layers (BN104/BN901),
no-grad calls with BN in train mode (BN201), training steps with BN in eval
mode (BN202), running-stat drift of frozen BN layers (BN203), averaged models
without update_bn (BN204), per-process batches under DDP (BN301), momentum and
eps in effect (BN402/BN406), eval outputs that depend on the batch (BN403),
gradient penalties on a BN critic (BN404), dropout feeding BN (BN405), BN
layers that activation checkpointing reruns (BN205), biases that BN cancels
(BN401).

Exit status: 0 nothing confirmed, 1 a pitfall confirmed, 2 could not measure
(the script crashed, never stepped an optimizer, has no BN, or timed out).
Needs PyTorch: pip install 'bnlint[confirm]'.
"""


@click.command("confirm", help=HELP)
@click.argument("script", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--steps", default=13, show_default=True, type=click.IntRange(1),
              help="Training steps to run before stopping the script.")
@click.option("--probe-steps", default=8, show_default=True, type=click.IntRange(1),
              help="How many of the last steps are measured.")
@click.option("--max-seconds", default=300.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Stop the script after this long, measuring what ran.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--show-output", is_flag=True, help="Print what the script printed (to stderr).")
def confirm_command(script, args, steps, probe_steps, max_seconds, output_format, show_output):
    outcome = run_script(script, args, steps=steps, probe=probe_steps, max_seconds=max_seconds)
    result = outcome.result
    if show_output and outcome.log:
        click.echo(outcome.log, err=True, nl=False)
    if output_format == "json":
        from .render import render_json

        click.echo(render_json(result))
    else:
        from rich.console import Console

        from .render import render_text

        render_text(result, Console())
        if result.status != "ok" and outcome.log and not show_output:
            tail = "\n".join(outcome.log.rstrip().splitlines()[-10:])
            click.echo(f"last output of the script:\n{tail}", err=True)
    sys.exit(result.exit_code)
