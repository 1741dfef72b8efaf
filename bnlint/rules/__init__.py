"""Rule registry: every rule class, by code. A code is never reused (see RETIRED)."""
from __future__ import annotations

from typing import Dict, List, Type

from .base import Rule, validate_rule
from .bn103_unshuffled_train_loader import UnshuffledTrainLoader

ALL_RULES: List[Type[Rule]] = [
    UnshuffledTrainLoader,
]
RETIRED: Dict[str, str] = {}  # code -> why it was retired

for _rule in ALL_RULES:
    validate_rule(_rule)

RULES_BY_CODE: Dict[str, Type[Rule]] = {r.code: r for r in ALL_RULES}
assert len(RULES_BY_CODE) == len(ALL_RULES), "duplicate rule code"
