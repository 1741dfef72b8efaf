"""Run the two passes over a set of paths: discover, pre-filter, parse, index, rules, suppress."""
from __future__ import annotations

import fnmatch
import gc
import multiprocessing
import os
import signal
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .cache import Deps, ResultCache, cache_disabled_by_env
from .config import Config, selected_codes
from .discovery import Target, discover
from .findings import FileError, Finding
from .lifetime import Lifeline, die_with_parent, raise_if_interrupted
from .schedule import import_order
from .source import Source, SourceError, decode, read_bytes, read_source
from .tree import find_project_root


def _import_analysis() -> None:
    """Import the analysis, the rules and LibCST (most of bnlint's start-up time) when a file is
    first linted: a run whose results all come from the cache never needs them."""
    global Analysis, ModuleInfo, ProjectIndex, RULES_BY_CODE, Rule, RuleContext
    global MAX_ANALYZED_CHARS, AnalysisTimeout, ParseFailure, ensure_recursion_headroom, file_time_limit
    global compiles, parse, syntax_check, time_limit
    from .analysis.context import Analysis
    from .analysis.module import ModuleInfo
    from .index import ProjectIndex
    from .parsing import (MAX_ANALYZED_CHARS, AnalysisTimeout, ParseFailure, compiles, ensure_recursion_headroom,
                          file_time_limit, parse, syntax_check, time_limit)
    from .rules import RULES_BY_CODE
    from .rules.base import Rule, RuleContext

REPORT_URL = "https://github.com/bnlint/bnlint/issues"


@dataclass
class FileResult:
    path: str
    findings: List[Finding] = field(default_factory=list)
    errors: List[FileError] = field(default_factory=list)
    deps: Optional[Deps] = None  # what the analysis read besides the file (for the cache)


@dataclass
class LintResult:
    findings: List[Finding]
    errors: List[FileError]
    files_checked: int
    root: str = ""
    checked: List[str] = field(default_factory=list)  # display paths of the files linted
    # Not errors (no effect on the exit code): invalid `# noqa` directives, shown on stderr.
    warnings: List[FileError] = field(default_factory=list)

    @property
    def internal_errors(self) -> List[FileError]:
        return [e for e in self.errors if e.kind == "internal"]


def load_source(target: Target) -> Source:
    if target.fs_path.endswith(".ipynb"):
        from .notebook import notebook_source

        # read_bytes, not open(): a FIFO or device named x.ipynb must not block the run.
        data = target.data if target.data is not None else read_bytes(target.fs_path)
        return notebook_source(data, target.display)
    if target.data is not None:  # standard input
        return decode(target.data, target.display)
    return read_source(target.fs_path, target.display)


def _parse_error(source: Source, target: Target, exc: Exception) -> FileError:
    message = str(exc)
    if hasattr(source, "cite_lines"):  # a notebook: "line 12" of the Python view -> "cell 3, line 2"
        message = source.cite_lines(message)
    return FileError(target.display, message, "parse")


def internal_error(display: str, code: str, exc: BaseException) -> FileError:
    """A bug in bnlint on one file: which rule, a short reason, and where to report it."""
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]  # one line, bounded
    at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    return FileError(display, f"internal error in {code or 'bnlint'} ({reason}{at}); "
                              f"please report it at {REPORT_URL}", "internal", code)


def _ignored_by_path(display: str, fs_path: str, root: str, per_file: Dict[str, List[str]], code: str) -> bool:
    if not per_file:
        return False
    rel = os.path.relpath(fs_path, root).replace(os.sep, "/")
    for pattern, codes in per_file.items():
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(display, pattern) \
                or fnmatch.fnmatch(os.path.basename(fs_path), pattern):
            if any(c.upper() == "ALL" or code.startswith(c.upper()) for c in codes):
                return True
    return False


class Linter:
    """Lints files of one project; keeps the lazily built project index across files."""

    def __init__(self, root: str, codes: Sequence[str], per_file_ignores: Optional[Dict[str, List[str]]] = None):
        _import_analysis()
        ensure_recursion_headroom()
        self.root = root
        self.rules: List[Rule] = [RULES_BY_CODE[c]() for c in sorted(codes)]
        self.per_file_ignores = per_file_ignores or {}
        self.index = ProjectIndex(root)
        self.analysis = Analysis(self.index)
        # BNLINT_NO_PREFILTER=1 parses and checks every file with every rule (tests compare).
        self.prefilter = not os.environ.get("BNLINT_NO_PREFILTER")

    def lint_file(self, target: Target) -> FileResult:
        self.index.start_file()
        self.index.absolute_paths = os.path.isabs(target.display)
        limit = file_time_limit()
        try:
            with time_limit(limit):  # the last resort against inputs no pre-check foresaw
                result = self._lint(target)
        except AnalysisTimeout:
            # Not cached (no deps): a slower or busier machine is not a property of the file.
            return FileResult(target.display, errors=[FileError(
                target.display, f"analysis exceeded {limit:g} s; file not analyzed", "parse")])
        except Exception as exc:  # a bug outside the rules (loading, analysis): lose this file only
            result = FileResult(target.display, errors=[internal_error(target.display, "", exc)])
        index = self.index
        result.deps = Deps(sorted(index.consulted | index.scanned), sorted(index.probed),
                           {w: index.mentions_digest(w) for w in sorted(index.searched)})
        return result

    def _lint(self, target: Target) -> FileResult:
        result = FileResult(target.display)
        try:
            source = load_source(target)
        except SourceError as exc:
            if type(exc).__name__ == "NotPythonNotebook":  # an R or Julia notebook: not ours to lint
                return result
            result.errors.append(FileError(target.display, str(exc), "read"))
            return result
        if source.skip_file():
            return result
        if "noqa" in source.text.lower():
            for line, word in source.invalid_noqa():  # "warning": shown on stderr, never the exit code
                where = source.cite_lines(f"line {line}") if hasattr(source, "cite_lines") else f"line {line}"
                result.errors.append(FileError(target.display, f"invalid `# noqa` directive at {where}: "
                                                               f"`{word}` is not a bnlint rule code", "warning"))
        seen: Dict[str, bool] = {}
        rules = [r for r in self.rules
                 if not (self.prefilter or r.scoped_by_triggers) or r.wants(source, seen)
                 or r.wants_in_project(source, target.fs_path, self.index)]
        info, module_tree = (self.index.known_module(target.fs_path, source)
                             if rules and len(source.text) <= MAX_ANALYZED_CHARS else (None, None))
        if not rules:
            # Nothing can fire: only make sure the file is Python (libcst only if the
            # running interpreter is older than the file's syntax).
            if module_tree is None and not compiles(source.text):
                try:
                    parse(source.text)
                except ParseFailure as exc:
                    result.errors.append(_parse_error(source, target, exc))
            return result
        # A tree another file's analysis already parsed passed the same checks on the same text.
        tree = syntax_check(source.text) if module_tree is None else None
        if tree is not None and len(source.text) > MAX_ANALYZED_CHARS:
            # libcst needs minutes and gigabytes for a file this size (generated code, data).
            result.errors.append(FileError(target.display, f"file too large to analyze "
                                           f"({len(source.text) // 1024} KiB; the limit is "
                                           f"{MAX_ANALYZED_CHARS // 1024} KiB); syntax checked only, "
                                           "exclude it if it is generated", "parse"))
            return result
        if module_tree is None:
            try:
                module_tree = parse(source.text, tree)
            except ParseFailure as exc:
                result.errors.append(_parse_error(source, target, exc))
                return result
        if info is None:
            try:
                info = ModuleInfo(source, module_tree, target.fs_path, self.index.module_name(target.fs_path),
                                  self.index.package_of(target.fs_path))
            except RecursionError:
                result.errors.append(FileError(target.display, "file too deeply nested to analyze", "parse"))
                return result
            self.index.add(info)
        for rule in rules:
            ctx = RuleContext(info, self.analysis, rule)
            self.index.refuel()
            try:
                rule.check(ctx)
            except Exception as exc:  # one rule failing must not stop the others
                result.errors.append(internal_error(target.display, rule.code, exc))
                continue
            finally:
                if self.index.fuel < 0:
                    # Analyses memoised after the budget ran out hold "unknown"s; the next rule starts clean.
                    self.index.memo.clear()
            for finding in ctx.findings:
                if source.is_suppressed(finding.code, finding.line):
                    continue
                if _ignored_by_path(target.display, target.fs_path, self.root, self.per_file_ignores, finding.code):
                    continue
                result.findings.append(finding)
        if hasattr(source, "to_cells"):  # a notebook: report cell-relative positions
            result.findings = [source.to_cells(f) for f in result.findings]
        return result


_WORKER: Dict[str, object] = {}  # the one Linter of a worker process, reused by all its chunks


_LINT_GC_THRESHOLDS = (100_000, 50, 1000)


@contextmanager
def _fewer_collections():
    """Run the cyclic garbage collector less often while linting.

    The index keeps hundreds of parsed modules (millions of immutable CST nodes) alive, and
    every full collection walks all of them: with the default thresholds about a quarter of
    a cold run went to the collector. Cycles are still collected, only less often.
    """
    before = gc.get_threshold()
    gc.set_threshold(*_LINT_GC_THRESHOLDS)
    try:
        yield
    finally:
        # Hand what survived over to the oldest generation first (freeze, then unfreeze): with the
        # thresholds restored, the next young collection would otherwise walk every object the
        # run made (a second or more after a large cold run, while the report waits). It is
        # still collected by the next full collection, as any long-lived garbage is.
        if gc.get_freeze_count() == 0:  # never unfreeze what the embedding program froze
            gc.freeze()
            gc.unfreeze()
        gc.set_threshold(*before)


def _lint_chunk(root: str, codes: Sequence[str], per_file: Dict[str, List[str]],
                targets: Sequence[Target], tag: int = -1) -> List[FileResult]:
    # A fresh Linter per chunk would parse the shared dependencies (and build the
    # project's name table) again for every chunk.
    key = repr((root, list(codes), sorted(per_file.items())))
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, linter=Linter(root, codes, per_file))
        # A worker process only lints: fewer collections for its whole life, not chunk by chunk
        # (restored thresholds between chunks meant full collections over its cached trees).
        gc.set_threshold(*_LINT_GC_THRESHOLDS)
    linter = _WORKER["linter"]
    ticks = _WORKER.get("ticks")  # the parent's progress: one message per file, as it is done
    results = []
    for t in targets:
        results.append(linter.lint_file(t))
        if ticks is not None:
            try:
                ticks.send_bytes(str(tag).encode())  # which call: see _in_pool
            except OSError:  # the parent stopped listening (it is ending the run): results still count
                _WORKER["ticks"] = ticks = None
    return results


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS/Windows
        return max(1, os.cpu_count() or 1)


def default_jobs() -> int:
    if os.environ.get("PRE_COMMIT"):
        return 1  # pre-commit already runs hooks in parallel
    return available_cores()


def worker_count(jobs: int, tasks: int) -> int:
    """Worker processes for ``tasks`` pieces of work at ``-j jobs``: never more than the pieces
    (an idle worker is only start-up cost) nor than the available cores (more only compete)."""
    return max(1, min(jobs, tasks, available_cores()))


def run(targets: Sequence[Target], root: str, codes: Sequence[str], per_file: Dict[str, List[str]],
        jobs: int = 1, progress: Optional[Callable[[int], None]] = None,
        cache: Optional[ResultCache] = None) -> List[FileResult]:
    """Results in ``targets`` order: cached ones first looked up here, the rest linted."""
    if cache is None:
        return _run_uncached(targets, root, codes, per_file, jobs, progress)
    results: List[Optional[FileResult]] = [None] * len(targets)
    todo: List[int] = []
    for i, t in enumerate(targets):
        hit = cache.lookup(t.fs_path, t.display)
        if hit is None:
            todo.append(i)
            continue
        results[i] = FileResult(t.display, hit[0], hit[1])
        if progress:
            progress(1)

    def keep(k: int, r: FileResult) -> None:
        # Stored as each worker hands its files back, while the others still lint. Unreadable files
        # and internal errors are not results worth keeping.
        i = todo[k]
        results[i] = r
        if r.deps is not None and not any(e.kind in ("read", "internal") for e in r.errors):
            cache.store(targets[i].fs_path, targets[i].display, r.findings, r.errors, r.deps)

    _run_uncached([targets[i] for i in todo], root, codes, per_file, jobs, progress, keep)
    cache.finish()  # the tree's record: the next run checks name searches without an identifier table
    return [r for r in results if r is not None]


def _run_uncached(targets: Sequence[Target], root: str, codes: Sequence[str], per_file: Dict[str, List[str]],
                  jobs: int = 1, progress: Optional[Callable[[int], None]] = None,
                  on_result: Optional[Callable[[int, FileResult], None]] = None) -> List[FileResult]:
    """Results in ``targets`` order; ``on_result(position, result)`` hears of each as it arrives
    (a worker's files when that worker is done; files a lost worker left, once linted again)."""
    if not targets:
        return []
    if jobs <= 1 or len(targets) < 8:
        linter = Linter(root, codes, per_file)
        out = []
        with _fewer_collections():
            for k, t in enumerate(targets):
                raise_if_interrupted()
                out.append(linter.lint_file(t))
                if on_result:
                    on_result(k, out[-1])
                if progress:
                    progress(1)
        return out
    # Each worker lints a stretch of files that import each other (see ``schedule``), piece by piece,
    # then takes pieces from the far end of the stretch with the most left.
    order = import_order([t.fs_path for t in targets], root)
    pieces, bounds = _stretches(len(targets), jobs)
    pieces = [[order[k] for k in piece] for piece in pieces]
    results: List[Optional[FileResult]] = [None] * len(targets)

    def stretch_done(_k: int, done: Optional[List[Tuple[int, List[FileResult]]]]) -> None:
        for j, piece_results in done or ():  # (None: a worker died; its pieces are found below)
            for i, r in zip(pieces[j], piece_results):
                results[i] = r  # progress: counted file by file as the workers finish them (tick)
                if on_result:
                    on_result(i, r)

    piece_targets = [[targets[i] for i in piece] for piece in pieces]
    claims = multiprocessing.get_context().Array("i", [b for bound in bounds for b in bound])
    _in_pool(jobs, [(_lint_stretch, (root, list(codes), per_file, piece_targets, k)) for k in range(len(bounds))],
             stretch_done, tick=progress, claims=claims)
    lost = [i for i, r in enumerate(results) if r is None]  # files of a worker that died (a crash, an OOM kill)
    if lost:
        _retry_lost(targets, lost, results, root, codes, per_file, jobs, progress)
        for i in lost:
            if on_result and results[i] is not None:
                on_result(i, results[i])
    return [r for r in results if r is not None]


def _stretches(n: int, jobs: int) -> Tuple[List[List[int]], List[Tuple[int, int]]]:
    """Positions ``0..n-1`` (files in schedule order) cut into small pieces, and for each worker the
    range of pieces it starts on: one contiguous stretch each, so that a worker's index parses the
    modules of its stretch once. Pieces are small because they are what balances the workers: one
    that ends its stretch early takes pieces from the far end of another (``_claim``)."""
    workers = max(1, min(jobs, available_cores(), n // 4))  # at least 4 files per worker
    size = max(2, min(16, n // (workers * 16)))
    pieces = [list(range(lo, min(n, lo + size))) for lo in range(0, n, size)]
    bounds = [(len(pieces) * k // workers, len(pieces) * (k + 1) // workers) for k in range(workers)]
    return pieces, bounds


def _claim(claims, k: int) -> Optional[int]:
    """The next piece for the worker on stretch ``k``: the front of its own, else the back of the
    stretch with the most pieces left (``claims`` holds each stretch's front and back, shared)."""
    with claims.get_lock():
        front, back = claims[2 * k], claims[2 * k + 1]
        if front < back:
            claims[2 * k] = front + 1
            return front
        other = max(range(len(claims) // 2), key=lambda j: claims[2 * j + 1] - claims[2 * j])
        if claims[2 * other] < claims[2 * other + 1]:
            claims[2 * other + 1] -= 1
            return claims[2 * other + 1]
    return None


def _lint_stretch(root: str, codes: Sequence[str], per_file: Dict[str, List[str]],
                  pieces: Sequence[Sequence[Target]], k: int) -> List[Tuple[int, List[FileResult]]]:
    """(piece, results) for every piece this worker claimed, starting on stretch ``k``."""
    out = []
    while True:
        j = _claim(_WORKER["claims"], k)
        if j is None:
            return out
        out.append((j, _lint_chunk(root, codes, per_file, pieces[j], k)))


def _in_pool(jobs: int, calls: List[Tuple[Callable, tuple]], done: Callable[[int, Optional[object]], None],
             tick: Optional[Callable[[int], None]] = None, claims=None) -> None:
    """Run ``calls`` (function, arguments) in a process pool, calling ``done(k, result)`` in call order;
    ``result`` is None for every call the pool could not finish because a worker died (the pool is
    then broken: even submitting more work raises). ``tick(1)`` is called once per file as a worker
    finishes it (the progress bar), while the results are waited for; ``claims``: the pieces shared
    by ``_lint_stretch`` calls."""
    ctx = multiprocessing.get_context()
    lifeline = Lifeline(ctx)
    # One byte-sized message per file through a pipe with no lock: a write this small is atomic,
    # and a worker killed mid-write cannot leave a lock held that would block the others.
    reader, ticks = ctx.Pipe(duplex=False) if tick is not None else (None, None)

    ticked: Dict[int, int] = {}  # call -> files counted so far (each file's message names its call)

    def drain() -> None:
        while reader is not None and reader.poll():
            k = int(reader.recv_bytes())
            ticked[k] = ticked.get(k, 0) + 1
            tick(1)

    pool = ProcessPoolExecutor(max_workers=worker_count(jobs, len(calls)), mp_context=ctx,
                               initializer=_worker_start, initargs=(lifeline.reader, ticks, claims))
    try:
        futures = []
        for fn, args in calls:
            try:
                futures.append(pool.submit(fn, *args))
            except BrokenProcessPool:
                break
        for k in range(len(calls)):
            result = None
            while k < len(futures):
                try:
                    result = futures[k].result(timeout=0.1 if ticks is not None else None)
                    break
                except FutureTimeout:
                    drain()
                except BrokenProcessPool:
                    break
            drain()
            if result is None and ticked.get(k):
                tick(-ticked[k])  # a lost call's files are linted again, and counted again, by the caller
            done(k, result)
    except BaseException:
        # Ctrl-C, SIGTERM (raised by the CLI's handler), a failing callback: stop now. Leaving
        # the pool by its context manager would first lint every queued chunk (minutes).
        _abandon(pool, lifeline)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        lifeline.cut()
        for end in (reader, ticks):
            if end is not None:
                end.close()


def _worker_start(lifeline, ticks=None, claims=None) -> None:
    """Initializer of every worker process: die with the parent, leave interrupts to it; ``ticks``
    (the write end of a pipe, or None) receives one message per linted file, for the parent's progress;
    ``claims``: the shared piece counters of a parallel run (``_claim``)."""
    _WORKER["ticks"] = ticks
    _WORKER["claims"] = claims
    # A terminal's Ctrl-C reaches the whole process group: the parent decides and ends the
    # workers (a KeyboardInterrupt in each worker only printed tracebacks). SIGTERM and SIGHUP
    # keep their default action even if the parent had installed handlers before forking.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    die_with_parent(lifeline)


def _abandon(pool: ProcessPoolExecutor, lifeline: Lifeline, grace: float = 0.5) -> None:
    """End a pool without waiting for its queued work: cancel what has not started, end the workers."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    lifeline.cut()  # each worker exits when its lifeline ends (the portable way)
    for proc in processes:
        _end_process(proc, signal.SIGTERM)
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            _end_process(proc, signal.SIGKILL)
            proc.join(1.0)


def _end_process(proc, signum: int) -> None:
    try:
        if proc.pid is not None and proc.exitcode is None:
            os.kill(proc.pid, signum)
    except (OSError, ValueError):  # already gone, or already reaped
        pass


def _retry_lost(targets: Sequence[Target], lost: List[int], results: List[Optional[FileResult]], root: str,
                codes: Sequence[str], per_file: Dict[str, List[str]], jobs: int,
                progress: Optional[Callable[[int], None]]) -> None:
    """Lint the files of a broken pool again, one file per task, until each has a result.

    Files whose worker died again are run alone in a process of their own: a file that
    crashes even then gets an internal error, and its neighbours are not lost with it.
    """
    pending = lost
    while pending:
        failed: List[int] = []

        def file_done(k: int, file_results: Optional[List[FileResult]]) -> None:
            i = pending[k]
            if file_results is None:
                failed.append(i)
                return
            results[i] = file_results[0]
            if progress:
                progress(1)

        _in_pool(jobs, [(_lint_chunk, (root, list(codes), per_file, [targets[i]], k)) for k, i in enumerate(pending)],
                 file_done)
        if not failed:
            return
        # The first failed file either crashed or ran beside the one that did: settle it alone.
        first, pending = failed[0], failed[1:]
        results[first] = _lint_alone(targets[first], root, codes, per_file)
        if progress:
            progress(1)


def _lint_into(conn, lifeline, root: str, codes: Sequence[str], per_file: Dict[str, List[str]],
               target: Target) -> None:
    _worker_start(lifeline)
    conn.send(_lint_chunk(root, codes, per_file, [target])[0])
    conn.close()


def _lint_alone(target: Target, root: str, codes: Sequence[str], per_file: Dict[str, List[str]]) -> FileResult:
    """Lint one file in a process of its own; if that process dies, the file gets an internal error."""
    ctx = multiprocessing.get_context()  # the start method ProcessPoolExecutor uses too
    recv, send = ctx.Pipe(duplex=False)
    lifeline = Lifeline(ctx)
    proc = ctx.Process(target=_lint_into, args=(send, lifeline.reader, root, list(codes), per_file, target),
                       daemon=True)
    proc.start()
    send.close()  # so that recv() sees EOF when the child dies
    try:
        result = recv.recv()
    except EOFError:
        result = None
    except BaseException:  # an interrupt: do not wait for the file to be linted
        _end_process(proc, signal.SIGKILL)
        raise
    finally:
        recv.close()
        lifeline.cut()
        proc.join()
    if result is not None:
        return result
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            reason = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            reason = f"killed by signal {-code}"
    else:
        reason = f"exit code {code}"
    return FileResult(target.display, errors=[FileError(
        target.display, f"internal error in bnlint (the worker process crashed while linting this file: "
                        f"{reason}); please report it at {REPORT_URL}", "internal", "")])


def lint_stdin(data: bytes, display: str, config: Optional[Config] = None) -> LintResult:
    """Lint ``data`` (a file read from standard input) as the file ``display`` (``--stdin-filename``;
    ``-`` without one): the project index comes from that path's project, and the file on disk, if
    any, is replaced by ``data``. Not cached: the bytes are not the file's."""
    config = config or Config()
    target = Target(os.path.abspath(display), display, data)
    root = find_project_root([display])
    codes = sorted(selected_codes(config))
    results = _run_uncached([target], root, codes, config.per_file_ignores, 1)
    findings = sorted((f for r in results for f in r.findings), key=Finding.sort_key)
    errors = [e for r in results for e in r.errors]
    warnings = [e for e in errors if e.kind == "warning"]
    errors = [e for e in errors if e.kind != "warning"]
    return LintResult(findings, errors, 1, root, [display], warnings)


def lint_paths(paths: Sequence[str], config: Optional[Config] = None, jobs: int = 1,
               progress: Optional[Callable[[int], None]] = None,
               on_targets: Optional[Callable[[int], None]] = None, cache: bool = False) -> LintResult:
    """Lint files and directories; the public entry point behind the CLI.

    ``cache=True`` reuses and records per-file results in the project's cache folder
    (``.bnlint_cache`` or ``cache-dir``); the CLI turns it on unless ``--no-cache``.
    """
    config = config or Config()
    targets, missing = discover(paths, config.excludes, config.base_dir, config.force_exclude,
                                config.respect_gitignore)
    if on_targets:
        on_targets(len(targets))
    root = find_project_root(paths)
    codes = sorted(selected_codes(config))
    store = None
    if cache and not cache_disabled_by_env():
        store = ResultCache(root, codes, config.per_file_ignores, config.cache_dir)
    results = run(targets, root, codes, config.per_file_ignores, jobs, progress, store)
    findings: List[Finding] = []
    errors: List[FileError] = [FileError(p, m, "read") for p, m in missing]
    for r in results:
        findings.extend(r.findings)
        errors.extend(r.errors)
    findings.sort(key=Finding.sort_key)
    warnings = [e for e in errors if e.kind == "warning"]
    errors = [e for e in errors if e.kind != "warning"]
    return LintResult(findings, errors, len(targets), root, [t.display for t in targets], warnings)
