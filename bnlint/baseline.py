"""Baselines: record today's findings, then report only new ones.

A finding is identified by a fingerprint that ignores line numbers: the rule,
the file (relative to the project root), the text of the flagged statement
without layout (whitespace, trailing commas), and its occurrence index among
identical statements in that file; never the message, whose wording may change
between versions. Editing code above a finding, or reformatting it, keeps its fingerprint;
changing the flagged statement itself makes it a new finding. SARIF's
``partialFingerprints`` and GitLab's ``fingerprint`` use the same value so that
code-scanning services dedupe alerts across pushes.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .findings import Finding
from .fixes import write_atomic
from .source import SourceError, read_bytes
from .paths import escape_path

BASELINE_VERSION = 1
MAX_BASELINE_BYTES = 256 * 1024 * 1024
_SPACE = re.compile(r"\s+")
_TRAILING_COMMA = re.compile(r",([)\]}])")


class BaselineError(Exception):
    """The baseline file cannot be used; the message is one line for the user."""


def project_path(path: str, root: str) -> str:
    """``path`` relative to the project root, with ``/`` separators (stable across machines)."""
    rel = os.path.relpath(os.path.abspath(path), root) if root else path
    if rel.startswith(".."):
        rel = path
    return escape_path(rel.replace(os.sep, "/"))  # a name that is not UTF-8: `\xff`, as in every report


def normalise(code: str) -> str:
    """Code without layout: no whitespace, no trailing commas (formatters add and remove both)."""
    return _TRAILING_COMMA.sub(r"\1", _SPACE.sub("", code))


def fingerprints(findings: Sequence[Finding], root: str) -> List[str]:
    """One fingerprint per finding, in the same order."""
    seen: Counter = Counter()
    out = []
    # Occurrence indexes follow source order, so sort a copy to number identical statements.
    order = sorted(range(len(findings)), key=lambda i: findings[i].sort_key())
    by_index: Dict[int, str] = {}
    for i in order:
        f = findings[i]
        # Never the message: its wording changes between versions (a finding without a snippet,
        # built by hand, is keyed by its rule and file alone).
        key = (f.code, project_path(f.path, root), normalise(f.snippet))
        occurrence = seen[key]
        seen[key] += 1
        digest = hashlib.sha256("\x1f".join(key + (str(occurrence),)).encode("utf-8")).hexdigest()
        by_index[i] = digest[:32]
    for i in range(len(findings)):
        out.append(by_index[i])
    return out


@dataclass
class BaselineResult:
    new: List[Finding]
    baselined: int  # findings hidden because they are in the baseline
    gone: int  # baseline entries no longer found (fixed, or the statement changed)
    gone_entries: List[dict] = field(default_factory=list)


def write_baseline(path: str, findings: Sequence[Finding], root: str,
                   checked: Optional[Iterable[str]] = None) -> Tuple[int, int]:
    """Write the baseline; returns (entries written, entries of the previous baseline now gone).

    Entries of files that were not linted this time (``checked`` names those that were)
    are kept, so recording from a slice of the project does not forget the rest.
    """
    prints = fingerprints(findings, root)
    previous: List[dict] = []
    if os.path.exists(path):
        try:
            previous = _read_entries(path)
        except BaselineError:
            previous = []
    linted = None if checked is None else {project_path(p, root) for p in checked}
    kept = [e for e in previous if linted is not None and e.get("path") not in linted]
    relevant = Counter(e["fingerprint"] for e in previous if linted is None or e.get("path") in linted)
    entries = kept + [
        {"fingerprint": fp, "code": f.code, "path": project_path(f.path, root), "line": f.line,
         "statement": f.snippet}
        for fp, f in zip(prints, findings)
    ]
    entries.sort(key=lambda e: (str(e.get("path")), e.get("line", 0), str(e.get("code"))))
    payload = {"version": BASELINE_VERSION, "tool": "bnlint", "findings": entries}
    write_atomic(path, (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    gone = sum((relevant - Counter(prints)).values())
    return len(entries), gone


# What each entry must hold (``statement`` may be null: a finding without a snippet).
_ENTRY_KEYS = (("fingerprint", str, "a string"), ("code", str, "a string"), ("path", str, "a string"),
               ("line", int, "an integer"))


def _read_entries(path: str) -> List[dict]:
    """The entries of a baseline file; any other content is a one-line BaselineError."""
    if not os.path.lexists(path):
        raise BaselineError(f"baseline file {path} does not exist (create it with --write-baseline)")
    try:
        # Non-blocking and fstat-checked: a FIFO or a device named as the baseline cannot hang the run.
        raw = read_bytes(path, MAX_BASELINE_BYTES + 1)
    except SourceError as exc:
        raise BaselineError(f"cannot read baseline file {path}: {exc}")
    if len(raw) > MAX_BASELINE_BYTES:
        raise BaselineError(f"cannot read baseline file {path}: larger than {MAX_BASELINE_BYTES >> 20} MiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # also UnicodeDecodeError
        raise BaselineError(f"cannot read baseline file {path}: {exc}")
    except RecursionError:
        raise BaselineError(f"cannot read baseline file {path}: JSON nested too deeply")
    if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION \
            or not isinstance(data.get("findings"), list) \
            or not all(isinstance(e, dict) for e in data["findings"]):
        raise BaselineError(f"{path} is not a bnlint baseline (version {BASELINE_VERSION}); "
                            "recreate it with --write-baseline")
    for i, entry in enumerate(data["findings"], 1):
        for key, kind, words in _ENTRY_KEYS:
            if key not in entry:
                raise BaselineError(f"{path}: entry {i} is missing `{key}`; recreate it with --write-baseline")
            value = entry[key]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise BaselineError(f"{path}: entry {i}: `{key}` must be {words}; "
                                    "recreate it with --write-baseline")
        if entry.get("statement") is not None and not isinstance(entry["statement"], str):
            raise BaselineError(f"{path}: entry {i}: `statement` must be a string or null; "
                                "recreate it with --write-baseline")
    return data["findings"]


def apply_baseline(path: str, findings: Sequence[Finding], root: str,
                   checked: Optional[Iterable[str]] = None) -> BaselineResult:
    """Drop findings recorded in the baseline; count entries that no longer match anything.

    ``checked`` lists the files that were linted: entries for other files (pre-commit
    lints a slice of the project) are neither matched nor counted as gone.
    """
    entries = _read_entries(path)
    if checked is not None:
        linted = {project_path(p, root) for p in checked}
        entries = [e for e in entries if e.get("path") in linted]
    remaining: Counter = Counter(e["fingerprint"] for e in entries)
    new = []
    baselined = 0
    for fp, f in zip(fingerprints(findings, root), findings):
        if remaining[fp] > 0:
            remaining[fp] -= 1
            baselined += 1
        else:
            new.append(f)
    gone_entries = []
    for e in entries:
        if remaining[e["fingerprint"]] > 0:
            remaining[e["fingerprint"]] -= 1
            gone_entries.append(e)
    return BaselineResult(new, baselined, len(gone_entries), gone_entries)
