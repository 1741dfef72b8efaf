"""Per-file result cache: ``.bnlint_cache/`` at the project root (or ``cache-dir``).

An entry holds one linted file's findings and errors, and is valid while

* the file's content hash is unchanged,
* bnlint itself (version and package sources), the Python version, the selected
  rules and per-file ignores are unchanged (they name the entry's folder),
* every project file its analysis consulted (``models.py`` for ``train.py``) has
  the same content hash, every module path looked for and not found is still
  absent, and every project-wide name search (callers of a function) still finds
  the same files.

One small JSON file per linted file, written to a temporary file and moved into
place with ``os.replace``, so concurrent runs never see half an entry. JSON, not
pickle: loading the cache must never run code. Every cache failure (read-only
tree, full disk, corrupt entry) only means a miss; it never fails the lint.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field, fields
from typing import Dict, List, Optional, Sequence

from . import __version__
from .findings import Autofix, Edit, FileError, Finding, Related

DEFAULT_DIR = ".bnlint_cache"
KEEP_FINGERPRINTS = 4  # older folders (other configs or bnlint versions) are pruned
_GITIGNORE = "# Automatically created by bnlint.\n*\n"
_CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                 "# This file is a cache directory tag created by bnlint.\n")


@dataclass
class Deps:
    """What one file's analysis read besides the file itself (absolute paths)."""

    consulted: List[str] = field(default_factory=list)
    probed: List[str] = field(default_factory=list)  # looked for, absent
    words: Dict[str, str] = field(default_factory=dict)  # name -> files_digest of the files mentioning it


def cache_disabled_by_env() -> bool:
    return os.environ.get("BNLINT_NO_CACHE", "") not in ("", "0", "false", "False")


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def files_digest(paths: Sequence[str], root: str) -> str:
    """A digest of a set of project files (relative to ``root``). A common name is mentioned by
    thousands of files, and an entry only needs to tell whether that set changed."""
    return content_hash("\0".join(sorted(os.path.relpath(p, root) for p in paths)).encode())


def _package_fingerprint() -> str:
    """bnlint's own sources (size, mtime): an edited rule in a checkout invalidates the cache."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    parts = [__version__, sys.version]
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                st = os.stat(os.path.join(dirpath, name))
                parts.append(f"{os.path.relpath(os.path.join(dirpath, name), pkg)}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)


def cache_root(root: str, cache_dir: Optional[str]) -> str:
    """The cache folder: ``cache_dir`` (relative to the project root) or ``.bnlint_cache``."""
    return os.path.normpath(os.path.join(root, cache_dir or DEFAULT_DIR))


class ResultCache:
    def __init__(self, root: str, codes: Sequence[str], per_file_ignores: Dict[str, List[str]],
                 cache_dir: Optional[str] = None):
        self.root = os.path.abspath(root)
        self.base = cache_root(self.root, cache_dir)
        settings = json.dumps([sorted(codes), per_file_ignores, self.root], sort_keys=True)
        self.fingerprint = content_hash((_package_fingerprint() + "\n" + settings).encode())
        self.folder = os.path.join(self.base, self.fingerprint)
        self._hashes: Dict[str, Optional[str]] = {}
        self._word_index = None  # a fresh ProjectIndex, built only to check name searches
        self._ready = False

    # -- hashing ------------------------------------------------------------------
    def file_hash(self, path: str) -> Optional[str]:
        """Content hash of ``path`` (None: absent or unreadable), once per run."""
        if path not in self._hashes:
            try:
                with open(path, "rb") as fh:
                    self._hashes[path] = content_hash(fh.read())
            except OSError:
                self._hashes[path] = None
        return self._hashes[path]

    def _entry_path(self, fs_path: str, display: str) -> str:
        key = content_hash(f"{os.path.abspath(fs_path)}\0{display}".encode())
        return os.path.join(self.folder, key[:2], key + ".json")

    # -- lookup -------------------------------------------------------------------
    def lookup(self, fs_path: str, display: str):
        """The cached ``(findings, errors)`` for this file, or None."""
        try:
            with open(self._entry_path(fs_path, display), "r", encoding="utf-8") as fh:
                entry = json.load(fh)
            if entry.get("sha") != self.file_hash(os.path.abspath(fs_path)) or not self._deps_hold(entry):
                return None
            return ([_finding_from_json(f) for f in entry["findings"]],
                    [FileError(**e) for e in entry["errors"]])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None  # absent, half-written by an old version, corrupt: a miss

    def _deps_hold(self, entry: dict) -> bool:
        for rel, sha in entry["deps"].items():
            if self.file_hash(os.path.join(self.root, rel)) != sha:
                return False
        for rel in entry["probed"]:
            if os.path.exists(os.path.join(self.root, rel)):
                return False
        if entry["words"]:
            index = self._words()
            for word, digest in entry["words"].items():
                if files_digest(index.files_mentioning(word), self.root) != digest:
                    return False
        return True

    def _words(self):
        if self._word_index is None:
            from .index import ProjectIndex  # the same search the analysis ran

            self._word_index = ProjectIndex(self.root)
        return self._word_index

    def _rel(self, path: str) -> str:
        return os.path.relpath(path, self.root)


    # -- store --------------------------------------------------------------------
    def store(self, fs_path: str, display: str, findings: Sequence[Finding], errors: Sequence[FileError],
              deps: Deps) -> None:
        fs_path = os.path.abspath(fs_path)
        try:
            sha = self.file_hash(fs_path)
            if sha is None:
                return
            entry = {
                "sha": sha,
                "deps": {self._rel(p): self.file_hash(p) for p in sorted(set(deps.consulted)) if p != fs_path},
                "probed": sorted(self._rel(p) for p in set(deps.probed)),
                "words": dict(sorted(deps.words.items())),
                "findings": [_finding_to_json(f) for f in findings],
                "errors": [{"path": e.path, "message": e.message, "kind": e.kind, "code": e.code} for e in errors],
            }
            target = self._entry_path(fs_path, display)
            self._prepare()
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, separators=(",", ":")))  # dumps: the C encoder, dump is not
                os.replace(tmp, target)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except (OSError, ValueError, TypeError):
            pass  # a cache that cannot be written is only a slower next run

    def _prepare(self) -> None:
        """Create the folder with its ``.gitignore``; prune folders of old fingerprints."""
        if self._ready:
            return
        os.makedirs(self.base, exist_ok=True)
        for name, text in ((".gitignore", _GITIGNORE), ("CACHEDIR.TAG", _CACHEDIR_TAG)):
            path = os.path.join(self.base, name)
            if not os.path.exists(path):
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
        if not os.path.isdir(self.folder):
            os.makedirs(self.folder, exist_ok=True)
            others = [os.path.join(self.base, d) for d in os.listdir(self.base)
                      if len(d) == 32 and d != self.fingerprint and os.path.isdir(os.path.join(self.base, d))]
            others.sort(key=lambda d: os.stat(d).st_mtime, reverse=True)
            for old in others[KEEP_FINGERPRINTS - 1:]:
                shutil.rmtree(old, ignore_errors=True)
        self._ready = True


def _finding_to_json(f: Finding) -> dict:
    # Field by field, so a field added to Finding later is cached too (nested types by hand).
    data = {fl.name: getattr(f, fl.name) for fl in fields(Finding)}
    data["related"] = [[r.path, r.line, r.message] for r in f.related]
    if f.autofix is not None:
        data["autofix"] = {"description": f.autofix.description, "safe": f.autofix.safe,
                           "edits": [[e.start, e.end, e.text] for e in f.autofix.edits]}
    return data


def _finding_from_json(data: dict) -> Finding:
    data = dict(data)
    fix = data.pop("autofix", None)
    data["autofix"] = None if fix is None else Autofix(fix["description"], tuple(Edit(*e) for e in fix["edits"]),
                                                       fix["safe"])
    data["related"] = tuple(Related(*r) for r in data.get("related", ()))
    return Finding(**data)
