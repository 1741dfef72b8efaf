"""The module walk reads children from node fields (``cst_fields.FIELDS``) instead of LibCST's
``children``; these tests pin that shortcut to LibCST's own answer for the installed version."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import sysconfig

import libcst as cst
import libcst._nodes.op as cst_op
import libcst._nodes.whitespace as cst_whitespace
import pytest

from bnlint.analysis.cst_fields import FIELDS
from bnlint.analysis.module import _walk_fields, code_children
from bnlint.parsing import parse

from .helpers import FIXTURES, REPO

_BRACKETS = (cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket,
             cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Asynchronous)


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cst_fields", REPO / "tools" / "gen_cst_fields.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _trivia(node: cst.CSTNode) -> bool:
    """Whitespace, comments and punctuation: nothing the analysis reads."""
    if isinstance(node, _BRACKETS):
        return True
    return type(node).__module__ in (cst_whitespace.__name__, cst_op.__name__) and not isinstance(node, cst.ImportStar)


def _sample_files():
    files = sorted(str(p) for p in FIXTURES.rglob("*.py"))
    stdlib = sysconfig.get_paths()["stdlib"]
    # A fixed spread of real, varied stdlib modules (syntax of every kind, decorators, async, match).
    for name in ("ast.py", "dataclasses.py", "asyncio/tasks.py", "typing.py", "argparse.py", "inspect.py",
                 "json/decoder.py", "logging/__init__.py", "re/_parser.py", "email/_header_value_parser.py"):
        path = os.path.join(stdlib, name)
        if os.path.exists(path):
            files.append(path)
    return files


MATCH_AND_FRIENDS = '''
async def f(a, /, b: int = 1, *args, c, d=2, **kw) -> "x":
    async with g() as (h, i), j:
        async for k in l:
            await m(k)
    match a:
        case [1, *rest] if rest: pass
        case {"k": v, **others}: pass
        case Point(x=0) | None: pass
    try:
        x = [y for y in z if y async for w in y]
    except* ValueError as e:
        raise
    lambda q=1, *r, s: (yield)
    global gg
    del x[1:2:3], y.z
    print(f"{a!r:>{b}} {c=}", *d, **e)
    t = (yield from u) if v else {**w, 1: 2}
    assert x, "msg"
@dec(1)
class C(B, metaclass=M):
    x: int = 1
'''


def test_the_table_matches_this_libcst():
    """Every class the table describes (and the installed LibCST still shapes the same way) is
    walked in the order LibCST visits it; a class whose fields changed falls back to ``children``."""
    current = _generator().table()
    for name, (walk, trivia) in FIELDS.items():
        cls = getattr(cst, name, None)
        if cls is None or name not in current:
            continue
        if current[name] == (walk, trivia):
            assert _walk_fields(cls) == walk, name
        else:
            assert _walk_fields(cls) is None, f"{name}: stale table entry must fall back to node.children"


@pytest.mark.parametrize("path", _sample_files() + ["<match-and-friends>"], ids=lambda p: os.path.basename(p))
def test_code_children_are_libcst_children_without_trivia(path):
    text = MATCH_AND_FRIENDS if path.startswith("<") else open(path, encoding="utf-8").read()
    tree = parse(text)  # as bnlint parses it (old ``cuda(async=True)`` fixtures included)
    stack = [tree]
    checked = 0
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if _trivia(node):
            continue  # never reached by the walk
        expected = [c for c in node.children if not _trivia(c)]
        got = code_children(node)
        assert [id(c) for c in got] == [id(c) for c in expected], (type(node).__name__, path)
        checked += 1
    assert checked >= 1


def test_unknown_or_reshaped_classes_fall_back_to_children():
    @dataclasses.dataclass(frozen=True)
    class Pass(cst.Pass):  # same name as a table entry, one field more: the table does not fit
        extra: int = 0

    assert _walk_fields(Pass) is None
    assert _walk_fields(cst.Pass) == FIELDS["Pass"][0]
