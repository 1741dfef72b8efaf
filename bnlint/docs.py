"""Rule documentation pages: rules/BNxxx.md in a checkout, bnlint/_docs in a wheel."""
from __future__ import annotations

import os
from typing import Optional

_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = (os.path.join(_HERE, "_docs"), os.path.join(os.path.dirname(_HERE), "rules"))


def rule_page(code: str) -> Optional[str]:
    for folder in _CANDIDATES:
        path = os.path.join(folder, f"{code}.md")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                return fh.read()
    return None
