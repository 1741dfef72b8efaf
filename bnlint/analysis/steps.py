"""Training steps and the separate forward calls of one model inside a step.

A training step is the body of a training loop (only the calls whose innermost
training loop it is), a function that itself runs backward / an optimizer step,
or a Lightning ``training_step``. Inside a step, forward calls are grouped by
the module object they run (same constructor call, same attribute), each with
the provenance of its batch (``provenance.py``). Rules then ask for pairs of
uses of one BN model on batches of different kinds.

Reach: the calls inside a project model's own ``forward(a, b)`` called with
several batches (``net(xs, xt)``) are uses too, with ``a``/``b`` bound to the
caller's batches; a step is cut into updates at its optimizer steps (pairs come
from one update); the mode in effect at a call vetoes it, not an ``.eval()``
anywhere in the file. A pair is reported where the two uses' call paths part
(``sites``): inside one helper or ``forward`` that runs the model on both
batches, possibly in another file than the step's (``step_modules`` finds the
steps in other files that reach a file's ``forward`` or helpers).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import libcst as cst

from ..patterns import BACKWARD_HELPER
from .bn import CONTAINERS
from .loops import MAX_CALL_DEPTH, ForwardCall, TrainingAnalysis, train_false
from .modes import S_DEFAULT, S_EVAL, S_FRESH, S_USED, ModeAnalysis
from .module import CallSite, ModuleInfo, Scope, code_children, guard_among
from .names import dotted_name
from .optimizers import Stepped, built_optimizers, stepped_models
from .provenance import Batch, Provenance, batch_argument, model_key, other_arguments
from .reaching import reaching
from .syntax import ancestors, names_in, one_line, rooted_at, within
from .values import (
    ClassRef, Ctx, ExtCall, FuncRef, Instance, Ref, Resolver, SubModule, Unknown, Value, data_parallel, unwrap,
)

_AUTOGRAD_FUNCTIONS = frozenset({"torch.autograd.Function", "torch.autograd.function.Function"})
MAX_FORWARD_NESTING = 2  # a model's forward(a, b) handing both to a submodule's forward(a, b)
MAX_CALLER_CONTEXTS = 4  # training loops calling one step function that are read one by one
MAX_CONSUMERS = 12  # modules searched for the training steps that reach a forward/helper of this one


@dataclass(eq=False)
class Use:
    """One forward call of a model on one batch (a loop over domains gives several uses of one call)."""

    fc: ForwardCall
    batch: Batch
    anchor: CallSite  # the call in the step's own scope (the helper call for interprocedural ones)
    guards: Tuple[Tuple[cst.BaseExpression, bool], ...]
    args: Tuple[str, ...]  # the other arguments' source text
    looped: bool  # one of several batches of a loop over domains
    step_sites: Tuple[CallSite, ...] = ()  # the calls of the step the anchor belongs to

    @property
    def line_node(self) -> cst.CSTNode:
        return self.anchor.call

    @property
    def path(self) -> Tuple[CallSite, ...]:
        """The calls from the step's own scope down to the forward call (helpers, a model's ``forward``)."""
        return tuple(self.fc.chain) + (self.fc.site,)


@dataclass(eq=False)
class Sites:
    """Where a pair of uses is reported: the first calls on their paths that differ.

    ``a``/``b`` are those calls (the same call for a loop over domains); ``through`` the call
    both paths share just above them (a helper or a model's own ``forward``), None when the two
    calls sit in the step itself; ``anchor`` the step's own call leading there.
    """

    a: CallSite
    b: CallSite
    through: Optional[CallSite]
    anchor: CallSite
    # When the finding stays at the step's call of a helper in a file that does not host it: the
    # calls inside the helper (related locations) and the helper call just above them.
    inner: Tuple[CallSite, ...] = ()
    inner_through: Optional[CallSite] = None

    @property
    def module(self) -> ModuleInfo:
        return self.a.scope.module


@dataclass(eq=False)
class ModelUses:
    key: tuple
    model: Value  # a value of the model that contains BN
    callee: str  # how the step names it: `model`, `self.netD`
    uses: List[Use] = field(default_factory=list)
    without_bn: int = 0  # other candidates the model may be (a table, a factory) that have no BN


_TRAIN_STATES = frozenset({S_FRESH, S_USED, S_DEFAULT})  # a model that may be in train mode


class StepAnalysis:
    def __init__(self, training: TrainingAnalysis):
        self.t = training
        self.r = training.r
        self.bn = training.bn
        self.prov = Provenance(self.r, training.model_values, self._in_training_loop)
        self.modes = ModeAnalysis(training)
        self.memo = self.r.index.memo
        self._step_of: Dict[int, Tuple[CallSite, ...]] = {}  # id(call) -> the calls of its step

    # -- steps ------------------------------------------------------------------------
    def steps(self, module: ModuleInfo) -> List[Tuple[Scope, List[ForwardCall], bool]]:
        """(scope, forward calls, across) for every training step defined in ``module``; ``across``
        for the pass of a loop that holds its own update and a nested update loop (see below)."""
        key = ("steps", id(module))
        if key in self.memo:
            return self.memo[key]
        out = []
        for scope in module.scopes:
            ctx = self.r.ctx_for(scope)
            loops = self._update_loops(scope, self.t.training_loops(scope), ctx)
            parts = [([s for s in scope.calls if _innermost(s, loops) is loop], [ctx], False) for loop in loops]
            if self._is_step_function(scope, loops, ctx):
                parts.append(([s for s in scope.calls if _innermost(s, loops) is None],
                              self._caller_contexts(scope, ctx), False))
            # An update loop nested in a loop that takes update steps of its own (a generator's
            # ``for _ in range(num_k)`` after the iteration's other updates) is its own step, and also
            # part of the outer iteration: the model sees the batches of both within one pass of the
            # outer loop. That pass is one more part, whose pairs must straddle the two (the others
            # are each step's own). An epoch loop around the iterations takes no step itself.
            for loop in loops:
                if any(loop in s.loops and _innermost(s, loops) is not loop for s in scope.calls) \
                        and self._steps_itself(scope, loop, loops, ctx):
                    parts.append(([s for s in scope.calls if loop in s.loops], [ctx], True))
            for sites, contexts, across in parts:
                if not across:
                    for site in sites:
                        self._step_of[id(site.call)] = tuple(sites)
                for each in contexts:
                    out.append((scope, self._through_forward(self._direct(self.t.forward_calls(sites, each))), across))
        self.memo[key] = out
        return out

    def _steps_itself(self, scope: Scope, loop: cst.CSTNode, loops: List[cst.CSTNode], ctx: Ctx) -> bool:
        """``loop`` steps an optimizer in its own body, outside the training loops nested in it."""
        return any(_innermost(s, loops) is loop and self._steps_optimizer(s, ctx, 0) for s in scope.calls)

    def _caller_contexts(self, scope: Scope, ctx: Ctx) -> List[Ctx]:
        """The contexts to read a step function in: once per training loop that calls it, with that
        call's arguments, when a few loops do (pre-training the discriminator on stored samples, then
        training it on generated ones); else on its own, its parameters what every caller agrees on."""
        if not scope.params or scope.short_name == "training_step":
            return [ctx]
        sites = [s for s in self.r.callers(scope) if self._in_training_loop(s)]
        if not 2 <= len(sites) <= MAX_CALLER_CONTEXTS:
            return [ctx]
        method = scope.cls is not None and scope.self_name is not None
        return [Ctx(scope, self.r.bind_args(scope, site.call, self.r.ctx_for(site.scope), skip_self=method),
                    ctx.self_value) for site in sites]

    def _update_loops(self, scope: Scope, loops: List[cst.CSTNode], ctx: Ctx) -> List[cst.CSTNode]:
        """The training loops that are steps of their own: a loop inside another training loop that
        only accumulates gradients (``backward()`` per unlabelled chunk, the optimizer step after it in
        the outer loop) is part of the outer loop's update."""
        if len(loops) < 2:
            return loops
        out = []
        for loop in loops:
            inside_another = any(other is not loop and loop in site.loops and other in site.loops
                                 and site.loops.index(other) < site.loops.index(loop)
                                 for other in loops for site in scope.calls)
            if inside_another and not any(loop in site.loops and self._steps_optimizer(site, ctx, 0)
                                          for site in scope.calls):
                continue
            out.append(loop)
        return out

    # -- updates within a step ------------------------------------------------------------
    def segment(self, use: Use) -> int:
        """The optimizer steps the step takes before the use's call (in source order).

        The calls of one segment feed one update: a discriminator call in the generator's
        update (followed by G's optimizer step) is in another segment than the discriminator's
        own update that comes after it. Computed on demand: only pair candidates ask.
        """
        here = use.anchor.scope.module.order(use.anchor.call)
        return sum(1 for order, _site in self._bounds(use) if order < here)

    def _bounds(self, use: Use) -> List[Tuple[int, CallSite]]:
        """The optimizer steps of the use's step, (position, call) in source order."""
        sites = use.step_sites
        if not sites:
            return []
        key = ("step_bounds", id(sites[0].call), len(sites))
        if key not in self.memo:
            ctx = self.r.ctx_for(sites[0].scope)
            module = sites[0].scope.module
            self.memo[key] = (sites, sorted(((module.order(s.call), s) for s in sites
                                             if self._steps_optimizer(s, ctx, 0)), key=lambda b: b[0]))
        return self.memo[key][1]

    def stepped_together(self, use: Use, key: tuple, others) -> bool:
        """The optimizer step that ends the use's update (the first after its call, ``opt.step()``)
        was built with the parameters of model ``key`` and of one of ``others``, and the step has
        another optimizer that does not step ``key`` (the discriminators' own: with one optimizer
        for every network, as in some GANomaly code, nothing sets the generators' side apart)."""
        here = use.anchor.scope.module.order(use.anchor.call)
        bounds = self._bounds(use)
        after = [site for order, site in bounds if order > here]
        models = self._stepped(after[0]) if after else None
        if models is None or key not in models.keys or not any(k in models.keys for k in others):
            return False
        rest = [self._stepped(site) for _order, site in bounds if site is not after[0]]
        return any(m is not None and m.keys and key not in m.keys for m in rest)

    def stepped_nowhere(self, use: Use, key: tuple, model: Value) -> bool:
        """``model`` (key ``key``) is a network the script builds on its own, and every optimizer
        the use's step takes a step of is known, with all its parameters, and neither these nor any
        optimizer built in the step's file steps it: a fixed network (a pretrained identity or
        perceptual loss), not a discriminator updated in another loop (MMD-GAN's generator loop
        calls its critic on real and generated data too). A network built inside another (a
        ``ModuleList`` of discriminators) is stepped with its parent, which keys do not tell."""
        built = model.ctx.scope if isinstance(model, (Instance, ExtCall)) and model.ctx is not None else None
        if built is None or built not in (use.anchor.scope, use.anchor.scope.module.scope):
            return False
        bounds = self._bounds(use)
        if not bounds:
            return False
        for _order, site in bounds:
            models = self._stepped(site)
            if models is None or not models.complete or key in models.keys:
                return False
        return not any(key in models.keys for models in built_optimizers(self.r, use.anchor.scope.module))

    def _stepped(self, site: CallSite) -> Optional[Stepped]:
        """The models an ``opt.step()`` call steps (None for a helper that takes the step)."""
        func = site.call.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "step":
            return None
        return stepped_models(self.r, func.value, self.r.ctx_for(site.scope))

    def _steps_optimizer(self, site: CallSite, ctx: Ctx, depth: int) -> bool:
        """``opt.step()`` (any receiver but a learning-rate scheduler), or a helper that takes one."""
        func = site.call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "step":
            values = unwrap(self.r.resolve(func.value, ctx))
            if any(isinstance(v, ExtCall) and (".lr_scheduler." in v.qualname or ".swa_utils." in v.qualname)
                   for v in values):
                return False
            frefs = [v for v in self.r.resolve(func, ctx) if isinstance(v, FuncRef)]
            if not frefs:
                return True  # an optimizer, a GradScaler, Lightning's optimizers()...
        if depth >= 2:
            return False
        for fref in self.t.called_functions(site, ctx):
            key = ("steps_optimizer", id(fref.scope))
            if key not in self.memo:
                self.memo[key] = False  # recursion guard
                inner = self.r.ctx_for(fref.scope)
                self.memo[key] = any(self._steps_optimizer(s, inner, depth + 1) for s in fref.scope.calls)
            if self.memo[key]:
                return True
        return False

    # -- a project model's own forward ----------------------------------------------------------
    def _through_forward(self, forwards: List[ForwardCall]) -> List[ForwardCall]:
        """Add the forward calls inside a project model's ``forward(a, b)`` called with several batches.

        ``net(xs, xt)`` whose ``forward`` runs ``self.trunk(a)`` and ``self.trunk(b)``: the inner
        calls, with ``a``/``b`` bound to the caller's batches and ``self`` to the called object,
        are uses of ``trunk`` like calls written in the step itself. A ``forward(x, y)`` that hands
        both on to a submodule's own ``forward(x, y)`` (``self.feature_layers(x, y)``) is followed
        there too, up to ``MAX_FORWARD_NESTING`` levels.
        """
        out = list(forwards)
        todo = forwards
        for _level in range(MAX_FORWARD_NESTING):
            found = []
            for fc in todo:
                # (each class the called object may be: ``model`` passed in by callers building DANN,
                # CDAN, ... runs the forward of the one the caller built)
                for model, scope in self._forward_scopes(fc):
                    inner = Ctx(scope, self.r.bind_args(scope, fc.site.call, fc.ctx, skip_self=True), model)
                    calls = self.t.forward_calls(scope.calls, inner, fc.chain + (fc.site,),
                                                 max(MAX_CALL_DEPTH - 1, len(fc.chain) + 1))
                    found.extend(c for c in calls if _is_param_batch(c, scope))
            out.extend(found)
            todo = found
        return out

    def _forward_scopes(self, fc: ForwardCall) -> List[Tuple[Instance, Scope]]:
        call = fc.site.call
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if len(positional) < 2 or any(a.star for a in call.args):
            return []
        found = []
        for model in fc.models:
            if not isinstance(model, Instance):
                continue  # (``self.plugin(...)`` and ``net.forward(...)`` alike: ``fc.models`` is what is called)
            scope = self.r.find_method(model.cls, model.module, "forward")
            if scope is not None and not self.t.may_run_network(scope, model):
                # (a distillation loss ``criterion(out_s, out_t)`` of tensor arithmetic: following
                # each such ``forward`` cost more than the rest of the step's analysis)
                continue
            if scope is not None and scope.self_name is not None and len([p for p in scope.params
                                                                          if p.index >= 1]) >= 2:
                found.append((model, scope))
        return found

    def is_step_function(self, scope: Scope) -> bool:
        return self._is_step_function(scope, self.t.training_loops(scope), self.r.ctx_for(scope))

    def _is_step_function(self, scope: Scope, loops, ctx: Ctx) -> bool:
        if scope.short_name == "training_step" and scope.cls is not None:
            return True
        return any(_innermost(s, loops) is None and (self.t.is_update_call(s, ctx) or self._passes_loss(s, ctx))
                   for s in scope.calls)

    def _passes_loss(self, site: CallSite, ctx: Ctx) -> bool:
        """``self.model_backward_and_update(loss)``, ``self.step(loss)``: a helper, inherited or not, that
        calls ``backward()`` on a parameter (directly or through one more such helper) and runs no loop
        of its own (Dassl's trainers; a base trainer's update method)."""
        func = site.call.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"
                and (BACKWARD_HELPER.fullmatch(f"self.{func.attr.value}(") or func.attr.value == "step")):
            return False  # (what the pre-filter sees: ``BACKWARD_HELPER``, or ``.step(``: ``self.step(loss)``)
        if not any(a.keyword is None and not a.star for a in site.call.args):
            return False
        # (resolved here: ``called_functions`` leaves out calls named like ``optimizer.step()``)
        helpers = [v for v in unwrap(self.r.resolve(func, ctx)) if isinstance(v, FuncRef)]
        return any(self._backward_on_param(f.scope, 0) for f in helpers)

    def _backward_on_param(self, scope: Scope, depth: int) -> bool:
        key = ("backward_on_param", id(scope), depth)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False  # recursion guard
        params = {p.name for p in scope.params}
        found = False
        if not scope.loops:
            for site in scope.calls:
                func = site.call.func
                if isinstance(func, cst.Attribute) and func.attr.value == "backward":
                    found = _param_root(func.value, scope) in params
                elif depth < 1 and any(isinstance(a.value, cst.Name) and a.value.value in params for a in site.call.args):
                    ctx = self.r.ctx_for(scope)
                    found = any(self._backward_on_param(f.scope, depth + 1) for f in self.t.called_functions(site, ctx))
                if found:
                    break
        self.memo[key] = found
        return found

    def _direct(self, forwards: List[ForwardCall]) -> List[ForwardCall]:
        """Drop calls reached through helpers that are steps or loops of their own."""
        out = []
        for fc in forwards:
            sites = list(fc.chain[1:]) + ([fc.site] if fc.chain else [])
            if any(self._in_training_loop(s) for s in sites):
                continue
            if any(self._updates_on_its_own(s.scope) for s in sites):
                continue  # a helper that is a training step itself is analysed (and reported) on its own
            if any(not s.scope.returns for s in sites) and not _stored_on_self(fc.site):
                continue  # a helper returning nothing (sampling, logging): its outputs feed no loss
            out.append(fc)
        return out

    def _updates_on_its_own(self, scope: Scope) -> bool:
        """A step function that also steps an optimizer. One that only calls ``backward()``
        (``train_discriminator(real, ...)`` then ``train_discriminator(fake, ...)`` before the
        caller's ``optimizer_d.step()``) adds its gradients to its caller's update."""
        if not self.is_step_function(scope):
            return False
        ctx = self.r.ctx_for(scope)
        return any(self._steps_optimizer(s, ctx, 0) for s in scope.calls) or not scope.returns

    def _in_training_loop(self, site: CallSite) -> bool:
        loops = self.t.training_loops(site.scope)
        return any(loop in site.loops for loop in loops)

    # -- uses of BN models -------------------------------------------------------------------
    def bn_model_uses(self, forwards: List[ForwardCall]) -> List[ModelUses]:
        """Forward calls grouped by model, for models that certainly contain BN, with gradients on."""
        groups: Dict[tuple, ModelUses] = {}
        for fc in forwards:
            if self.t.without_grad(fc):
                continue
            key = model_key(fc.models)
            if key is None or not all(self._network(m) for m in fc.models) or self._other_type_branch(fc):
                continue
            bn_models = [m for m in fc.models if self.bn.has_bn(m) and not self._bn_switched_off(fc, m)]
            if not bn_models or self._line_eval(fc, key) or self.t.set_up_in_eval(fc, key):
                continue
            anchor = fc.chain[0] if fc.chain else fc.site
            callee = self.callee_text(fc)
            group = groups.get((key, callee))
            if group is None:
                group = groups[(key, callee)] = ModelUses(key, bn_models[0], callee,
                                                          without_bn=len(fc.models) - len(bn_models))
            arg = batch_argument(fc.site.call)
            if arg is None:
                continue
            options = self._generated_input(fc, arg) or self.prov.alternatives(arg, fc.ctx)
            guards = tuple(g for s in (list(fc.chain) + [fc.site]) for g in s.guards)
            for batch in options:
                if batch is not None:
                    group.uses.append(Use(fc, batch, anchor, guards, other_arguments(fc.site.call),
                                          len(options) > 1, self._step_of.get(id(anchor.call), ())))
        return [g for g in groups.values() if g.uses]

    def _bn_switched_off(self, fc: ForwardCall, model: Value) -> bool:
        """The call's arguments leave every BatchNorm of the model's ``forward`` unreached: a
        discriminator whose only BN sits in a reconstruction head run ``if reconstruct``, called with
        ``reconstruct=True`` on real images and without it on fakes (the fakes never meet BN). Every
        call in ``forward`` that may reach BN (a BN submodule of ``self``, an unresolved one, a project
        function, the functional ``batch_norm``) must be under a test this call's arguments make false."""
        if not isinstance(model, Instance):
            return False
        forward = self.r.find_method(model.cls, model.module, "forward")
        if forward is None or forward.cls is None:
            return False
        key = ("bn_switched_off", id(forward), id(fc.site.call), id(fc.ctx))
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False  # recursion guard
        own = Ctx(forward, None, model)
        bound = Ctx(forward, self.r.bind_args(forward, fc.site.call, fc.ctx, skip_self=True), model)
        reaching = [site for site in forward.calls if self._may_reach_bn(site, own, forward)]
        off = bool(reaching) and all(any(self.r.truth(test, bound) is (not branch) for test, branch in site.guards)
                                     for site in reaching)
        self.memo[key] = off
        return off

    def _may_reach_bn(self, site: CallSite, ctx: Ctx, forward: Scope) -> bool:
        func = site.call.func
        values = self.r.resolve(func, ctx, 4)
        if any(isinstance(v, FuncRef) or isinstance(v, Ref) and v.qualname.endswith("batch_norm") for v in values):
            return True
        if any(self.bn.has_bn(v) or _opaque_container(v) for v in values):
            return True
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value != forward.self_name:
            return False  # a method of a local tensor (``x.view``) or of a library module (``F.relu``)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
            callee = func.value.func
            # ``super().forward(x)`` runs the base class's layers; a method of another call's
            # result (``self.head(x).view(-1)``) is a tensor's: that inner call is a site of its own.
            return isinstance(callee, cst.Name) and callee.value == "super"
        # A submodule of ``self``, a local name (``for layer in self.blocks: x = layer(x)``) or a method
        # of anything else that does not resolve may reach a BN layer.
        return not values or any(isinstance(v, Unknown) for v in values)

    def _other_type_branch(self, fc: ForwardCall) -> bool:
        """The call sits under ``if type(disc) == TimeDiscriminator:`` (or ``isinstance(disc, ...)``)
        naming none of the classes, project or library, of the object it calls: a branch for
        another kind of model, not taken by this one."""
        if not all(isinstance(m, Instance) for m in fc.models):
            return False
        callee = one_line(fc.site.call.func)
        for test, branch in fc.site.guards:
            tested = _type_test(test) if branch else None
            if tested is None or one_line(tested[0]) != callee:
                continue
            names = set()
            for m in fc.models:
                names |= {c.name for c, _module in self.r.mro(m.cls, m.module)}
                names |= {q.rsplit(".", 1)[-1] for q in self.r.external_bases(m.cls, m.module)}
            # (the value analysis sees through data-parallel wrappers: a type test naming one may hold)
            if not any(c in names or data_parallel(c) for c in tested[1]):
                return True
        return False

    def _generated_input(self, fc: ForwardCall, first: cst.BaseExpression) -> list:
        """A conditional discriminator's generated input: ``D(real_A, fake_B)`` next to
        ``D(real_A, real_B)``. When the first argument is data and a later positional one comes
        out of a model, that one tells the call's batch apart (the condition is the same in both)."""
        later = [a.value for a in fc.site.call.args if a.keyword is None and not a.star and a.value is not first]
        if not later:
            return []
        if not all(b is not None and not any(p.via for p in b.parts) for b in self.prov.alternatives(first, fc.ctx)):
            return []
        for expr in later:
            options = self.prov.alternatives(expr, fc.ctx)
            if options and all(b is not None and b.pure and b.parts[0].via for b in options):
                return options
        return []

    def flags_gate_bn_free_code(self, a: Use, b: Use) -> bool:
        """The calls differ only in arguments (a left-out one counts as its default) that the model's
        own ``forward`` merely tests in ``if`` statements guarding BN-free calls, uses as slice bounds,
        or hands to a BN-free helper with the features: ``model(x_s)`` / ``model(x_t,
        grad_reverse=True)`` switch a gradient-reversal layer, DANN's ``net(x_s, x_s.size(0))`` /
        ``net(x_t, 0)`` say how many rows are labelled; neither is a domain-specific BN path.
        Anything else (a flag passed on to the model, used as an index, guarding a BN call) is a path."""
        call_a, call_b = a.fc.site.call, b.fc.site.call
        if _keywords(call_a) == _keywords(call_b) and _positionals(call_a)[1:] == _positionals(call_b)[1:]:
            return False
        models = [m for m in a.fc.models if isinstance(m, Instance)]
        if not models:
            return False
        for inst in models:
            forward = self.r.find_method(inst.cls, inst.module, "forward")
            bound_a = _bound_texts(forward, call_a) if forward is not None else None
            bound_b = _bound_texts(forward, call_b) if forward is not None else None
            if bound_a is None or bound_b is None:
                return False
            # (a parameter one call leaves to its default is compared with that default)
            names = {k for k in bound_a if bound_a[k] != bound_b[k]}
            ctx = Ctx(forward, None, inst)
            harmless = [n.value for node in _if_tests(forward.node) for n in names_in(node)] \
                + [n.value for node in _slice_bounds(forward.node, forward.self_name) for n in names_in(node)] \
                + [n.value for node in self._bn_free_helper_args(forward, ctx, names) for n in names_in(node)]
            everywhere = [n.value for n in names_in(forward.node.body)]
            if any(everywhere.count(k) != harmless.count(k) for k in names):
                return False  # the argument is used other than as a condition or a row count
            for site in forward.calls:
                if any(k in {n.value for n in names_in(test)} for test, _ in site.guards for k in names) \
                        and any(self.bn.has_bn(v) for v in self.r.resolve(site.call.func, ctx)):
                    return False
        return True

    def inputs_from_own_batches(self, a: Use, b: Use) -> bool:
        """The calls differ only in further inputs drawn from each call's own batch: a model of
        several inputs (``model(v_d, v_p)`` on the source pair, ``model(v_d_t, v_p_t)`` on the target
        pair), not an argument that picks a path."""
        calls = [a.fc.site.call, b.fc.site.call]
        if any(arg.star for call in calls for arg in call.args):
            return False
        extra = [[(arg.keyword.value if arg.keyword is not None else i, arg.value)
                  for i, arg in enumerate(call.args) if arg.value is not batch] for call in calls
                 for batch in [batch_argument(call)]]
        if [k for k, _ in extra[0]] != [k for k, _ in extra[1]]:
            return False
        for (_, xa), (_, xb) in zip(*extra):
            if one_line(xa) == one_line(xb):
                continue
            for use, expr in ((a, xa), (b, xb)):
                own = use.batch.parts[0]
                struct = self.prov.of(expr, use.fc.ctx)
                if own.via or not _is_data(struct) or not struct.pure or struct.parts[0].via \
                        or struct.parts[0].origin.key != own.origin.key:
                    return False
        return True

    def args_rebound(self, a: Use, b: Use) -> bool:
        """The calls pass the same text besides the batch, but a name it reads is bound anew between
        them: ``self.model(s_inputs[0], s_inputs[1])`` for the source and again for the next source,
        each ``s_inputs`` unpacked with its own domain label. The extra argument may pick a path,
        unless it is another batch of data (a siamese ``model(img0, img1)``)."""
        sa, sb = a.fc.site, b.fc.site
        if sa is sb or sa.scope is not sb.scope:
            return False
        batches = (batch_argument(sa.call), batch_argument(sb.call))
        extra = [[arg.value for arg in site.call.args if arg.value is not batch]
                 for site, batch in zip((sa, sb), batches)]
        for arg_a, arg_b in zip(*extra):
            names_a, names_b = list(names_in(arg_a)), list(names_in(arg_b))
            if [n.value for n in names_a] != [n.value for n in names_b]:
                continue
            rebound = False
            for na, nb in zip(names_a, names_b):
                ra, rb = reaching(sa.scope, na.value, na), reaching(sb.scope, nb.value, nb)
                rebound |= ra is not None and rb is not None and {id(x) for x in ra} != {id(x) for x in rb}
            if rebound and not _is_data(self.prov.of(arg_a, a.fc.ctx)):
                return True
        return False

    def _bn_free_helper_args(self, forward: Scope, ctx: Ctx, flags: set) -> List[cst.BaseExpression]:
        """Arguments ``forward`` hands to a module-level project function that builds no BN, is given
        nothing of the model and transforms features besides the ``flags`` (``grad_reverse(x,
        constant)``): such a helper cannot run the model's BN layers, so a coefficient passed to it
        picks no BN path (unlike ``pick(domain)``, whose result may index the layers)."""
        out = []
        for site in forward.calls:
            args = [arg.value for arg in site.call.args]
            if any(rooted_at(arg, forward.self_name) for arg in args) or not any(
                    names and not names & flags for names in ({n.value for n in names_in(arg)} for arg in args)):
                continue
            if self._gradient_function(site.call.func, ctx):
                out.extend(args)  # ``KGradF.apply(feature, label_lambda)``: a gradient-scaling layer
                continue
            values = self.r.resolve(site.call.func, ctx)
            if values and all(isinstance(v, FuncRef) and v.scope.cls is None and v.bound_self is None
                              and not self.bn.function_builds_bn(v.scope, site.call, ctx, None) for v in values):
                out.extend(args)
        return out

    def _gradient_function(self, func: cst.BaseExpression, ctx: Ctx) -> bool:
        """``ReverseLayerF.apply``: a project ``torch.autograd.Function`` (a gradient reversal or
        scaling), which runs no module of the model and so no BN layer."""
        if not (isinstance(func, cst.Attribute) and func.attr.value == "apply" and isinstance(func.value, cst.Name)):
            return False
        classes = self.r.resolve(func.value, ctx)
        if classes and all(isinstance(v, ClassRef) for v in classes):
            return all(any(q in _AUTOGRAD_FUNCTIONS for q in self.r.external_bases(v.cls, v.module)) for v in classes)
        # A class from a module the checkout lacks: ``Module.apply(fn)`` takes one function, a
        # ``Function.apply`` the tensor and its coefficient.
        call = ctx.module.parents.get(func)
        return func.value.value[:1].isupper() and all(isinstance(v, (ExtCall, Ref, Unknown)) for v in classes) \
            and isinstance(call, cst.Call) and len([a for a in call.args if a.keyword is None and not a.star]) >= 2

    def generators(self, forwards: List[ForwardCall]) -> set:
        """Keys of the models whose outputs a BN network of the step takes in, directly or after
        other models: ``G`` in ``D(G(z))`` with a BN ``D``, ``G_AB`` in CycleGAN's
        ``G_BA(G_AB(real_A))`` with a BN ``G_BA``. Generators, not critics. A loss module or a
        progress bar takes a critic's output too; only networks with BN count as consumers.

        A model that also takes real data directly is a critic whose features a BN head reads
        (InfoGAN's ``Q(D(fake))``), unless what it makes from real data feeds a BN network
        itself (CycleGAN's ``D_B(G_AB(real_A))``: a generator fed real images)."""
        key = ("step_generators", id(forwards))
        if key not in self.memo:
            bn_keys = set()
            for fc in forwards:
                if any(self.bn.has_bn(m) for m in fc.models):
                    bn_keys.add(model_key(fc.models))
            from_data, from_other, takes_data = set(), set(), set()
            for fc in forwards:
                arg = batch_argument(fc.site.call)
                if arg is None:
                    continue
                for batch in self.prov.alternatives(arg, fc.ctx):
                    if batch is None:
                        continue
                    for part in batch.parts:
                        real = part.origin is not None and part.origin.real
                        if real and not part.via:
                            takes_data.add(model_key(fc.models))
                        chain = part.via + (model_key(fc.models),)
                        for i, k in enumerate(part.via):
                            if any(later in bn_keys for later in chain[i + 1:]):
                                (from_data if real else from_other).add(k)
            out = from_data | (from_other - takes_data)
            self.memo[key] = (forwards, out)  # the list keeps its id alive
        return self.memo[key][1]

    def varies_per_pass(self, use: Use) -> bool:
        """An argument of a looped use besides the batch reads a name its loop sets on each pass
        (``model(x, domain=j)`` in ``for j, x in enumerate(batches)``, or a value computed from
        ``j`` in the body): a domain-specific path. ``alpha=alpha``, set outside, is not."""
        site = use.fc.site
        module = site.scope.module
        if not site.loops or any(isinstance(a, (cst.CompFor, cst.Lambda)) for a in
                                 ancestors(module, site.call, site.loops[-1])):
            return bool(use.args)  # (a comprehension's own targets: not read here)
        loop, scope = site.loops[-1], site.scope
        batch = batch_argument(site.call)
        names = {n.value for arg in site.call.args if arg.value is not batch for n in names_in(arg.value)}
        if isinstance(loop, cst.For) and names & {n.value for n in names_in(loop.target)}:
            return True
        return any(within(module, b.stmt, loop) for name in names for b in scope.bindings.get(name, []))

    def place(self, use: Use) -> tuple:
        """Sort key of a use: file, then position of its step call, then of the call itself."""
        return (use.anchor.scope.module.path, use.anchor.scope.module.order(use.anchor.call),
                use.fc.site.scope.module.path, use.fc.site.scope.module.order(use.fc.site.call))

    def where(self, sites: Sites) -> str:
        """`` in `d_loss` `` / `` in the forward of `net` `` for calls reached through a shared call."""
        through = sites.through or sites.inner_through
        if through is None:
            return ""
        func = through.call.func
        if self._is_model_call(through):
            if isinstance(func, cst.Attribute) and func.attr.value == "forward":
                func = func.value
            return f" in the `forward` of `{_root_text(func, self.r.ctx_for(through.scope), 0)}`"
        return f" in `{_root_text(func, self.r.ctx_for(through.scope), 0)}`"

    def _network(self, value: Value) -> bool:
        """Not an unknown attribute of a project object that is not a network (``self.assertClose``
        of a test case): only a network's unknown attributes may be submodules."""
        while isinstance(value, SubModule):
            if isinstance(value.parent, Instance):
                return self.r.network_class(value.parent.cls, value.parent.module)
            value = value.parent
        return True

    def in_eval_mode(self, use: Use) -> bool:
        """The model may be in eval mode at the use's call: an ``.eval()`` reaches it (in the step's
        function, its loop's earlier iterations, the helpers on the way) with no ``.train()`` after
        it; an ``.eval()`` in some other method (a distant ``evaluate()``) does not. (``bn_model_uses``
        already drops calls after an ``.eval()`` in the same function and models put in eval mode
        where they are set up; this flow-sensitive check costs more, so rules ask it of pairs only.)"""
        key = ("use_eval", id(use.fc))
        if key not in self.memo:
            self.memo[key] = (use.fc, self._in_eval_mode(use.fc))
        return self.memo[key][1]

    def _in_eval_mode(self, fc: ForwardCall) -> bool:
        # Through a model's own ``forward`` the outer call decides (``net.eval()`` covers ``net.trunk``).
        outer = fc
        while outer.chain and self._is_model_call(outer.chain[-1]):
            outer = ForwardCall(outer.chain[-1], self.r.ctx_for(outer.chain[-1].scope), fc.models, outer.chain[:-1])
        target = self.modes.target_of_call(fc, fc.models)
        if outer is not fc:
            target = self.modes.target_of_call(outer, self.t.model_values(outer.site.call.func, outer.ctx))
        if not target:
            return False
        # The mode in effect from the step's own function down to the call: events before the call
        # in each function and loop on the way (earlier iterations included). The function is
        # entered in train mode: a switch made by its callers is BN201/BN202's business, and
        # searching them costs a project-wide caller search per step.
        sites = list(outer.chain) + [outer.site]
        ctx = self.r.ctx_for(sites[0].scope)
        states = frozenset({S_FRESH})
        for i, site in enumerate(sites):
            states = self.modes.states_at(site.scope, site.call, ctx, target, states)
            if S_EVAL in states and not states & _TRAIN_STATES:
                # Certainly eval (or eval and unknown). An eval on some paths only (an evaluation
                # under ``if i % test_interval == 0`` before the step) leaves most steps in train mode.
                return True
            if i + 1 < len(sites):
                nxt = sites[i + 1].scope
                frefs = [f for f in self.t.called_functions(site, ctx) if f.scope is nxt]
                if not frefs:
                    return False
                ctx = Ctx(nxt, self.r.bind_args(nxt, site.call, ctx, frefs[0].bound_self is not None),
                          frefs[0].bound_self or self.r.ctx_for(nxt).self_value)
        return False

    def _line_eval(self, fc: ForwardCall, key: tuple) -> bool:
        """``model.eval()`` runs before the call in its function, with no ``model.train()`` in between."""
        for site in list(fc.chain) + [fc.site]:
            module = site.scope.module
            line = module.order(site.call)
            last = None
            ctx = self.r.ctx_for(site.scope)
            for other in site.scope.calls:
                func = other.call.func
                if not (isinstance(func, cst.Attribute) and func.attr.value in ("eval", "train")):
                    continue
                if not _shares_guards(other, site):
                    continue  # under a branch the call is not in: the flow-sensitive check decides
                other_line = module.order(other.call)
                if other_line >= line or (last is not None and other_line < last[0]):
                    continue
                if model_key(self.t.model_values(func.value, ctx)) == key:
                    last = (other_line, func.attr.value == "eval" or train_false(other.call, self.r, ctx))
            if last is not None and last[1]:
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
            if isinstance(outer, cst.Attribute) and outer.attr.value != "forward":
                receiver = _root_text(outer.value, self.r.ctx_for(fc.chain[-1].scope), 0)
                text = receiver + text[len(fc.site.scope.self_name):]
            elif self._is_model_call(fc.chain[-1]):  # ``self.trunk`` in the forward of ``net(xs, xt)``
                if isinstance(outer, cst.Attribute):
                    outer = outer.value
                receiver = _root_text(outer, self.r.ctx_for(fc.chain[-1].scope), 0)
                text = receiver + text[len(fc.site.scope.self_name):]
        return text

    # -- where a pair is reported --------------------------------------------------------------
    def sites(self, a: Use, b: Use, hosts: Callable[[ModuleInfo], bool]) -> Sites:
        """The calls a finding about uses ``a`` and ``b`` points at: where their paths part.

        Two helper calls in the step (``loss(model, xs) + loss(model, xt)``) part in the step;
        one helper or ``forward`` running the model on both batches parts inside it, and the
        finding goes there (the fix goes there), unless that file cannot host the rule's
        findings (``hosts``), then to the step's call.
        """
        pa, pb = a.path, b.path
        i = 0
        while i < min(len(pa), len(pb)) - 1 and pa[i] is pb[i]:
            i += 1
        if pa[i] is pb[i]:
            return Sites(pa[0], pb[0], None, pa[0])  # one call runs the model on each batch (a loop)
        if i > 0 and not hosts(pa[i].scope.module):
            # Reported at the step's call of the helper, naming the calls inside it.
            return Sites(pa[0], pb[0], None, pa[0], (pa[i], pb[i]), pa[i - 1])
        return Sites(pa[i], pb[i], pa[i - 1] if i > 0 else None, pa[0])

    def outermost(self, found: list) -> list:
        """Of the ``(group, (a, b, sites))`` pairs found through one call of the step into a model's
        ``forward(x, y)``, those at the shallowest nesting of followed forwards: a model whose
        forward runs its trunk per domain (reported there) runs the layers of a submodule's own
        ``forward(x, y)`` per domain further in too, which says the same again."""
        def nesting(use: Use) -> int:
            return sum(1 for site in use.path[:-1] if self._is_model_call(site))
        least: Dict[int, int] = {}
        for _group, (a, _b, sites) in found:
            key = id(sites.anchor.call)
            least[key] = min(least.get(key, nesting(a)), nesting(a))
        return [(g, f) for g, f in found if nesting(f[0]) <= max(1, least[id(f[2].anchor.call)])]

    def apart(self, a: Use, b: Use) -> bool:
        """The uses come from different calls of a model whose ``forward`` was followed (``model(xa, 0)``
        and ``model(xb, 1)``): those outer calls are uses of ``model`` and are paired themselves, with
        their own arguments; the calls inside ``forward`` pair only within one outer call."""
        pa, pb = a.path, b.path
        i = 0
        while i < min(len(pa), len(pb)) - 1 and pa[i] is pb[i]:
            i += 1
        return any(self._is_model_call(s) for s in pa[i:-1] + pb[i:-1])

    def _is_model_call(self, site: CallSite) -> bool:
        """A call of a BN model (paired on its own): a BatchNorm-free module that is handed the
        model (a masking plug-in's ``forward(student, teacher, images)``) does not set its calls apart."""
        return any(self.bn.has_bn(v) for v in self.t.model_values(site.call.func, self.r.ctx_for(site.scope)))

    def step_modules(self, module: ModuleInfo, visible: Callable[[ModuleInfo], bool]) -> List[ModuleInfo]:
        """``module`` and the modules whose training steps reach a model ``forward`` or helper of it
        that calls one model on two of its parameters (a finding there is ``module``'s); only
        modules where the training step is ``visible``."""
        out = [module] if visible(module) else []
        for consumer in self._consumers(module):
            if consumer not in out and visible(consumer):
                out.append(consumer)
        return out

    def _consumers(self, module: ModuleInfo) -> List[ModuleInfo]:
        key = ("step_consumers", id(module))
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = []
        out: List[ModuleInfo] = []
        for scope in module.scopes:
            if not _calls_on_two_params(scope):
                continue
            model_forward = scope.short_name == "forward" and scope.cls is not None
            if model_forward:
                init = scope.cls.methods.get("__init__")
                sites = self.r.callers(init) if init is not None else []
            else:
                sites = self.r.callers(scope)
            for site in sites:
                found = [site.scope.module]
                if site.scope.module is module and site.scope.parent is not None and site.scope.returns:
                    found = [s.scope.module for s in self.r.callers(site.scope)]  # a factory in the model's file
                elif model_forward and site.scope.module is module and site.scope.short_name == "__init__":
                    # A submodule of another model of this file (``self.feature_layers = DCRN_02(...)``,
                    # whose ``forward(x, y)`` hands both on): where that model is built.
                    found = [s.scope.module for s in self.r.callers(site.scope)]
                if model_forward:
                    # A script that builds the model and hands it to a training function it imports
                    # (``train_adversarial(model, ...)`` of ``trainer.py``).
                    found += [m for b in found for m in self.r.imported_modules(b, functions_only=True)]
                for m in found:
                    if m is not module and m not in out and len(out) < MAX_CONSUMERS:
                        out.append(m)
        # A base trainer's training loop runs this subclass's hooks (``self.optimize_params()``
        # defined here, looped over in the base class's ``train_one_epoch``).
        for cls in module.classes.values():
            for _base, base_module in self.r.mro(cls, module)[1:]:
                if base_module is not module and base_module not in out and len(out) < MAX_CONSUMERS:
                    out.append(base_module)
        self.memo[key] = out
        return out

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


def _shares_guards(switch: CallSite, site: CallSite) -> bool:
    """Every branch ``switch`` runs under is one ``site`` runs under too (the same test, the same side)."""
    return all(guard_among(g, site.guards) for g in switch.guards)


def _param_root(expr: Optional[cst.BaseExpression], scope: Scope) -> Optional[str]:
    """The parameter of ``scope`` that ``expr`` is computed from: through method calls (``x.to(dev)``,
    ``x.detach()``), calls on it (``self.front1(x)``, ``F.relu(x)``), arithmetic with it on the left
    (``x * mask``) and a local name by the one binding that reaches the read (``x1 = self.conv1(x)``
    then ``self.bn1(x1)``, also when ``x1`` is rebound further down; ``inputs, labels = source``)."""
    for _ in range(12):
        if isinstance(expr, cst.BinaryOperation):
            expr = expr.left
            continue
        if isinstance(expr, cst.Name) and scope.param(expr.value) is None:
            bindings = Resolver.visible_bindings(scope, expr.value, expr)
            if len(bindings) != 1 or bindings[0].kind != "assign":
                break
            expr = bindings[0].expr  # (an element unpacked from it, ``x, y = batch``, comes from it too)
            continue
        if not isinstance(expr, cst.Call):
            break
        func = expr.func
        if isinstance(func, cst.Attribute) and not (isinstance(func.value, cst.Name)
                                                    and func.value.value in (scope.self_name, "F", "torch")):
            expr = func.value
        else:
            expr = batch_argument(expr)
    if isinstance(expr, cst.Name) and expr.value != scope.self_name and scope.param(expr.value) is not None:
        return expr.value
    return None


def _is_param_batch(fc: ForwardCall, scope: Scope) -> bool:
    return fc.site.scope is scope and _param_root(batch_argument(fc.site.call), scope) is not None


def _opaque_container(value: Value) -> bool:
    """``nn.Sequential(layers)``: a container built from something other than layer constructors
    written in the call (a dict or list filled in a loop), whose BN layers ``has_bn`` may not see."""
    return isinstance(value, ExtCall) and value.qualname in CONTAINERS and value.call is not None \
        and any(arg.star or not isinstance(arg.value, cst.Call) for arg in value.call.args)


def _calls_on_two_params(scope: Scope) -> bool:
    """Some callee is called on two different parameters of ``scope`` (``D(real)``, ``D(fake)``)."""
    if scope.parent is None:
        return False
    seen: Dict[str, str] = {}
    for site in scope.calls:
        func = site.call.func
        # A model handed in (``D`` of ``d_loss(D, real, fake)``) or held by the object (``self.trunk``).
        if isinstance(func, cst.Name):
            if scope.param(func.value) is None or func.value == scope.self_name:
                continue
        elif not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                  and func.value.value == scope.self_name and scope.self_name is not None):
            continue
        param = _param_root(batch_argument(site.call), scope)
        if param is None:
            continue
        callee = one_line(site.call.func)
        if seen.setdefault(callee, param) != param:
            return True
    return False


def _stored_on_self(site: CallSite) -> bool:
    """``self.pred_real = self.netD(self.real)`` in a helper that returns nothing (a trainer's
    ``forward_D()``): the output is object state, which the loss of the calling step reads."""
    self_name = site.scope.self_name
    stmt = site.scope.module.parents.get(site.call)
    if self_name is None or not isinstance(stmt, cst.Assign):
        return False
    targets = [t.target for t in stmt.targets]
    targets += [e.value for t in targets if isinstance(t, (cst.Tuple, cst.List)) for e in t.elements]
    return any(isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == self_name
               for t in targets)


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
    return one_line(expr)


def exclusive(a: Use, b: Use) -> bool:
    """The two calls sit on opposite branches of one ``if``. Inside a helper reached by two
    different calls (``train_d(D, real, "real")``, ``train_d(D, fake, "fake")``) each call takes
    its own branch: only the ``if``s down to where the two call chains part count."""
    path_a, path_b = list(a.fc.chain) + [a.fc.site], list(b.fc.chain) + [b.fc.site]
    common = 0
    while common < min(len(path_a), len(path_b)) and path_a[common] is path_b[common]:
        common += 1
    guards_a = [g for s in path_a[:common + 1] for g in s.guards]
    guards_b = [g for s in path_b[:common + 1] for g in s.guards]
    scope = path_a[min(common, len(path_a) - 1)].scope  # where the two paths part
    for test, branch in guards_a:
        for test2, branch2 in guards_b:
            if test is test2 and branch != branch2:
                return True
            if branch and branch2 and test is not test2:
                # ``if optimizer_idx == 0:`` ... ``if optimizer_idx == 1:``: one value, two branches
                one, other = _equality(test, scope), _equality(test2, scope)
                if one is not None and other is not None and one[0] == other[0] and one[1] != other[1]:
                    return True
    return False


def _type_test(test: cst.BaseExpression) -> Optional[Tuple[cst.BaseExpression, Tuple[str, ...]]]:
    """(the object, the last names of the classes) of ``type(x) == C`` / ``type(x) is C`` /
    ``isinstance(x, C)`` / ``isinstance(x, (C, D))``; None for any other test."""
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
            and isinstance(test.comparisons[0].operator, (cst.Equal, cst.Is)):
        call, classes = test.left, [test.comparisons[0].comparator]
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "type"):
            return None
    elif isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance":
        if len(test.args) != 2:
            return None
        call, second = test, test.args[1].value
        classes = [e.value for e in second.elements] if isinstance(second, cst.Tuple) else [second]
    else:
        return None
    if len(call.args) not in (1, 2) or any(a.keyword or a.star for a in call.args):
        return None
    names = tuple(dotted_name(c) for c in classes)
    if not names or None in names:
        return None
    return call.args[0].value, tuple(n.rsplit(".", 1)[-1] for n in names)


def _equality(test: cst.BaseExpression, scope: Scope) -> Optional[Tuple[str, object]]:
    """(the tested name, the constant) for ``name == 1`` / ``self.mode == "gen"`` when the name keeps one
    value throughout ``scope`` (a parameter or global it never assigns, an attribute it never sets),
    else None: ``stage = 1`` between two tests would let both branches run."""
    if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, cst.Equal)):
        return None
    left, right = test.left, test.comparisons[0].comparator
    if isinstance(left, (cst.Integer, cst.SimpleString)):
        left, right = right, left
    if not isinstance(right, (cst.Integer, cst.SimpleString)):
        return None
    if isinstance(left, cst.Name):
        fixed = all(b.kind == "param" for b in scope.bindings.get(left.value, []))
    elif isinstance(left, cst.Attribute) and isinstance(left.value, cst.Name) and scope.cls is not None \
            and left.value.value == scope.self_name:
        fixed = not any(b.scope is scope for b in scope.cls.attrs.get(left.attr.value, []))
    else:
        fixed = False
    return (cst.Module([]).code_for_node(left), right.evaluated_value) if fixed else None


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


def _keywords(call: cst.Call) -> Optional[Dict[str, str]]:
    """Keyword arguments as name -> normalised source text (None with ``**kwargs``)."""
    out = {}
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is not None:
            out[arg.keyword.value] = cst.Module([]).code_for_node(arg.value)
    return out


def _positionals(call: cst.Call) -> List[str]:
    return [cst.Module([]).code_for_node(arg.value) for arg in call.args if arg.keyword is None]


def _if_tests(node: cst.CSTNode):
    if isinstance(node, (cst.If, cst.IfExp)):
        yield node.test
    for child in code_children(node):
        yield from _if_tests(child)


def _is_data(struct) -> bool:
    """A batch drawn from data (every part has a data origin): a second input, not a selector."""
    return isinstance(struct, Batch) and bool(struct.parts) and all(
        p.origin is not None and p.origin.kind == "data" for p in struct.parts)


def _bound_texts(forward: Scope, call: cst.Call) -> Optional[Dict[str, Optional[str]]]:
    """The source text ``call`` passes to each parameter of ``forward`` after the batch (a
    parameter's default when the call leaves it out, None for neither), or None when the call
    cannot be bound (``*args``/``**kwargs``, an unknown keyword, too many positionals)."""
    params = [p for p in forward.params if p.name != forward.self_name]
    positional = [p for p in params if p.index >= 0 and not p.star]
    args = _positionals(call)
    keywords = _keywords(call)
    if keywords is None or not args or len(args) > len(positional):
        return None
    out: Dict[str, Optional[str]] = {}
    for p in params:
        if p.star:
            continue
        out[p.name] = cst.Module([]).code_for_node(p.default) if p.default is not None else None
    for p, text in zip(positional, args):
        out[p.name] = text
    for name, text in keywords.items():
        if name not in out:
            return None
        out[name] = text
    out.pop(positional[0].name, None)  # the batch
    return out


def _slice_bounds(node: cst.CSTNode, self_name: Optional[str]):
    """The bounds of ``x[:n]`` / ``x[n:]`` slices of a local tensor (not of the model's own module list)."""
    if isinstance(node, cst.Subscript) and not rooted_at(node.value, self_name):
        for element in node.slice:
            if isinstance(element.slice, cst.Slice):
                yield from (bound for bound in (element.slice.lower, element.slice.upper) if bound is not None)
    for child in code_children(node):
        yield from _slice_bounds(child, self_name)


def pair_related(ctx, sites, other: str, inner_labels: Tuple[str, str], group: Optional[ModelUses] = None) -> tuple:
    """Related locations of a BN101/BN102 pair finding: the other call, the training step's call
    that runs both (when they are reached through it), the two calls inside it, and, for a model
    that may also be one without BN (a table of architectures), the class that has BN."""
    related = []
    if group is not None and group.without_bn and isinstance(group.model, Instance):
        cls = group.model.cls
        related.append(ctx.related(group.model.module, cls.node.name,
                                   f"`{cls.name}` has BatchNorm; {group.without_bn} other candidate(s) for "
                                   f"`{group.callee}` have none"))
    if sites.a is not sites.b:
        related.append(ctx.related(ctx.module, sites.b.call, other))
    if sites.through is not None:
        anchor = sites.anchor
        related.append(ctx.related(anchor.scope.module, anchor.call, "the training step's call that runs both"))
    for inner, label in zip(sites.inner, inner_labels):
        related.append(ctx.related(inner.scope.module, inner.call, label))
    return tuple(related)
