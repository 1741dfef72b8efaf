"""BN404 batchnorm-in-gradient-penalty-critic: a WGAN-GP style gradient penalty through a BatchNorm critic."""
from __future__ import annotations

from typing import List, Optional

import libcst as cst

from ..analysis.describe import describe_model
from ..analysis.layers import named_by_import
from ..analysis.module import binding_scope
from ..analysis.values import Ctx, Output, Seq, Value, call_arg
from .base import Rule, RuleContext
from .triggers import any_of, text, words

GRAD = frozenset({"torch.autograd.grad"})
# Reductions and reshapes between the critic's output and autograd.grad's ``outputs``.
_THROUGH = frozenset({"sum", "mean", "view", "reshape", "squeeze", "flatten", "view_as", "float"})

WHY = (
    "the penalty constrains each sample's gradient norm, but with BatchNorm in training mode every "
    "output depends on the whole batch through the batch statistics, so the per-sample gradient is not "
    "defined by that sample alone and the penalty no longer enforces the 1-Lipschitz constraint it is "
    "meant to (Gulrajani et al. 2017, section 4)"
)
FIX = (
    "replace the critic's BatchNorm by LayerNorm (or GroupNorm/InstanceNorm with affine=True), or use no "
    "normalization in the critic"
)


class BatchNormInGradientPenaltyCritic(Rule):
    code = "BN404"
    name = "batchnorm-in-gradient-penalty-critic"
    summary = "gradient penalty (create_graph=True) on the outputs of a critic that contains BatchNorm"
    # Every spelling named_by_import accepts (``torch.autograd.grad``, ``autograd.grad``, an imported
    # ``grad``, even renamed: ``from torch.autograd import grad as g``) has "autograd" in the file and
    # ``grad`` as a whole word (which ``requires_grad`` / ``no_grad`` are not).
    triggers = (any_of(text("autograd")), any_of(words("grad")))

    def check(self, ctx: RuleContext):
        for scope in ctx.module.scopes:
            rctx = ctx.resolver.ctx_for(scope)
            for site in scope.calls:
                call = site.call
                if not named_by_import(call, ctx.module, GRAD) or not _is_grad(ctx, call, rctx):
                    continue
                create = call_arg(call, 4, "create_graph")
                if create is None or ctx.resolver.const(create, rctx) is not True:
                    continue
                outputs, inputs = call_arg(call, 0, "outputs"), call_arg(call, 1, "inputs")
                if outputs is None or inputs is None:
                    continue
                critic = self._bn_critic(ctx, outputs, inputs, rctx)
                if critic is None:
                    continue
                message = (
                    f"gradient penalty: `autograd.grad(..., create_graph=True)` on the outputs of "
                    f"{describe_model(critic.model)} (BatchNorm)"
                )
                ctx.report(call, message, FIX, why=WHY)
        return ctx.findings

    def _bn_critic(self, ctx: RuleContext, outputs, inputs, rctx: Ctx) -> Optional[Output]:
        """The forward call whose output is differentiated, when it runs a BN model on ``inputs``."""
        wanted = set()
        for expr in _elements(inputs):
            wanted |= _origins(ctx, expr, rctx, 0)
        for out in _outputs(ctx, outputs, rctx):
            arg = call_arg(out.call, 0)
            if arg is None or not (_origins(ctx, arg, out.ctx, 0) & wanted):
                continue  # the penalty must be w.r.t. the critic's own input
            if ctx.bn.has_bn(out.model):
                return out
        return None


def _is_grad(ctx: RuleContext, call: cst.Call, rctx: Ctx) -> bool:
    values = ctx.resolver.resolve(call.func, rctx)
    return bool(values) and all(getattr(v, "qualname", None) in GRAD for v in values)


def _elements(expr) -> List[cst.BaseExpression]:
    if isinstance(expr, (cst.List, cst.Tuple)):
        return [e.value for e in expr.elements]
    return [expr]


def _origins(ctx: RuleContext, expr, rctx: Ctx, depth: int) -> set:
    """Where a tensor expression was made: names are followed through assignments and, for
    parameters, through the arguments callers pass, so ``critic(x_hat)`` in one function and
    ``inputs=x`` in the helper it calls meet at the same expression."""
    if depth > 6:
        return set()
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
            and expr.func.attr.value in ("requires_grad_", "to", "cuda", "detach", "clone"):
        return _origins(ctx, expr.func.value, rctx, depth + 1) | {id(expr)}
    if not isinstance(expr, cst.Name):
        return {id(expr)}
    scope = binding_scope(rctx.scope, expr.value)
    if scope is None:
        return set()
    out = set()
    for b in scope.bindings[expr.value]:
        if b.kind == "assign" and not b.path and b.expr is not None:
            out |= _origins(ctx, b.expr, rctx if scope is rctx.scope else Ctx(scope), depth + 1)
        elif b.kind == "param":
            pairs = rctx.env.get(expr.value, []) if rctx.env is not None and scope is rctx.scope else \
                ctx.resolver.callers_args(scope, expr.value, 0)
            for arg, cctx in pairs:
                out |= _origins(ctx, arg, cctx, depth + 1)
        else:
            out.add(id(b.stmt))
    return out


def _outputs(ctx: RuleContext, expr, rctx: Ctx) -> List[Output]:
    """Model outputs ``expr`` is, looking through ``.sum()``/``.mean()`` and one-element lists."""
    if isinstance(expr, (cst.List, cst.Tuple)) and len(expr.elements) == 1:
        expr = expr.elements[0].value
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _THROUGH:
        return _outputs(ctx, expr.func.value, rctx)
    found: List[Value] = ctx.resolver.resolve(expr, rctx)
    out = []
    for v in found:
        if isinstance(v, Seq) and len(v.items) == 1:
            out.extend(x for x in v.items[0] if isinstance(x, Output))
        elif isinstance(v, Output):
            out.append(v)
    return out
