"""Where a loader rule says the training loop is: shared by BN103, BN104 and BN901."""
from __future__ import annotations

from typing import Tuple

from ..analysis.loader_uses import LoaderUse
from .base import Related, RuleContext


def training_loop_place(ctx: RuleContext, use: LoaderUse) -> Tuple[str, Tuple[Related, ...]]:
    """("line 40" or "train.py:40", related locations) for the loop that trains on ``use.loader``."""
    line = use.loop_module.line(use.loop_node)
    if use.loop_module is ctx.module:
        return f"line {line}", ()
    return (f"{ctx.short_path(use.loop_module)}:{line}",
            (ctx.related(use.loop_module, use.loop_node, "the training loop using this DataLoader"),))
