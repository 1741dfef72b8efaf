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
    table.add_column("z", justify="right")
    table.add_column("worst BN layer", overflow="fold")
    table.add_column("train/eval gap", justify="right")
    for site in result.sites:
        table.add_row(
            display_label(site),
            _KIND.get(site.kind, site.kind),
            Text(site.verdict, style=_STYLE.get(site.verdict, "")),
            f"{site.z:.1f}",
            site.worst_layer or "-",
            _effect(site),
        )
    console.print(table)
    # One sentence per distinct meaning, listing the sites it applies to.
    meanings = {}
    for site in result.sites:
        meanings.setdefault((site.verdict, site.meaning), []).append(display_label(site))
    for (verdict, text), labels in meanings.items():
        console.print(Text(f"{verdict} ({', '.join(labels)}): ", style=_STYLE.get(verdict, "")) + Text(text))
    for site in result.sites:
        if site.note:
            console.print(f"note ({display_label(site)}): {site.note}")
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
