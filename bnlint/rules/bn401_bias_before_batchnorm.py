"""BN401 bias-before-batchnorm: a Conv/Linear bias that the next BatchNorm's mean subtraction cancels."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from ..analysis.layers import CONVS, LAZY_CONVS, LAZY_LINEARS, LINEARS, Adjacent, Layer, named_by_import, spatial_dims
from ..analysis.values import call_arg
from ..findings import Autofix, Edit
from .base import Rule, RuleContext
from .triggers import NORM_NAMED, any_of, text

WHY = (
    "BatchNorm subtracts the per-channel mean of its input (the batch mean in training, the running mean "
    "in eval mode, both of which contain the bias), so the bias is cancelled exactly: it gets zero "
    "gradient, only costs memory and weight decay, and BatchNorm's own `beta` already provides the offset"
)

_WEIGHTED = CONVS | LAZY_CONVS | LINEARS | LAZY_LINEARS


class BiasBeforeBatchNorm(Rule):
    code = "BN401"
    name = "bias-before-batchnorm"
    summary = "Conv/Linear layer with a bias directly followed by BatchNorm, which cancels the bias"
    default_enabled = False  # a wasted parameter per channel, no accuracy cost (see rules/BN401.md)
    # The BN layer must be named in this file (BatchNorm2d, norm_layer, BN, ...).
    triggers = (any_of(text("Conv", "Linear")), NORM_NAMED)
    scoped_by_triggers = True  # a BN layer named only in another module is out of scope

    def check(self, ctx: RuleContext):
        layers = ctx.analysis.layers
        done = set()
        for pair in layers.adjacent_pairs(ctx.module):
            conv = pair.first
            if pair.second.kind != "bn" or conv.kind not in ("conv", "linear") or conv.module is not ctx.module:
                continue
            if not pair.exclusive:
                continue  # the raw output is also used elsewhere (``self.bn(y) + y``): the bias matters there
            if id(conv.call) in done or not named_by_import(conv.call, ctx.module, _WEIGHTED) \
                    or not _same_features(conv, pair.second):
                continue
            state, bias = layers.bias_argument(conv)
            if state == "given":
                values = layers.const_values(bias, conv.ctx)
                if not values or not all(v is True for v in values):
                    continue
            elif state != "absent":
                continue
            done.add(id(conv.call))
            self._report(ctx, conv, pair, bias)
        return ctx.findings

    def _report(self, ctx: RuleContext, conv: Layer, pair: Adjacent, bias: Optional[cst.BaseExpression]) -> None:
        kind = conv.qualname.rsplit(".", 1)[-1]
        bn = pair.second.qualname.rsplit(".", 1)[-1]
        via = "in the same nn.Sequential" if pair.how == "sequential" else (
            f"in the forward code at line {ctx.module.line(pair.where)}")
        default = "" if bias is not None else " (the default)"
        message = f"`{kind}` has a bias{default}, cancelled by `{bn}` right after it {via}"
        fix = f"pass `bias=False` to this `{kind}`"
        ctx.report(conv.call, message, fix, why=WHY, autofix=_autofix(ctx, conv.call, bias))


def _same_features(conv: Layer, bn: Layer) -> bool:
    """BN normalizes the layer's output channels: Conv2d -> BatchNorm2d, Linear -> BatchNorm1d,
    with ``num_features`` equal to the output channels when both are known."""
    conv_dims, bn_dims = spatial_dims(conv.qualname), spatial_dims(bn.qualname)
    if conv_dims is not None and bn_dims is not None and conv_dims != bn_dims:
        return False
    lazy = ".Lazy" in conv.qualname
    out = call_arg(conv.call, 0 if lazy else 1, "out_features" if conv.kind == "linear" else "out_channels")
    feats = call_arg(bn.call, 0, "num_features") if ".Lazy" not in bn.qualname else None
    # Literal sizes only: adjacency already implies matching sizes (else forward fails), so
    # this only filters odd cases and is not worth resolving parameters through every caller.
    if isinstance(out, cst.Integer) and isinstance(feats, cst.Integer):
        return out.evaluated_value == feats.evaluated_value
    return True


def _autofix(ctx: RuleContext, call: cst.Call, bias: Optional[cst.BaseExpression]) -> Optional[Autofix]:
    """``bias=True`` -> ``bias=False``, or append ``bias=False``. Unsafe: the state_dict loses the
    ``.bias`` entries, so checkpoints saved with them no longer load with ``strict=True``."""
    source = ctx.module.source
    if bias is not None:
        if not (isinstance(bias, cst.Name) and bias.value == "True"):
            return None  # a variable: changing it may affect other layers
        line, col, end_line, end_col = ctx.module.position(bias)
        edit = Edit(source.offset(line, col), source.offset(end_line, end_col), "False")
    else:
        if not call.args:
            return None
        _, _, end_line, end_col = ctx.module.position(call.args[-1].value)
        at = source.offset(end_line, end_col)
        edit = Edit(at, at, ", bias=False")
    return Autofix("set bias=False (the following BatchNorm cancels the bias)", (edit,), safe=False)
