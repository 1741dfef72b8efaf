"""The project tree: its root, and the Python files the project index searches.

Kept free of LibCST and the analysis, so that a run whose results all come from the
cache (``cache.py``) can find the root and list the tree without importing them.
"""
from __future__ import annotations

import os
import re
from typing import Dict, Iterable, List, Set

ROOT_MARKERS = ("pyproject.toml", ".git", "setup.py", "setup.cfg")
SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".nox",
             "build", "dist", "site-packages", ".mypy_cache", ".pytest_cache", ".bnlint_cache"}
MAX_PROJECT_FILES = 20000  # past this many, the walk stops (reverse lookups stay local rather than slow)
WORD_READ_LIMIT = 2_000_000  # a name search reads this many bytes of each file
_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
# ``import a.b as c`` / ``from .a.b import (c, d)``: the names an import statement writes, at the
# start of a line or after a ``;`` (a backslash-continued import is missed: then its file is not
# known to import the module, and a reverse search misses its calls, as when it is too far).
_IMPORT = re.compile(rb"(?:^|;)[ \t]*(?:import[ \t]+([^\n#;]*)|from[ \t]+([\w.]+)[ \t]+import\b[ \t]*(\([^)]*\)?|[^\n#;]*))",
                     re.M)
IMPORTED = "import "  # prefix of the table's entries for imported names (no identifier has a space)
_DEF = re.compile(rb"def(?<!\wdef)[ \t]+([A-Za-z_][A-Za-z0-9_]*)")  # (a leading \b is slow)
DEFINED = "def "  # prefix of the entries for the names a ``def`` statement defines


def find_project_root(paths: Iterable[str]) -> str:
    """Nearest ancestor of the first path holding pyproject.toml/.git; else the common parent."""
    absolute = [os.path.abspath(p) for p in paths] or [os.getcwd()]
    start = absolute[0] if os.path.isdir(absolute[0]) else os.path.dirname(absolute[0])
    cur = start
    while True:
        if any(os.path.exists(os.path.join(cur, m)) for m in ROOT_MARKERS):
            return cur
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    dirs = [p if os.path.isdir(p) else os.path.dirname(p) for p in absolute]
    try:
        return os.path.commonpath(dirs)
    except ValueError:  # different drives
        return start


def python_files(root: str) -> List[str]:
    """Every ``.py`` file under ``root`` (absolute paths, sorted), skipping tool and hidden folders:
    the files the project index searches for a name, and the tree the cache's stamp records."""
    files: List[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")]
        files.extend(os.path.join(dirpath, f) for f in filenames if f.endswith(".py"))
        if len(files) > MAX_PROJECT_FILES:
            break  # a huge tree: reverse lookups stay local rather than slow
    return sorted(files)


def module_name(abs_path: str, root: str) -> str:
    """The dotted module name of a file under ``root`` (``src/`` layouts and ``__init__`` files
    name their package; a file outside the root is named by its file name)."""
    rel = os.path.relpath(abs_path, root)
    if rel.startswith(".."):
        rel = os.path.basename(abs_path)
    parts = rel[:-3].split(os.sep) if rel.endswith(".py") else rel.split(os.sep)
    if parts and parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def identifiers(data: bytes) -> Set[str]:
    """The ASCII identifiers in ``data`` (the first ``WORD_READ_LIMIT`` bytes of a file): what a
    project-wide name search matches, for the index and for the cache's record of the tree alike.
    Each name an import statement writes (a module, a package, an imported name) is also there as
    ``"import <name>"``: the files that can import a module, for reverse call searches; each name
    a ``def`` defines also as ``"def <name>"``: the files that may define a function called so."""
    words = {word.decode("ascii") for word in set(_IDENTIFIER.findall(data))}
    words.update(DEFINED + name.decode("ascii") for name in set(_DEF.findall(data)))
    for plain, source, names in _IMPORT.findall(data):
        for part in _IDENTIFIER.findall(plain + b" " + source + b" " + names):
            if part not in (b"as", b"import"):
                words.add(IMPORTED + part.decode("ascii"))
    return words


def word_table(files: List[str]) -> Dict[str, List[int]]:
    """identifier -> indices into ``files`` of the files that contain it (unreadable files: none)."""
    from .source import SourceError, read_bytes

    table: Dict[str, List[int]] = {}
    for i, path in enumerate(files):
        try:
            data = read_bytes(path, WORD_READ_LIMIT)
        except SourceError:
            continue
        for word in identifiers(data):
            table.setdefault(word, []).append(i)
    return table
