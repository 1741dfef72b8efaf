"""Which files to lint: walk directories, honour excludes, keep explicit files."""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import List, Sequence, Tuple

SOURCE_SUFFIXES = (".py", ".pyi", ".ipynb")


@dataclass(frozen=True)
class Target:
    fs_path: str  # absolute
    display: str  # as the user wrote it / relative to what they wrote


def _excluded(path: str, base_dir: str, patterns: Sequence[str]) -> bool:
    rel = os.path.relpath(os.path.abspath(path), base_dir).replace(os.sep, "/")
    parts = rel.split("/")
    for pattern in patterns:
        pat = pattern.rstrip("/")
        if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat + "/*"):
            return True
        if "/" not in pat and any(fnmatch.fnmatch(part, pat) for part in parts):
            return True
    return False


def discover(paths: Sequence[str], excludes: Sequence[str], base_dir: str,
             force_exclude: bool = False) -> Tuple[List[Target], List[Tuple[str, str]]]:
    """Return (targets, errors); errors are (path, message) for paths that do not exist."""
    targets: List[Target] = []
    errors: List[Tuple[str, str]] = []
    seen = set()

    def add(fs_path: str, display: str) -> None:
        key = os.path.realpath(fs_path) if os.path.exists(fs_path) else os.path.abspath(fs_path)
        if key not in seen:
            seen.add(key)
            targets.append(Target(os.path.abspath(fs_path), display))

    for raw in paths:
        if os.path.isdir(raw):  # a folder, even one named `x.py`, is walked
            if force_exclude and _excluded(raw, base_dir, excludes):
                continue
            # A folder named explicitly is linted even if a pattern excludes it (or an
            # ancestor): `bnlint examples/` works in a project that excludes examples.
            patterns = [p for p in excludes if not _excluded(raw, base_dir, [p])]
            for dirpath, dirnames, filenames in os.walk(raw):
                dirnames[:] = sorted(d for d in dirnames
                                     if not _excluded(os.path.join(dirpath, d), base_dir, patterns))
                for name in sorted(filenames):
                    if not name.endswith(SOURCE_SUFFIXES):
                        continue
                    full = os.path.join(dirpath, name)
                    if _excluded(full, base_dir, patterns):
                        continue
                    add(full, os.path.normpath(full) if raw not in (".", "./") else os.path.relpath(full))
        elif os.path.lexists(raw):
            # Named explicitly: always linted (pre-commit passes files), unless --force-exclude.
            if force_exclude and _excluded(raw, base_dir, excludes):
                continue
            add(raw, raw)
        else:
            errors.append((raw, "no such file or directory"))
    return targets, errors
