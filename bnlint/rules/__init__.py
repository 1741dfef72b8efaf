"""Rule registry: every rule class, by code. A code is never reused (see RETIRED).

The rule classes (and with them the analysis and LibCST) are imported on first use of
``ALL_RULES`` or ``RULES_BY_CODE``; what selecting rules needs (codes, names, defaults) is in
``catalog``, which imports nothing. A run served entirely from the cache never loads the rules.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Dict, List, Type

from .catalog import CATALOG, RETIRED, check_matches  # noqa: F401  (RETIRED: re-exported)

if TYPE_CHECKING:  # pragma: no cover
    from .base import Rule

# Which rules are on by default, in one line (``bnlint rules`` prints it under the table; README says the same).
DEFAULT_POLICY = (
    "default: on = accuracy/correctness bugs (ignoring them changes what the model computes or how well it "
    "does); off = opinionated rules, or ones costly to false-alarm on; enable with --extend-select CODE"
)

_LAZY = ("ALL_RULES", "RULES_BY_CODE", "Rule", "validate_rule")


def _load() -> None:
    from .base import Rule, validate_rule

    rules: List[Type[Rule]] = []
    for info in CATALOG:
        rule = getattr(importlib.import_module(f"{__name__}.{info.module}"), info.cls)
        validate_rule(rule)
        check_matches(rule, info)
        rules.append(rule)
    by_code: Dict[str, Type[Rule]] = {r.code: r for r in rules}
    assert len(by_code) == len(rules), "duplicate rule code"
    globals().update(ALL_RULES=rules, RULES_BY_CODE=by_code, Rule=Rule, validate_rule=validate_rule)


def __getattr__(name: str):
    """``ALL_RULES`` (in code order) and ``RULES_BY_CODE``, imported on first use (PEP 562)."""
    if name in _LAZY:
        _load()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
