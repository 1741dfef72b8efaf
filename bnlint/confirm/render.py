"""Reporting a ConfirmResult: a rich table for people, JSON for tools."""
from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .result import ConfirmResult, SiteResult, display_label, display_path
from .verdict import CONFIRMED, INCONCLUSIVE, NOT_CONFIRMED

_STYLE = {CONFIRMED: "bold red", INCONCLUSIVE: "yellow", NOT_CONFIRMED: "green"}
_KIND = {"call": "call", "loader": "loader", "source": "source"}
# Kinds measured at every BN layer of every run: their "not confirmed" rows are left to
# the JSON report, so the table shows what matters.
QUIET_KINDS = ("batch-size", "momentum", "eps")


def _effect(site: SiteResult) -> str:
    if site.relative_l2 is None:
        return "-"
    text = f"{site.relative_l2:.1%}"
    if site.flipped is not None:
        text += f", {site.flipped:.0%} flip"
    return text


def render_text(result: ConfirmResult, console: Console) -> None:
    if result.status != "ok":
        console.print(Text(f"bnlint confirm: {result.message}", style="bold red"))
        return
    title = f"bnlint confirm: {result.verdict}"
    if result.steps:
        title += f" — {result.probe_steps} of {result.steps} training steps measured"
    if result.device:
        title += f" on {result.device}"
    table = Table(title=title, title_justify="left")
    table.add_column("where", no_wrap=True)
    table.add_column("check")
    table.add_column("verdict", no_wrap=True)
    table.add_column("measured", justify="right", no_wrap=True)
    table.add_column("worst BN layer", overflow="fold")
    table.add_column("train/eval gap", justify="right")
    shown = [s for s in result.sites if s.kind not in QUIET_KINDS or s.verdict != NOT_CONFIRMED]
    for site in shown:
        table.add_row(
            display_label(site),
            f"{site.rule} {_KIND.get(site.kind, site.kind)}" if site.rule else _KIND.get(site.kind, site.kind),
            Text(site.verdict, style=_STYLE.get(site.verdict, "")),
            site.number_cell(),
            site.worst_layer or "-",
            _effect(site),
        )
    console.print(table)
    # One sentence per distinct meaning, listing the sites it applies to.
    meanings = {}
    for site in shown:
        meanings.setdefault((site.verdict, site.rule, site.meaning), []).append(display_label(site))
    for (verdict, rule, text), labels in meanings.items():
        head = f"{verdict}{', ' + rule if rule else ''} ({', '.join(labels)}): "
        console.print(Text(head, style=_STYLE.get(verdict, "")) + Text(text))
    hidden = len(result.sites) - len(shown)
    if hidden:
        console.print(f"{hidden} batch-size, momentum and eps measures not confirmed (--format json lists them).",
                      style="dim")
    for site in shown:
        if site.note:
            console.print(f"note ({display_label(site)}): {site.note}")
    console.print(
        "z (BN101-BN103): deviation of the batch statistics from the reference, in units of "
        "sampling error (fair batches ≈ 0.7); confirmed ≥ 4, inconclusive 3–4. Other rules: "
        "docs/confirm.md.",
        style="dim",
    )
    if result.message:
        console.print(f"note: {result.message}")


def render_json(result: ConfirmResult) -> str:
    data = result.to_json()
    for site in data["sites"]:
        site["display"] = display_label(SiteResult.from_json(site))
    data["script"] = display_path(data["script"])
    return json.dumps(data, indent=2)
