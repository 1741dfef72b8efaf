"""BN405 dropout-before-batchnorm: Dropout's output feeds BatchNorm directly (variance shift)."""
from __future__ import annotations

from ..analysis.layers import DROPOUTS, F_DROPOUTS, named_by_import
from .base import Rule, RuleContext
from .triggers import NORM_NAMED, any_of, text

_DROPOUTS = DROPOUTS | F_DROPOUTS

WHY = (
    "in training BatchNorm's batch statistics and running variance are computed on dropped-out, rescaled "
    "activations, while in eval mode dropout is off and the same running variance is applied to "
    "activations with a different variance, so eval-mode outputs are mis-normalized (the 'variance "
    "shift' of Li et al., CVPR 2019)"
)
FIX = (
    "move the dropout after the last BatchNorm (e.g. just before the classifier), or drop it; "
    "if you need dropout inside the block, put it after BatchNorm and the activation"
)


class DropoutBeforeBatchNorm(Rule):
    code = "BN405"
    name = "dropout-before-batchnorm"
    summary = "Dropout directly followed by BatchNorm: the running variance does not match eval mode"
    # The BN layer must be named in this file (BatchNorm2d, norm_layer, BN, ...).
    triggers = (any_of(text("Dropout", "dropout")), NORM_NAMED)
    scoped_by_triggers = True  # a BN layer named only in another module is out of scope

    def check(self, ctx: RuleContext):
        done = set()
        for pair in ctx.analysis.layers.adjacent_pairs(ctx.module):
            drop, bn = pair.first, pair.second
            if drop.kind != "dropout" or bn.kind != "bn":
                continue
            if drop.module is not ctx.module or not named_by_import(drop.call, ctx.module, _DROPOUTS):
                continue  # built elsewhere, or under a name the pre-filter cannot see
            node = drop.call
            if id(node) in done:
                continue
            done.add(id(node))
            via = "in the same nn.Sequential" if pair.how == "sequential" else (
                f"in the forward code at line {ctx.module.line(pair.where)}")
            name = drop.qualname.rsplit(".", 1)[-1]
            target = bn.qualname.rsplit(".", 1)[-1]
            message = f"`{name}` feeds `{target}` directly {via}"
            ctx.report(node, message, FIX, why=WHY)
        return ctx.findings
