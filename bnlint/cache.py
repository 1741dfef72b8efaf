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

What the cache may touch:

* It deletes only fingerprint folders it created itself: each gets a marker file
  (``MARKER``) naming bnlint and the folder's fingerprint when it is created, and
  pruning removes only real folders (not symlinks) whose marker matches their name.
  Anything else in the cache folder, however it is named, is never deleted. Links
  inside a pruned folder are unlinked, never followed.
* A default ``.bnlint_cache`` that is a symbolic link is not followed: the cache is
  off for the run, with a one-line warning. A ``cache-dir`` setting is explicit and
  is followed wherever it points.
* ``.gitignore`` and ``CACHEDIR.TAG`` are written (when missing, never over an existing
  file or link) only into a cache folder that is bnlint's: ``.bnlint_cache`` by its
  name, and a configured ``cache-dir`` that bnlint creates, finds empty, or finds
  holding bnlint's ``CACHEDIR.TAG``. A configured ``cache-dir`` that already holds
  other files gets a ``.bnlint_cache`` subfolder instead, and bnlint writes nothing
  beside those files.
* Entries are read only from regular files (opened non-blocking, without following
  a final symlink, checked with fstat), at most ``MAX_ENTRY_BYTES``; an entry that is
  a FIFO, a device, too large, deeply nested or wrongly typed is a miss and is
  replaced by the next store.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field, fields
from typing import Dict, List, Optional, Sequence, Set

from . import __version__
from .findings import Autofix, Edit, FileError, Finding, Related

DEFAULT_DIR = ".bnlint_cache"
KEEP_FINGERPRINTS = 4  # older folders (other configs or bnlint versions) are pruned
_GITIGNORE = "# Automatically created by bnlint.\n*\n"
_CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                 "# This file is a cache directory tag created by bnlint.\n")
MARKER = ".bnlint-cache-folder"  # inside each fingerprint folder: only marked folders are ever pruned
MAX_ENTRY_BYTES = 8 * 1024 * 1024  # larger entries are not read (a miss)
# The layout of an entry; part of the folder's fingerprint, so entries of another layout are never
# read (and their folders are pruned). 2: findings carry ``explanation`` (the why), and ``message``
# is one short line.
ENTRY_FORMAT = 2
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_BINARY", 0))
_WARNED: Set[str] = set()  # one warning per cache folder and process (--fix lints twice)


def _marker_text(fingerprint: str) -> str:
    return f"bnlint result cache folder\nfingerprint: {fingerprint}\n"


def _is_fingerprint(name: str) -> bool:
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)


def _read_small(path: str, limit: int) -> Optional[bytes]:
    """The bytes of ``path`` if it is a regular file (not a symlink) of at most ``limit`` bytes.

    Opened non-blocking and checked with fstat before reading: a FIFO or a link to
    ``/dev/zero`` where an entry belongs can neither hang nor flood the run.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return None if size > limit else b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _warn(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        try:
            sys.stderr.write(f"bnlint: warning: {message}\n")
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):  # a closed stream, or none (pythonw)
            pass


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
    return files_digest_of_relpaths([os.path.relpath(p, root) for p in paths])


def files_digest_of_relpaths(rel_paths: Sequence[str]) -> str:
    """``files_digest`` of files already given relative to the root."""
    # surrogateescape: a file name that is not UTF-8 hashes as its bytes.
    return content_hash("\0".join(sorted(rel_paths)).encode("utf-8", "surrogateescape"))


def _package_fingerprint() -> str:
    """bnlint's own sources (size, mtime): an edited rule in a checkout invalidates the cache."""
    pkg = os.path.dirname(os.path.abspath(__file__))
    parts = [__version__, sys.version, f"entry format {ENTRY_FORMAT}"]
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
        settings = json.dumps([sorted(codes), per_file_ignores, self.root], sort_keys=True)
        self.fingerprint = content_hash((_package_fingerprint() + "\n" + settings).encode())
        # None: the cache is off for this run (a symlinked default folder, a folder not ours).
        self.base: Optional[str] = _choose_base(self.root, cache_dir)
        self.folder = os.path.join(self.base or "", self.fingerprint)
        if self.base is not None and os.path.islink(self.folder):
            self.base = None  # a link where our folder belongs: neither read through it nor write
        self.enabled = self.base is not None
        self._hashes: Dict[str, Optional[str]] = {}
        self._exists: Dict[str, bool] = {}  # probed path (relative) -> exists, once per run
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
        key = content_hash(f"{os.path.abspath(fs_path)}\0{display}".encode("utf-8", "surrogateescape"))
        return os.path.join(self.folder, key[:2], key + ".json")

    # -- lookup -------------------------------------------------------------------
    def lookup(self, fs_path: str, display: str):
        """The cached ``(findings, errors)`` for this file, or None."""
        if not self.enabled:
            return None
        data = _read_small(self._entry_path(fs_path, display), MAX_ENTRY_BYTES)
        if data is None:
            return None  # absent, not a regular file, too large: a miss
        try:
            entry = json.loads(data.decode("utf-8"))
            if not _entry_ok(entry):
                return None
            if entry["sha"] != self.file_hash(os.path.abspath(fs_path)) or not self._deps_hold(entry):
                return None
            return ([_finding_from_json(f) for f in entry["findings"]],
                    [FileError(**e) for e in entry["errors"]])
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
            return None  # half-written by an old version, corrupt, nested too deeply: a miss

    def _deps_hold(self, entry: dict) -> bool:
        for rel, sha in entry["deps"].items():
            if self.file_hash(os.path.join(self.root, rel)) != sha:
                return False
        exists = self._exists
        for rel in entry["probed"]:
            present = exists.get(rel)
            if present is None:
                present = exists[rel] = os.path.exists(os.path.join(self.root, rel))
            if present:
                return False
        if entry["words"]:
            index = self._words()
            for word, digest in entry["words"].items():
                if index.mentions_digest(word) != digest:
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
        if not self.enabled:
            return
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
            shard = os.path.dirname(target)
            os.makedirs(shard, exist_ok=True)
            if not stat.S_ISDIR(os.lstat(shard).st_mode):
                return  # a symlink inside the cache: never written through
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
        """Create the folder (marked as bnlint's) with ``.gitignore``; prune old marked folders."""
        if self._ready:
            return
        assert self.base is not None
        os.makedirs(self.base, exist_ok=True)  # an explicit cache-dir is followed even through a link
        for name, text in ((".gitignore", _GITIGNORE), ("CACHEDIR.TAG", _CACHEDIR_TAG)):
            try:  # O_EXCL: an existing file, or a symlink planted in its place, is left alone
                fd = os.open(os.path.join(self.base, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        try:
            os.mkdir(self.folder)
            created = True
        except FileExistsError:
            created = False
        if not stat.S_ISDIR(os.lstat(self.folder).st_mode):
            raise OSError(f"{self.folder} is not a folder")  # a symlink or a file: no writes
        if not _is_marked(self.folder, self.fingerprint):
            _write_marker(self.folder, self.fingerprint)
        if created:
            self._prune()
        self._ready = True

    def _prune(self) -> None:
        """Keep the newest ``KEEP_FINGERPRINTS`` marked folders; delete older marked ones only."""
        others = []
        with os.scandir(self.base) as it:
            for entry in it:
                if entry.name == self.fingerprint or not _is_fingerprint(entry.name):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False) and _is_marked(entry.path, entry.name):
                        others.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
                except OSError:
                    continue
        others.sort(reverse=True)
        for _, old in others[KEEP_FINGERPRINTS - 1:]:
            _remove_marked(old)


def _choose_base(root: str, cache_dir: Optional[str]) -> Optional[str]:
    """The cache folder to use, or None (cache off for this run, with a warning when it matters).

    The default ``.bnlint_cache`` must be a real folder (a symlink is not followed); a
    configured ``cache-dir`` is followed. A configured folder that holds other files and is not
    a bnlint cache gets a ``.bnlint_cache`` subfolder, so nothing is written beside those files.
    """
    configured = cache_root(root, cache_dir)
    try:
        if not cache_dir:
            if os.path.islink(configured):
                _warn(configured, f"{DEFAULT_DIR} in {root} is a symbolic link; the result cache is off for "
                                  f"this run (remove the link, or set cache-dir in [tool.bnlint] to use it)")
                return None
            return configured
        if _usable(configured):
            return configured
        sub = os.path.join(configured, DEFAULT_DIR)
        if not os.path.islink(sub) and _usable(sub):
            return sub
    except (OSError, ValueError):
        return configured  # cannot even be examined: every write fails, silently (a miss)
    _warn(configured, f"cache-dir {configured} holds other files and its {DEFAULT_DIR} subfolder is not a "
                      f"bnlint cache; the result cache is off for this run")
    return None


def _usable(folder: str) -> bool:
    """True when bnlint may use ``folder`` as its cache: absent (created), empty, or bnlint's.
    Something that is not a folder also answers True: writing there fails, which is only a miss."""
    try:
        if not stat.S_ISDIR(os.stat(folder).st_mode):
            return True
    except (OSError, ValueError):
        return True
    if _read_small(os.path.join(folder, "CACHEDIR.TAG"), 4096) == _CACHEDIR_TAG.encode("utf-8"):
        return True
    try:
        with os.scandir(folder) as it:
            return next(it, None) is None
    except OSError:
        return True


def _is_marked(folder: str, fingerprint: str) -> bool:
    data = _read_small(os.path.join(folder, MARKER), 4096)
    return data is not None and data == _marker_text(fingerprint).encode("utf-8")


def _write_marker(folder: str, fingerprint: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".marker")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_marker_text(fingerprint))
        os.replace(tmp, os.path.join(folder, MARKER))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _remove_marked(folder: str) -> None:
    """Delete a marked folder: its contents first (links unlinked, never followed), the marker
    last, so that an interrupted prune leaves a folder the next prune still recognises."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return
        with os.scandir(folder) as it:
            children = [e for e in it if e.name != MARKER]
        for child in children:
            if child.is_dir(follow_symlinks=False):
                shutil.rmtree(child.path, ignore_errors=True)  # does not follow links inside
            else:
                os.unlink(child.path)
        os.unlink(os.path.join(folder, MARKER))
        os.rmdir(folder)
    except OSError:
        pass  # another run pruning the same folder, or a file we cannot remove: left for later


def _entry_ok(entry) -> bool:
    """The entry has the shape ``store`` writes (its findings are checked as they are rebuilt)."""
    return (isinstance(entry, dict) and isinstance(entry.get("sha"), str)
            and _str_map(entry.get("deps"), optional_values=True)
            and isinstance(entry.get("probed"), list) and all(isinstance(p, str) for p in entry["probed"])
            and _str_map(entry.get("words"))
            and isinstance(entry.get("findings"), list) and all(isinstance(f, dict) for f in entry["findings"])
            and isinstance(entry.get("errors"), list)
            and all(isinstance(e, dict) and set(e) == {"path", "message", "kind", "code"}
                    and all(isinstance(v, str) for v in e.values()) for e in entry["errors"]))


def _str_map(value, optional_values: bool = False) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, str) or (optional_values and v is None) for v in value.values())


def _finding_to_json(f: Finding) -> dict:
    # Field by field, so a field added to Finding later is cached too (nested types by hand).
    data = {fl.name: getattr(f, fl.name) for fl in fields(Finding)}
    data["related"] = [[r.path, r.line, r.message] for r in f.related]
    if f.autofix is not None:
        data["autofix"] = {"description": f.autofix.description, "safe": f.autofix.safe,
                           "edits": [[e.start, e.end, e.text] for e in f.autofix.edits],
                           "digest": f.autofix.digest}
    return data


def _finding_from_json(data: dict) -> Finding:
    if "explanation" not in data:  # written before ENTRY_FORMAT 2 (a copied folder): a miss, not a blank why
        raise KeyError("explanation")
    data = dict(data)
    fix = data.pop("autofix", None)
    data["autofix"] = None if fix is None else Autofix(fix["description"], tuple(Edit(*e) for e in fix["edits"]),
                                                       fix["safe"], fix["digest"])
    data["related"] = tuple(Related(*r) for r in data.get("related", ()))
    finding = Finding(**data)
    _check_types(finding)
    return finding


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Annotations of the simple fields of Finding, Related, Autofix and Edit (strings, as findings.py
# uses ``from __future__ import annotations``); other fields are checked by their constructors.
_SIMPLE_TYPES = {"str": lambda v: isinstance(v, str), "int": _is_int, "bool": lambda v: isinstance(v, bool),
                 "Optional[str]": lambda v: v is None or isinstance(v, str),
                 "Optional[int]": lambda v: v is None or _is_int(v)}


def _check_types(f: Finding) -> None:
    """A TypeError (a miss) when a cached finding's fields do not have their declared types: an
    entry edited by hand, or by anything else, must not put ``line = "x"`` into a report."""
    parts = [f, *f.related]
    if f.autofix is not None:
        parts += [f.autofix, *f.autofix.edits]
    for obj in parts:
        for fl in fields(obj):
            check = _SIMPLE_TYPES.get(fl.type if isinstance(fl.type, str) else getattr(fl.type, "__name__", ""))
            if check is not None and not check(getattr(obj, fl.name)):
                raise TypeError(f"cached {type(obj).__name__}.{fl.name} has the wrong type")
