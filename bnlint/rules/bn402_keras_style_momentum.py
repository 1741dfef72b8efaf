"""BN402 keras-style-momentum: a BatchNorm momentum of 0.5 or more, the Keras/TF convention."""
from __future__ import annotations

from .base import Rule, RuleContext
from .triggers import any_of, text

THRESHOLD = 0.5
WHY = (
    "PyTorch updates running = (1 - momentum) * running + momentum * batch, the opposite of "
    "Keras/TensorFlow, so a momentum this large makes the running mean/variance used in eval mode "
    "follow the last few training batches' statistics instead of averaging over the data"
)


class KerasStyleMomentum(Rule):
    code = "BN402"
    name = "keras-style-momentum"
    summary = "BatchNorm momentum >= 0.5: Keras's convention; PyTorch's momentum is 1 - Keras's"
    # Keyword momentum needs the word; positional momentum is read only on a BN class named
    # through an import, whose text is then in the file.
    triggers = (any_of(text("momentum", "BatchNorm", "batch_norm")),)

    def check(self, ctx: RuleContext):
        for site, _call, expr, values, _keyword in ctx.analysis.layers.numeric_bn_arguments(ctx.module, "momentum"):
            if min(values) < THRESHOLD:
                continue
            value = max(values)
            bn = site.qualname.rsplit(".", 1)[-1]
            message = (
                f"`{bn}` gets Keras-style momentum={value:g}: PyTorch keeps only {(1 - value) * 100:.3g}% of the "
                "running statistics per step"
            )
            fix = f"use momentum={1 - value:.3g} (1 - {value:g}: the PyTorch equivalent of Keras's {value:g})"
            ctx.report(expr, message, fix, why=WHY)
        return ctx.findings

