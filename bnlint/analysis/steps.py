"""Training steps and the separate forward calls of one model inside a step.

A training step is the body of a training loop (only the calls whose innermost
training loop it is), a function that itself runs backward / an optimizer step,
or a Lightning ``training_step``. Inside a step, forward calls are grouped by
the module object they run (same constructor call, same attribute), each with
the provenance of its batch (``provenance.py``). Rules then ask for pairs of
uses of one BN model on batches of different kinds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import libcst as cst

from .loops import ForwardCall, TrainingAnalysis
from .module import CallSite, ModuleInfo, Scope, code_children
from .provenance import NO_GRAD, Batch, Provenance, batch_argument, model_key, other_arguments
from .values import Ctx, Ref, Value


@dataclass(eq=False)
class Use:
    """One forward call of a model on one batch (a loop over domains gives several uses of one call)."""

    fc: ForwardCall
    batch: Batch
    anchor: CallSite  # the call in the step's own scope (the helper call for interprocedural ones)
    guards: Tuple[Tuple[cst.BaseExpression, bool], ...]
    args: Tuple[str, ...]  # the other arguments' source text
    looped: bool  # one of several batches of a loop over domains

    @property
    def line_node(self) -> cst.CSTNode:
        return self.anchor.call


@dataclass(eq=False)
class ModelUses:
    key: tuple
    model: Value  # a value of the model that contains BN
    callee: str  # how the step names it: `model`, `self.netD`
    uses: List[Use] = field(default_factory=list)


class StepAnalysis:
    def __init__(self, training: TrainingAnalysis):
        self.t = training
        self.r = training.r
        self.bn = training.bn
        self.prov = Provenance(self.r, training.model_values)
        self.memo = self.r.index.memo

    # -- steps ------------------------------------------------------------------------
    def steps(self, module: ModuleInfo) -> List[Tuple[Scope, List[ForwardCall]]]:
        """(scope, forward calls) for every training step defined in ``module``."""
        key = ("steps", id(module))
        if key in self.memo:
            return self.memo[key]
        out = []
        for scope in module.scopes:
            loops = self.t.training_loops(scope)
            ctx = self.r.ctx_for(scope)
            for loop in loops:
                sites = [s for s in scope.calls if _innermost(s, loops) is loop]
                out.append((scope, self._direct(self.t.forward_calls(sites, ctx))))
            if self._is_step_function(scope, loops, ctx):
                sites = [s for s in scope.calls if _innermost(s, loops) is None]
                out.append((scope, self._direct(self.t.forward_calls(sites, ctx))))
        self.memo[key] = out
        return out

    def is_step_function(self, scope: Scope) -> bool:
        return self._is_step_function(scope, self.t.training_loops(scope), self.r.ctx_for(scope))

    def _is_step_function(self, scope: Scope, loops, ctx: Ctx) -> bool:
        if scope.short_name == "training_step" and scope.cls is not None:
            return True
        return any(_innermost(s, loops) is None and self.t.is_update_call(s, ctx) for s in scope.calls)

    def _direct(self, forwards: List[ForwardCall]) -> List[ForwardCall]:
        """Drop calls reached through helpers that are steps or loops of their own."""
        out = []
        for fc in forwards:
            sites = list(fc.chain[1:]) + ([fc.site] if fc.chain else [])
            if any(self._in_training_loop(s) for s in sites):
                continue
            if any(self.is_step_function(s.scope) for s in sites):
                continue  # a helper that is a training step itself is analysed (and reported) on its own
            if any(not s.scope.returns for s in sites):
                continue  # a helper returning nothing (sampling, logging): its outputs feed no loss
            out.append(fc)
        return out

    def _in_training_loop(self, site: CallSite) -> bool:
        loops = self.t.training_loops(site.scope)
        return any(loop in site.loops for loop in loops)

    # -- uses of BN models -------------------------------------------------------------------
    def bn_model_uses(self, forwards: List[ForwardCall]) -> List[ModelUses]:
        """Forward calls grouped by model, for models that certainly contain BN, with gradients on."""
        groups: Dict[tuple, ModelUses] = {}
        for fc in forwards:
            if self._without_grad(fc):
                continue
            key = model_key(fc.models)
            if key is None or self._in_eval_mode(fc, key):
                continue
            bn_models = [m for m in fc.models if self.bn.has_bn(m)]
            if not bn_models:
                continue
            anchor = fc.chain[0] if fc.chain else fc.site
            callee = self.callee_text(fc)
            group = groups.get((key, callee))
            if group is None:
                group = groups[(key, callee)] = ModelUses(key, bn_models[0], callee)
            arg = batch_argument(fc.site.call)
            if arg is None:
                continue
            options = self.prov.alternatives(arg, fc.ctx)
            guards = tuple(g for s in (list(fc.chain) + [fc.site]) for g in s.guards)
            for batch in options:
                if batch is not None:
                    group.uses.append(Use(fc, batch, anchor, guards, other_arguments(fc.site.call),
                                          len(options) > 1))
        return [g for g in groups.values() if g.uses]

    def _without_grad(self, fc: ForwardCall) -> bool:
        for site in list(fc.chain) + [fc.site]:
            ctx = self.r.ctx_for(site.scope)
            for w in site.withs:
                for item in w.items:
                    if self._is_no_grad(item.item, ctx):
                        return True
            scope = site.scope
            while scope is not None and scope.parent is not None:
                if any(self._is_no_grad(d, self.r.ctx_for(scope.parent)) for d in scope.decorators):
                    return True
                scope = scope.parent
        return False

    def _in_eval_mode(self, fc: ForwardCall, key: tuple) -> bool:
        """``model.eval()`` runs before the call in its function, with no ``model.train()`` in between."""
        for site in list(fc.chain) + [fc.site]:
            module = site.scope.module
            line = module.line(site.call)
            last = None
            ctx = self.r.ctx_for(site.scope)
            for other in site.scope.calls:
                func = other.call.func
                if not (isinstance(func, cst.Attribute) and func.attr.value in ("eval", "train")):
                    continue
                other_line = module.line(other.call)
                if other_line >= line or (last is not None and other_line < last[0]):
                    continue
                if model_key(self.t.model_values(func.value, ctx)) == key:
                    last = (other_line, func.attr.value == "eval" or _train_false(other.call, self.r, ctx))
            if last is not None and last[1]:
                return True
        return False

    def _is_no_grad(self, expr, ctx: Ctx) -> bool:
        target = expr.func if isinstance(expr, cst.Call) else expr
        for v in self.r.resolve(target, ctx):
            if isinstance(v, Ref):
                if v.qualname in NO_GRAD:
                    return True
                if v.qualname in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled") \
                        and isinstance(expr, cst.Call) and expr.args \
                        and self.r.const(expr.args[0].value, ctx) is False:
                    return True
        return False

    def callee_text(self, fc: ForwardCall) -> str:
        """The model as the step names it, following helper parameters back to the caller's argument."""
        func = fc.site.call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "forward":
            func = func.value
        text = _root_text(func, fc.ctx, 0)
        if fc.chain and fc.site.scope.self_name and text.split(".")[0] == fc.site.scope.self_name:
            # ``self(...)`` inside a method called as ``D.compute_loss(x)``: name it ``D``.
            outer = fc.chain[-1].call.func
            if isinstance(outer, cst.Attribute):
                receiver = _root_text(outer.value, self.r.ctx_for(fc.chain[-1].scope), 0)
                text = receiver + text[len(fc.site.scope.self_name):]
        return text

    def calls_method_on(self, module: ModuleInfo, key: tuple, wanted: Callable[[str], bool]) -> bool:
        """Some call ``<model>.<method>(...)`` in ``module`` with ``wanted(method)`` runs on the model ``key``."""
        for s in module.scopes:
            ctx = self.r.ctx_for(s)
            for site in s.calls:
                func = site.call.func
                if isinstance(func, cst.Attribute) and wanted(func.attr.value):
                    if model_key(self.t.model_values(func.value, ctx)) == key:
                        return True
        return False


def _train_false(call: cst.Call, resolver, ctx: Ctx) -> bool:
    """``model.train(False)``."""
    return bool(call.args) and resolver.const(call.args[0].value, ctx) is False


def _innermost(site: CallSite, loops) -> Optional[cst.CSTNode]:
    inner = None
    for loop in site.loops:
        if loop in loops:
            inner = loop
    return inner


def _root_text(expr, ctx: Ctx, depth: int) -> str:
    if depth < 8 and isinstance(expr, cst.Name) and ctx.env is not None and expr.value in ctx.env:
        passed = ctx.env[expr.value]
        if len(passed) == 1:
            return _root_text(passed[0][0], passed[0][1], depth + 1)
    if isinstance(expr, cst.Attribute):
        return f"{_root_text(expr.value, ctx, depth + 1)}.{expr.attr.value}"
    return " ".join(cst.Module(body=[]).code_for_node(expr).split())


def exclusive(a: Use, b: Use) -> bool:
    """The two calls sit on opposite branches of one ``if``."""
    for test, branch in a.guards:
        for test2, branch2 in b.guards:
            if test is test2 and branch != branch2:
                return True
    return False


def output_unused(use: Use) -> bool:
    """``y_t, f_t = model(x_t)`` whose names are never read again: a pass run only for BN's running statistics."""
    if use.fc.chain:
        return False
    site = use.fc.site
    module = site.scope.module
    stmt = module.parents.get(site.call)
    if not isinstance(stmt, cst.Assign):
        return False
    names = set()
    for target in stmt.targets:
        names |= _target_names(target.target)
    if not names:
        return False
    targets = {id(n) for t in stmt.targets for n in _name_nodes(t.target)}
    return not any(n.value in names and id(n) not in targets for n in _name_nodes(site.scope.node))


def _target_names(node) -> set:
    if isinstance(node, cst.Name):
        return {node.value}
    if isinstance(node, (cst.Tuple, cst.List)):
        out = set()
        for element in node.elements:
            out |= _target_names(element.value)
        return out
    return {"<other>"}  # attribute / subscript targets: stored somewhere we do not follow


def _name_nodes(node):
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Name):
            yield cur
        stack.extend(code_children(cur))
