"""Run the two passes over a set of paths: discover, pre-filter, parse, index, rules, suppress."""
from __future__ import annotations

import fnmatch
import os
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from .analysis.context import Analysis
from .analysis.module import ModuleInfo
from .config import Config, selected_codes
from .discovery import Target, discover
from .findings import FileError, Finding
from .index import ProjectIndex, find_project_root
from .parsing import ParseFailure, ensure_recursion_headroom, parse, syntax_check
from .rules import RULES_BY_CODE
from .rules.base import Rule, RuleContext
from .source import Source, SourceError, read_source

REPORT_URL = "https://github.com/bnlint/bnlint/issues"


@dataclass
class FileResult:
    path: str
    findings: List[Finding] = field(default_factory=list)
    errors: List[FileError] = field(default_factory=list)


@dataclass
class LintResult:
    findings: List[Finding]
    errors: List[FileError]
    files_checked: int
    root: str = ""

    @property
    def internal_errors(self) -> List[FileError]:
        return [e for e in self.errors if e.kind == "internal"]


def load_source(target: Target) -> Source:
    return read_source(target.fs_path, target.display)


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
        ensure_recursion_headroom()
        self.root = root
        self.rules: List[Rule] = [RULES_BY_CODE[c]() for c in sorted(codes)]
        self.per_file_ignores = per_file_ignores or {}
        self.index = ProjectIndex(root)
        self.analysis = Analysis(self.index)

    def lint_file(self, target: Target) -> FileResult:
        result = FileResult(target.display)
        try:
            source = load_source(target)
        except SourceError as exc:
            result.errors.append(FileError(target.display, str(exc), "read"))
            return result
        if source.skip_file():
            return result
        rules = [r for r in self.rules if r.wants(source.text)]
        tree = syntax_check(source.text)
        if not rules:
            # Nothing can fire: only make sure the file is Python (libcst only if the
            # running interpreter is older than the file's syntax).
            if tree is None:
                try:
                    parse(source.text, tree)
                except ParseFailure as exc:
                    result.errors.append(FileError(target.display, str(exc), "parse"))
            return result
        try:
            module_tree = parse(source.text, tree)
        except ParseFailure as exc:
            result.errors.append(FileError(target.display, str(exc), "parse"))
            return result
        try:
            info = ModuleInfo(source, module_tree, target.fs_path, self.index.module_name(target.fs_path),
                              self.index.package_of(target.fs_path))
        except RecursionError:
            result.errors.append(FileError(target.display, "file too deeply nested to analyze", "parse"))
            return result
        self.index.add(info)
        for rule in rules:
            ctx = RuleContext(info, self.analysis, rule)
            try:
                rule.check(ctx)
            except Exception as exc:  # one rule failing must not stop the others
                where = traceback.extract_tb(exc.__traceback__)[-1]
                result.errors.append(FileError(
                    target.display,
                    f"internal error in {rule.code} ({type(exc).__name__}: {exc} at "
                    f"{os.path.basename(where.filename)}:{where.lineno}); please report it at {REPORT_URL}",
                    "internal", rule.code,
                ))
                continue
            for finding in ctx.findings:
                if source.is_suppressed(finding.code, finding.line):
                    continue
                if _ignored_by_path(target.display, target.fs_path, self.root, self.per_file_ignores, finding.code):
                    continue
                result.findings.append(finding)
        return result


def _lint_chunk(root: str, codes: Sequence[str], per_file: Dict[str, List[str]],
                targets: Sequence[Target]) -> List[FileResult]:
    linter = Linter(root, codes, per_file)
    return [linter.lint_file(t) for t in targets]


def default_jobs() -> int:
    if os.environ.get("PRE_COMMIT"):
        return 1  # pre-commit already runs hooks in parallel
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return max(1, os.cpu_count() or 1)


def run(targets: Sequence[Target], root: str, codes: Sequence[str], per_file: Dict[str, List[str]],
        jobs: int = 1, progress: Optional[Callable[[int], None]] = None) -> List[FileResult]:
    if not targets:
        return []
    if jobs <= 1 or len(targets) < 8:
        linter = Linter(root, codes, per_file)
        out = []
        for t in targets:
            out.append(linter.lint_file(t))
            if progress:
                progress(1)
        return out
    # Chunks keep files of one directory together, so a worker's lazily built index is reused.
    chunk_size = max(4, min(64, len(targets) // (jobs * 4) or 1))
    chunks = [list(targets[i:i + chunk_size]) for i in range(0, len(targets), chunk_size)]
    results: List[FileResult] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(_lint_chunk, root, list(codes), per_file, chunk) for chunk in chunks]
        for fut in futures:
            chunk_results = fut.result()
            results.extend(chunk_results)
            if progress:
                progress(len(chunk_results))
    return results


def lint_paths(paths: Sequence[str], config: Optional[Config] = None, jobs: int = 1,
               progress: Optional[Callable[[int], None]] = None,
               on_targets: Optional[Callable[[int], None]] = None) -> LintResult:
    """Lint files and directories; the public entry point behind the CLI."""
    config = config or Config()
    targets, missing = discover(paths, config.excludes, config.base_dir, config.force_exclude)
    if on_targets:
        on_targets(len(targets))
    root = find_project_root(paths)
    codes = sorted(selected_codes(config))
    results = run(targets, root, codes, config.per_file_ignores, jobs, progress)
    findings: List[Finding] = []
    errors: List[FileError] = [FileError(p, m, "read") for p, m in missing]
    for r in results:
        findings.extend(r.findings)
        errors.extend(r.errors)
    findings.sort(key=Finding.sort_key)
    return LintResult(findings, errors, len(targets), root)
