"""Applying autofixes: edit the text, check the result, write it atomically, or not at all.

Rules describe fixes as character-offset edits computed from LibCST positions,
so everything outside an edit (comments, formatting, line endings, encoding,
BOM) is kept byte for byte. What ``--fix`` promises:

* **Only onto the bytes that were linted.** Every fix records the digest of the
  file bytes its offsets refer to (``Autofix.digest``). A file whose bytes differ
  (edited, or fixed by a concurrent ``bnlint --fix``, since it was linted) is not
  written; its fixes are dropped with the reason. The digest is checked when the
  file is read for fixing and again right before the rename that replaces it, so
  what is left is the time of one rename; a concurrent bnlint that read the same
  bytes writes the same result, so two runs never stack the same fix twice.
* **Only code that compiles.** Each fix is kept only if the result parses with
  LibCST and compiles with ``compile()`` (which also rejects what both parsers
  accept, such as a repeated keyword argument). A file this Python cannot compile
  as it is gets no fixes, since they could not be checked.
* **Atomic, and the file stays what it was.** The new bytes go to a temporary file
  in the same folder, get the original's permission bits and owner (uid/gid), and
  replace it with ``os.replace``: an interrupted run leaves every file old or new.
* **Hands off what is not ours to write.** A file is not touched when its mode
  grants write permission to nobody (``chmod a-w`` means "do not touch", and root
  would otherwise write through it), when this process may not write it or its
  folder, when its owner could not be kept, or when it has several hard links
  (replacing would split the names; writing in place would change the other names
  too and is not atomic). Each such file is reported once, with the reason, as a
  file error (exit 1, like an unreadable file), and the other files are still fixed.
"""
from __future__ import annotations

import difflib
import os
import tempfile
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .findings import Autofix, Finding
from .parsing import ParseFailure, parse
from .source import Source, SourceError, content_digest, decode, read_bytes, split_lines

CHANGED = "the file changed since it was linted; left as it is (run bnlint again)"


class NotWritten(OSError):
    """The file was left as it is; the message is one line for the user (an OSError, like any
    other failure to write, for callers of ``write_atomic`` that handle those)."""

    def __init__(self, message: str, changed: bool = False):
        super().__init__(message)
        self.changed = changed  # its bytes are no longer those that were linted (not an error)


@dataclass
class FixOutcome:
    fixed: List[Finding] = field(default_factory=list)  # applied (or, with --diff, applicable)
    dropped: List[Tuple[Finding, str]] = field(default_factory=list)  # not applied, and why
    diffs: Dict[str, str] = field(default_factory=dict)  # display path -> unified diff
    changed: List[str] = field(default_factory=list)  # display paths written (or that would be)
    unwritable: Dict[str, str] = field(default_factory=dict)  # display path -> why it was not written


def applicable(finding: Finding, unsafe: bool) -> bool:
    fix = finding.autofix
    return fix is not None and bool(fix.edits) and (fix.safe or unsafe)


def refusal(path: str) -> Optional[str]:
    """Why ``--fix`` must not replace the file at ``path`` (after symlinks), or None.

    Checked explicitly rather than left to the system: root may write any file, so a
    ``chmod a-w`` file or folder would be rewritten by a fix run as root (in a container,
    say), while its mode says "do not touch". Read-only is therefore the mode bits, for
    every user; permission for this process is ``os.access`` plus a real open for writing
    (which also catches read-only mounts and immutable files).
    """
    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    try:
        st = os.stat(target)
        folder_mode = os.stat(folder).st_mode
    except OSError as exc:
        return f"cannot write: {(exc.strerror or str(exc)).lower()}"
    if not st.st_mode & 0o222:
        return "read-only file (no write permission bits); bnlint does not modify read-only files"
    if not folder_mode & 0o222:
        return ("its folder is read-only (no write permission bits), and the fixed file replaces it "
                "through a new file in that folder")
    if st.st_nlink > 1:
        return (f"the file has {st.st_nlink} hard links: replacing it would split it from its other "
                "names, and writing in place would change them too (apply the fix by hand; see --diff)")
    if not os.access(target, os.W_OK):
        return "permission denied (the file is not writable by this user)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "permission denied on its folder (needed to replace the file atomically)"
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return f"cannot open for writing: {(exc.strerror or str(exc)).lower()}"
    os.close(fd)
    return None


def write_atomic(path: str, data: bytes, expected_digest: Optional[str] = None) -> None:
    """Replace ``path`` by ``data`` atomically, keeping its permission bits, owner and group (and a
    symlink's target). With ``expected_digest``, raise ``NotWritten`` instead of replacing when the
    file's bytes no longer have that digest (checked right before the rename)."""
    target = os.path.realpath(path)
    folder = os.path.dirname(target) or "."
    try:
        st: Optional[os.stat_result] = os.stat(target)
    except FileNotFoundError:
        st = None
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".bnlint-tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if st is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        else:
            mode = st.st_mode & 0o7777
            mine = os.stat(tmp)
            if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
                try:  # root may give any owner; others only a group they belong to, on their own file
                    os.chown(tmp, st.st_uid, st.st_gid)
                except PermissionError:
                    raise NotWritten(f"a new file could not be given its owner and group "
                                     f"(uid {st.st_uid}, gid {st.st_gid}), so it is left as it is")
        os.chmod(tmp, mode)  # after chown, which clears set-user-ID bits
        if expected_digest is not None:
            try:
                now = content_digest(read_bytes(target))
            except SourceError:
                now = None
            if now != expected_digest:
                raise NotWritten(CHANGED, changed=True)
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


def _compile_error(text: str) -> Optional[str]:
    """None if ``text`` compiles, else CPython's complaint on one line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences etc. are not our business
            compile(text, "<fixed>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"{exc.msg} at line {exc.lineno}" if exc.lineno else str(exc.msg)
    except (ValueError, MemoryError, RecursionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def fix_source(source: Source, findings: Sequence[Finding]) -> Tuple[str, List[Finding], List[Tuple[Finding, str]]]:
    """Apply the findings' fixes to ``source``: (new text, fixed, dropped with reason).

    A fix is kept only if the text with it parses (LibCST, what the rules read) and compiles
    (CPython, which also refuses what both parsers let through, e.g. ``f(a=1, a=2)``).
    """
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
    if accepted:
        error = _compile_error(text)
        if error is not None:  # nothing to compare a fixed version with
            dropped.extend((f, f"this Python cannot compile the file as it is ({error}), so the fix "
                               "cannot be checked; fix not applied") for f, _ in accepted)
            return text, fixed, dropped
    # Later fixes first, so the offsets of earlier ones stay valid.
    for f, _ in reversed(accepted):
        candidate = _apply(text, f.autofix, source.newline)
        try:
            parse(candidate)
        except ParseFailure as exc:
            dropped.append((f, f"the fixed code would not parse ({exc}); fix not applied"))
            continue
        error = _compile_error(candidate)
        if error is not None:
            dropped.append((f, f"the fixed code would not compile ({error}); fix not applied"))
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


def unified_diff(path: str, old: str, new: str) -> str:
    """A unified diff whose lines are the file's lines (see ``split_lines``)."""
    return "".join(difflib.unified_diff(split_lines(old, keepends=True), split_lines(new, keepends=True),
                                        fromfile=f"a/{path}", tofile=f"b/{path}"))


def fix_file(source: Source, findings: Sequence[Finding], outcome: FixOutcome, write: bool = True) -> None:
    """Fix the file ``source.path`` from ``source``, the version that was linted.

    The findings' fixes must have been computed from ``source`` (same digest); the file is
    written only if its bytes on disk are still ``source``'s. What happened is added to ``outcome``.
    """
    path = source.path
    group: List[Finding] = []
    for f in findings:
        if f.autofix.digest != source.digest:
            outcome.dropped.append((f, CHANGED if f.autofix.digest else
                                    "the fix does not say which version of the file it was computed for"))
        else:
            group.append(f)
    text, fixed, dropped = fix_source(source, group)
    outcome.dropped.extend(dropped)
    if not fixed:
        return
    try:
        data = encode(source, text)
    except UnicodeEncodeError:
        outcome.dropped.extend((f, f"the fix cannot be encoded as {source.encoding}") for f in fixed)
        return
    if write:
        why = refusal(path)
        try:
            if why is not None:
                raise NotWritten(why)
            write_atomic(path, data, expected_digest=source.digest)
        except NotWritten as exc:
            outcome.dropped.extend((f, str(exc)) for f in fixed)
            if not exc.changed:
                outcome.unwritable[path] = f"fix not written: {exc}"
            return
        except OSError as exc:  # a full disk, a folder that vanished: this file only
            message = f"fix not written: {(exc.strerror or str(exc)).lower()}"
            outcome.dropped.extend((f, message) for f in fixed)
            outcome.unwritable[path] = message
            return
    outcome.fixed.extend(fixed)
    outcome.changed.append(path)
    outcome.diffs[path] = unified_diff(path, source.text, text)


def apply_fixes(findings: Sequence[Finding], unsafe: bool = False, write: bool = True) -> FixOutcome:
    """Fix every file with applicable findings; with ``write=False`` only compute diffs.

    Files that cannot be written are skipped (``outcome.unwritable``); the others are still fixed.
    """
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
            source = decode(read_bytes(path), path)
        except SourceError as exc:
            outcome.dropped.extend((f, str(exc)) for f in group)
            continue
        fix_file(source, group, outcome, write)
    return outcome
