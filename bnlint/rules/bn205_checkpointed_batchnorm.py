"""BN205 checkpointed-batchnorm: activation checkpointing around BN layers updates running statistics twice."""
from __future__ import annotations

from typing import List, Optional

import libcst as cst

from ..analysis.describe import describe_model
from ..analysis.syntax import root_kinds, within
from ..analysis.module import CallSite
from ..analysis.values import Ctx, FuncRef, Instance, ExtCall, Maybe, Partial, Ref, Seq, SubModule, Value, call_arg
from .base import Rule, RuleContext
from .triggers import any_of, words

CHECKPOINT = frozenset({"torch.utils.checkpoint.checkpoint"})
CHECKPOINT_SEQUENTIAL = frozenset({"torch.utils.checkpoint.checkpoint_sequential"})

WHY = (
    "the checkpointed segment runs its forward pass again during backward, and in train mode every "
    "BatchNorm in it updates its running mean/variance a second time on the same batch: the momentum is "
    "applied twice per step, so the running statistics used in eval mode drift away from those of an "
    "un-checkpointed run (pytorch/pytorch#96136); the outputs and gradients are unaffected, which is why "
    "this goes unnoticed"
)
FIX = (
    "checkpoint only segments without BatchNorm (keep the BN layers outside the checkpointed function), "
    "or use GroupNorm/LayerNorm there; if BN must stay inside, set its momentum to 1 - sqrt(1 - momentum) "
    "so that the two updates add up to one, or use a BN-aware checkpoint wrapper"
)


class CheckpointedBatchNorm(Rule):
    code = "BN205"
    name = "checkpointed-batchnorm"
    summary = "torch.utils.checkpoint around BatchNorm layers: running statistics are updated twice per step"
    default_enabled = False  # a shifted momentum, no accuracy cost in practice (see rules/BN205.md)
    triggers = (any_of(words("checkpoint", "checkpoint_sequential")),)
    scoped_by_triggers = True

    def check(self, ctx: RuleContext):
        for scope in ctx.module.scopes:
            rctx = ctx.resolver.ctx_for(scope)
            for site in scope.calls:
                quals = self._quals(ctx, site, rctx)
                if quals & CHECKPOINT:
                    fn = call_arg(site.call, 0, "function")
                elif quals & CHECKPOINT_SEQUENTIAL:
                    fn = call_arg(site.call, 0, "functions")
                else:
                    continue
                if fn is None:
                    continue
                model = self._bn_inside(ctx, fn, site, rctx)
                if model is None:
                    continue
                code = " ".join(ctx.module.code(fn).split())
                message = (
                    f"{ctx.clip(f'`{code}`', 32)} ({describe_model(model)}, BatchNorm) runs under activation "
                    "checkpointing"
                )
                ctx.report(site.call, message, FIX, why=WHY)
        return ctx.findings

    @staticmethod
    def _quals(ctx: RuleContext, site: CallSite, rctx: Ctx) -> frozenset:
        kinds = root_kinds(site.call.func, site.scope)
        if not kinds or not kinds <= {"import"}:
            return frozenset()  # torch.utils.checkpoint is always reached through an import
        values = ctx.resolver.resolve(site.call.func, rctx)
        return frozenset(v.qualname for v in values if isinstance(v, Ref))

    def _bn_inside(self, ctx: RuleContext, fn: cst.BaseExpression, site: CallSite, rctx: Ctx) -> Optional[Value]:
        """The BN module the checkpointed callable runs, if it certainly runs one."""
        if isinstance(fn, cst.Lambda):
            sites = [s for s in site.scope.calls if within(ctx.module, s.call, fn)]
            return self._bn_forward(ctx, sites, rctx)
        for v in ctx.resolver.resolve(fn, rctx):
            found = self._bn_value(ctx, v)
            if found is not None:
                return found
        return None

    def _bn_value(self, ctx: RuleContext, v: Value) -> Optional[Value]:
        if isinstance(v, Maybe):
            return None
        if isinstance(v, (Instance, ExtCall, SubModule)):
            return v if ctx.bn.has_bn(v) else None
        if isinstance(v, Seq):  # checkpoint_sequential([block1, block2], ...)
            for item in v.items:
                for x in item:
                    found = self._bn_value(ctx, x)
                    if found is not None:
                        return found
            return None
        if isinstance(v, Partial):
            if isinstance(v.func, FuncRef):  # functools.partial(fn, *bound): follow with the bound arguments
                rest = v.call.with_changes(args=v.call.args[1:])
                return self._function_bn(ctx, v.func, ctx.resolver.bind_args(
                    v.func.scope, rest, v.ctx, v.func.bound_self is not None))
            return self._bn_value(ctx, v.func)
        if isinstance(v, FuncRef):
            return self._function_bn(ctx, v, None)
        return None

    def _function_bn(self, ctx: RuleContext, fref: FuncRef, env) -> Optional[Value]:
        inner = Ctx(fref.scope, env, fref.bound_self or ctx.resolver.ctx_for(fref.scope).self_value)
        return self._bn_forward(ctx, fref.scope.calls, inner)

    @staticmethod
    def _bn_forward(ctx: RuleContext, sites: List[CallSite], rctx: Ctx) -> Optional[Value]:
        for fc in ctx.training.forward_calls(sites, rctx):
            if not ctx.analysis.modes.is_forward(fc):
                continue
            for m in fc.models:
                if ctx.bn.has_bn(m):
                    return m
        return None
