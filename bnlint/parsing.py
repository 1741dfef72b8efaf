"""Parsing with guard rails: libcst's native parser can overflow the C stack or go
quadratic on pathologically deep expressions, so every file passes through the
stdlib parser (C, fast, stack-safe) first and too-deep files are refused cleanly.

The depth measured is libcst's, not the AST's: ``a and b and c`` is one flat
``BoolOp`` in the AST but a nested chain in libcst, so each extra operand counts
as a level. When the running interpreter cannot parse a file at all (a syntax
error, or syntax newer than the interpreter), libcst gets it only if its longest
statement is small enough to be parsed safely.

Two more shapes are refused before libcst sees them: ``match`` patterns nested deeply
(libcst's parser backtracks through them in exponential time: a mapping pattern nested 12
deep took 18 s, 240 deep would take hours) and dotted names with hundreds of parts
(``import a.a.a...``: one string in the AST, but a chain of nested attributes in libcst,
which every visitor then walks recursively). And whatever slips through is bounded in time:
``time_limit`` interrupts one file's analysis after ``FILE_TIME_LIMIT`` seconds.
"""
from __future__ import annotations

import ast
import io
import os
import re
import signal
import sys
import threading
import tokenize
import warnings
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

import libcst as cst

MAX_NESTING = 250  # deeper than any real code; libcst goes quadratic then crashes beyond
# Without a stdlib AST, the longest statement libcst may see (a 5,000-deep `lambda:` chain
# already overflows its stack; real statements are far below this).
MAX_FALLBACK_TOKENS = 4000
# Larger files are only syntax-checked: libcst and the analyses cost ~2 KB of memory and
# ~20-50 us per source byte, so a 5 MB generated file would take minutes and gigabytes.
MAX_ANALYZED_CHARS = 1024 * 1024
# match patterns: libcst's parse time doubles with each level of nesting (quadruples with each
# mapping pattern), and multiplies with the sub-patterns at each level. Measured with libcst 1.9:
# 8 nested mapping patterns 0.07 s, 10 1.2 s; a tree of mapping patterns 6 deep 0.25 s, 7 deep 2 s.
MAX_PATTERN_DEPTH = 8
# Estimated parse cost of one pattern: each name, literal and bracket at bracket depth d counts
# 4 ** (d - 1) (the mapping rate, the worst measured). Over 3,500 random nested patterns (all
# kinds, 3-10 deep, 1-4 sub-patterns a level) none under this limit took libcst over 0.5 s.
MAX_PATTERN_COST = 250_000
MAX_PATTERN_COST_PER_FILE = 4 * MAX_PATTERN_COST  # libcst parses a file at once: about 2 s at most
# Wall time one file's analysis may take (seconds; BNLINT_FILE_TIME_LIMIT overrides, 0 disables).
FILE_TIME_LIMIT = 60.0
_CASE_LINE = re.compile(r"^[ \t]*case\b", re.M)
# What a pattern's measure needs: brackets, names and literals (strings whole, brackets inside
# them ignored), line ends, the `:` and `=` that tell a case clause; comments and line
# continuations are matched only to be skipped.
_PATTERN_TOKEN = re.compile("|".join((
    r"(?P<open>[(\[{])", r"(?P<close>[)\]}])",
    r"(?P<atom>\w+"
    r"|'''(?:\\.|[^\\])*?(?:'''|\Z)"
    r'|"""(?:\\.|[^\\])*?(?:"""|\Z)'
    r"""|'(?:\\.|[^\\'\r\n])*'?|"(?:\\.|[^\\"\r\n])*"?)""",
    r"(?P<skip>#[^\r\n]*|\\(?:\r\n|\r|\n)?)", r"(?P<newline>\r\n|\r|\n)", r"(?P<punct>[:=])",
)), re.S)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
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
    alias_type, import_from_type = ast.alias, ast.ImportFrom
    while stack:
        node, depth = stack.pop()
        if depth > best:
            best = depth
            if best > limit:
                return best
        end = getattr(node, "end_col_offset", None)
        if end is not None and node.lineno == node.end_lineno and depth + 4 * (end - node.col_offset) + 4 <= limit:
            continue
        kind = type(node)
        if kind is alias_type or kind is import_from_type:
            # `import a.b.c` is one string here but nested attributes in libcst: one level a part.
            dotted = (node.name if kind is alias_type else node.module) or ""
            if dotted.count(".") >= 100 and depth + dotted.count(".") + 1 > limit:
                line = getattr(node, "lineno", None)  # an alias has none before Python 3.10
                raise ParseFailure(f"dotted name with {dotted.count('.') + 1} parts"
                                   f"{f' at line {line}' if line else ''} (limit {limit}); file not analyzed")
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


# ``x.cuda(async=True)`` / ``def cuda(self, async=False)``: PyTorch before 0.4 named the argument
# ``async``, a keyword since Python 3.7. Old training code is full of it.
_ASYNC_ARGUMENT = re.compile(r"([(,][ \t]*)async([ \t]*=(?!=))")


def _legacy_async_names(text: str, tree, error):
    """The text with ``async`` renamed ``Async`` where it is an argument name (same length: every
    position stays), when that is all that kept the file from parsing; else everything unchanged.
    Only the analysis sees the renamed text: a fix must still compile as the file is."""
    renamed = _ASYNC_ARGUMENT.sub(r"\1Async\2", text)
    renamed_tree, _ = _stdlib_parse(renamed)
    if renamed_tree is None:
        return text, tree, error
    return renamed, renamed_tree, None


_STRING_TOKENS = {tokenize.STRING} | {getattr(tokenize, n) for n in ("FSTRING_MIDDLE", "TSTRING_MIDDLE")
                                       if hasattr(tokenize, n)}
_LEADING_TABS = re.compile(r"[ \t]*\t[ \t]*")


def _spaced_indentation(text: str) -> Optional[str]:
    """The text with every tab in a line's indentation made one space (same length: every position
    stays), or None when there is no such tab.

    CPython accepts indentation that mixes tabs and spaces when comparing it with tabs as 8 columns
    and as 1 column gives the same blocks (else "inconsistent use of tabs and spaces"), so reading
    each tab as one column keeps the file's structure; LibCST's tokenizer rejects some such files.
    Lines inside a multi-line string keep their tabs (they are the string's value)."""
    if "\t" not in text:
        return None
    in_strings = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in _STRING_TOKENS and tok.end[0] > tok.start[0]:
                in_strings.update(range(tok.start[0] + 1, tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, RecursionError, MemoryError):
        return None
    lines = text.split("\n")  # as ``StringIO.readline`` splits, so numbers agree with tokenize's
    changed = False
    for number, line in enumerate(lines, 1):
        if number not in in_strings:
            found = _LEADING_TABS.match(line)
            if found:
                lines[number - 1] = found.group().replace("\t", " ") + line[found.end():]
                changed = True
    return "\n".join(lines) if changed else None


def syntax_check(text: str) -> Optional[ast.AST]:
    """The stdlib AST, or None when the running interpreter cannot parse the file."""
    return _stdlib_parse(text)[0]


def compiles(text: str) -> bool:
    """The running interpreter compiles ``text``: a cheaper check than ``syntax_check`` (about half
    its time: no Python objects are built for the tree) for files no rule reads. Stricter than
    parsing (``return`` outside a function fails), so False only means "look closer"."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "<bnlint>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError):
        return False


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


def _measure_pattern(text: str, i: int, end: int, depth: int, clause: bool) -> Tuple[int, int, bool]:
    """(deepest bracket level, estimated parse cost, complete) of the pattern in ``text[i:end]``,
    which starts at bracket depth ``depth``; strings and comments are skipped.

    With ``clause`` (no AST: the text after a ``case`` keyword), the pattern ends at the ``:`` or
    ``if`` of the clause at depth 0; a line end or ``=`` at depth 0 first means it was no case
    clause at all (``complete`` is then False). One pass over the text, however deep (the cost is
    capped, not computed, past the limit).
    """
    deepest = depth
    cost = 0
    for m in _PATTERN_TOKEN.finditer(text, i, end):
        kind = m.lastgroup
        if kind == "open":
            depth += 1
            cost += 4 ** min(depth - 1, 16)
            if depth > deepest:
                deepest = depth
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "atom":
            if clause and depth == 0 and m.group() == "if":
                return deepest, cost, True  # the guard: an expression, not a pattern
            cost += 4 ** min(max(depth - 1, 0), 16)
        elif clause and depth == 0:
            if kind == "newline" or m.group() == "=":
                return deepest, cost, False  # a line without `:`, or `case = ...`: no case clause
            if m.group() == ":":
                return deepest, cost, True
    return deepest, cost, not clause


def _statements_with_cases(tree: ast.AST) -> Iterator[ast.AST]:
    """The ``match`` statements of ``tree`` (statement lists only; none can hide in an expression)."""
    match_type = getattr(ast, "Match", None)
    if match_type is None:
        return
    stack: List[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if type(node) is match_type:
            yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, name, None)
            if type(children) is list:
                stack.extend(children)


def _over_limits(depth: int, cost: int, total: int) -> bool:
    return depth > MAX_PATTERN_DEPTH or cost > MAX_PATTERN_COST or total > MAX_PATTERN_COST_PER_FILE


def _pattern_failure(line: int, depth: int, cost: int) -> ParseFailure:
    if depth > MAX_PATTERN_DEPTH:
        return ParseFailure(f"match pattern at line {line} nested {depth} deep (limit {MAX_PATTERN_DEPTH}; "
                            "bnlint's parser takes exponential time on it); file not analyzed")
    if cost > MAX_PATTERN_COST:
        return ParseFailure(f"match pattern at line {line} too large for its nesting (bnlint's parser "
                            "takes exponential time on it); file not analyzed")
    return ParseFailure(f"match patterns up to line {line} too large for their nesting in total "
                        "(bnlint's parser takes exponential time on them); file not analyzed")


def _check_patterns(text: str, tree: Optional[ast.AST]) -> None:
    """Refuse a file with a ``match`` pattern libcst would take seconds to hours to parse.

    With the stdlib AST the patterns are exactly known (their bracket levels are counted in the
    text: the AST drops parentheses, which cost as much as any level). Without one (Python 3.9,
    or a file with a syntax error) every line starting with ``case`` is measured up to its colon.
    """
    if "case" not in text or not _CASE_LINE.search(text):
        return
    total = 0
    if tree is None:
        for m in _CASE_LINE.finditer(text):
            depth, cost, complete = _measure_pattern(text, m.end(), len(text), 0, clause=True)
            if not complete:
                continue
            total += cost
            if _over_limits(depth, cost, total):
                raise _pattern_failure(len(_LINE_BREAK.findall(text, 0, m.start())) + 1, depth, cost)
        return
    starts: Optional[List[int]] = None
    ascii_only = text.isascii()
    for statement in _statements_with_cases(tree):
        for case in statement.cases:
            pattern = case.pattern
            if starts is None:
                starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]
            begin = _offset(text, starts, pattern.lineno, pattern.col_offset, ascii_only)
            end = _offset(text, starts, pattern.end_lineno, pattern.end_col_offset, ascii_only)
            # Parentheses around the whole pattern are outside its span: count those after `case`.
            keyword = text.rfind("case", 0, begin)
            head = re.sub(r"#[^\r\n]*", "", text[keyword + 4:begin]) if keyword >= 0 else ""
            depth, cost, _ = _measure_pattern(text, begin, end, head.count("("), clause=False)
            total += cost
            if _over_limits(depth, cost, total):
                raise _pattern_failure(pattern.lineno, depth, cost)


def _offset(text: str, starts: List[int], line: int, utf8_column: int, ascii_only: bool) -> int:
    """Character offset of an AST position (1-based line, column in UTF-8 bytes)."""
    start = starts[line - 1]
    if ascii_only:
        return start + utf8_column
    rest = text[start:start + utf8_column]  # at least as many characters as bytes needed
    return start + len(rest.encode("utf-8")[:utf8_column].decode("utf-8", "ignore"))


class AnalysisTimeout(BaseException):
    """A file's analysis ran past its time limit (a BaseException: no ``except Exception`` in a rule
    may swallow it)."""


def file_time_limit() -> float:
    """Seconds one file's analysis may take: ``FILE_TIME_LIMIT``, or BNLINT_FILE_TIME_LIMIT (0: none)."""
    try:
        return float(os.environ.get("BNLINT_FILE_TIME_LIMIT", FILE_TIME_LIMIT))
    except ValueError:
        return FILE_TIME_LIMIT


@contextmanager
def time_limit(seconds: float):
    """Raise ``AnalysisTimeout`` in the block after ``seconds`` of wall time (SIGALRM).

    Only where an interval timer exists (not on Windows), on the main thread (a worker process
    runs its tasks there) and when no other timer is pending (pytest-timeout, a caller's own):
    elsewhere the block runs unbounded. Native code (libcst's parser) is not interrupted: the
    exception comes when it returns, which is why the exponential inputs are refused up front.
    """
    if (seconds <= 0 or not hasattr(signal, "setitimer")
            or threading.current_thread() is not threading.main_thread()
            or signal.getitimer(signal.ITIMER_REAL)[0] > 0):
        yield
        return

    def expired(signum, frame):
        raise AnalysisTimeout()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)


def parse(text: str, tree: Optional[ast.AST] = "unset") -> cst.Module:
    """Parse with libcst, refusing inputs that would crash or hang it."""
    error: Optional[BaseException] = None
    if tree == "unset" or tree is None:
        tree, error = _stdlib_parse(text)
        if tree is None and isinstance(error, SyntaxError) and _ASYNC_ARGUMENT.search(text):
            text, tree, error = _legacy_async_names(text, tree, error)
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
    _check_patterns(text, tree)
    try:
        with _unvalidated_nodes():
            return cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        spaced = _spaced_indentation(text) if tree is not None else None
        if spaced is not None:
            try:
                with _unvalidated_nodes():
                    return cst.parse_module(spaced)
            except cst.ParserSyntaxError:
                pass
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
