"""Applying autofixes: edit the text, re-parse, write atomically.

Rules describe fixes as character-offset edits computed from LibCST positions,
so everything outside an edit (comments, formatting, line endings, encoding,
BOM) is kept byte for byte. A fix whose result would not parse is dropped and
reported. Files are replaced atomically (temporary file in the same folder,
then ``os.replace``), so an interrupted run leaves every file either old or new.
"""
from __future__ import annotations

import difflib
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .findings import Autofix, Finding
from .parsing import ParseFailure, parse
from .source import Source, SourceError, read_source


@dataclass
class FixOutcome:
    fixed: List[Finding] = field(default_factory=list)  # applied (or, with --diff, applicable)
    dropped: List[Tuple[Finding, str]] = field(default_factory=list)  # not applied, and why
    diffs: Dict[str, str] = field(default_factory=dict)  # display path -> unified diff
    changed: List[str] = field(default_factory=list)  # display paths written (or that would be)


def applicable(finding: Finding, unsafe: bool) -> bool:
    fix = finding.autofix
    return fix is not None and bool(fix.edits) and (fix.safe or unsafe)


def write_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically, keeping its permission bits (and a symlink's target)."""
    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    try:
        mode: Optional[int] = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".bnlint-tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _apply(text: str, fix: Autofix, newline: str) -> str:
    for edit in sorted(fix.edits, key=lambda e: e.start, reverse=True):
        insert = edit.text.replace("\n", newline) if newline != "\n" else edit.text
        text = text[:edit.start] + insert + text[edit.end:]
    return text


def _span(fix: Autofix) -> Tuple[int, int]:
    return min(e.start for e in fix.edits), max(e.end for e in fix.edits)


def fix_source(source: Source, findings: Sequence[Finding]) -> Tuple[str, List[Finding], List[Tuple[Finding, str]]]:
    """Apply the findings' fixes to ``source``: (new text, fixed, dropped with reason)."""
    fixed: List[Finding] = []
    dropped: List[Tuple[Finding, str]] = []
    accepted: List[Tuple[Finding, Tuple[int, int]]] = []
    for f in sorted(findings, key=lambda f: _span(f.autofix)):
        start, end = _span(f.autofix)
        if end > len(source.text) or start < 0:
            dropped.append((f, "the file changed since it was linted"))
        elif accepted and start < accepted[-1][1][1]:
            dropped.append((f, "overlaps another fix; run --fix again"))
        else:
            accepted.append((f, (start, end)))
    text = source.text
    # Later fixes first, so the offsets of earlier ones stay valid.
    for f, _ in reversed(accepted):
        candidate = _apply(text, f.autofix, source.newline)
        try:
            parse(candidate)
        except ParseFailure as exc:
            dropped.append((f, f"the fixed code would not parse ({exc}); fix not applied"))
            continue
        text = candidate
        fixed.append(f)
    fixed.reverse()
    return text, fixed, dropped


def encode(source: Source, text: str) -> bytes:
    data = text.encode(source.encoding)
    if source.bom and not data.startswith(b"\xef\xbb\xbf"):
        data = b"\xef\xbb\xbf" + data
    return data


def apply_fixes(findings: Sequence[Finding], unsafe: bool = False, write: bool = True) -> FixOutcome:
    """Fix every file with applicable findings; with ``write=False`` only compute diffs."""
    outcome = FixOutcome()
    by_path: Dict[str, List[Finding]] = defaultdict(list)
    for f in findings:
        if applicable(f, unsafe):
            by_path[f.path].append(f)
    for path in sorted(by_path):
        group = by_path[path]
        if path.endswith(".ipynb"):
            outcome.dropped.extend((f, "fixes are not applied to notebooks yet") for f in group)
            continue
        try:
            source = read_source(path, path)
        except SourceError as exc:
            outcome.dropped.extend((f, str(exc)) for f in group)
            continue
        text, fixed, dropped = fix_source(source, group)
        outcome.dropped.extend(dropped)
        if not fixed:
            continue
        try:
            data = encode(source, text)
        except UnicodeEncodeError:
            outcome.dropped.extend((f, f"the fix cannot be encoded as {source.encoding}") for f in fixed)
            continue
        outcome.fixed.extend(fixed)
        outcome.changed.append(path)
        outcome.diffs[path] = "".join(difflib.unified_diff(
            source.text.splitlines(keepends=True), text.splitlines(keepends=True),
            fromfile=f"a/{path}", tofile=f"b/{path}"))
        if write:
            write_atomic(path, data)
    return outcome
