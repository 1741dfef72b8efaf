"""Parsing with guard rails: libcst's native parser can overflow the C stack or go
quadratic on pathologically deep expressions, so every file passes through the
stdlib parser (C, fast, stack-safe) first and too-deep files are refused cleanly.

The depth measured is libcst's, not the AST's: ``a and b and c`` is one flat
``BoolOp`` in the AST but a nested chain in libcst, so each extra operand counts
as a level. When the running interpreter cannot parse a file at all (a syntax
error, or syntax newer than the interpreter), libcst gets it only if its longest
statement is small enough to be parsed safely.
"""
from __future__ import annotations

import ast
import io
import sys
import tokenize
import warnings
from contextlib import contextmanager
from typing import Optional

import libcst as cst

MAX_NESTING = 250  # deeper than any real code; libcst goes quadratic then crashes beyond
# Without a stdlib AST, the longest statement libcst may see (a 5,000-deep `lambda:` chain
# already overflows its stack; real statements are far below this).
MAX_FALLBACK_TOKENS = 4000
# Larger files are only syntax-checked: libcst and the analyses cost ~2 KB of memory and
# ~20-50 us per source byte, so a 5 MB generated file would take minutes and gigabytes.
MAX_ANALYZED_CHARS = 1024 * 1024
_BRACKETS = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in "()[]{}"))


class ParseFailure(Exception):
    """One line for the user."""


def _ast_depth(tree: ast.AST, limit: int) -> int:
    """libcst's nesting depth of ``tree`` as far as it matters: exact when it is over ``limit``.

    A node written on one line can nest at most about one level per character (``----x`` is the
    densest); one short enough to stay below the limit whatever it holds is not walked. That
    skips most simple statements and keeps this check a small fraction of the parse.
    """
    best = 0
    stack = [(tree, 0)]
    node_type = ast.AST
    while stack:
        node, depth = stack.pop()
        if depth > best:
            best = depth
            if best > limit:
                return best
        end = getattr(node, "end_col_offset", None)
        if end is not None and node.lineno == node.end_lineno and depth + 4 * (end - node.col_offset) + 4 <= limit:
            continue
        step = len(node.values) if isinstance(node, ast.BoolOp) else 1  # libcst nests and/or chains
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend((x, depth + step) for x in value if isinstance(x, node_type))
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


def _stdlib_parse(text: str):
    """(tree, None) or (None, the exception the stdlib parser raised)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences etc. are not our business
            return ast.parse(text), None
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        return None, exc


def syntax_check(text: str) -> Optional[ast.AST]:
    """The stdlib AST, or None when the running interpreter cannot parse the file."""
    return _stdlib_parse(text)[0]


def _longest_statement(text: str, limit: int) -> int:
    """Tokens in the longest logical line, counting up to ``limit`` (tokenizes lazily)."""
    count = best = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                count = 0
                continue
            count += 1
            if count > best:
                best = count
                if best > limit:
                    break
    except (tokenize.TokenError, SyntaxError, RecursionError, MemoryError):
        pass  # counted as far as it tokenizes; libcst stops there too
    return best


def _stdlib_message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        return f"syntax error at {where}: {exc.msg}"
    return f"syntax error: {getattr(exc, 'msg', None) or exc}"


@contextmanager
def _unvalidated_nodes():
    """Skip LibCST's per-node validation while its parser builds the tree.

    Every node constructor re-checks invariants (parentheses balanced, whitespace legal) that
    the parser's output satisfies by construction; LibCST's own comment on ``__post_init__``
    suggests validating outside parsing. About 15 % of parse time. Only parser output is built
    meanwhile (this process is single-threaded), and the check is restored right after.
    """
    base = cst.CSTNode
    saved = base.__dict__.get("__post_init__")
    if saved is None:  # another LibCST release validates elsewhere: nothing to skip
        yield
        return
    base.__post_init__ = _no_validation
    try:
        yield
    finally:
        base.__post_init__ = saved


def _no_validation(self) -> None:
    pass


def parse(text: str, tree: Optional[ast.AST] = "unset") -> cst.Module:
    """Parse with libcst, refusing inputs that would crash or hang it."""
    error: Optional[BaseException] = None
    if tree == "unset" or tree is None:
        tree, error = _stdlib_parse(text)
    if tree is not None:
        depth = _ast_depth(tree, MAX_NESTING)
        if depth > MAX_NESTING:
            raise ParseFailure(f"expressions nested more than {MAX_NESTING} levels deep; file not analyzed")
    elif isinstance(error, (MemoryError, RecursionError)):
        # The interpreter's own parser gave up; libcst would crash or run for minutes.
        raise ParseFailure("expressions nested too deeply for the Python parser; file not analyzed")
    elif (_bracket_depth(text) > MAX_NESTING
          or _longest_statement(text, MAX_FALLBACK_TOKENS) > MAX_FALLBACK_TOKENS):
        raise ParseFailure(_stdlib_message(error))
    try:
        with _unvalidated_nodes():
            return cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        if tree is not None:  # valid for this interpreter, but libcst's grammar disagrees
            raise ParseFailure(f"valid Python, but bnlint's parser (libcst) rejects line {exc.raw_line}, "
                               f"column {exc.raw_column + 1}; file not analyzed")
        if isinstance(error, SyntaxError) and error.lineno:
            raise ParseFailure(_stdlib_message(error))  # CPython's wording is the clearer one
        raise ParseFailure(f"syntax error at line {exc.raw_line}, column {exc.raw_column + 1}: "
                           f"{str(exc.message).splitlines()[0]}")
    except RecursionError:
        raise ParseFailure("file too deeply nested to analyze")


def ensure_recursion_headroom() -> None:
    if sys.getrecursionlimit() < 5000:
        sys.setrecursionlimit(5000)
