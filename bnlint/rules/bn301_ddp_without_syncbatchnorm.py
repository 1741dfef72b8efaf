"""BN301 ddp-without-syncbatchnorm: DistributedDataParallel around BatchNorm that stays per-GPU."""
from __future__ import annotations

from typing import List

import libcst as cst

from ..analysis.describe import describe_model
from ..analysis.layers import SYNC_BN, BNSite, named_by_import
from ..analysis.module import Scope, binding_scope
from ..analysis.names import dotted_name
from ..analysis.values import (
    PASS_THROUGH_CALLS, PASS_THROUGH_METHODS, Ctx, ExtCall, FuncRef, Instance, Maybe, SubModule, call_arg,
)
from .base import Rule, RuleContext
from .triggers import any_of, text

DDP = frozenset({"torch.nn.parallel.DistributedDataParallel", "torch.nn.parallel.distributed.DistributedDataParallel",
                 "torch.nn.DistributedDataParallel"})
CONVERTERS = frozenset({"torch.nn.SyncBatchNorm.convert_sync_batchnorm",
                        "torch.nn.modules.batchnorm.SyncBatchNorm.convert_sync_batchnorm",
                        "apex.parallel.convert_syncbn_model"})
_CONVERTER_NAMES = frozenset(q.rsplit(".", 1)[-1] for q in CONVERTERS)
MAX_DEPTH = 12

WHY = (
    "each process normalizes with the statistics of its own per-GPU slice of the batch, not of the global "
    "batch: with small per-GPU batches those statistics are noisy, they differ from the running averages "
    "used in eval mode, and each process's running averages drift apart (only rank 0's are usually saved)"
)
FIX = (
    "convert before wrapping: `model = nn.SyncBatchNorm.convert_sync_batchnorm(model)` then "
    "`DistributedDataParallel(model, ...)`; keep per-GPU BatchNorm only on purpose (large per-GPU batches, "
    "MoCo-style shuffling BN) and say so with `# noqa: BN301`"
)


class DdpWithoutSyncBatchNorm(Rule):
    code = "BN301"
    name = "ddp-without-syncbatchnorm"
    summary = "DistributedDataParallel wraps a BatchNorm model never converted with convert_sync_batchnorm"
    default_enabled = False  # per-GPU BN is torch's default and often intended (see rules/BN301.md)
    triggers = (any_of(text("DistributedDataParallel")),)

    def check(self, ctx: RuleContext):
        for scope in ctx.module.scopes:
            if _converts(ctx, scope):
                continue  # the script converts somewhere here (any order, any flag): it knows
            rctx = ctx.resolver.ctx_for(scope)
            for site in scope.calls:
                if not named_by_import(site.call, ctx.module, DDP):
                    continue
                arg = call_arg(site.call, 0, "module")
                if arg is None:
                    continue
                model = self._unsynced_model(ctx, arg, rctx)
                if model is None or _converted(ctx, arg, rctx, 0):
                    continue
                message = (
                    f"DistributedDataParallel wraps {describe_model(model)}, whose BatchNorm is never converted "
                    "to SyncBatchNorm"
                )
                ctx.report(site.call, message, FIX, why=WHY)
        return ctx.findings

    def _unsynced_model(self, ctx: RuleContext, arg, rctx: Ctx):
        for value in ctx.resolver.resolve(arg, rctx):
            if isinstance(value, Maybe) or not isinstance(value, (Instance, ExtCall, SubModule)):
                continue
            sites: List[BNSite] = ctx.analysis.layers.bn_sites(value)
            if any(not _synced(ctx, s) for s in sites):
                return value
        return None


def _synced(ctx: RuleContext, site: BNSite) -> bool:
    if not site.external:
        return site.qualname in SYNC_BN
    # torchvision/timm: norm_layer=nn.SyncBatchNorm (or anything we cannot read) counts as synced
    norm = call_arg(site.call, -1, "norm_layer") if site.call is not None else None
    if norm is None:
        return False
    values = ctx.resolver.resolve(norm, site.ctx)
    return not all(getattr(v, "qualname", None) == "torch.nn.BatchNorm2d" for v in values)


def _is_converter_call(ctx: RuleContext, call: cst.Call, rctx: Ctx) -> bool:
    # Only callees spelled like a converter are resolved (resolving every call is costly).
    name = dotted_name(call.func)
    if name is None or name.rsplit(".", 1)[-1] not in _CONVERTER_NAMES:
        return False
    values = ctx.resolver.resolve(call.func, rctx)
    return bool(values) and any(getattr(v, "qualname", None) in CONVERTERS for v in values)


def _converts(ctx: RuleContext, scope: Scope) -> bool:
    rctx = ctx.resolver.ctx_for(scope)
    return any(_is_converter_call(ctx, s.call, rctx) for s in scope.calls)


def _converted(ctx: RuleContext, expr, rctx: Ctx, depth: int, seen=None) -> bool:
    """Does the value of ``expr`` pass through a conversion (in a helper, a caller, a binding)?

    Too deep means converted: the rule only speaks when no conversion can reach the model.
    A cycle (``model = DDP(model)``) adds nothing and is cut.
    """
    if depth > MAX_DEPTH:
        return True
    seen = set() if seen is None else seen
    key = (id(expr), id(rctx.scope), id(rctx.env))
    if key in seen:
        return False
    seen.add(key)
    if isinstance(expr, cst.Call):
        if _is_converter_call(ctx, expr, rctx):
            return True
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value in PASS_THROUGH_METHODS:
            return _converted(ctx, func.value, rctx, depth + 1, seen)
        for callee in ctx.resolver.resolve(func, rctx):
            if isinstance(callee, FuncRef):
                if _converts(ctx, callee.scope):
                    return True
                inner = Ctx(callee.scope, ctx.resolver.bind_args(callee.scope, expr, rctx,
                                                                  callee.bound_self is not None), callee.bound_self)
                if any(_converted(ctx, r, inner, depth + 1, seen) for r in callee.scope.returns):
                    return True
            elif getattr(callee, "qualname", None) in PASS_THROUGH_CALLS:
                first = call_arg(expr, 0)
                if first is not None and _converted(ctx, first, rctx, depth + 1, seen):
                    return True
        return False
    if isinstance(expr, cst.Name):
        return _name_converted(ctx, expr.value, rctx, depth, seen)
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
        scope = rctx.scope
        if scope.cls is not None and expr.value.value == scope.self_name:
            for method in scope.cls.methods.values():
                if _converts(ctx, method):
                    return True
            for b in scope.cls.attrs.get(expr.attr.value, []):
                if b.expr is not None and _converted(ctx, b.expr, Ctx(b.scope), depth + 1, seen):
                    return True
    return False


def _name_converted(ctx: RuleContext, name: str, rctx: Ctx, depth: int, seen) -> bool:
    scope = binding_scope(rctx.scope, name)
    if scope is None:
        return False
    if scope is not rctx.scope and _converts(ctx, scope):
        return True
    bctx = rctx if scope is rctx.scope else Ctx(scope)
    for b in scope.bindings[name]:
        if b.kind == "assign" and b.expr is not None and not b.path:
            if _converted(ctx, b.expr, bctx, depth + 1, seen):
                return True
        elif b.kind == "param":
            if bctx.env is not None and name in bctx.env:
                pairs = bctx.env[name]
            else:
                pairs = ctx.resolver.callers_args(scope, name, 0)
            for arg, cctx in pairs:
                if _converts(ctx, cctx.scope) or _converted(ctx, arg, cctx, depth + 1, seen):
                    return True
    return False
