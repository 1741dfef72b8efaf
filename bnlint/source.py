"""One source file: bytes to text, suppression comments, and offsets <-> positions.

One line model everywhere (LibCST's, which is also CPython's): a line ends at
``\r\n``, at a lone ``\r`` or at ``\n``, and nowhere else (not at the form feeds,
``\x85`` or ``\u2028`` that ``str.splitlines`` also breaks at). Offsets, line numbers,
``# noqa`` comments, code frames and diffs all count lines this way; use
``split_lines`` and ``Source.offset``, never ``splitlines`` or ``count("\n")``.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Tuple

from .patterns import code_only

# `# noqa` or `# noqa: BN101, BN103` (flake8/ruff syntax); a prefix (`BN1`) suppresses every code
# it starts. Codes of other tools are ignored, so `# noqa: E501` does not silence bnlint; a `BN`
# code that names no rule (`BN10l`, `BN999`) is an invalid directive: it suppresses nothing and
# is reported as a warning (ruff's "Invalid `# noqa` directive").
_NOQA = re.compile(r"#\s*noqa(?::(?P<codes>[^#]*))?", re.I)
_NOQA_BN = re.compile(r"#\s*noqa\s*:[^#\r\n]*?\bbn", re.I)  # a ``bn`` word among some noqa's codes
_NOQA_CODE = re.compile(r"[A-Z]+[0-9]+\Z", re.I)
_SKIP_FILE = re.compile(r"#\s*bnlint:\s*skip-file\b")
ALL_CODES = frozenset({"*"})
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+", re.M)  # PEP 263


def split_lines(text: str, keepends: bool = False) -> List[str]:
    """The lines of ``text`` as LibCST and CPython count them (see the module docstring).

    Like ``str.splitlines``, a final line end does not start another (empty) line.
    """
    lines = [m.group() for m in _LINE.finditer(text)]
    return lines if keepends else [line.rstrip("\r\n") for line in lines]


def line_starts(text: str) -> List[int]:
    """Offset of the first character of each line (1-based line ``n`` starts at ``[n - 1]``)."""
    return [0] + [m.end() for m in _LINE_END.finditer(text)]


def content_digest(data: bytes) -> str:
    """Hash of a file's bytes: what a fix's offsets were computed against (see fixes.py)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class SourceError(Exception):
    """The file cannot be read as Python source; the message is one line for the user."""


@dataclass
class Source:
    path: str  # as displayed (the user's spelling)
    text: str
    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"
    digest: str = ""  # content_digest of the bytes the text was decoded from
    _line_starts: Optional[List[int]] = field(default=None, repr=False)
    _noqa: Optional[Dict[int, FrozenSet[str]]] = field(default=None, repr=False)
    _noqa_invalid: List[Tuple[int, str]] = field(default_factory=list, repr=False)
    _code: Optional[str] = field(default=None, repr=False)

    @property
    def code(self) -> str:
        """The text without comments and string literals, which the pre-filter reads (``code_only``)."""
        if self._code is None:
            self._code = code_only(self.text)
        return self._code

    @property
    def lines(self) -> List[str]:
        return split_lines(self.text)

    def skip_file(self) -> bool:
        return "bnlint" in self.text and bool(_SKIP_FILE.search(self.text))

    def noqa_codes(self, line: int) -> FrozenSet[str]:
        """Codes suppressed on ``line`` (1-based); ``ALL_CODES`` for a bare ``# noqa``."""
        if self._noqa is None:
            self._noqa = _scan_noqa(self.text, self._noqa_invalid) if "noqa" in self.text.lower() else {}
        return self._noqa.get(line, frozenset())

    def invalid_noqa(self) -> List[Tuple[int, str]]:
        """(line, code) of each ``# noqa`` code that names no bnlint rule (``BN10l``, ``BN999``)."""
        if self._noqa is None and not _NOQA_BN.search(self.text):
            return []  # no ``# noqa: ... BN...`` anywhere: reading every comment can wait for a finding
        self.noqa_codes(1)
        return list(self._noqa_invalid)

    def is_suppressed(self, code: str, line: int) -> bool:
        codes = self.noqa_codes(line)
        return bool(codes) and ("*" in codes or any(code.startswith(c) for c in codes))

    def offset(self, line: int, column: int) -> int:
        """Character offset of a 1-based line / 0-based column."""
        if self._line_starts is None:
            self._line_starts = line_starts(self.text)
        return self._line_starts[line - 1] + column


def _known_codes() -> FrozenSet[str]:
    from .rules import RETIRED, RULES_BY_CODE  # the registry imports this module

    return frozenset(RULES_BY_CODE) | frozenset(RETIRED)


def _noqa_codes(raw: str, line: int, invalid: List[Tuple[int, str]]) -> FrozenSet[str]:
    """The codes of ``# noqa: <raw>``: codes and prefixes up to the first word that is not a code
    (ruff reads ``# noqa: E501 long line`` so); ``BN`` words naming no rule go to ``invalid``."""
    codes = set()
    for word in (w for w in re.split(r"[,\s]+", raw) if w):
        upper = word.upper()
        if upper.startswith("BN"):
            if _NOQA_CODE.match(upper) or upper == "BN":
                if any(known.startswith(upper) for known in _known_codes()):
                    codes.add(upper)
                    continue
            invalid.append((line, word))
            continue
        if not _NOQA_CODE.match(word):
            break
        codes.add(upper)  # another tool's code: kept, matches no bnlint rule
    return frozenset(codes)


def _scan_noqa(text: str, invalid: Optional[List[Tuple[int, str]]] = None) -> Dict[int, FrozenSet[str]]:
    """Map line -> suppressed codes, reading real comments only (not strings)."""
    invalid = [] if invalid is None else invalid
    result: Dict[int, FrozenSet[str]] = {}
    # The tokenize module ends lines at "\n" only; one "\n" per line end keeps the line numbers.
    text = _LINE_END.sub("\n", text) if "\r" in text else text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        tokens = []
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        m = _NOQA.search(tok.string)
        if not m:
            continue
        codes = m.group("codes")
        if codes is not None and codes.strip():
            parsed = _noqa_codes(codes, tok.start[0], invalid)
        else:
            parsed = ALL_CODES
        # A comment closing a multi-line statement applies to the statement's first
        # line too (ruff's convention), which is where findings are reported.
        result[tok.start[0]] = result.get(tok.start[0], frozenset()) | parsed
    return result


def _undecodable(data: bytes, encoding: str, exc: UnicodeDecodeError) -> SourceError:
    line = len(_LINE_END_BYTES.findall(data, 0, exc.start)) + 1
    byte = data[exc.start:exc.start + 1].hex()
    if _COOKIE.search(b"\n".join(data.split(b"\n", 2)[:2])):
        return SourceError(f"not valid {encoding} as its coding comment declares "
                           f"(byte 0x{byte} at line {line})")
    return SourceError(f"not valid UTF-8 (byte 0x{byte} at line {line}) and no coding comment; "
                       "save the file as UTF-8 or declare its encoding (`# -*- coding: latin-1 -*-`)")


def decode(data: bytes, path: str) -> Source:
    """Decode bytes the way Python does (BOM, PEP 263 cookie, default UTF-8)."""
    if b"\x00" in data:
        raise SourceError("file contains NUL bytes (binary file?)")
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        # detect_encoding also fails when the first two lines are not UTF-8 and name no encoding.
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as utf8_exc:
            if not _COOKIE.search(b"\n".join(data.split(b"\n", 2)[:2])):
                raise _undecodable(data, "utf-8", utf8_exc)
        raise SourceError(f"invalid coding comment: {getattr(exc, 'msg', None) or exc}")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _undecodable(data, encoding, exc)
    except LookupError:
        raise SourceError(f"unknown encoding `{encoding}` in the coding comment")
    if text.startswith("\ufeff"):
        text = text[1:]
    newline = "\r\n" if "\r\n" in text else ("\r" if "\r" in text else "\n")
    return Source(path=path, text=text, encoding=encoding, bom=bom, newline=newline,
                  digest=content_digest(data))


def read_bytes(fs_path: str, limit: int = -1) -> bytes:
    """The bytes of a regular file; anything else (a folder, a FIFO, a device) is a SourceError.

    The file is opened non-blocking and checked with fstat before reading, so a named
    pipe or ``/dev/zero`` behind a ``.py`` name can neither hang nor flood the linter.
    """
    try:
        fd = os.open(fs_path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except IsADirectoryError:
        raise SourceError("is a directory, not a file")
    except PermissionError:
        raise SourceError("permission denied")
    except FileNotFoundError:
        raise SourceError("broken symlink (its target does not exist)" if os.path.islink(fs_path)
                          else "no such file")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError("symlink loop (too many levels of symbolic links)")
        raise SourceError((exc.strerror or str(exc)).lower())
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SourceError("is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise SourceError("not a regular file (a pipe, socket or device?)")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit)
    except OSError as exc:
        raise SourceError(f"cannot read: {(exc.strerror or str(exc)).lower()}")
    finally:
        os.close(fd)


def read_source(fs_path: str, display_path: str) -> Source:
    return decode(read_bytes(fs_path), display_path)
