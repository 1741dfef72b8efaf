"""Paths as text in reports: one spelling for every output format.

On POSIX a file name is bytes; Python decodes the bytes that are not UTF-8 to lone
surrogates (``surrogateescape``), which no UTF-8 stream, JSON document or XML file
can hold. Every reporter, the baseline and ``-o`` show such a byte as the four
characters ``\\xff`` (backslash, x, two hex digits), so ``train_\\xff.py`` reads the
same in the text report, JSON, SARIF, GitHub, JUnit, GitLab and a baseline file.
"""
from __future__ import annotations

import os
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    return f"\\u{code:04x}"  # any other lone surrogate


def escape_path(text: str) -> str:
    """``text`` (a path, or a message naming one) with each undecodable byte as ``\\xNN``."""
    return _SURROGATE.sub(_escape, text) if _SURROGATE.search(text) else text


def escape_all(value: Any) -> Any:
    """``value`` (JSON-like data: dicts, lists, strings) with every string passed through ``escape_path``."""
    if isinstance(value, str):
        return escape_path(value)
    if isinstance(value, dict):
        return {escape_all(k): escape_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_all(v) for v in value]
    return value


def repository_root(start: str) -> str:
    """The nearest folder at or above ``start`` holding ``.git`` (a checkout, a worktree or a
    submodule); ``start`` itself when there is none. CI annotations name files relative to it."""
    cur = os.path.abspath(start or ".")
    while True:
        if os.path.exists(os.path.join(cur, ".git")):
            return cur
        parent = os.path.dirname(cur)
        if parent == cur:
            return os.path.abspath(start or ".")
        cur = parent
