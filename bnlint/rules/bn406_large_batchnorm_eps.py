"""BN406 large-batchnorm-eps: a BatchNorm eps of 0.01 or more, typically a momentum passed in eps's place."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from .base import Rule, RuleContext
from .triggers import any_of, text

# No deliberate eps is this large (PyTorch's default is 1e-5, Keras/TensorFlow's 1e-3); momentum values
# (0.1, 0.01, Keras's 0.8/0.9/0.99) all are.
THRESHOLD = 0.01
DEFAULT_EPS = "1e-5"


class LargeBatchNormEps(Rule):
    code = "BN406"
    name = "large-batchnorm-eps"
    summary = "BatchNorm eps >= 0.01, e.g. BatchNorm2d(c, 0.8): the second positional parameter is eps, not momentum"
    # A BN class named through an import (whose text is then in the file; positional eps is read only
    # there), or a keyword ``eps=`` on a call that can build BN otherwise: a ``partial`` or a layer
    # variable given ``momentum=``/``track_running_stats=`` (``layers.bn_constructions``). Written as
    # (BN or eps) and (BN or another way to build one), which is BN or (eps and another way).
    triggers = (any_of(text("BatchNorm", "batch_norm", "eps")),
                any_of(text("BatchNorm", "batch_norm", "partial", "momentum", "track_running_stats")))

    def check(self, ctx: RuleContext):
        for site, call, expr, values, keyword in ctx.analysis.layers.numeric_bn_arguments(ctx.module, "eps"):
            if min(values) < THRESHOLD:
                continue
            value = min(values)
            bn = site.qualname.rsplit(".", 1)[-1]
            functional = site.qualname.endswith(".batch_norm")
            how = "by keyword" if keyword else f"as its {_ordinal(call, expr)} positional argument, which is eps"
            message = f"`{bn}` gets eps={value:g} {how} (the default is {DEFAULT_EPS})"
            why = (
                f"BatchNorm computes (x - mean) / sqrt(var + eps), and an eps this large is not a numerical "
                f"safeguard but part of the normalization: a channel whose variance equals eps comes out with "
                f"standard deviation 0.71 instead of 1, one with a tenth of it 0.3, so channels are scaled by how "
                f"their variance compares with {value:g} instead of normalized, in training and in eval mode"
                + ("" if keyword or functional else
                   f"; and momentum keeps its default 0.1 (a value of {value:g} in this position is usually a "
                   "momentum, often Keras's, passed where PyTorch expects eps)")
            )
            ctx.report(expr, message, _fix(value, keyword, functional), why=why)
        return ctx.findings


def _fix(value: float, keyword: bool, functional: bool) -> str:
    default = f"eps={DEFAULT_EPS}"
    if functional:
        return (f"pass `{default}` (PyTorch's default) or drop the argument; if {value:g} was meant as the "
                "momentum, it is the argument before eps: `momentum=..., eps=1e-5`")
    if value < 0.5:
        meant = f"`{default}, momentum={value:g}`"
        why = f"if {value:g} was meant as PyTorch's momentum"
    elif value < 1:
        meant = f"`{default}, momentum={1 - value:.3g}`"
        why = (f"if {value:g} was meant as the momentum (Keras's `BatchNormalization(momentum={value:g})`), "
               f"PyTorch's equivalent is 1 - {value:g}")
    else:
        return f"use `{default}` (PyTorch's default; 1e-3 is Keras/TensorFlow's) or drop the argument"
    if keyword:
        return f"use `{default}` (PyTorch's default; 1e-3 is Keras/TensorFlow's); {why}, write {meant}"
    return f"pass keywords: {why}, write {meant}; otherwise drop the argument ({default} is the default)"


def _ordinal(call: cst.Call, expr: cst.BaseExpression) -> str:
    index: Optional[int] = next((i for i, a in enumerate(call.args) if a.value is expr), None)
    if index is None:
        return "eps"
    n = index + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"

