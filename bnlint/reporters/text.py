"""Human output: one grep-able line per finding; on a terminal a code frame and help."""
from __future__ import annotations

import os
from collections import Counter
from typing import Dict, List, Optional

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..findings import Finding


class TextReporter:
    def __init__(self, console: Console, show_source: bool, quiet: bool = False):
        self.console = console
        self.show_source = show_source
        self.quiet = quiet
        self._lines: Dict[str, Optional[List[str]]] = {}

    def _source_lines(self, path: str) -> Optional[List[str]]:
        if path not in self._lines:
            try:
                with open(path, "rb") as fh:
                    self._lines[path] = fh.read().decode("utf-8", "replace").splitlines()
            except OSError:
                self._lines[path] = None
        return self._lines[path]

    def finding(self, f: Finding) -> None:
        c = self.console
        head = (f"[bold]{escape(f.path)}[/bold]:{f.line}:{f.column}: [bold red]{f.code}[/bold red] "
                f"[dim]\\[{f.name}][/dim] {escape(f.message)}")
        c.print(head, soft_wrap=True, highlight=False)
        if not self.show_source:
            return
        lines = self._source_lines(f.path)
        if lines and 0 < f.line <= len(lines):
            text = lines[f.line - 1].expandtabs(4)
            width = len(str(f.line))
            gutter = " " * width
            start = max(0, f.column - 1)
            end = f.end_column - 1 if f.end_line == f.line and f.end_column > f.column else len(text.rstrip())
            span = max(1, min(end, len(text.rstrip())) - start)
            c.print(f"[blue]{gutter} |[/blue]", highlight=False)
            c.print(f"[blue]{f.line} |[/blue] {escape(text)}", soft_wrap=True, highlight=False)
            c.print(f"[blue]{gutter} |[/blue] {' ' * start}[red]{'^' * span}[/red]", soft_wrap=True,
                    highlight=False)
        for rel in f.related:
            c.print(f"[blue]  = note:[/blue] {escape(rel.message)} at {escape(rel.path)}:{rel.line}",
                    soft_wrap=True, highlight=False)
        c.print(f"[blue]  = [/blue][bold green]help:[/bold green] {escape(f.fix)}", soft_wrap=True,
                highlight=False)
        c.print(f"[blue]  = docs:[/blue] {f.url}", soft_wrap=True, highlight=False)
        c.print()

    def error(self, path: str, message: str) -> None:
        self.console.print(f"[bold]{escape(path)}[/bold]: [bold yellow]error:[/bold yellow] {escape(message)}",
                           soft_wrap=True, highlight=False)

    def statistics(self, findings: List[Finding]) -> None:
        counts = Counter((f.code, f.name) for f in findings)
        table = Table(show_header=True, header_style="bold", box=None)
        table.add_column("count", justify="right")
        table.add_column("code")
        table.add_column("name")
        for (code, name), n in sorted(counts.items()):
            table.add_row(str(n), code, name)
        self.console.print(table)

    def summary(self, n_findings: int, n_files_with: int, n_errors: int, files_checked: int) -> None:
        if self.quiet:
            return
        checked = f"{files_checked} file{'s' if files_checked != 1 else ''} checked"
        parts = []
        if n_findings:
            parts.append(f"Found {n_findings} finding{'s' if n_findings != 1 else ''} in "
                         f"{n_files_with} file{'s' if n_files_with != 1 else ''}")
        if n_errors:
            parts.append(f"{n_errors} file error{'s' if n_errors != 1 else ''}")
        if not parts:
            self.console.print(f"[bold green]All checks passed![/bold green] ({checked})", highlight=False)
        else:
            self.console.print(f"[bold]{'; '.join(parts)}[/bold] ({checked}).", highlight=False)
