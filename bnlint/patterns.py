"""Regular expressions over source text for Python call and name shapes.

Used where a cheap text test must come before parsing: the rules' pre-filter
(``rules/triggers.py``) and the reverse call search (a file that never calls
``f`` need not be parsed to look for calls of ``f``). Every builder errs on the
side of matching: a string or comment that looks like a call matches too, unless
the text was first passed through ``code_only`` (as the pre-filter does).
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Dict, Match, Optional, Pattern, Union

# Whatever may sit between two tokens of one expression: spaces, newlines inside brackets,
# backslash continuations, comments. Each alternative starts with a different character and a
# comment must end at its newline, so the pattern never backtracks exponentially.
GAP = r"(?:[ \t\f\r\n]|\\[\r\n]|#[^\r\n]*[\r\n])*"


# Between a callee and its argument list: gaps and closing brackets (``(x.eval)()``).
_TO_ARGS = GAP + r"(?:\)" + GAP + r")*\("


def _alternation(names) -> str:
    return "(?:" + "|".join(re.escape(n) for n in names) + ")"


def _starting_words(names, not_after: str = "") -> str:
    """Any of ``names`` starting an identifier (and not right after ``not_after``).

    Same as ``(?<!not_after)\\b(?:a|b)``, but with the lookbehinds placed after each name: a pattern
    that starts with literal text lets the regex engine skip ahead to candidate positions
    instead of testing the lookbehind at every character (5-20x faster on large files).
    """
    branches = []
    for n in names:
        e = re.escape(n)
        branches.append(e + rf"(?<!\w{e})" + (rf"(?<!{re.escape(not_after)}{e})" if not_after else ""))
    return "(?:" + "|".join(branches) + ")"


def method_call(*names: str) -> str:
    """``.name(`` for any of ``names``, allowing gaps: ``x . eval ()``, ``x.eval(\\n)``."""
    return r"\." + GAP + _alternation(names) + r"\b" + _TO_ARGS


def call(*names: str) -> str:
    """``name(`` as a call (a method or a plain name), not a ``def name(``."""
    return _starting_words(names, not_after="def ") + r"\b" + _TO_ARGS


def attribute_assignment(name: str) -> str:
    """``.name = ...`` (not ``==``), allowing gaps."""
    return r"\." + GAP + re.escape(name) + GAP + r"=(?!=)"


def words(*names: str) -> str:
    """Any of ``names`` as a whole identifier."""
    return _starting_words(names) + r"\b"


def identifier_part(*names: str) -> str:
    """Any of ``names`` (lower case) starting an identifier or a part of one after ``_`` or a digit,
    its first letter in either case: ``train`` matches ``train_loader``, ``is_training`` and
    ``Trainer`` but not ``constraint``. (The lookbehinds sit after each name, see above.)"""
    branches = []
    for n in names:
        first = f"[{n[0].upper()}{n[0]}]"
        rest = re.escape(n[1:])
        branches.append(f"{first}{rest}(?<![A-Za-z]{first}{rest})")
    return "(?:" + "|".join(branches) + ")"


def text(*fragments: str) -> str:
    """Any of ``fragments`` anywhere (substrings: ``Conv`` matches ``Conv2d`` and ``nn.ConvTranspose1d``)."""
    return _alternation(fragments)


# A ``for`` / ``while`` statement (compound statements always start a line).
LOOP = r"(?m:^[ \t\f]*(?:async[ \t\f]+)?(?:for|while)\b)"


# A class statement with no base but ``object`` (``class Extractor(object):``, ``class Predictor:``).
PLAIN_CLASS = r"(?m:^[ \t\f]*class[ \t\f]+\w+" + GAP + r"(?:\(" + GAP + r"(?:object" + GAP + r")?\)" + GAP + r")?:)"


def _quoted(q: str) -> str:
    """A string literal opened by the quote character ``q``, triple or single (an unclosed one runs to
    its line's or the text's end). Each alternative starts with a different character: no backtracking."""
    return (rf"{q}{q}{q}(?:[^{q}\\]|\\[\s\S]|{q}(?!{q}{q}))*(?:{q}{q}{q}|\Z)"
            rf"|{q}(?:[^{q}\\\r\n]|\\[\s\S])*(?:{q}|(?=[\r\n])|\Z)")


# A comment or a string literal (its prefix letters, ``rb`` or ``f``, are left in place as a name).
_PROSE = re.compile(r"#[^\r\n]*|" + _quoted("'") + "|" + _quoted('"'))


def code_only(text: str) -> str:
    """``text`` with every comment and string literal replaced by one space.

    The pre-filter reads this: torch's own files, and many projects', spell ``optimizer.step()``,
    ``model.eval()`` and ``DataLoader(...)`` in docstrings, which made about a quarter of the text of an
    ML corpus pass triggers that no code there meets. Offsets are not kept (only a yes/no is asked),
    line starts outside strings are. A brace of an f-string is blanked too; no trigger looks inside one.
    """
    return _PROSE.sub(" ", text)


class AnyOf:
    """Matches where any of ``patterns`` matches (a compiled-pattern look-alike: ``search``).

    Each pattern is searched on its own: one alternation of whole patterns has no common
    literal start, so the regex engine would try it at every position of the text.
    """

    def __init__(self, *patterns: str):
        self.pattern = "|".join(f"(?:{p})" for p in patterns)
        self._compiled = tuple(re.compile(p) for p in patterns)

    def search(self, text: str) -> Optional[Match[str]]:
        for compiled in self._compiled:
            found = compiled.search(text)
            if found:
                return found
        return None

    def found_in(self, text: str, seen: Dict[str, bool]) -> bool:
        """Whether it matches ``text``, each pattern searched at most once per ``seen`` (one
        file's memo: rules share patterns such as the training-step ones)."""
        return any(found_in(compiled, text, seen) for compiled in self._compiled)


def any_of(*patterns: str) -> AnyOf:
    return AnyOf(*patterns)


Trigger = Union[AnyOf, Pattern[str]]  # what a rule's ``triggers`` hold


def found_in(trigger: Trigger, text: str, seen: Dict[str, bool]) -> bool:
    """``trigger`` matches ``text``, remembered in ``seen`` by pattern text."""
    if isinstance(trigger, AnyOf):
        return trigger.found_in(text, seen)
    key = trigger.pattern
    found = seen.get(key)
    if found is None:
        found = seen[key] = trigger.search(text) is not None
    return found


_TO_ARGS_AT = re.compile(_TO_ARGS)


class CallOf:
    """:func:`call` for one name, as a compiled-pattern look-alike (``search``). Reverse call searches
    ask about hundreds of names once each; compiling a regex per name cost more than the searches,
    so the name is found with ``str.find`` and only what follows it is matched by a shared pattern."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def search(self, text: str) -> Optional[Match[str]]:
        name, start = self.name, 0
        while True:
            i = text.find(name, start)
            if i < 0:
                return None
            end = i + len(name)
            start = i + 1
            if i and _word_char(text[i - 1]) or end < len(text) and _word_char(text[end]) \
                    or text.endswith("def ", 0, i):
                continue  # inside a longer identifier, or a definition
            found = _TO_ARGS_AT.match(text, end)
            if found:
                return found


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@lru_cache(maxsize=1024)
def subclass_of(name: str) -> Pattern[str]:
    """``class Sub(Base):`` (any base list naming ``name``), for the constructors ``super()`` calls."""
    return re.compile(r"class(?<!\wclass)\s+\w+\s*\([^)]*\b" + re.escape(name) + r"\b")


@lru_cache(maxsize=4096)
def call_of(name: str) -> CallOf:
    """:func:`call` for one name (reverse call searches ask for the same names again)."""
    return CallOf(name)


# ``self.model_backward_and_update(loss)``: a method of the trainer named for the backward pass it
# runs (not a hook registration such as ``register_full_backward_hook``, all over torch's own code).
# The pre-filter of the step rules and the step analysis (``StepAnalysis``) share it.
# (The lookbehind sits after ``self.``: a pattern that starts with a literal is searched far faster.)
BACKWARD_HELPER = re.compile(r"self\.(?<!\wself\.)(?!\w*hook)(?:\w*_backward\w*|backward_\w+)[ \t]*\(")
