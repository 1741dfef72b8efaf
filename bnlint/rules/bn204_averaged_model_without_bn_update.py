"""BN204 averaged-model-without-bn-update: an SWA/EMA AveragedModel of a BN model used with stale BN statistics."""
from __future__ import annotations

from typing import List, Optional

import libcst as cst

from ..analysis.describe import describe_model
from ..analysis.syntax import root_kinds
from ..analysis.module import CallSite
from ..analysis.names import callee_name
from ..analysis.values import Ctx, ExtCall, Maybe, Ref, SubModule, Value, call_arg
from .base import Rule, RuleContext
from .triggers import any_of, text

AVERAGED_MODEL = frozenset({"torch.optim.swa_utils.AveragedModel"})
UPDATE_BN = frozenset({"torch.optim.swa_utils.update_bn"})
_NOT_A_USE = frozenset({"update_parameters", "to", "cuda", "cpu", "train", "parameters"})
MAX_HELPER_DEPTH = 3

WHY = (
    "by default (`use_buffers=False`) `AveragedModel` averages only the parameters and keeps the BatchNorm "
    "running statistics it copied from the model when it was created, so in eval mode the averaged "
    "weights are normalized with running statistics that were never computed for them (stale, from "
    "other weights); the SWA/EMA model then evaluates worse than it is"
)
FIX = (
    "call `torch.optim.swa_utils.update_bn(train_loader, {name})` after the last `update_parameters()` and "
    "before evaluating or saving it, or create it with `AveragedModel(model, ..., use_buffers=True)` "
    "(averages the buffers too, the usual choice for EMA)"
)


class AveragedModelWithoutBnUpdate(Rule):
    code = "BN204"
    name = "averaged-model-without-bn-update"
    summary = "SWA/EMA AveragedModel of a BN model evaluated or saved without update_bn() or use_buffers=True"
    triggers = (any_of(text("AveragedModel")),)
    scoped_by_triggers = True  # AveragedModel re-exported under another name is out of scope

    def check(self, ctx: RuleContext):
        averaged = [(site, self._wrapped_model(ctx, site)) for site in self._sites(ctx)
                    if self._is_call_of(ctx, site, AVERAGED_MODEL)]
        averaged = [(site, m) for site, m in averaged if m is not None and not self._averages_buffers(ctx, site)]
        if not averaged or self._updates_bn(ctx):
            return ctx.findings
        for site, model in averaged:
            use = self._first_use(ctx, site)
            if use is None:
                continue  # never evaluated or saved here: nothing to say
            name = _assigned_name(ctx, site) or "swa_model"
            message = (
                f"`AveragedModel` of {describe_model(model)} (BatchNorm) is used at line "
                f"{ctx.module.line(use.call)} without `update_bn()`"
            )
            ctx.report(site.call, message, FIX.format(name=name), why=WHY)
        return ctx.findings

    # -- the AveragedModel call ------------------------------------------------------------
    @staticmethod
    def _sites(ctx: RuleContext) -> List[CallSite]:
        return [site for scope in ctx.module.scopes for site in scope.calls]

    @staticmethod
    def _is_call_of(ctx: RuleContext, site: CallSite, quals) -> bool:
        kinds = root_kinds(site.call.func, site.scope)
        if not kinds or not kinds <= {"import"}:
            return False  # swa_utils names are always reached through an import
        values = ctx.resolver.resolve(site.call.func, ctx.resolver.ctx_for(site.scope))
        return any(isinstance(v, Ref) and v.qualname in quals for v in values)

    @staticmethod
    def _wrapped_model(ctx: RuleContext, site: CallSite) -> Optional[Value]:
        arg = call_arg(site.call, 0, "model")
        if arg is None:
            return None
        for v in ctx.resolver.resolve(arg, ctx.resolver.ctx_for(site.scope)):
            if ctx.bn.has_bn(v):
                return v
        return None

    @staticmethod
    def _averages_buffers(ctx: RuleContext, site: CallSite) -> bool:
        arg = call_arg(site.call, 4, "use_buffers")
        if arg is None:
            return False
        # True, or a value we cannot decide: stay silent unless it is certainly False.
        return ctx.resolver.const(arg, ctx.resolver.ctx_for(site.scope)) is not False

    # -- update_bn anywhere this module (or a helper it calls) runs ---------------------------
    def _updates_bn(self, ctx: RuleContext) -> bool:
        for site in self._sites(ctx):
            if self._site_updates_bn(ctx, site, ctx.resolver.ctx_for(site.scope), 0):
                return True
        return False

    def _site_updates_bn(self, ctx: RuleContext, site: CallSite, rctx: Ctx, depth: int) -> bool:
        func = site.call.func
        last = callee_name(func) or ""
        if "update_bn" in last or "bn_update" in last:
            return True  # also a project's own re-estimation helper: precision over recall
        if last == "reset_running_stats" or (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute)
                                             and func.value.attr.value in ("running_mean", "running_var")):
            return True  # statistics reset by hand (``m.running_mean.zero_()``) and re-estimated by a manual pass
        if not _followable(func, rctx):
            return False
        values = ctx.resolver.resolve(func, rctx)
        if any(isinstance(v, Ref) and v.qualname in UPDATE_BN for v in values):
            return True
        if depth >= MAX_HELPER_DEPTH or not _followable(func, rctx):
            return False
        for fref in ctx.training.called_functions(site, rctx):
            inner = ctx.resolver.ctx_for(fref.scope)
            if any(self._site_updates_bn(ctx, s, inner, depth + 1) for s in fref.scope.calls):
                return True
        return False

    # -- uses: evaluated, saved, handed to another function -----------------------------------
    def _first_use(self, ctx: RuleContext, avg: CallSite) -> Optional[CallSite]:
        uses = []
        for site in self._sites(ctx):
            if site is avg:
                continue
            rctx = ctx.resolver.ctx_for(site.scope)
            func = site.call.func
            if self._is_avg(ctx, func, rctx, avg):  # swa_model(x)
                uses.append(site)
            elif isinstance(func, cst.Attribute) and func.attr.value not in _NOT_A_USE \
                    and self._is_avg(ctx, func.value, rctx, avg):  # swa_model.state_dict(), .eval(), .module(x)
                uses.append(site)
            elif not self._is_call_of(ctx, site, UPDATE_BN) and any(
                    self._is_avg(ctx, a.value, rctx, avg) for a in site.call.args):  # evaluate(swa_model, ...)
                uses.append(site)
        return min(uses, key=lambda s: ctx.module.order(s.call)) if uses else None

    @staticmethod
    def _is_avg(ctx: RuleContext, expr: cst.BaseExpression, rctx: Ctx, avg: CallSite) -> bool:
        if not _followable(expr, rctx):
            return False  # a helper's parameter: its call site is the use we look for
        for v in ctx.resolver.resolve(expr, rctx):
            if isinstance(v, Maybe):
                continue
            while isinstance(v, SubModule) and v.attr == "module":
                v = v.parent
            if isinstance(v, ExtCall) and v.call is avg.call:
                return True
        return False


def _followable(expr: cst.BaseExpression, rctx: Ctx) -> bool:
    """Rooted in a name that resolves without searching the project for callers (not a parameter)."""
    kinds = root_kinds(expr, rctx.scope)
    return bool(kinds) and ("param" not in kinds or _is_self(expr, rctx))


def _is_self(expr: cst.BaseExpression, rctx: Ctx) -> bool:
    node = expr
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name) and node.value == rctx.scope.self_name


def _assigned_name(ctx: RuleContext, site: CallSite) -> Optional[str]:
    stmt = ctx.module.statement_of(site.call)
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign):
        target = stmt.body[0].targets[0].target
        code = ctx.module.code(target).strip()
        return code if code and "\n" not in code else None
    return None
