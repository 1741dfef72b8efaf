"""Shared test helpers: expectation markers and running the real linter on real files."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Iterable, List, Set, Tuple

from bnlint.analysis.context import Analysis
from bnlint.config import Config
from bnlint.engine import lint_paths
from bnlint.index import ProjectIndex

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>BN\d{3}(?:\s*,\s*BN\d{3})*)")


def expectations(path: Path, code: str = None) -> Set[Tuple[str, int, str]]:
    """(resolved path, line, code) for every ``# expect: CODE`` marker in the file."""
    out = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = _EXPECT.search(line)
        if m:
            for c in re.split(r"\s*,\s*", m.group("codes")):
                if code is None or c == code:
                    out.add((str(path.resolve()), lineno, c))
    return out


def lint(paths: Iterable, select: List[str] = None, jobs: int = 1, **config):
    cfg = Config(select=select, **config)
    return lint_paths([str(p) for p in paths], cfg, jobs=jobs)


def found(result, codes=None) -> Set[Tuple[str, int, str]]:
    return {
        (str(Path(f.path).resolve()), f.line, f.code)
        for f in result.findings
        if codes is None or f.code in codes
    }


def python_files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def analysed_module(root: Path, text: str, name: str = "m.py"):
    """(analysis, module info) of ``text`` written to ``root/name``, a one-file project, for tests
    that ask the analysis questions directly."""
    path = root / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    index = ProjectIndex(str(root))
    analysis = Analysis(index)
    index.start_file()
    return analysis, index.module(str(path))
