"""``.gitignore`` and ``.ignore`` files, as git (and ruff, by default) reads them; no git binary.

Semantics (gitignore(5)): blank lines and ``#`` comments are skipped, trailing spaces are
dropped unless escaped (``\\ ``), ``\\#`` and ``\\!`` escape a leading ``#`` or ``!``. ``!``
re-includes what an earlier pattern excluded (nothing inside an excluded folder can be
re-included: the walk never enters it). A trailing ``/`` matches folders only. A pattern
with a ``/`` at its start or in its middle is anchored to the folder of its ignore file;
otherwise it matches a name at any depth below it. ``*`` and ``?`` do not match ``/``;
``**/`` matches any number of folders, a trailing ``/**`` everything inside, ``[a-z]`` a
class (``[!a]`` its complement). Deeper ignore files override shallower ones and, within
a file, the last matching pattern wins; at each folder ``.ignore`` overrides
``.gitignore``, and the repository's ``.git/info/exclude`` is read first.

``.gitignore`` files and ``.git/info/exclude`` count only inside a git repository (a
folder at or above the linted one holding ``.git``); ``.ignore`` files count everywhere.
"""
from __future__ import annotations

import os
import re
from typing import List, Optional, Pattern, Tuple

IGNORE_FILES = (".gitignore", ".ignore")
MAX_IGNORE_BYTES = 4 * 1024 * 1024  # an ignore file larger than this is not read

# One parsed pattern: (regex on the path relative to the ignore file's folder, negated, folders only)
Rule = Tuple[Pattern[str], bool, bool]
# The rules of one ignore file, with the folder they are relative to.
Group = Tuple[str, Tuple[Rule, ...]]


def repository_root(start: str) -> Optional[str]:
    """The nearest folder at or above ``start`` holding ``.git`` (a folder, or a worktree's file)."""
    cur = os.path.abspath(start)
    while True:
        if os.path.lexists(os.path.join(cur, ".git")):
            return cur
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def _translate(pattern: str) -> str:
    out: List[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if pattern.startswith("**", i) and (i == 0 or pattern[i - 1] == "/"):
                if pattern[i + 2:i + 3] == "/":
                    out.append("(?:.*/)?")  # `**/`: zero or more folders
                    i += 3
                    continue
                if i + 2 == n:
                    out.append(".*")  # a trailing `/**`: everything inside
                    i += 2
                    continue
            while i < n and pattern[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if ch == "?":
            out.append("[^/]")
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a literal `[`
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:j]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
                i = j
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def parse(text: str) -> Tuple[Rule, ...]:
    """The rules of one ignore file's text (invalid patterns are skipped, as git does)."""
    rules: List[Rule] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        end = len(line)
        while end > 0 and line[end - 1] == " " and not (end > 1 and line[end - 2] == "\\"):
            end -= 1
        line = line[:end]
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        elif line.startswith(("\\!", "\\#")):
            line = line[1:]
        folders_only = line.endswith("/")
        line = line.rstrip("/") if folders_only else line
        if not line:
            continue
        anchored = "/" in line
        body = _translate(line[1:] if line.startswith("/") else line)
        try:
            regex = re.compile(("" if anchored else "(?:.*/)?") + body + r"\Z", re.S)
        except re.error:
            continue
        rules.append((regex, negated, folders_only))
    return tuple(rules)


def read_rules(folder: str, in_repository: bool) -> List[Group]:
    """The groups of rules a folder's own ignore files add (``.gitignore`` then ``.ignore``)."""
    groups: List[Group] = []
    for name in IGNORE_FILES:
        if name == ".gitignore" and not in_repository:
            continue
        rules = _read(os.path.join(folder, name))
        if rules:
            groups.append((folder, rules))
    return groups


def _read(path: str) -> Tuple[Rule, ...]:
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > MAX_IGNORE_BYTES:
            return ()
        with open(path, "rb") as fh:
            return parse(fh.read().decode("utf-8", "replace"))
    except OSError:
        return ()


def rules_above(folder: str) -> Tuple[List[Group], Optional[str]]:
    """The rules that apply inside ``folder`` from the folders above it (up to the repository root,
    ``.git/info/exclude`` first) and the repository root (None outside a repository)."""
    folder = os.path.abspath(folder)
    root = repository_root(folder)
    if root is None:
        return [], None
    groups = _exclude_group(root)
    rel = os.path.relpath(folder, root)
    chain = [root]
    if rel != ".":
        for part in rel.split(os.sep):
            chain.append(os.path.join(chain[-1], part))
    for above in chain[:-1]:
        groups.extend(read_rules(above, True))
    return groups, root


def is_ignored(groups: List[Group], path: str, is_dir: bool) -> bool:
    """Whether ``path`` (absolute) is ignored by ``groups`` (shallow to deep): the last match decides."""
    if not groups:
        return False
    ignored = False
    path = os.path.abspath(path)
    for base, rules in groups:
        prefix = base if base.endswith(os.sep) else base + os.sep
        if not path.startswith(prefix):
            continue  # the base is always an ancestor when walking; this one is not
        rel = path[len(prefix):].replace(os.sep, "/")
        for regex, negated, folders_only in rules:
            if folders_only and not is_dir:
                continue
            if regex.match(rel):
                ignored = not negated
    return ignored


def path_ignored(path: str) -> bool:
    """Whether ``path`` (a file named explicitly, under ``--force-exclude``) or a folder above it,
    up to the repository root, is ignored."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    root = repository_root(folder)
    start = root or folder
    groups = _exclude_group(root) + read_rules(start, root is not None)
    rel = os.path.relpath(folder, start)
    cur = start
    for part in ([] if rel == "." else rel.split(os.sep)):
        cur = os.path.join(cur, part)
        if is_ignored(groups, cur, True):
            return True
        groups.extend(read_rules(cur, root is not None))
    return is_ignored(groups, path, os.path.isdir(path))


def _exclude_group(root: Optional[str]) -> List[Group]:
    if root is None:
        return []
    exclude = _read(os.path.join(root, ".git", "info", "exclude"))
    return [(root, exclude)] if exclude else []
