"""Human output: one grep-able line per finding; on a terminal a code frame, help and docs link.

The first line of every finding is ``path:line:col: CODE [name] message`` (in a
notebook ``nb.ipynb:cell 3:line 7:col: ...``). Piped or redirected, that is the
whole finding, one line each. On a terminal findings are grouped under a
header per file, the message wraps to the terminal's width with a hanging
indent, and a code frame underlines the flagged span, followed by the related
places and the why (``note:``), the fix (``help:``) and the rule's page (``docs:``).
"""
from __future__ import annotations

import dataclasses
import textwrap
from collections import Counter
from typing import Dict, List, Optional, Tuple

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..findings import Finding
from ..paths import escape_path
from ..source import SourceError, decode, read_bytes, split_lines

_INDENT = "  "


class TextReporter:
    def __init__(self, console: Console, show_source: bool, quiet: bool = False):
        self.console = console
        self.show_source = show_source
        self.quiet = quiet
        self._files: Dict[str, Optional[bytes]] = {}
        self._current_path: Optional[str] = None

    # -- source lines for code frames ---------------------------------------------------
    def _read(self, path: str) -> Optional[bytes]:
        if path not in self._files:
            try:  # read_bytes, not open(): a FIFO or device must not block the report
                self._files[path] = read_bytes(path)
            except SourceError:
                self._files[path] = None
        return self._files[path]

    def _line(self, f: Finding) -> Optional[str]:
        data = self._read(f.path)
        if data is None:
            return None
        if f.cell is not None:
            from ..notebook import cell_lines

            lines = cell_lines(data, f.path, f.cell)
        else:
            try:  # the file's encoding and LibCST's line ends, as the finding's line number counts them
                lines = decode(data, f.path).lines
            except SourceError:
                lines = split_lines(data.decode("utf-8", "replace"))
        if not lines or not 0 < f.line <= len(lines):
            return None
        return lines[f.line - 1].lstrip("\ufeff")

    # -- findings ------------------------------------------------------------------------
    def _width(self) -> int:
        return max(40, self.console.width)

    def finding(self, f: Finding) -> None:
        source, f = f, _shown(f)  # the file is read under its real name, shown escaped
        c = self.console
        if not self.show_source:
            c.print(f"[bold]{escape(f.location)}[/bold]: [bold red]{f.code}[/bold red] "
                    f"[dim]\\[{f.name}][/dim] {escape(f.message)}", soft_wrap=True, highlight=False)
            return
        if f.path != self._current_path:
            self._current_path = f.path
            c.rule(f"[bold]{escape(f.path)}[/bold]", align="left", style="blue")
        head = f"{f.location}: {f.code} [{f.name}] {f.message}"
        lines = textwrap.wrap(head, self._width(), subsequent_indent=_INDENT, break_on_hyphens=False,
                              break_long_words=False) or [head]
        first = lines[0]
        prefix = f"{f.location}: {f.code} [{f.name}]"
        if first.startswith(prefix):
            first = (f"[bold]{escape(f.location)}[/bold]: [bold red]{f.code}[/bold red] "
                     f"[dim]\\[{f.name}][/dim]{escape(first[len(prefix):])}")
        else:
            first = escape(first)
        c.print(first, soft_wrap=True, highlight=False)
        for line in lines[1:]:
            c.print(escape(line), soft_wrap=True, highlight=False)
        self._frame(source)
        gutter = " " * (len(str(f.line)) + 1)
        for rel in f.related:
            self._note(gutter, "note:", f"{rel.message} at {rel.path}:{rel.line}", "blue")
        if f.explanation:  # the why, kept out of the one-line message
            self._note(gutter, "note:", f.explanation, "blue")
        self._note(gutter, "help:", f.fix, "bold green")
        self._note(gutter, "docs:", f.url, "blue")
        c.print()

    def _note(self, gutter: str, label: str, text: str, style: str) -> None:
        lead = f"{gutter}= {label} "
        lines = textwrap.wrap(text, self._width(), initial_indent=lead, subsequent_indent=" " * len(lead),
                              break_on_hyphens=False, break_long_words=False) or [lead]
        self.console.print(f"[blue]{gutter}=[/blue] [{style}]{label}[/{style}]{escape(lines[0][len(lead) - 1:])}",
                           soft_wrap=True, highlight=False)
        for line in lines[1:]:
            self.console.print(escape(line), soft_wrap=True, highlight=False)

    def _frame(self, f: Finding) -> None:
        text = self._line(f)
        if text is None:
            return
        text = text.expandtabs(4).rstrip()
        start = max(0, f.column - 1)
        end = f.end_column - 1 if f.end_line == f.line and f.end_column > f.column else len(text)
        end = max(start + 1, min(end, len(text)))
        number = str(f.line)
        gutter = " " * len(number)
        shown, start, end = _fit(text, start, end, self._width() - len(number) - 4)
        c = self.console
        c.print(f"[blue]{gutter} |[/blue]", highlight=False)
        c.print(f"[blue]{number} |[/blue] {escape(shown)}", soft_wrap=True, highlight=False)
        more = f" [dim]continues to line {f.end_line}[/dim]" if f.end_line > f.line else ""
        c.print(f"[blue]{gutter} |[/blue] {' ' * start}[bold red]{'^' * (end - start)}[/bold red]{more}",
                soft_wrap=True, highlight=False)

    # -- errors, statistics, summary ---------------------------------------------------------
    def error(self, path: str, message: str) -> None:
        path, message = escape_path(path), escape_path(message)
        lines = [message]
        if self.show_source:
            lead = " " * len(f"{path}: error: ")
            lines = textwrap.wrap(message, self._width(), initial_indent=lead, subsequent_indent=_INDENT,
                                  break_on_hyphens=False, break_long_words=False) or [message]
            lines[0] = lines[0].lstrip()
        self.console.print(f"[bold]{escape(path)}[/bold]: [bold yellow]error:[/bold yellow] {escape(lines[0])}",
                           soft_wrap=True, highlight=False)
        for line in lines[1:]:
            self.console.print(escape(line), soft_wrap=True, highlight=False)

    def statistics(self, findings: List[Finding]) -> None:
        counts = Counter((f.code, f.name) for f in findings)
        fixable = Counter(f.code for f in findings if f.autofix is not None)
        table = Table(show_header=True, header_style="bold", box=None)
        table.add_column("count", justify="right")
        table.add_column("code")
        table.add_column("name")
        table.add_column("fixable")
        for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(str(n), code, name, str(fixable[code]) if fixable[code] else "")
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

    def note(self, text: str) -> None:
        """A line of extra information (fixes applied, baseline counts); hidden by --quiet."""
        if not self.quiet:
            self.console.print(escape(escape_path(text)), soft_wrap=True, highlight=False)


def _shown(f: Finding) -> Finding:
    """``f`` with the paths (and messages naming paths) as every report spells them."""
    related = tuple(dataclasses.replace(r, path=escape_path(r.path), message=escape_path(r.message))
                    for r in f.related)
    return dataclasses.replace(f, path=escape_path(f.path), message=escape_path(f.message), related=related)


def _fit(text: str, start: int, end: int, width: int) -> Tuple[str, int, int]:
    """Cut a long code line to ``width`` around the flagged span; returns (shown, start, end)."""
    width = max(20, width)
    if len(text) <= width:
        return text, start, end
    left = 0
    if start > width // 3:
        left = start - width // 3  # keep some context before the span
    shown = text[left:left + width]
    if left:
        shown = "…" + shown[1:]
    if left + width < len(text):
        shown = shown[:-1] + "…"
    start -= left
    end = min(end - left, len(shown) - (1 if shown.endswith("…") else 0))
    return shown, start, max(end, start + 1)
