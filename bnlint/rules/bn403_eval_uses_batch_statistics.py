"""BN403 eval-uses-batch-statistics: a model evaluated with BatchNorm that keeps no running statistics."""
from __future__ import annotations

from typing import List

import libcst as cst

from ..analysis.describe import describe_model
from ..analysis.layers import BNSite
from ..analysis.values import Instance, ExtCall, Maybe, SubModule, call_arg
from .base import Rule, RuleContext
from .triggers import any_of, method_call

WHY = (
    "without running statistics BatchNorm normalizes with the statistics of the current batch even in "
    "eval mode, so a test sample's prediction depends on which other samples share its batch (batch "
    "size, class mix, order), and a single-sample batch fails or is normalized by itself"
)
FIX = (
    "drop `track_running_stats=False` (the default True keeps running averages that eval mode uses); "
    "if the model is meant to normalize per batch at test time too, use GroupNorm/LayerNorm/InstanceNorm, "
    "which do not depend on the batch"
)


class EvalUsesBatchStatistics(Rule):
    code = "BN403"
    name = "eval-uses-batch-statistics"
    summary = "model put in eval mode has BatchNorm with track_running_stats=False: eval uses batch statistics"
    triggers = (any_of(method_call("eval", "train")),)

    def check(self, ctx: RuleContext):
        layers = ctx.analysis.layers
        for scope in ctx.module.scopes:
            rctx = ctx.resolver.ctx_for(scope)
            for site in scope.calls:
                receiver, mode = _mode_switch(site.call)
                if receiver is None:
                    continue
                sites: List[BNSite] = []
                model = None
                for value in ctx.resolver.resolve(receiver, rctx):
                    if isinstance(value, Maybe) or not isinstance(value, (Instance, ExtCall, SubModule)):
                        continue
                    found = [s for s in layers.bn_sites(value) if _no_running_stats(layers, s)]
                    if found:
                        sites, model = found, value
                        break
                if not sites:
                    continue
                if mode is not None and ctx.resolver.const(mode, rctx) is not False:
                    continue  # checked last: resolving an argument may search every caller
                first = sites[0]
                line = first.ctx.module.line(first.call)
                where = (f"line {line}" if first.ctx.module is ctx.module
                         else f"{ctx.short_path(first.ctx.module)}:{line}")
                more = f" (and {len(sites) - 1} more)" if len(sites) > 1 else ""
                message = (
                    f"{describe_model(model)} is put in eval mode here, but its BatchNorm at {where}{more} has "
                    f"track_running_stats=False"
                )
                related = tuple(ctx.related(s.ctx.module, s.call, "BatchNorm with track_running_stats=False")
                                for s in sites[:3])
                ctx.report(site.call, message, FIX, why=WHY, related=related)
        return ctx.findings


def _mode_switch(call: cst.Call):
    """(``m``, None) for ``m.eval()``; (``m``, the mode argument) for ``m.train(mode)``."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return None, None
    if func.attr.value == "eval" and not call.args:
        return func.value, None
    if func.attr.value == "train":
        arg = call_arg(call, 0, "mode")
        if arg is not None:
            return func.value, arg
    return None, None


def _no_running_stats(layers, site: BNSite) -> bool:
    if site.external:
        return False
    state, expr, actx = layers.bn_argument(site, "track_running_stats")
    if state != "given":
        return False
    values = layers.const_values(expr, actx)
    return bool(values) and all(v is False for v in values)
