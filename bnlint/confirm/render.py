"""Reporting a ConfirmResult: a rich table for people, JSON for tools."""
from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .result import ConfirmResult, SiteResult, display_label, display_path
from .verdict import CONFIRMED, INCONCLUSIVE, NOT_CONFIRMED

_STYLE = {CONFIRMED: "bold red", INCONCLUSIVE: "yellow", NOT_CONFIRMED: "green"}
_KIND = {"call": "forward call", "loader": "loader", "source": "source"}


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
    table.add_column("where")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("z", justify="right")
    table.add_column("worst BN layer")
    table.add_column("train/eval output gap", justify="right")
    table.add_column("calls", justify="right")
    for site in result.sites:
        table.add_row(
            display_label(site),
            _KIND.get(site.kind, site.kind) + (f" ({site.model})" if site.model else ""),
            Text(site.verdict, style=_STYLE.get(site.verdict, "")),
            f"{site.z:.1f}",
            site.worst_layer or "-",
            _effect(site),
            str(site.calls),
        )
    console.print(table)
    for site in result.sites:
        console.print(f"[bold]{display_label(site)}[/bold] {site.verdict}: {site.meaning}")
        if site.note:
            console.print(f"  note: {site.note}")
    console.print(
        "z: deviation of the batch statistics from the reference, in units of sampling "
        "error (fair batches ≈ 0.7); confirmed ≥ 4, inconclusive 3–4.",
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
