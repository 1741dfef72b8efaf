"""BN203 frozen-batchnorm-stats-updating: a BN module frozen with requires_grad=False but trained in train mode."""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

import libcst as cst

from ..analysis.loops import ForwardCall
from ..analysis.modes import S_DEFAULT, S_FRESH, S_UNKNOWN, S_USED, Target, relation
from ..analysis.module import Scope, code_children
from ..analysis.syntax import within
from ..analysis.values import Ctx, FuncRef, call_arg
from .base import Rule, RuleContext
from .triggers import TRAINING_STEP_PATTERNS, any_of, attribute_assignment, method_call

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
    # ``x.requires_grad_(False)`` / ``p.requires_grad = False`` in the file, or a training step that may
    # call a project method freezing its model (``encoder.fine_tune(False)``).
    triggers = (any_of(method_call("requires_grad_"), attribute_assignment("requires_grad"), *TRAINING_STEP_PATTERNS),)

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
            hit = self._runs_in_train_mode(ctx, [fc for fc in forwards if _may_run_after(fc, scope, node)], target)
            if hit is None:
                continue
            name = " ".join(ctx.module.code(expr).split())
            by = _freezing_method(node)
            message = (
                f"{ctx.clip(f'`{name}`')} (BatchNorm) is frozen with requires_grad=False{by} but runs in "
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
        """(scope, node to report, module expression) for each freeze, including a call of a project
        method that freezes its own object (``encoder.fine_tune(False)``: the freeze is ``encoder``)."""
        for scope in ctx.module.scopes:
            for node, expr in self._scope_freezes(ctx, scope):
                yield scope, node, expr
            rctx = ctx.resolver.ctx_for(scope)
            for site in scope.calls:
                func = site.call.func
                if isinstance(func, cst.Attribute) and func.attr.value != "requires_grad_" \
                        and self._holds(ctx, site, rctx) and self._method_freezes_self(ctx, func, rctx):
                    yield scope, site.call, func.value

    def _scope_freezes(self, ctx: RuleContext, scope: Scope) -> Iterator[Tuple[cst.CSTNode, cst.BaseExpression]]:
        """(node, module expression) for the freezes written in ``scope`` itself."""
        rctx = ctx.resolver.ctx_for(scope)
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
                arg = call_arg(site.call, 0, "requires_grad")
                if arg is not None and ctx.resolver.const(arg, rctx) is False and self._holds(ctx, site, rctx):
                    yield site.call, func.value
        for loop in scope.loops:
            module_expr = self._param_loop_module(ctx, scope, loop, rctx)
            if module_expr is not None:
                yield loop.iter, module_expr

    def _method_freezes_self(self, ctx: RuleContext, func: cst.Attribute, rctx: Ctx) -> bool:
        """``obj.method(...)`` runs a project method that freezes ``self`` or a submodule of it."""
        callees = ctx.resolver.resolve(func, rctx)
        methods = [v.scope for v in callees if isinstance(v, FuncRef) and v.bound_self is not None]
        return bool(methods) and len(methods) == len(callees) and all(self._freezes_self(ctx, m) for m in methods)

    def _freezes_self(self, ctx: RuleContext, method: Scope) -> bool:
        memo = ctx.resolver.index.memo
        key = ("bn203_freezes_self", id(method))
        if key not in memo:
            memo[key] = any(_rooted_at(expr, method.self_name) for _node, expr in self._scope_freezes(ctx, method))
        return memo[key]

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
            if not self._guarded_by_bn_test(scope, stmt, loop):
                return func.value
        return None

    @staticmethod
    def _holds(ctx: RuleContext, site, rctx: Ctx) -> bool:
        return not site.guards or ctx.bn.guards_hold(site.guards, rctx)

    @staticmethod
    def _guarded_by_bn_test(scope: Scope, stmt: cst.CSTNode, loop: cst.CSTNode) -> bool:
        module = scope.module
        cur = module.parents.get(stmt)
        while cur is not None and cur is not loop:
            if isinstance(cur, cst.If):
                text = module.code(cur.test).lower()
                if any(w in text for w in _BN_WORDS):
                    return True
            cur = module.parents.get(cur)
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
            if _unfrozen_each_iteration(ctx, fc, target):
                continue  # frozen only for validation; every training iteration sets requires_grad=True
            states = modes.forward_states(fc, target)
            if states & {S_FRESH, S_USED, S_DEFAULT} and S_UNKNOWN not in states:
                return fc
        return None


def _freezing_method(node: cst.CSTNode) -> str:
    """" by `fine_tune()`" when the freeze is a call of the model's own method."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
            and node.func.attr.value not in ("requires_grad_",) + _PARAM_ITERS:
        return f" by `{node.func.attr.value}()`"
    return ""


def _rooted_at(expr: cst.BaseExpression, name: Optional[str]) -> bool:
    """``self`` / ``self.resnet`` / ``self.a.b`` for ``name == "self"``."""
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return name is not None and isinstance(expr, cst.Name) and expr.value == name


def _may_run_after(fc: ForwardCall, scope: Scope, freeze: cst.CSTNode) -> bool:
    """The forward call can run after the freeze: later in the same function, or in a loop around both
    (a pre-training loop that ends before the freeze never sees a frozen model). In another function
    the order is unknown: assume it can."""
    anchor = fc.chain[0] if fc.chain else fc.site
    if anchor.scope is not scope:
        return True
    module = scope.module
    if module.position(anchor.call)[:2] > module.position(freeze)[:2]:
        return True
    return any(within(module, freeze, loop) for loop in anchor.loops)


def _unfrozen_each_iteration(ctx: RuleContext, fc: ForwardCall, target: Target) -> bool:
    """``for p in model.parameters(): p.requires_grad = True`` in the training loop around ``fc``."""
    anchor = fc.chain[0] if fc.chain else fc.site
    scope, module = anchor.scope, anchor.scope.module
    rctx = ctx.resolver.ctx_for(scope)
    for loop in scope.loops:
        if not isinstance(loop, cst.For) or not any(within(module, loop, outer) for outer in anchor.loops):
            continue
        func = loop.iter.func if isinstance(loop.iter, cst.Call) else None
        if not isinstance(func, cst.Attribute) or func.attr.value not in _PARAM_ITERS:
            continue
        param = _param_name(loop.target, func.attr.value == "named_parameters")
        if param is None or not _freezing_statements(loop.body, param, "True"):
            continue
        if ctx.analysis.modes.receiver_relation(func.value, rctx, target) == "covers":
            return True
    return False


def _param_name(target: cst.BaseExpression, named: bool) -> Optional[str]:
    if not named:
        return target.value if isinstance(target, cst.Name) else None
    if isinstance(target, cst.Tuple) and len(target.elements) == 2 and isinstance(target.elements[1].value, cst.Name):
        return target.elements[1].value.value
    return None


def _freezing_statements(body: cst.CSTNode, param: str, value: str = "False") -> List[cst.CSTNode]:
    """``param.requires_grad = False`` / ``param.requires_grad_(False)`` statements in a loop body
    (``value="True"``: the statements that unfreeze)."""
    out = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and node.value.value == value:
            for t in node.targets:
                if _is_param_attr(t.target, param, "requires_grad"):
                    out.append(node)
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and _is_param_attr(node.func, param, "requires_grad_") and node.args \
                and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == value:
            out.append(node)
        stack.extend(code_children(node))
    return out


def _is_param_attr(node, param: str, attr: str) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value == attr \
        and isinstance(node.value, cst.Name) and node.value.value == param
