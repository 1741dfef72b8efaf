"""The order in which a parallel run hands files to its workers: files that import each other together.

Each worker process parses, for its own project index, every module its files' analyses read: the
modules they import, and the files that call their functions (reverse call searches read a
project's scripts from its model files). Files of one import cluster therefore cost a worker little
more than one of them; spread over two workers, the cluster is parsed twice. Sorted paths keep a
folder together but not a package and the scripts that import it (``models/`` and ``scripts/``).
So targets are grouped by the import statements' text (no parsing: the same regular expression the
identifier table uses), clusters kept whole, and the chunker then cuts the order into stretches.

The order never changes a result: findings are the same for any order (tested); it only decides
which worker parses what.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

from .source import SourceError, read_bytes
from .tree import _IDENTIFIER, _IMPORT, WORD_READ_LIMIT, module_name


def import_order(paths: Sequence[str], root: str) -> List[int]:
    """Indices of ``paths`` (absolute, in path order) grouped by import cluster: clusters in the order
    of their first file, each cluster's files in path order."""
    files = [os.path.abspath(p) for p in paths]
    by_path = {p: i for i, p in enumerate(files)}
    names = [module_name(p, root) for p in files]
    by_name: Dict[str, int] = {}
    for i, name in enumerate(names):
        by_name.setdefault(name, i)
    parent = list(range(len(files)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, p in enumerate(files):
        for dotted in _imported(p, names[i]):
            j = _file_of(dotted, p, by_name, by_path)
            if j is not None:
                parent[find(i)] = find(j)
    clusters: Dict[int, List[int]] = {}
    for i in range(len(files)):
        clusters.setdefault(find(i), []).append(i)
    return [i for members in sorted(clusters.values(), key=lambda m: m[0]) for i in members]


def _imported(path: str, module: str) -> List[str]:
    """Dotted names the file's import statements may load (``from a import b``: ``a`` and ``a.b``),
    relative ones made absolute."""
    try:
        data = read_bytes(path, WORD_READ_LIMIT)  # (refuses FIFOs and devices instead of blocking on them)
    except SourceError:
        return []
    return _imported_from(data, module, path.endswith("__init__.py"))


def imported_names(code: str, module: str, is_package: bool) -> List[str]:
    """:func:`_imported` for a text already read (the module ``module``; ``is_package``: an ``__init__``)."""
    return _imported_from(code.encode("utf-8", "surrogateescape"), module, is_package)


def _imported_from(data: bytes, module: str, is_package: bool) -> List[str]:
    package = module if is_package else module.rpartition(".")[0]
    out: List[str] = []
    for plain, source, names in _IMPORT.findall(data):
        if plain:
            out.extend(part.split(b" as ")[0].strip().decode("ascii", "replace") for part in plain.split(b","))
            continue
        base = source.decode("ascii", "replace")
        dots = len(base) - len(base.lstrip("."))
        if dots:
            anchor = package.split(".") if package else []
            anchor = anchor[:len(anchor) - (dots - 1)] if dots > 1 else anchor
            base = ".".join(anchor + ([base[dots:]] if base[dots:] else []))
        if base:
            out.append(base)
        for name in _IDENTIFIER.findall(names):
            if name not in (b"as", b"import"):
                out.append(f"{base}.{name.decode('ascii')}" if base else name.decode("ascii"))
    return out


def _file_of(dotted: str, importer: str, by_name: Dict[str, int], by_path: Dict[str, int]) -> Optional[int]:
    """The target a dotted name names: next to the importer (script style), else from the root."""
    rel = dotted.replace(".", os.sep)
    here = os.path.dirname(importer)
    for candidate in (os.path.join(here, rel + ".py"), os.path.join(here, rel, "__init__.py")):
        if candidate in by_path:
            return by_path[candidate]
    return by_name.get(dotted)
