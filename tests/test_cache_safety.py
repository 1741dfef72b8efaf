"""The result cache deletes only folders it created and marked, never follows a symlinked
default cache folder or a symlink inside the cache, and treats any odd entry (a FIFO, a
device, deeply nested or wrongly typed JSON) as a miss. Real trees, the real CLI in a child
process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bnlint.cache import DEFAULT_DIR, KEEP_FINGERPRINTS, MARKER, Deps, ResultCache

from .test_cache import MODELS_BN, TRAIN, TRAIN_LINE, _lint, cache_entries

REPO = Path(__file__).resolve().parent.parent
posix_only = pytest.mark.skipif(os.name != "posix", reason="symlinks, FIFOs and /dev/zero as on POSIX")


def _project(tmp_path: Path, pyproject: str = "[tool.bnlint]\n") -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    (root / "train.py").write_text(TRAIN, encoding="utf-8")
    (root / "models.py").write_text(MODELS_BN, encoding="utf-8")
    return root


def _run_folders(folder: Path, n: int = 8) -> Path:
    """What an experiment tracker keeps: run folders named by a 32-character hex id."""
    for i in range(n):
        run = folder / uuid.uuid4().hex
        (run / "metrics").mkdir(parents=True)
        (run / "meta.yaml").write_text(f"run_id: {run.name}\nstatus: FINISHED\n", encoding="utf-8")
        (run / "metrics" / "loss").write_text(f"{i} 0.5\n", encoding="utf-8")
    return folder


def _snapshot(folder: Path) -> dict:
    """Every path under ``folder`` (not following symlinks) -> its bytes, link target or None for folders."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            rel = str(full.relative_to(folder))
            if full.is_symlink():
                snap[rel] = "-> " + os.readlink(full)
            elif full.is_dir():
                snap[rel] = None
            else:
                snap[rel] = full.read_bytes()
    return snap


def _cli(root: Path, select: str = "ALL", timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    env.pop("BNLINT_NO_CACHE", None)
    return subprocess.run([sys.executable, "-m", "bnlint", "check", "--select", select, "-q", "-j", "1", "."],
                          cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def _fingerprint_folders(base: Path):
    return sorted(p for p in base.iterdir() if len(p.name) == 32 and p.is_dir() and not p.is_symlink())


def _skip_if_sources_changed(base: Path, before) -> None:
    """bnlint's own sources are part of the fingerprint: in a checkout being edited while the
    suite runs, the second run may use a new folder and never look at the planted entries."""
    if _fingerprint_folders(base) != before:
        pytest.skip("bnlint's sources changed between the two runs (a checkout edited meanwhile)")


def test_explicit_cache_dir_full_of_run_folders_loses_nothing(tmp_path):
    runs = _run_folders(tmp_path / "tracking")
    before = _snapshot(runs)
    root = _project(tmp_path, f"[tool.bnlint]\ncache-dir = {json.dumps(str(runs))}\n")
    cold = _cli(root)
    assert cold.returncode == 1 and f"train.py:{TRAIN_LINE}:" in cold.stdout, cold.stderr
    assert "Traceback" not in cold.stderr
    after = _snapshot(runs)
    # Every run folder and file is still there, byte for byte; nothing was written beside them
    # (no .gitignore with `*`, no CACHEDIR.TAG): the cache went into a subfolder of its own.
    assert {k: v for k, v in after.items() if not k.startswith(DEFAULT_DIR)} == before
    own = runs / DEFAULT_DIR
    assert (own / "CACHEDIR.TAG").is_file() and (own / ".gitignore").is_file()
    assert list(own.rglob("*.json"))
    # Other settings make a new fingerprint folder, which prunes: still only bnlint's own folders go.
    for select in ("BN1", "BN2", "BN4", "BN103", "BN101", "BN201"):
        assert _cli(root, select).returncode in (0, 1)
    assert {k: v for k, v in _snapshot(runs).items() if not k.startswith(DEFAULT_DIR)} == before
    assert len(_fingerprint_folders(own)) == KEEP_FINGERPRINTS
    warm = _cli(root)
    assert warm.stdout == cold.stdout


@posix_only
def test_symlinked_default_cache_folder_is_not_followed(tmp_path):
    runs = _run_folders(tmp_path / "tracking")
    before = _snapshot(runs)
    root = _project(tmp_path)
    (root / DEFAULT_DIR).symlink_to(runs, target_is_directory=True)
    proc = _cli(root)
    assert proc.returncode == 1 and f"train.py:{TRAIN_LINE}:" in proc.stdout and "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "symbolic link" in warnings[0] and "cache" in warnings[0], proc.stderr
    assert _snapshot(runs) == before  # nothing deleted, nothing written through the link
    assert (root / DEFAULT_DIR).is_symlink()


@posix_only
def test_explicit_cache_dir_through_a_symlink_is_followed_and_marked(tmp_path):
    elsewhere = tmp_path / "shared-cache"
    elsewhere.mkdir()
    root = _project(tmp_path, '[tool.bnlint]\ncache-dir = "cachelink"\n')
    (root / "cachelink").symlink_to(elsewhere, target_is_directory=True)
    cold = _cli(root)
    assert cold.returncode == 1 and "warning" not in cold.stderr, cold.stderr
    assert (elsewhere / "CACHEDIR.TAG").is_file()
    (folder,) = _fingerprint_folders(elsewhere)
    marker = (folder / MARKER).read_text(encoding="utf-8")
    assert "bnlint" in marker and folder.name in marker
    assert _cli(root).stdout == cold.stdout


@posix_only
def test_pruning_removes_only_marked_folders_and_never_follows_symlinks(tmp_path):
    root = _project(tmp_path)
    base = root / DEFAULT_DIR
    train = str(root / "train.py")
    # Marked folders of other settings, made by the cache itself, oldest first.
    marked = []
    for code in ("BN101", "BN102", "BN103", "BN201")[:KEEP_FINGERPRINTS]:
        cache = ResultCache(str(root), [code], {})
        cache.store(train, train, [], [], Deps())
        marked.append(base / cache.fingerprint)
    assert all((f / MARKER).is_file() for f in marked)
    # Things the cache did not create: unmarked 32-character folders, one with another folder's
    # marker, a symlink named like a fingerprint (to a folder carrying a copied marker), and a
    # symlink inside a marked folder that will be pruned.
    outside = _run_folders(tmp_path / "outside", 2)
    existing = set(base.iterdir())
    unmarked = sorted(set(_run_folders(base, 3).iterdir()) - existing)
    forged = base / uuid.uuid4().hex
    forged.mkdir()
    (forged / MARKER).write_bytes((marked[0] / MARKER).read_bytes())
    target = next(outside.iterdir())
    link_name = uuid.uuid4().hex
    (target / MARKER).write_text((marked[0] / MARKER).read_text(encoding="utf-8").replace(
        marked[0].name, link_name), encoding="utf-8")
    (base / link_name).symlink_to(target, target_is_directory=True)
    (marked[0] / "escape").symlink_to(outside, target_is_directory=True)
    for i, folder in enumerate(marked):  # oldest first (after the link above changed one's mtime)
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
    outside_before = _snapshot(outside)
    unmarked_before = [_snapshot(run) for run in unmarked]

    result = _lint([root / "train.py"])  # new settings: a new folder, and pruning
    assert any(f.code == "BN103" for f in result.findings)
    kept = [f for f in _fingerprint_folders(base) if (f / MARKER).is_file() and f != forged]
    assert len(kept) == KEEP_FINGERPRINTS
    assert set(marked[-(KEEP_FINGERPRINTS - 1):]) <= set(kept) and not marked[0].exists()
    assert _snapshot(outside) == outside_before  # neither the link's target nor the escape's
    assert (base / link_name).is_symlink() and forged.is_dir()
    assert [_snapshot(run) for run in unmarked] == unmarked_before and all(run.is_dir() for run in unmarked)


@posix_only
def test_fifo_and_dev_zero_in_place_of_entries_are_misses_not_hangs(tmp_path):
    root = _project(tmp_path)
    cold = _cli(root)
    entries = cache_entries(root / DEFAULT_DIR)
    assert len(entries) == 2  # train.py and models.py
    entries[0].unlink()
    os.mkfifo(entries[0])
    entries[1].unlink()
    entries[1].symlink_to("/dev/zero")
    folders = _fingerprint_folders(root / DEFAULT_DIR)
    warm = _cli(root, timeout=60)  # a FIFO opened for reading without a writer blocks forever
    _skip_if_sources_changed(root / DEFAULT_DIR, folders)
    assert warm.returncode == cold.returncode and warm.stdout == cold.stdout and "Traceback" not in warm.stderr
    for entry in entries:  # overwritten by a good entry
        assert entry.is_file() and not entry.is_symlink()
        json.loads(entry.read_text(encoding="utf-8"))


def test_deeply_nested_entry_is_a_miss_and_is_overwritten(tmp_path):
    root = _project(tmp_path)
    cold = _cli(root)
    entries = cache_entries(root / DEFAULT_DIR)
    assert entries
    for entry in entries:
        entry.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    folders = _fingerprint_folders(root / DEFAULT_DIR)
    warm = _cli(root)
    _skip_if_sources_changed(root / DEFAULT_DIR, folders)
    assert warm.returncode == cold.returncode and warm.stdout == cold.stdout
    assert "Traceback" not in warm.stderr and "RecursionError" not in warm.stderr
    for entry in entries:
        assert isinstance(json.loads(entry.read_text(encoding="utf-8")), dict)
    assert _cli(root).stdout == cold.stdout


def test_wrongly_typed_entry_fields_are_a_miss(tmp_path):
    root = _project(tmp_path)
    cold = _cli(root)
    assert f"train.py:{TRAIN_LINE}:" in cold.stdout
    changed = 0
    for entry in cache_entries(root / DEFAULT_DIR):
        data = json.loads(entry.read_text(encoding="utf-8"))
        for finding in data["findings"]:
            finding["line"] = "x"
            changed += 1
        entry.write_text(json.dumps(data), encoding="utf-8")
    assert changed
    warm = _cli(root)
    assert warm.returncode == cold.returncode and warm.stdout == cold.stdout and "Traceback" not in warm.stderr
