"""Parsing with guard rails: libcst's native parser can overflow the C stack or go
quadratic on pathologically deep expressions, so every file passes through the
stdlib parser (C, fast, stack-safe) first and too-deep files are refused cleanly.
"""
from __future__ import annotations

import ast
import sys
import warnings
from typing import Optional

import libcst as cst

MAX_NESTING = 250  # deeper than any real code; libcst goes quadratic then crashes beyond
_BRACKETS = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in "()[]{}"))


class ParseFailure(Exception):
    """One line for the user."""


def _ast_depth(tree: ast.AST, limit: int) -> int:
    best = 0
    stack = [(tree, 0)]
    node_type = ast.AST
    while stack:
        node, depth = stack.pop()
        if depth > best:
            best = depth
            if best > limit:
                return best
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend((x, depth + 1) for x in value if isinstance(x, node_type))
            elif isinstance(value, node_type):
                stack.append((value, depth + 1))
    return best


def _bracket_depth(text: str) -> int:
    depth = best = 0
    for ch in text.translate(_BRACKETS):
        if ch in "([{":
            depth += 1
            if depth > best:
                best = depth
        else:
            depth -= 1
    return best


def syntax_check(text: str) -> Optional[ast.AST]:
    """The stdlib AST, or None when the running interpreter's grammar is older than the file's."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences etc. are not our business
            return ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def parse(text: str, tree: Optional[ast.AST] = "unset") -> cst.Module:
    """Parse with libcst, refusing inputs that would crash or hang it."""
    if tree == "unset":
        tree = syntax_check(text)
    if tree is not None:
        depth = _ast_depth(tree, MAX_NESTING)
        if depth > MAX_NESTING:
            raise ParseFailure(f"expressions nested more than {MAX_NESTING} levels deep; file not analyzed")
    elif _bracket_depth(text) > MAX_NESTING or max(map(len, text.splitlines()), default=0) > 20000:
        raise ParseFailure("syntax error (file is not valid Python 3)")
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise ParseFailure(f"syntax error at line {exc.raw_line}, column {exc.raw_column + 1}: "
                           f"{str(exc.message).splitlines()[0]}")
    except RecursionError:
        raise ParseFailure("file too deeply nested to analyze")


def ensure_recursion_headroom() -> None:
    if sys.getrecursionlimit() < 5000:
        sys.setrecursionlimit(5000)
