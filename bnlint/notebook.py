"""Jupyter notebooks as Python source.

The code cells are concatenated in order, one cell after another, and IPython
syntax that is not Python (``%line`` and ``%%cell`` magics, ``!shell`` escapes,
``?help``) is neutralised line by line, so line *n* of the result is always a
line of some cell. Findings are then mapped back to (cell, line in cell). The
notebook is read as plain JSON (nbformat 4): linting needs only the cells'
source, and a malformed file is a per-file error.
"""
from __future__ import annotations

import bisect
import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .findings import Finding
from .source import Source, SourceError, decode, line_starts, split_lines

# Cell magics whose body is Python; any other cell magic (%%bash, %%writefile, ...) hides the cell.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "pypy", "python", "python3",
                                 "autoreload"})
# `x = %sx ls`, `files = !ls`: an assignment from IPython syntax.
_LINE_REF = re.compile(r"line(?<!\wline) (\d+)\b")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ASSIGN_MAGIC = re.compile(r"^(\s*[A-Za-z_][\w.,\s\[\]()]*?=\s*)[%!]")


@dataclass
class NotebookSource(Source):
    """A notebook's code cells as one Python text, with the map back to cells."""

    # (first line of the cell in ``text``, 1-based cell number in the notebook), in order
    cell_starts: List[Tuple[int, int]] = field(default_factory=list)
    # cell number -> (line of its "source" key in the .ipynb text, line of the .ipynb text holding each
    # line of the cell); the second list is empty when the source is one JSON string
    json_lines: Dict[int, Tuple[int, List[int]]] = field(default_factory=dict)

    def ipynb_line(self, cell: int, line: int) -> Optional[int]:
        """The line of the .ipynb file holding ``line`` (1-based) of cell ``cell``."""
        if cell not in self.json_lines:
            return None
        key_line, lines = self.json_lines[cell]
        return lines[line - 1] if 0 < line <= len(lines) else key_line

    def locate(self, line: int) -> Tuple[int, int]:
        """(cell number, line in that cell) for a 1-based line of the concatenated text."""
        if not self.cell_starts:
            return 1, line
        i = bisect.bisect_right([start for start, _ in self.cell_starts], line) - 1
        start, cell = self.cell_starts[max(i, 0)]
        return cell, line - start + 1

    def to_cells(self, finding: Finding) -> Finding:
        """The finding with cell-relative lines (the text reporter shows ``cell 3:line 7``)."""
        cell, line = self.locate(finding.line)
        end_cell, end_line = self.locate(finding.end_line)
        end_column = finding.end_column
        if end_cell != cell:  # a span cannot cross a cell boundary: stop at the end of the line
            end_line, end_column = line, len(self.lines[finding.line - 1]) + 1
        related = tuple(
            dataclasses.replace(r, line=self.locate(r.line)[1],
                                message=f"{r.message} (cell {self.locate(r.line)[0]})")
            if r.path == finding.path else r
            for r in finding.related
        )
        # Rules cite other lines of the same file ("the training loop at line 12"): translate them too.
        message = self.cite_lines(finding.message)
        return dataclasses.replace(finding, line=line, end_line=end_line, end_column=end_column,
                                   related=related, cell=cell, message=message,
                                   ipynb_line=self.ipynb_line(cell, line),
                                   autofix=None)  # edits are offsets into the Python view, not the JSON

    def cite_lines(self, text: str) -> str:
        """Rewrite "line N" of the Python view as "cell C, line L" in a message."""
        return _LINE_REF.sub(lambda m: self._cite(int(m.group(1))), text)

    def _cite(self, line: int) -> str:
        if not 0 < line <= len(self.lines):
            return f"line {line}"
        cell, in_cell = self.locate(line)
        return f"cell {cell}, line {in_cell}"


_PYTHON_NAMES = ("python", "python3", "ipython", "")


def _language(metadata: object) -> Optional[str]:
    """The notebook's language: ``language_info.name``, else ``kernelspec.language``; Python when the
    metadata says nothing; None when ``language_info`` is malformed (a string, a list, a name that is
    not text) and the kernelspec does not name a language either."""
    if not isinstance(metadata, dict):
        return "python"
    info = metadata.get("language_info")
    kernel = metadata.get("kernelspec")
    kernel_language = kernel.get("language") if isinstance(kernel, dict) else None
    if info is None or info == {}:
        if isinstance(kernel_language, str) and kernel_language.strip():
            return kernel_language  # an R or Julia kernel without language_info
        return "python"
    name = info.get("name", kernel_language or "python") if isinstance(info, dict) else None
    if isinstance(name, str):
        return name
    if isinstance(kernel_language, str) and kernel_language.strip():
        return kernel_language
    if isinstance(kernel, dict):
        value = kernel.get("name")
        if isinstance(value, str) and value.lower().startswith(("python", "ipython")):
            return "python"
    return None


class NotPythonNotebook(SourceError):
    """A notebook whose metadata names another language (R, Julia, ...): skipped without an error."""


def _cell_lines(cell: dict) -> List[str]:
    src = cell.get("source", "")
    if isinstance(src, list):
        if not all(isinstance(s, str) for s in src):
            raise SourceError("malformed notebook: a cell's source is not text")
        src = "".join(src)
    elif not isinstance(src, str):
        raise SourceError("malformed notebook: a cell's source is not text")
    if _SURROGATE.search(src):
        # JSON may escape a lone surrogate (`"\ud800"`); no Python source (nor UTF-8 output) can
        # hold one. U+FFFD in its place keeps every column, and the rest of the cell is linted.
        src = _SURROGATE.sub("\ufffd", src)
    return split_lines(src)  # LibCST's line ends: the Python view's line numbers are LibCST's


def _scan(line: str, depth: int, quote: Optional[str]) -> Tuple[int, Optional[str]]:
    """Bracket depth and open triple quote after ``line``, skipping strings and comments."""
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if line.startswith(quote, i):
                i += len(quote)
                quote = None
                continue
        elif ch == "#":
            break
        elif ch in "\"'":
            quote = line[i:i + 3] if line[i:i + 3] in ('"""', "'''") else ch
            i += len(quote)
            continue
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        i += 1
    if quote is not None and len(quote) == 1:
        quote = None  # an unterminated one-line string is a syntax error; do not carry it over
    return depth, quote


def _neutralise(lines: List[str]) -> List[str]:
    """Replace IPython-only lines by Python of the same line count (columns of other lines unchanged).

    Only a line that starts a statement can be IPython syntax: inside brackets or a
    triple-quoted string, ``% n`` and ``!x`` are Python (string formatting, text).
    """
    out: List[str] = []
    first = lines[0].lstrip() if lines else ""
    if first.startswith("%%"):
        name = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        if name not in _PYTHON_CELL_MAGICS:
            return ["# " + line if line.strip() else line for line in lines]  # not Python: comment out
        out.append("pass  # " + first)
        lines = lines[1:]
    depth, quote, continued, magic_continued = 0, None, False, False
    for line in lines:
        stripped = line.lstrip()
        indent = line[:len(line) - len(stripped)]
        if magic_continued:  # continuation of a magic ending with a backslash
            out.append(indent + "# " + stripped)
            magic_continued = line.rstrip().endswith("\\")
            continue
        starts_statement = depth == 0 and quote is None and not continued
        assign = _ASSIGN_MAGIC.match(line) if starts_statement else None
        if starts_statement and (stripped[:1] in ("%", "!") or (stripped[:1] == "?" and len(stripped) > 1)
                                 or re.match(r"^[\w.]+\?{1,2}$", stripped)):
            out.append(indent + "pass  # " + stripped)
        elif assign:
            out.append(assign.group(1) + "None  # " + line[assign.end() - 1:])
        else:
            out.append(line)
            depth, quote = _scan(line, depth, quote)
            continued = quote is None and line.rstrip().endswith("\\") and "#" not in line
            continue
        magic_continued = line.rstrip().endswith("\\")
    return out


_JSON_STRUCTURE = re.compile(r'["{}\[\],]')


def _json_source_lines(text: str) -> Dict[int, Tuple[int, List[int]]]:
    """For each cell (1-based), the line of its ``"source"`` key in the JSON ``text`` and, when the
    source is a list of strings (nbformat writes one line per element), the line of the element
    that starts each line of the cell. A structural scan of the JSON (strings skipped whole), so
    a ``"source"`` key in a cell's metadata or outputs is not mistaken for the cell's."""
    starts = line_starts(text)
    out: Dict[int, Tuple[int, List[int]]] = {}
    stack: List[list] = []  # [is_object, current key or index, expecting a key]
    at_start = True  # the next source element starts a line of the cell
    pos = 0
    while True:
        m = _JSON_STRUCTURE.search(text, pos)
        if m is None:
            return out
        ch, pos = m.group(), m.end()
        if ch == '"':
            value, pos = json.decoder.scanstring(text, pos)
            top = stack[-1] if stack else None
            if top is not None and top[0] and top[2]:  # an object's key
                top[1], top[2] = value, False
                if value == "source" and len(stack) == 3 and stack[0][1] == "cells" and not stack[1][0]:
                    out[stack[1][1] + 1] = (bisect.bisect_right(starts, m.start()), [])
                    at_start = True
            elif (len(stack) == 4 and not top[0] and stack[2][1] == "source" and stack[0][1] == "cells"
                  and stack[1][1] + 1 in out):
                line = bisect.bisect_right(starts, m.start())
                cell_lines = out[stack[1][1] + 1][1]
                for part in split_lines(value, keepends=True):
                    if at_start:
                        cell_lines.append(line)
                    at_start = part.endswith(("\n", "\r"))
        elif ch == "{":
            stack.append([True, None, True])
        elif ch == "[":
            stack.append([False, 0, False])
        elif ch in "}]":
            if stack:
                stack.pop()
        elif stack:  # ","
            if stack[-1][0]:
                stack[-1][2] = True
            else:
                stack[-1][1] += 1


def notebook_source(data: bytes, path: str) -> NotebookSource:
    """Build the Python view of a notebook's bytes; ``SourceError`` for anything malformed."""
    try:
        raw = decode(data, path).text
        nb = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise SourceError(f"malformed notebook (not valid JSON: {exc})")
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise SourceError("malformed notebook: no `cells` list (only nbformat 4 notebooks are supported)")
    language = _language(nb.get("metadata"))
    if language is None:
        raise SourceError("notebook language unknown (metadata.language_info is not an object with a name, "
                          "and the kernelspec does not name Python); not linted as Python")
    if language.strip().lower() not in _PYTHON_NAMES:
        raise NotPythonNotebook(f"notebook language is {language}, not Python")
    text_lines: List[str] = []
    starts: List[Tuple[int, int]] = []
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            raise SourceError(f"malformed notebook: cell {number} is not an object")
        if cell.get("cell_type") != "code":
            continue
        lines = _neutralise(_cell_lines(cell))
        if not lines:
            continue
        starts.append((len(text_lines) + 1, number))
        text_lines.extend(lines)
    text = "\n".join(text_lines) + ("\n" if text_lines else "")
    try:
        json_lines = _json_source_lines(raw) if starts else {}
    except (ValueError, IndexError, TypeError):  # cannot happen for text json.loads read; no map then
        json_lines = {}
    return NotebookSource(path=path, text=text, cell_starts=starts, json_lines=json_lines)


def cell_lines(data: bytes, path: str, cell: int) -> Optional[List[str]]:
    """The original source lines of cell ``cell`` (1-based), for code frames; None if unreadable."""
    try:
        nb = json.loads(data.decode("utf-8", "replace"))
        return _cell_lines(nb["cells"][cell - 1])
    except (ValueError, KeyError, IndexError, TypeError, SourceError):
        return None
