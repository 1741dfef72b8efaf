"""One source file: bytes to text, suppression comments, and offsets <-> positions."""
from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional

# `# noqa` or `# noqa: BN101, BN103` (flake8/ruff syntax). Codes of other tools are
# ignored, so `# noqa: E501` does not silence bnlint.
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.I)
_SKIP_FILE = re.compile(r"#\s*bnlint:\s*skip-file\b")
ALL_CODES = frozenset({"*"})


class SourceError(Exception):
    """The file cannot be read as Python source; the message is one line for the user."""


@dataclass
class Source:
    path: str  # as displayed (the user's spelling)
    text: str
    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"
    _line_starts: Optional[List[int]] = field(default=None, repr=False)
    _noqa: Optional[Dict[int, FrozenSet[str]]] = field(default=None, repr=False)

    @property
    def lines(self) -> List[str]:
        return self.text.splitlines()

    def skip_file(self) -> bool:
        return "bnlint" in self.text and bool(_SKIP_FILE.search(self.text))

    def noqa_codes(self, line: int) -> FrozenSet[str]:
        """Codes suppressed on ``line`` (1-based); ``ALL_CODES`` for a bare ``# noqa``."""
        if self._noqa is None:
            self._noqa = _scan_noqa(self.text) if "noqa" in self.text.lower() else {}
        return self._noqa.get(line, frozenset())

    def is_suppressed(self, code: str, line: int) -> bool:
        codes = self.noqa_codes(line)
        return bool(codes) and ("*" in codes or code in codes)

    def offset(self, line: int, column: int) -> int:
        """Character offset of a 1-based line / 0-based column."""
        if self._line_starts is None:
            starts = [0]
            for i, ch in enumerate(self.text):
                if ch == "\n":
                    starts.append(i + 1)
            self._line_starts = starts
        return self._line_starts[line - 1] + column


def _scan_noqa(text: str) -> Dict[int, FrozenSet[str]]:
    """Map line -> suppressed codes, reading real comments only (not strings)."""
    result: Dict[int, FrozenSet[str]] = {}
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
        if codes:
            parsed = frozenset(c.upper() for c in re.split(r"[,\s]+", codes) if c)
        else:
            parsed = ALL_CODES
        # A comment closing a multi-line statement applies to the statement's first
        # line too (ruff's convention), which is where findings are reported.
        result[tok.start[0]] = result.get(tok.start[0], frozenset()) | parsed
    return result


def decode(data: bytes, path: str) -> Source:
    """Decode bytes the way Python does (BOM, PEP 263 cookie, default UTF-8)."""
    if b"\x00" in data:
        raise SourceError("file contains NUL bytes (binary file?)")
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise SourceError(f"invalid encoding declaration: {exc.msg if hasattr(exc, 'msg') else exc}")
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        raise SourceError(
            f"cannot decode as {encoding} ({reason}); add a PEP 263 coding comment "
            "or save the file as UTF-8"
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    newline = "\r\n" if "\r\n" in text else ("\r" if "\r" in text else "\n")
    return Source(path=path, text=text, encoding=encoding, bom=bom, newline=newline)


def read_source(fs_path: str, display_path: str) -> Source:
    try:
        with open(fs_path, "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        raise SourceError("is a directory, not a file")
    except PermissionError:
        raise SourceError("permission denied")
    except FileNotFoundError:
        raise SourceError("no such file (broken symlink?)")
    except OSError as exc:
        raise SourceError(exc.strerror or str(exc))
    return decode(data, display_path)
