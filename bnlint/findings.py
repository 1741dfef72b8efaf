"""The result types every part of bnlint exchanges: findings, fixes, file errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

DOCS_BASE_URL = "https://github.com/bnlint/bnlint/blob/main/rules"


# What a finding's message is held to (tests/test_meta.py checks every fixture finding): one
# line of at most this many characters. Rules aim at about 100; names and labels quoted from
# the user's code can make it longer, so only the fixtures are held to the bound.
MAX_MESSAGE = 120


def rule_url(code: str) -> str:
    """Stable link to a rule's documentation page."""
    return f"{DOCS_BASE_URL}/{code}.md"


@dataclass(frozen=True)
class Edit:
    """Replace ``[start, end)`` (character offsets into the decoded source) by ``text``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Autofix:
    """A mechanical fix. ``safe`` fixes are applied by ``--fix``; others need ``--unsafe-fixes``."""

    description: str
    edits: Tuple[Edit, ...]
    safe: bool = True
    # content_digest of the file bytes the edits' offsets refer to; --fix writes nothing unless the
    # file still has exactly these bytes. ``RuleContext.report`` fills it in.
    digest: str = ""


@dataclass(frozen=True)
class Related:
    """Another place the finding refers to (the other forward call, the loader definition)."""

    path: str
    line: int
    message: str


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    path: str  # as the user wrote it (relative stays relative)
    line: int  # 1-based
    column: int  # 1-based
    end_line: int
    end_column: int
    # One short line (see MAX_MESSAGE): what is wrong here, and where the other half is. The why
    # and the remedy are not repeated in it: they are ``explanation`` and ``fix``.
    message: str
    fix: str  # the remedy, in words (the ``help:`` line)
    url: str = ""
    related: Tuple[Related, ...] = ()
    autofix: Optional[Autofix] = None
    # Text of the flagged statement, whitespace-normalised; baselines key on it.
    snippet: str = field(default="", compare=False)
    # Notebooks: 1-based cell number; ``line``/``end_line`` are then lines of that cell.
    cell: Optional[int] = None
    # Why this is a problem, in terms of batch vs running statistics (the ``note:`` line).
    # Last, with a default, so that positional construction of the fields above still works.
    explanation: str = ""
    # Notebooks: the line of the .ipynb file (its JSON text) that holds ``line`` of the cell, what
    # SARIF, GitLab, JUnit and GitHub annotations point at (code scanning shows the raw file).
    ipynb_line: Optional[int] = None

    def sort_key(self):
        return (self.path, self.cell or 0, self.line, self.column, self.code)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
            "explanation": self.explanation,
            "fix": self.fix,
            "url": self.url or rule_url(self.code),
            "related": [
                {"path": r.path, "line": r.line, "message": r.message} for r in self.related
            ],
            "fixable": self.autofix is not None,
            **({"cell": self.cell} if self.cell is not None else {}),
        }

    @property
    def location(self) -> str:
        """``path:line:col``, or ``nb.ipynb:cell 3:line 7:col`` in a notebook."""
        if self.cell is not None:
            return f"{self.path}:cell {self.cell}:line {self.line}:{self.column}"
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class FileError:
    """A file that could not be read or parsed, or an internal error of one rule on one file."""

    path: str
    message: str
    kind: str = "read"  # "read" | "parse" | "internal"
    code: str = ""  # rule code for internal errors

    def to_json(self) -> dict:
        data = {"path": self.path, "message": self.message, "kind": self.kind}
        if self.code:
            data["code"] = self.code
        return data
