"""BN203 frozen-batchnorm-stats-updating: a BN module frozen with requires_grad=False but trained in train mode."""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

import libcst as cst

from ..analysis.loops import ForwardCall
from ..analysis.modes import S_DEFAULT, S_FRESH, S_UNKNOWN, S_USED, Target, relation
from ..analysis.module import Scope, code_children
from ..analysis.values import Ctx, call_arg
from .base import Rule, RuleContext
from .triggers import any_of, attribute_assignment, method_call

_PARAM_ITERS = ("parameters", "named_parameters")
_BN_WORDS = ("bn", "norm", "running")  # a freeze guarded by these selects (or spares) BN layers on purpose

WHY = (
    "`requires_grad=False` only stops gradient updates of the weights: in train mode BatchNorm still "
    "normalizes with each batch's statistics and overwrites its running mean/variance on every forward "
    "pass, so the \"frozen\" statistics drift towards the new data and eval mode later uses them "
    "(pytorch/pytorch#86590)"
)


class FrozenBatchNormStatsUpdating(Rule):
    code = "BN203"
    name = "frozen-batchnorm-stats-updating"
    summary = "Module with BatchNorm frozen with requires_grad=False but run in train mode: running stats still change"
    # ``x.requires_grad_(False)`` or ``p.requires_grad = False``: the only freezes it reads.
    triggers = (any_of(method_call("requires_grad_"), attribute_assignment("requires_grad")),)

    def check(self, ctx: RuleContext):
        forwards = None
        for scope, node, expr in self._freezes(ctx):
            rctx = ctx.resolver.ctx_for(scope)
            models = [v for v in ctx.resolver.resolve(expr, rctx) if ctx.bn.has_bn(v)]
            if not models:
                continue
            modes = ctx.analysis.modes
            target = modes.target_of_expr(expr, rctx, models)
            if not target or target.copied or self._ema_updated(ctx, target):
                continue  # a momentum/EMA teacher: its BN in train mode is usually intended (MoCo, DINO)
            if forwards is None:
                forwards = self._training_forwards(ctx)
            hit = self._runs_in_train_mode(ctx, forwards, target)
            if hit is None:
                continue
            name = " ".join(ctx.module.code(expr).split())
            message = (
                f"{ctx.clip(f'`{name}`')} (BatchNorm) is frozen with requires_grad=False but runs in "
                f"train mode at line "
                f"{ctx.module.line(hit.chain[0].call if hit.chain else hit.site.call)}"
            )
            fix = (f"call `{name}.eval()` after every `model.train()` (or override the model's `train()` to "
                   "keep it in eval mode), or build it with `torchvision.ops.FrozenBatchNorm2d` "
                   "(`norm_layer=FrozenBatchNorm2d`)")
            ctx.report(node, message, fix, why=WHY)
        return ctx.findings

    # -- where a module is frozen -------------------------------------------------------------
    def _freezes(self, ctx: RuleContext) -> Iterator[Tuple[Scope, cst.CSTNode, cst.BaseExpression]]:
        """(scope, node to report, module expression) for each freeze."""
        for scope in ctx.module.scopes:
            rctx = ctx.resolver.ctx_for(scope)
            for site in scope.calls:
                func = site.call.func
                if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
                    arg = call_arg(site.call, 0, "requires_grad")
                    if arg is not None and ctx.resolver.const(arg, rctx) is False and self._holds(ctx, site, rctx):
                        yield scope, site.call, func.value
            for loop in scope.loops:
                module_expr = self._param_loop_module(ctx, scope, loop, rctx)
                if module_expr is not None:
                    yield scope, loop.iter, module_expr

    def _param_loop_module(self, ctx: RuleContext, scope: Scope, loop, rctx: Ctx) -> Optional[cst.BaseExpression]:
        """``X`` in ``for p in X.parameters(): p.requires_grad = False`` (or ``named_parameters``)."""
        if not isinstance(loop, cst.For) or not isinstance(loop.iter, cst.Call):
            return None
        func = loop.iter.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _PARAM_ITERS:
            return None
        param = _param_name(loop.target, func.attr.value == "named_parameters")
        if param is None:
            return None
        site = next((s for s in scope.calls if s.call is loop.iter), None)
        if site is None or not self._holds(ctx, site, rctx):
            return None
        for stmt in _freezing_statements(loop.body, param):
            if not self._guarded_by_bn_test(ctx, stmt, loop):
                return func.value
        return None

    @staticmethod
    def _holds(ctx: RuleContext, site, rctx: Ctx) -> bool:
        return not site.guards or ctx.bn.guards_hold(site.guards, rctx)

    @staticmethod
    def _guarded_by_bn_test(ctx: RuleContext, stmt: cst.CSTNode, loop: cst.CSTNode) -> bool:
        cur = ctx.module.parents.get(stmt)
        while cur is not None and cur is not loop:
            if isinstance(cur, cst.If):
                text = ctx.module.code(cur.test).lower()
                if any(w in text for w in _BN_WORDS):
                    return True
            cur = ctx.module.parents.get(cur)
        return False

    # -- a momentum / EMA copy ------------------------------------------------------------------
    def _ema_updated(self, ctx: RuleContext, target: Target) -> bool:
        """``zip(teacher.parameters(), student.parameters())``: weights written by an EMA, not frozen."""
        modes = ctx.analysis.modes
        for scope in ctx.module.scopes:
            rctx = ctx.resolver.ctx_for(scope)
            for site in scope.calls:
                func = site.call.func
                if not (isinstance(func, cst.Name) and func.value == "zip"):
                    continue
                for arg in site.call.args:
                    v = arg.value
                    if isinstance(v, cst.Call) and isinstance(v.func, cst.Attribute) \
                            and v.func.attr.value in _PARAM_ITERS + ("state_dict", "buffers") \
                            and modes.receiver_relation(v.func.value, rctx, target) in ("covers", "inside"):
                        return True
        return False

    # -- runs in train mode --------------------------------------------------------------------
    @staticmethod
    def _training_forwards(ctx: RuleContext) -> List[ForwardCall]:
        out = []
        for scope in ctx.module.scopes:
            for loop in ctx.training.training_loops(scope):
                out.extend(fc for fc in ctx.training.loop_forward_calls(loop, scope)
                           if ctx.analysis.modes.is_forward(fc))
        return out

    @staticmethod
    def _runs_in_train_mode(ctx: RuleContext, forwards: List[ForwardCall], target: Target) -> Optional[ForwardCall]:
        modes = ctx.analysis.modes
        for fc in forwards:
            runs = modes.target(fc.models)
            if not any(relation(k, t) == "covers" for k in runs.keys for t in target.keys):
                continue
            states = modes.forward_states(fc, target)
            if states & {S_FRESH, S_USED, S_DEFAULT} and S_UNKNOWN not in states:
                return fc
        return None


def _param_name(target: cst.BaseExpression, named: bool) -> Optional[str]:
    if not named:
        return target.value if isinstance(target, cst.Name) else None
    if isinstance(target, cst.Tuple) and len(target.elements) == 2 and isinstance(target.elements[1].value, cst.Name):
        return target.elements[1].value.value
    return None


def _freezing_statements(body: cst.CSTNode, param: str) -> List[cst.CSTNode]:
    """``param.requires_grad = False`` / ``param.requires_grad_(False)`` statements in a loop body."""
    out = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and node.value.value == "False":
            for t in node.targets:
                if _is_param_attr(t.target, param, "requires_grad"):
                    out.append(node)
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and _is_param_attr(node.func, param, "requires_grad_") and node.args \
                and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "False":
            out.append(node)
        stack.extend(code_children(node))
    return out


def _is_param_attr(node, param: str, attr: str) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value == attr \
        and isinstance(node.value, cst.Name) and node.value.value == param
