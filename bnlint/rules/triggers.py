"""Pre-filter patterns: text a file must contain for a rule to have anything to find there.

A rule declares ``triggers``, a tuple of compiled patterns that must *all* match the
file's text (each one usually an alternation). They are cheap necessary conditions
read off what the rule's analysis looks for syntactically, e.g. BN403 only inspects
``x.eval()`` / ``x.train(...)`` calls, so a file without such a call is skipped
without being parsed. Where a pattern is a scope decision rather than a pure
necessary condition, the rule also applies it inside ``check`` (so the findings
are the same with the pre-filter off; the test suite compares both).
"""
from __future__ import annotations

import re
from typing import Pattern

# Whatever may sit between two tokens of one expression: spaces, newlines inside brackets,
# backslash continuations, comments. Each alternative starts with a different character and a
# comment must end at its newline, so the pattern never backtracks exponentially.
GAP = r"(?:[ \t\f\r\n]|\\[\r\n]|#[^\r\n]*[\r\n])*"


# Between a callee and its argument list: gaps and closing brackets (``(x.eval)()``).
_TO_ARGS = GAP + r"(?:\)" + GAP + r")*\("


def _alternation(names) -> str:
    return "(?:" + "|".join(re.escape(n) for n in names) + ")"


def method_call(*names: str) -> str:
    """``.name(`` for any of ``names``, allowing gaps: ``x . eval ()``, ``x.eval(\\n)``."""
    return r"\." + GAP + _alternation(names) + r"\b" + _TO_ARGS


def call(*names: str) -> str:
    """``name(`` as a call (a method or a plain name), not a ``def name(``."""
    return r"(?<!def )\b" + _alternation(names) + r"\b" + _TO_ARGS


def attribute_assignment(name: str) -> str:
    """``.name = ...`` (not ``==``), allowing gaps."""
    return r"\." + GAP + re.escape(name) + GAP + r"=(?!=)"


def words(*names: str) -> str:
    """Any of ``names`` as a whole identifier."""
    return r"\b" + _alternation(names) + r"\b"


def text(*fragments: str) -> str:
    """Any of ``fragments`` anywhere (substrings: ``Conv`` matches ``Conv2d`` and ``nn.ConvTranspose1d``)."""
    return _alternation(fragments)


# A ``for`` / ``while`` statement (compound statements always start a line).
LOOP = r"(?m:^[ \t\f]*(?:async[ \t\f]+)?(?:for|while)\b)"


def any_of(*patterns: str) -> Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# A BatchNorm layer named in the file: BatchNorm2d, SyncBatchNorm, norm_layer, BN, bn1, ...
NORM_NAMED = re.compile(r"(?i:norm|bn)")
