"""Which files to lint: walk directories, honour excludes, keep explicit files."""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import List, Optional, Pattern, Sequence, Tuple

SOURCE_SUFFIXES = (".py", ".pyi", ".ipynb")


@dataclass(frozen=True)
class Target:
    fs_path: str  # absolute
    display: str  # as the user wrote it / relative to what they wrote
    # The file's bytes when they do not come from ``fs_path`` (standard input, `--stdin-filename`).
    data: Optional[bytes] = field(default=None, compare=False, repr=False)


def _excluded(path: str, base_dir: str, patterns: Sequence[str]) -> bool:
    """``path`` (relative to ``base_dir``) or, for a pattern without ``/``, one of its parts matches."""
    whole, part = _matchers(tuple(patterns))
    rel = os.path.relpath(os.path.abspath(path), base_dir).replace(os.sep, "/")
    if whole is not None and whole.match(os.path.normcase(rel)):
        return True
    return part is not None and any(part.match(os.path.normcase(p)) for p in rel.split("/"))


def excluded(path: str, base_dir: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` (relative to the current folder) is excluded by ``patterns`` (relative to
    ``base_dir``): what ``--force-exclude`` applies to a named file or ``--stdin-filename``."""
    return _excluded(path, base_dir, patterns)


@lru_cache(maxsize=64)
def _matchers(patterns: Tuple[str, ...]) -> Tuple[Optional[Pattern[str]], Optional[Pattern[str]]]:
    """Each pattern list as two compiled regexes (fnmatch semantics): one walk of a big tree
    tests every folder and file against every pattern, a hundred thousand fnmatch calls."""
    whole, part = [], []
    for pattern in patterns:
        pat = os.path.normcase(pattern.rstrip("/"))
        whole += [fnmatch.translate(pat), fnmatch.translate(pat + "/*")]
        if "/" not in pat:
            part.append(fnmatch.translate(pat))
    return (re.compile("|".join(whole)) if whole else None, re.compile("|".join(part)) if part else None)


def discover(paths: Sequence[str], excludes: Sequence[str], base_dir: str,
             force_exclude: bool = False, respect_gitignore: bool = False
             ) -> Tuple[List[Target], List[Tuple[str, str]]]:
    """Return (targets, errors); errors are (path, message) for paths that do not exist and for
    folders that cannot be listed (their files would otherwise be skipped without a word).

    ``respect_gitignore``: files and folders ignored by ``.gitignore`` / ``.ignore`` files (see
    ``gitignore``) are not walked into; a file named explicitly is still linted unless
    ``force_exclude``."""
    from . import gitignore
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
            if force_exclude and (_excluded(raw, base_dir, excludes)
                                  or respect_gitignore and gitignore.path_ignored(raw)):
                continue
            # A folder named explicitly is linted even if a pattern excludes it (or an
            # ancestor): `bnlint examples/` works in a project that excludes examples.
            patterns = [p for p in excludes if not _excluded(raw, base_dir, [p])]
            display = os.path.relpath if raw in (".", "./") else os.path.normpath

            def unlistable(exc: OSError, display=display) -> None:
                folder = exc.filename if isinstance(exc.filename, str) else raw
                errors.append((display(folder), f"cannot list folder: {(exc.strerror or str(exc)).lower()}"))

            ignores: dict = {}  # folder -> the ignore rules that apply inside it (respect_gitignore)
            in_repository = False
            if respect_gitignore:
                above, repository = gitignore.rules_above(raw)
                in_repository = repository is not None
                ignores[raw] = above
            for dirpath, dirnames, filenames in os.walk(raw, onerror=unlistable):
                groups = ignores.pop(dirpath, [])
                if respect_gitignore and any(f in gitignore.IGNORE_FILES for f in filenames):
                    groups = groups + gitignore.read_rules(os.path.abspath(dirpath), in_repository)
                dirnames[:] = sorted(d for d in dirnames
                                     if not _excluded(os.path.join(dirpath, d), base_dir, patterns)
                                     and not gitignore.is_ignored(groups, os.path.join(dirpath, d), True))
                if respect_gitignore:
                    for d in dirnames:
                        ignores[os.path.join(dirpath, d)] = groups
                for name in sorted(filenames):
                    if not name.endswith(SOURCE_SUFFIXES):
                        continue
                    full = os.path.join(dirpath, name)
                    if _excluded(full, base_dir, patterns) or gitignore.is_ignored(groups, full, False):
                        continue
                    add(full, display(full))
        elif os.path.lexists(raw):
            # Named explicitly: always linted (pre-commit passes files), unless --force-exclude.
            if force_exclude and (_excluded(raw, base_dir, excludes)
                                  or respect_gitignore and gitignore.path_ignored(raw)):
                continue
            add(raw, raw)
        else:
            errors.append((raw, "no such file or directory"))
    return targets, errors
