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
from typing import Dict, List, Optional, Sequence, Set, Tuple

from . import __version__
from .findings import Autofix, Edit, FileError, Finding, Related
from .source import SourceError, read_bytes
from .tree import WORD_READ_LIMIT, identifiers, python_files, word_table

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
# The tree's record (``TreeRecord``), one file in the fingerprint folder beside the entry shards.
TREE_RECORD = "tree.json"
TREE_RECORD_FORMAT = 1
MAX_TREE_RECORD_BYTES = 64 * 1024 * 1024
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
        self._word_index = None  # a fresh ProjectIndex, built only to check searches of non-ASCII names
        self._tree: Optional[TreeRecord] = None  # the project's files as this run found them (see TreeRecord)
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
        hit = self._lookup(fs_path, display)
        if hit is None:
            # A miss is linted next: hash the tree first, so that the name searches of that linting
            # can be recorded for it (see TreeRecord).
            self.tree()
        return hit

    def _lookup(self, fs_path: str, display: str):
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
        for word, digest in entry["words"].items():
            if self.mentions_digest(word) != digest:
                return False
        return True

    # -- name searches --------------------------------------------------------------
    def mentions_digest(self, word: str) -> str:
        """``files_digest`` of the project files that mention ``word``: what the analysis's search
        (``ProjectIndex.mentions_digest``) finds in the tree now. Read from the tree record when an
        earlier run recorded it for these very files, so that a warm run reads no identifier table."""
        tree = self.tree()
        digest = tree.digest(word)
        if digest is None:
            if word.isascii():
                digest = tree.search(word)
            else:  # the index's own search (a regular expression over the text); rare
                if self._word_index is None:
                    from .index import ProjectIndex

                    self._word_index = ProjectIndex(self.root)
                digest = self._word_index.mentions_digest(word)
                tree.record(word, digest)
        return digest

    def tree(self) -> "TreeRecord":
        """The record of the project's files, hashed on first use (before any file is linted, as
        ``lookup`` asks for it on a miss) and reconciled with the record the last run left."""
        if self._tree is None:
            self._tree = TreeRecord(self.root, self._hashes)
            self._tree.load(os.path.join(self.folder, TREE_RECORD) if self.enabled else None)
        return self._tree

    def finish(self) -> None:
        """After the run's stores: write the tree record if it learnt something and the tree is
        still exactly what it was when it was hashed (nothing edited while the run linted)."""
        tree = self._tree
        if not self.enabled or tree is None or not tree.changed:
            return
        try:
            text = tree.dumps()
            if text is None:
                return
            self._prepare()
            _write_atomic(os.path.join(self.folder, TREE_RECORD), text)
        except (OSError, ValueError, TypeError):
            pass  # a record that cannot be written is only a slower next run

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
            if self._tree is not None:
                for word, digest in deps.words.items():
                    self._tree.record(word, digest)  # searched in the tree hashed before this linting
            target = self._entry_path(fs_path, display)
            self._prepare()
            shard = os.path.dirname(target)
            os.makedirs(shard, exist_ok=True)
            if not stat.S_ISDIR(os.lstat(shard).st_mode):
                return  # a symlink inside the cache: never written through
            _write_atomic(target, json.dumps(entry, separators=(",", ":")))  # dumps: the C encoder, dump is not
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


class TreeRecord:
    """The project's Python files as a run found them, and which of them mention each searched name.

    A cache entry records the project-wide name searches its analysis ran (the callers of a
    function: the files that mention its name), and checking them meant an identifier table of
    the whole tree, the largest part of a warm run. This record keeps, for every file a search
    reads (``tree.python_files``), the hash of the bytes the search reads (``WORD_READ_LIMIT``),
    and for each searched name the digest of the files that mention it (as
    ``ProjectIndex.mentions_digest``) and, once known, those files.

    It is content-based, never time-based: the record is used only when every file hashes as
    recorded, and then each name's digest is the recorded one. After an edit, the names are
    looked up again in the changed, added and removed files only. A record is written only when
    the tree hashes at the end of the run exactly as before its linting, so its digests were
    computed from the very files it lists.
    """

    def __init__(self, root: str, memo: Optional[Dict[str, Optional[str]]] = None):
        self.root = root
        self.paths = python_files(root)
        self.rels = [os.path.relpath(p, root) for p in self.paths]
        self.shas = self._hash_all(memo)
        # name -> (digest, indices into paths of the files that mention it; None: not known yet)
        self.words: Dict[str, Tuple[str, Optional[List[int]]]] = {}
        self.changed = False  # it knows something the record on disk does not
        self.conflict = False  # two digests for one name: the tree changed during the run; write nothing
        self._table: Optional[Dict[str, List[int]]] = None

    def _hash_all(self, memo: Optional[Dict[str, Optional[str]]] = None) -> List[Optional[str]]:
        shas: List[Optional[str]] = []
        for path in self.paths:
            try:  # as the search reads it (never blocking on a FIFO named x.py)
                data = read_bytes(path, WORD_READ_LIMIT)
            except SourceError:
                shas.append(None)
                continue
            sha = content_hash(data)
            if memo is not None and len(data) < WORD_READ_LIMIT:
                memo.setdefault(path, sha)  # the whole file: its hash for the entries too (read once)
            shas.append(sha)
        return shas

    def _digest(self, indices: Sequence[int]) -> str:
        return files_digest_of_relpaths([self.rels[i] for i in indices])

    def load(self, path: Optional[str]) -> None:
        """Take over what the record at ``path`` knows that still holds for this tree."""
        self.changed = True
        data = _read_small(path, MAX_TREE_RECORD_BYTES) if path else None
        if data is None:
            return
        try:
            old_rels, old_shas, words = _tree_record_fields(json.loads(data.decode("utf-8")))
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError):
            return  # corrupt, another layout, hand-edited: as if absent (overwritten at the end)
        if old_rels == self.rels and old_shas == self.shas:
            self.words = words
            self.changed = False
            return
        # Files changed, came or went: each name's files are the recorded ones that did not change,
        # plus the changed and new files that mention it now.
        old = dict(zip(old_rels, old_shas))
        fresh = [i for i, rel in enumerate(self.rels) if rel not in old or old[rel] != self.shas[i]]
        if len(fresh) > max(64, len(self.rels) // 4):
            return  # a different tree: one identifier table costs less
        names: Dict[int, Set[str]] = {}
        for i in fresh:
            try:
                text = read_bytes(self.paths[i], WORD_READ_LIMIT) if self.shas[i] is not None else None
            except SourceError:
                text = None
            if (None if text is None else content_hash(text)) != self.shas[i]:
                return  # changed again since it was hashed: start from an identifier table
            names[i] = identifiers(text) if text is not None else set()
        now = {rel: i for i, rel in enumerate(self.rels)}
        fresh_set = set(fresh)
        for word, (_, indices) in words.items():
            if indices is None:
                continue  # the files were never listed: looked up again if a search needs it
            kept = (now.get(old_rels[j]) for j in indices)
            members = sorted([i for i in kept if i is not None and i not in fresh_set]
                             + [i for i in fresh if word in names[i]])
            self.words[word] = (self._digest(members), members)

    def digest(self, word: str) -> Optional[str]:
        found = self.words.get(word)
        return found[0] if found is not None else None

    def search(self, word: str) -> str:
        """The digest of the files that mention the ASCII name ``word``, from an identifier table
        of the tree (built once, as the index builds its own)."""
        if self._table is None:
            self._table = word_table(self.paths)
            for known, (digest, indices) in list(self.words.items()):
                if indices is None and known.isascii():  # recorded from an analysis: list its files now
                    members = self._table.get(known, [])
                    if self._digest(members) != digest:
                        self.conflict = True
                    self.words[known] = (digest, list(members))
        members = self._table.get(word, [])
        digest = self._digest(members)
        self.record(word, digest, list(members))
        return digest

    def record(self, word: str, digest: str, members: Optional[List[int]] = None) -> None:
        """Remember what a search of ``word`` found in this tree (by this process or a worker)."""
        known = self.words.get(word)
        if members is None and self._table is not None and word.isascii():
            members = list(self._table.get(word, []))  # the table is at hand: list the files too
            if self._digest(members) != digest:
                self.conflict = True
        if known is None or known[1] is None and members is not None:
            self.words[word] = (digest, members)
            self.changed = True
        if known is not None and known[0] != digest:
            self.conflict = True

    def dumps(self) -> Optional[str]:
        """The record as JSON, or None when there is nothing to record or the tree has changed since
        it was hashed (a file edited while the run linted: its digests may mix both versions)."""
        if self.conflict or not self.words:
            return None
        if python_files(self.root) != self.paths or self._hash_all() != self.shas:
            return None
        return json.dumps({"format": TREE_RECORD_FORMAT,
                           "files": [[rel, sha] for rel, sha in zip(self.rels, self.shas)],
                           "words": {w: [d, m] for w, (d, m) in sorted(self.words.items())}},
                          separators=(",", ":"))


def _tree_record_fields(record) -> Tuple[List[str], List[Optional[str]], Dict[str, Tuple[str, Optional[List[int]]]]]:
    """The fields of a tree record, checked (a ValueError for anything ``TreeRecord.dumps`` does not write)."""
    if not isinstance(record, dict) or record.get("format") != TREE_RECORD_FORMAT:
        raise ValueError("not a tree record of this format")
    files, words = record["files"], record["words"]
    if not isinstance(files, list) or not isinstance(words, dict):
        raise ValueError("malformed tree record")
    rels: List[str] = []
    shas: List[Optional[str]] = []
    for item in files:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and (item[1] is None or isinstance(item[1], str))):
            raise ValueError("malformed tree record")
        rels.append(item[0])
        shas.append(item[1])
    out: Dict[str, Tuple[str, Optional[List[int]]]] = {}
    for word, value in words.items():
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
            raise ValueError("malformed tree record")
        members = value[1]
        if members is not None and not (isinstance(members, list) and all(
                _is_int(i) and 0 <= i < len(rels) for i in members)):
            raise ValueError("malformed tree record")
        out[word] = (value[0], members)
    return rels, shas, out


def _write_atomic(target: str, text: str, suffix: str = ".json") -> None:
    """Write ``text`` to a temporary file beside ``target`` and move it into place."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
    _write_atomic(os.path.join(folder, MARKER), _marker_text(fingerprint), suffix=".marker")


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
