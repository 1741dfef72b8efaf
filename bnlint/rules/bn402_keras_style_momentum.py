"""BN402 keras-style-momentum: a BatchNorm momentum of 0.5 or more, the Keras/TF convention."""
from __future__ import annotations

from ..analysis.bn import BN_CLASSES
from ..analysis.names import dotted_name
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
        layers = ctx.analysis.layers
        for site in layers.bn_constructions(ctx.module):
            state, expr, actx = layers.bn_argument(site, "momentum")
            if state != "given" or not _readable(ctx, site, expr):
                continue
            values = layers.const_values(expr, actx)
            if not values or not all(_number(v) and v >= THRESHOLD for v in values):
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


def _readable(ctx: RuleContext, site, expr) -> bool:
    """Positional momentum only on a BN class written by name (``nn.BatchNorm2d(c, 1e-3, 0.9)``): through
    a variable (``norm_layer(c, 1e-3, 0.9)``) the third position may mean something else."""
    call = site.call if site.call is not None else site.partial.call
    if any(a.keyword is not None and a.keyword.value == "momentum" and a.value is expr for a in call.args):
        return True
    name = dotted_name(call.func)
    return name is not None and ctx.module.imports.qualify(name) in BN_CLASSES


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
