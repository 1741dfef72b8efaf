"""Training loops and forward calls.

A training loop is a ``for``/``while`` loop whose body (directly, or through
project functions it calls) calls ``.backward()`` or steps an optimizer. A
forward call is a call of a module value (``model(x)``, ``model.forward(x)``,
``self.backbone(x)``, ``model.features(x)``), found in the loop body and,
interprocedurally, in project helpers called from it (``compute_loss(model, x)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import libcst as cst

from .bn import BNAnalysis
from .module import CallSite, ModuleInfo, Scope, binding_scope
from .optimizers import is_optimizer
from .provenance import NO_GRAD, model_key
from .values import PASS_THROUGH_METHODS, Ctx, Elem, ExtCall, FuncRef, Instance, Ref, Resolver, SubModule, Value, unwrap

LIGHTNING_MODULES = frozenset({
    "pytorch_lightning.LightningModule", "lightning.LightningModule", "lightning.pytorch.LightningModule",
    "pytorch_lightning.core.LightningModule", "pytorch_lightning.core.module.LightningModule",
    "lightning.pytorch.core.module.LightningModule",
})
_SCALERS = ("torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cuda.amp.grad_scaler.GradScaler")
MAX_CALL_DEPTH = 3
# Methods of a tensor, which a loss's ``forward`` calls on the tensors it is given (not a network).
TENSOR_METHODS = PASS_THROUGH_METHODS | frozenset(
    "size dim numel t mm matmul bmm pow abs sqrt exp log norm mean sum max min std var clamp div mul add sub "
    "softmax log_softmax sigmoid tanh relu transpose flatten expand expand_as repeat chunk split narrow gather "
    "masked_fill fill_ zero_ new_zeros new_ones topk sort argmax argmin eq ne gt lt ge le item diag sign neg".split())
# Module methods that are not a forward pass (the loop analysis sees ``model.train()`` as a call of ``model``).
NOT_FORWARD = frozenset(
    "train eval apply parameters named_parameters buffers named_buffers modules named_modules children "
    "named_children state_dict load_state_dict to cuda cpu half float double zero_grad requires_grad_ "
    "register_forward_hook register_forward_pre_hook register_buffer update_parameters add_module".split()
)
# LightningModule methods a module inherits that take tensors (``self.manual_backward(loss)``,
# ``self.log("loss", loss)``): never a forward pass, though ``self`` is a BN network.
LIGHTNING_API = frozenset(
    "log log_dict manual_backward backward all_gather clip_gradients toggle_optimizer untoggle_optimizer "
    "optimizers lr_schedulers save_hyperparameters print".split()
)


@dataclass(eq=False)
class ForwardCall:
    site: CallSite
    ctx: Ctx
    models: List[Value]  # what the callee may be
    chain: Tuple[CallSite, ...] = ()  # helper calls followed to reach it, outermost first


# Where a model is set up: an ``.eval()`` there (a frozen feature network) holds until a ``.train()``.
_SETUP_SCOPES = frozenset({"<module>", "__init__", "setup", "configure_model", "build", "build_model"})


def train_false(call: cst.Call, resolver: Resolver, ctx: Ctx) -> bool:
    """``model.train(False)``."""
    return bool(call.args) and resolver.const(call.args[0].value, ctx) is False


def _before_the_path(site: CallSite, path: List[CallSite]) -> bool:
    """``site`` runs before the path's call in its own function, when the path passes through it."""
    same = [s for s in path if s.scope is site.scope]
    return not same or any(site.scope.module.order(site.call) < s.scope.module.order(s.call) for s in same)


class TrainingAnalysis:
    def __init__(self, resolver: Resolver, bn: BNAnalysis):
        self.r = resolver
        self.bn = bn
        self.memo = resolver.index.memo

    # -- update calls ---------------------------------------------------------------
    def is_update_call(self, site: CallSite, ctx: Ctx) -> bool:
        func = site.call.func
        if isinstance(func, cst.Attribute):
            name = func.attr.value
            if name in ("backward", "manual_backward"):
                return True
            if name == "step":
                for v in unwrap(self.r.resolve(func.value, ctx)):
                    if isinstance(v, ExtCall) and (is_optimizer(v.qualname) or v.qualname in _SCALERS):
                        return True
        elif isinstance(func, cst.Name) and func.value == "backward":
            return any(isinstance(v, Ref) and v.qualname == "torch.autograd.backward"
                       for v in self.r.resolve(func, ctx))
        return False

    def scope_trains(self, scope: Scope, depth: int = 0) -> bool:
        """The function (or something it calls) runs backward / an optimizer step."""
        key = ("trains", id(scope))
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False
        ctx = self.r.ctx_for(scope)
        result = any(self.site_trains(site, ctx, depth) for site in scope.calls)
        self.memo[key] = result
        return result

    def site_trains(self, site: CallSite, ctx: Ctx, depth: int = 0) -> bool:
        """The call is an update (backward, an optimizer step) or a helper that makes one."""
        if self.is_update_call(site, ctx):
            return True
        if depth >= MAX_CALL_DEPTH:
            return False
        for callee in self.called_functions(site, ctx):
            if self.scope_trains(callee.scope, depth + 1):
                return True
        return False

    def may_run_network(self, method: Scope, obj: Value, depth: int = 0) -> bool:
        """Whether ``method`` of ``obj``'s class (or a method of the class it calls on ``self``) may
        call a network, read from the code alone: a call of an attribute of ``self`` that is not a
        method (``self.trunk(x)``, ``self.layers[i](x)``), of a parameter or local name
        (``student(x)``, ``layer(x)``), or of anything computed. ``F.mse_loss(...)`` or
        ``torch.pow(...)`` (a module's function) is not one: a distillation loss doing tensor
        arithmetic runs no network."""
        if not isinstance(obj, Instance) or depth > MAX_CALL_DEPTH:
            return True
        key = ("may_run_network", id(method), id(obj.cls))
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False  # (a method calling itself adds nothing)
        methods = self.r.methods_of(obj.cls, obj.module)
        result = False
        for site in method.calls:
            func = site.call.func
            if isinstance(func, cst.Attribute) and func.attr.value in TENSOR_METHODS \
                    and not (isinstance(func.value, cst.Name) and func.value.value == method.self_name):
                continue  # a tensor's own method (``(fm_s + m).pow(2)``, ``x[mask].mean()``)
            root = func
            while isinstance(root, cst.Attribute):
                root = root.value
            if not isinstance(root, cst.Name):
                result = True  # ``self.layers[i](x)``, ``getattr(self, name)(x)``, ``make()(x)``
            elif root.value == method.self_name:
                attr = func.attr.value if isinstance(func, cst.Attribute) and func.value is root else None
                called = methods.get(attr) if attr is not None else None
                result = called is None or self.may_run_network(called, obj, depth + 1)
            else:
                # a parameter or a local, called (``student(x)``, ``for layer in layers: layer(x)``) or
                # an attribute of it called (``model.fc(x)``); not a module's function (``F.mse_loss``)
                result = binding_scope(method, root.value) is method
            if result:
                break
        self.memo[key] = result
        return result

    def called_functions(self, site: CallSite, ctx: Ctx) -> List[FuncRef]:
        func = site.call.func
        if isinstance(func, cst.Attribute) and func.attr.value in ("backward", "step", "zero_grad", "item"):
            return []
        return [v for v in unwrap(self.r.resolve(func, ctx)) if isinstance(v, FuncRef)]

    def loop_trains(self, loop: cst.CSTNode, scope: Scope) -> bool:
        ctx = self.r.ctx_for(scope)
        return any(loop in site.loops and self.site_trains(site, ctx, 0) for site in scope.calls)

    def training_loops(self, scope: Scope) -> List[cst.CSTNode]:
        return [loop for loop in scope.loops if self.loop_trains(loop, scope)]

    def updates_skipped(self, scope: Scope, loop: cst.CSTNode, ctx: Ctx) -> bool:
        """Every update of the loop (backward, an optimizer step, a helper that trains) sits under a
        condition that the arguments in ``ctx`` rule out: ``run_epoch(val_loader, train=False)`` with
        ``if train: loss.backward()`` inside runs the loop as an evaluation."""
        own = self.r.ctx_for(scope)
        updates = [s for s in scope.calls if loop in s.loops and self.site_trains(s, own, 0)]
        return bool(updates) and all(self.known_not_taken(s.guards, ctx) for s in updates)

    def known_not_taken(self, guards, ctx: Ctx) -> bool:
        """Some enclosing condition is known to take the other branch in ``ctx``."""
        for test, branch in guards:
            value = self.r.truth(test, ctx)
            if value is not None and value != branch:
                return True
        return False

    # -- forward calls ---------------------------------------------------------------
    def model_values(self, callee_expr: cst.BaseExpression, ctx: Ctx) -> List[Value]:
        """Module values a call of ``callee_expr`` runs forward on, if any."""
        out = []
        target = callee_expr
        if isinstance(callee_expr, cst.Attribute) and callee_expr.attr.value == "forward":
            target = callee_expr.value
        for v in self.r.resolve(target, ctx):
            for w in self.r.elements(v) if isinstance(v, Elem) else (v,):  # ``for disc in discs: disc(x)``
                if isinstance(w, (Instance, ExtCall)) or isinstance(w, SubModule) and w.attr not in LIGHTNING_API:
                    out.append(w)
        if target is not callee_expr and out and all(
                isinstance(v, Instance) and self.r.plain_class(v.cls, v.module) for v in out):
            return []  # ``self.forward()`` of a trainer class: a method call, followed as a helper
        return out

    def forward_calls(self, sites: List[CallSite], ctx: Ctx, chain=(), depth: int = 0) -> List[ForwardCall]:
        out: List[ForwardCall] = []
        for site in sites:
            if chain and not self.r.branch_possible(site.call, ctx, 0):
                continue  # in a followed helper, a branch its arguments rule out (``label="real"``)
            models = self.model_values(site.call.func, ctx)
            if models:
                out.append(ForwardCall(site, ctx, models, chain))
                continue
            if depth >= MAX_CALL_DEPTH:
                continue
            for fref in self.called_functions(site, ctx):
                inner = self.r.call_ctx(fref.scope, site.call, ctx, fref.bound_self is not None,
                                        fref.bound_self or self.r.ctx_for(fref.scope).self_value)
                out.extend(self.forward_calls(fref.scope.calls, inner, chain + (site,), depth + 1))
        return out

    def loop_forward_calls(self, loop: cst.CSTNode, scope: Scope, ctx: Optional[Ctx] = None) -> List[ForwardCall]:
        ctx = ctx or self.r.ctx_for(scope)
        return self.forward_calls([s for s in scope.calls if loop in s.loops], ctx)

    def trains_bn_model(self, forwards: List[ForwardCall]) -> Optional[ForwardCall]:
        """The first forward call on a model that certainly contains BN, outside no-grad blocks (a
        frozen encoder run under ``torch.no_grad()`` next to a trained BN-free head trains no BN)."""
        for fc in forwards:
            func = fc.site.call.func
            if isinstance(func, cst.Attribute) and func.attr.value in NOT_FORWARD:
                continue  # ``D.zero_grad()``: the model's method, not a pass over the batch
            if any(self.bn.has_bn(m) for m in fc.models) and not self.without_grad(fc):
                return fc
        return None

    def set_up_in_eval(self, fc: ForwardCall, key: tuple) -> bool:
        """``self.vgg.eval()`` in ``__init__`` (a frozen feature network), never switched back. An
        ``.eval()`` in the function making the call counts only before it (``discriminator.eval()``
        after a script's training loop, for its test, sets nothing up)."""
        path = list(fc.chain) + [fc.site]
        modules = {id(s.scope.module): s.scope.module for s in path}
        found = [self._mode_switches(module, key) for module in modules.values()]
        return any(_before_the_path(site, path) for evals, _ in found for site in evals) \
            and not any(on for _, on in found)

    def _mode_switches(self, module: ModuleInfo, key: tuple) -> Tuple[List[CallSite], bool]:
        """(the ``.eval()`` calls of the model where it is set up, a ``.train()`` of it anywhere) in ``module``."""
        memo_key = ("mode_switches", id(module), key)
        if memo_key not in self.memo:
            set_up, switched_on = [], False
            for scope in module.scopes:
                ctx = self.r.ctx_for(scope)
                for site in scope.calls:
                    func = site.call.func
                    if not (isinstance(func, cst.Attribute) and func.attr.value in ("eval", "train")):
                        continue
                    if model_key(self.model_values(func.value, ctx)) != key:
                        continue
                    if func.attr.value == "eval" or train_false(site.call, self.r, ctx):
                        # (Not under a branch the defaults skip: ``if is_load: net_D.eval()``.)
                        if scope.short_name in _SETUP_SCOPES and self.r.branch_possible(site.call, ctx, 0):
                            set_up.append(site)
                    else:
                        switched_on = True
            self.memo[memo_key] = (set_up, switched_on)
        return self.memo[memo_key]

    def without_grad(self, fc: ForwardCall) -> bool:
        """The call runs under ``no_grad``/``inference_mode`` (a ``with`` or a decorator, also of a
        helper on the way), or in a function that every call of it runs so (``with torch.no_grad():
        inference(encoder, loader)``)."""
        sites = list(fc.chain) + [fc.site]
        return any(self.site_without_grad(site) for site in sites) or self._called_without_grad(sites[0].scope)

    def site_without_grad(self, site: CallSite) -> bool:
        """The call itself is under a no-grad ``with`` or in a function decorated so."""
        ctx = self.r.ctx_for(site.scope)
        for w in site.withs:
            for item in w.items:
                if self.is_no_grad(item.item, ctx):
                    return True
        scope = site.scope
        while scope is not None and scope.parent is not None:
            if any(self.is_no_grad(d, self.r.ctx_for(scope.parent)) for d in scope.decorators):
                return True
            scope = scope.parent
        return False

    def _called_without_grad(self, scope: Scope) -> bool:
        """Every call of the function ``scope`` the project makes is under ``no_grad`` (one level up;
        a function without callers, or one that trains, is not)."""
        if scope.parent is None or scope.cls is not None:
            return False
        key = ("called_without_grad", id(scope))
        if key not in self.memo:
            self.memo[key] = False  # (recursion guard)
            sites = self.r.callers(scope) if not self.scope_trains(scope) else []
            self.memo[key] = bool(sites) and not self.r.callers_incomplete(scope) \
                and all(self.site_without_grad(site) for site in sites)
        return self.memo[key]

    def is_no_grad(self, expr, ctx: Ctx) -> bool:
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


    # -- Lightning -------------------------------------------------------------------
    def is_lightning_module(self, scope_cls, module) -> bool:
        return any(q in LIGHTNING_MODULES for q in self.r.external_bases(scope_cls, module))
