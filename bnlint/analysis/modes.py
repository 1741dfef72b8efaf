"""Train/eval mode of a model at a program point: which ``.eval()`` / ``.train()`` reaches a call.

BatchNorm switches between batch statistics (train mode) and running statistics
(eval mode) with ``Module.train(mode)``. Rules about that switch ask one
question: "in which mode can model M be when this call runs?". The answer is
computed from *mode events* in program order:

- ``M.eval()``, ``M.train(False)`` / ``M.train(mode=False)``  -> EVAL
- ``M.train()`` / ``M.train(True)``                           -> TRAIN
- ``M.train(flag)`` with an undecidable flag, ``M.apply(fn)``,
  ``.eval()`` on something we cannot resolve, or on a part of M -> UNKNOWN
- a backward / optimizer step (directly or in a helper)        -> TRAINED

Events come from the function itself (by source position), from the project
helpers it calls (``evaluate(model, loader)``, ``self.validate()``; their
events in order, following arguments), from the ``__init__`` of project classes
it constructs (``self.teacher = copy.deepcopy(model).eval()`` in a trainer),
from overridden ``train()`` methods (a backbone put back in eval by
``def train(self, mode=True)``), and from the callers of the function (the
state on entry). A mode call on a module covers its submodules: the target of
a call of ``net.backbone`` includes the attribute path, so ``net.train()``
switches it. Loop-carried state is handled
by also folding the events of one whole iteration of each enclosing loop.

A fold yields the set of possible states: ``eval``, ``unknown``,
``train_fresh`` (train() just called, nothing trained since: a deliberate
train-mode pass), ``train_used`` (train mode, training ran since) and
``default`` (never switched: a module is built in train mode). Events under an
``if`` branch the point of interest is not in may not happen, so they add
states instead of replacing them. Each rule states which sets it reports
(BN201: every state is train mode after training or never switched; BN202:
some path reaches the training step in eval mode and none is unknown), so an
``unknown`` keeps them silent (precision over recall).

Model identity is the value resolver's (same construction site), refined by
the call that created the object (``origin``, also through ``self.attr`` and
the attributes of a project object, ``ema.ema``): an EMA ``copy.deepcopy``
(made directly or returned by a helper) or a second call of a factory is
another object even though it resolves alike.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import FrozenSet, List, Optional, Pattern, Sequence, Tuple

import libcst as cst

from ..patterns import GAP, method_call
from .loops import NOT_FORWARD, ForwardCall, TrainingAnalysis
from .names import callee_name
from .module import CallSite, ModuleInfo, Scope, binding_scope, guard_among
from .provenance import model_key
from .syntax import rooted_at, within
from .values import (
    WRAPPED_ATTRS, ClassRef, Const, Ctx, ExtCall, FuncRef, Instance, Maybe, Ref, SubModule, Value, call_arg, wraps_model,
)

EVAL, TRAIN, UNKNOWN, TRAINED = "eval", "train", "unknown", "trained"
# A helper that evaluates and then switches back (``model.eval(); ...; model.train()``) leaves the
# model in train mode, but as it found it: trained before means still trained, not a fresh switch.
RESTORE = "restore"
# States of a fold.
_MODE_WORDS = re.compile(r"(?i)mode|eval|train")
S_EVAL, S_UNKNOWN, S_FRESH, S_USED, S_DEFAULT = "eval", "unknown", "train_fresh", "train_used", "default"

MAX_DEPTH = 3
# How many callers up the entry state is searched (an evaluation helper three private methods below a
# metric's ``__call__``); each caller's own events still follow helpers at least one level deep.
MAX_CALLER_DEPTH = 5
MODE_METHODS = ("eval", "train", "apply")  # module methods that make a mode event
_SAME_OBJECT = ("to", "cuda", "cpu", "eval", "train", "apply", "requires_grad_", "float", "half", "double", "bfloat16")
_CYCLE = cst.Call(func=cst.Name("_cycle"))  # marker: a binding that refers back to itself

Key = tuple


@dataclass(frozen=True)
class Target:
    """A model identity: the keys of the objects it may be (see ``provenance.model_key``).

    ``copied``: the model is named through a ``copy.deepcopy`` of another one (an EMA/teacher copy),
    which the value resolver treats as the original object.
    """

    keys: FrozenSet[Key]
    copied: bool = False
    origin: Optional[tuple] = None  # the calls that created it, when known (see ModeAnalysis.origin)
    # Every object its expression may be, BN or not (``get_model(name)`` with twelve branches): a
    # receiver that may be exactly these, made by the same call, is the same object.
    alternatives: FrozenSet[Key] = frozenset()
    # How the forward call names the model when the name alone says which object it is: ``("attr",
    # class node id, attr)`` for ``self.<attr>`` (a switch of ``self.<attr>`` in a method of that
    # class switches the object the call runs), ``("name", scope node id, name)`` for a name bound
    # once in its function (a parameter ``encoder``: ``encoder.train()`` there switches it),
    # whatever the resolver makes of it (built here, or loaded from a checkpoint there).
    named_as: Optional[tuple] = None

    def __bool__(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True, eq=False)
class Event:
    kind: str
    node: cst.CSTNode  # the call in the scope being folded (a helper call for helper events)
    pos: int  # ModuleInfo.order of ``node``
    guards: tuple = ()  # the enclosing if-branches of ``node`` in its scope
    cond: bool = False  # conditional inside the helper that produced it


def _norm(key: Key) -> Key:
    while key and key[0] == "sub" and key[2] in WRAPPED_ATTRS and key[1] is not None:
        key = key[1]
    return key


def _same(a: Key, b: Key) -> bool:
    if a == b:
        return True
    # `self` inside a method (no constructor call) is any instance of that class.
    return a[0] == b[0] == "inst" and a[1] == b[1] and (a[2] is None or b[2] is None)


def _ancestors(key: Key):
    key = _norm(key)
    while key is not None:
        yield key
        key = _norm(key[1]) if key[0] == "sub" else None


def relation(receiver: Key, target: Key) -> Optional[str]:
    """"covers" when ``receiver`` is ``target`` or contains it, "inside" when it is a part of it."""
    receiver = _norm(receiver)
    if any(_same(receiver, a) for a in _ancestors(target)):
        return "covers"
    if any(_same(a, target) for a in _ancestors(receiver)):
        return "inside"
    return None


def _guards_of(scope: Scope, node: cst.CSTNode) -> tuple:
    for site in scope.calls:
        if site.call is node:
            return site.guards
    return ()


def _before(module: ModuleInfo, event: Event, here: int, node: cst.CSTNode) -> bool:
    """``event`` happens before the call ``node`` runs: it starts earlier in the text, or it lies in
    the callee expression of ``node``, the receiver of a chained call (``Trainer(model).fit()``: the
    constructor runs first)."""
    if event.pos < here:
        return True
    return event.node is not node and isinstance(node, cst.Call) and within(module, event.node, node.func)


def _apply(state: str, events: Sequence[Event]) -> str:
    for e in events:
        if e.kind == EVAL:
            state = S_EVAL
        elif e.kind == TRAIN or (e.kind == RESTORE and state != S_USED):
            state = S_FRESH
        elif e.kind == UNKNOWN:
            state = S_UNKNOWN
        elif e.kind == TRAINED and state in (S_FRESH, S_DEFAULT):
            state = S_USED
    return state


def _restoring(events: List[Tuple[str, bool]]) -> List[Tuple[str, bool]]:
    """A helper's events as its caller sees them: an unconditional ``eval()`` ... ``train()`` at its
    end, with nothing trained or unknown between, is one RESTORE (the caller's state comes back)."""
    if not events or events[-1] != (TRAIN, False):
        return events
    for i in range(len(events) - 2, -1, -1):
        kind, cond = events[i]
        if kind in (TRAINED, UNKNOWN) or (kind == TRAIN and not cond):
            return events
        if kind == EVAL and not cond:
            return events[:i] + [(RESTORE, False)]
    return events


@lru_cache(maxsize=256)
def _attribute_mode_call(attr: str) -> Pattern[str]:
    return re.compile(r"\." + GAP + re.escape(attr) + r"(?<!\bself\." + re.escape(attr) + r")" + GAP
                      + method_call("eval", "train"))


class ModeAnalysis:
    def __init__(self, training: TrainingAnalysis):
        self.t = training
        self.r = training.r
        self.memo = self.r.index.memo
        self._origin_ctx: dict = {}  # id(creating call) -> the ctx it was found in

    # -- identities -----------------------------------------------------------------
    def target(self, values: Sequence[Value], copied: bool = False, origin: Optional[tuple] = None) -> Target:
        keys = set()
        for v in values:
            if isinstance(v, (Instance, ExtCall, SubModule)):
                k = model_key([v])
                if k:
                    keys.update(_norm(x) for x in k)
        return Target(frozenset(keys), copied, origin)

    def target_of_expr(self, expr: cst.BaseExpression, ctx: Ctx, values: Sequence[Value]) -> Target:
        """Like ``target``, plus the attribute path for ``model.backbone``: switching ``model`` covers it."""
        base = self.target(values, self.is_copy(expr, ctx), self.origin(expr, ctx))
        if base:
            every = self.target(self.r.resolve(expr, ctx)).keys
            if len(every) > 1:
                base = Target(base.keys, base.copied, base.origin, every)
        if not isinstance(expr, cst.Attribute) or not base:
            return base
        return Target(base.keys | self._attribute_paths(expr, ctx), base.copied, base.origin, base.alternatives)

    def _attribute_paths(self, expr: cst.BaseExpression, ctx: Ctx, depth: int = 0) -> FrozenSet[Key]:
        """Keys ``("sub", parent, attr)`` for ``a.b.c``, through every parent of the chain: switching
        ``a`` or ``a.b`` switches ``a.b.c`` (``Module.train()`` recurses into every child)."""
        if not isinstance(expr, cst.Attribute) or depth > MAX_DEPTH:
            return frozenset()
        parents = self.target(self.r.resolve(expr.value, ctx)).keys | self._attribute_paths(expr.value, ctx, depth + 1)
        return frozenset(("sub", k, expr.attr.value) for k in parents)

    @staticmethod
    def is_forward(fc: ForwardCall) -> bool:
        func = fc.site.call.func
        return not (isinstance(func, cst.Attribute) and func.attr.value in NOT_FORWARD)

    def target_of_call(self, fc: ForwardCall, models: Sequence[Value]) -> Target:
        """The model a forward call runs, as a mode target."""
        func = fc.site.call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "forward":
            func = func.value
        # Through the attribute path too: ``net.train()`` covers a forward call of ``net.backbone``.
        target = self.target_of_expr(func, fc.ctx, models)
        named_as = self.named_as(func, fc.ctx)
        return dataclasses.replace(target, named_as=named_as) if target and named_as else target

    @staticmethod
    def named_as(expr: cst.BaseExpression, ctx: Ctx) -> Optional[tuple]:
        """How ``expr`` names one object by its name alone (see ``Target.named_as``), or None."""
        scope = ctx.scope
        if isinstance(expr, cst.Name) and scope.parent is not None:
            # (a parameter or one assignment: not a loop variable, another object each pass)
            bindings = scope.bindings.get(expr.value, ())
            if len(bindings) == 1 and bindings[0].kind in ("param", "assign"):
                return "name", id(scope.node), expr.value
            return None
        cls = scope.cls
        if cls is None or not isinstance(expr, cst.Attribute) or not isinstance(expr.value, cst.Name) \
                or expr.value.value != scope.self_name:
            return None
        return "attr", id(cls.node), expr.attr.value

    def is_copy(self, expr: cst.BaseExpression, ctx: Ctx) -> bool:
        """``expr`` names an object made by ``copy.deepcopy(...)`` (an EMA/teacher copy)."""
        chain = self.origin(expr, ctx)
        if not chain:
            return False
        # Any call of the chain: a factory that returns ``copy.deepcopy(...)`` makes a copy too.
        return any(isinstance(v, Ref) and v.qualname == "copy.deepcopy"
                   for call in chain if call is not _CYCLE
                   for v in self.r.resolve(call.func, self._origin_ctx.get(id(call), ctx)))

    def origin(self, expr: cst.BaseExpression, ctx: Ctx, _seen=None, _depth: int = 0) -> Optional[tuple]:
        """The calls that created the object ``expr`` names, outermost first (a factory call, then the
        constructor call it returns), through aliases, ``.to()``-style methods and wrappers such as
        ``DataParallel``; None when unknown.

        Two names created by different calls are different objects even when the value resolver
        conflates them (``copy.deepcopy(model)`` resolves to ``model``; two calls of one factory
        resolve to the same construction).
        """
        seen = _seen if _seen is not None else set()
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _SAME_OBJECT:
            expr = expr.func.value
        if isinstance(expr, cst.Call):
            callees = self.r.resolve(expr.func, ctx)
            quals = {v.qualname for v in callees if isinstance(v, Ref)}
            wrapper = any(wraps_model(q) for q in quals) and "copy.deepcopy" not in quals or any(
                isinstance(v, ClassRef) and self.r.parallel_wrapper(v.cls, v.module) for v in callees)
            if wrapper and expr.args:
                return self.origin(expr.args[0].value, ctx, seen, _depth)
            self._origin_ctx[id(expr)] = ctx
            funcs = [v for v in callees if isinstance(v, FuncRef)]
            if len(funcs) == 1 and len(funcs[0].scope.returns) == 1 and _depth < MAX_DEPTH:
                fref = funcs[0]  # a factory: the object is made by what it returns
                inner = Ctx(fref.scope, self.r.bind_args(fref.scope, expr, ctx, fref.bound_self is not None),
                            fref.bound_self)
                rest = self.origin(fref.scope.returns[0], inner, set(), _depth + 1)
                return (expr,) + (rest or ())
            return (expr,)
        bindings: List[Tuple[cst.BaseExpression, Ctx]] = []
        if isinstance(expr, cst.Name):
            if ctx.env is not None and expr.value in ctx.env:
                bindings = [(e, c) for e, c in ctx.env[expr.value] if c is not ctx]
            else:
                scope = binding_scope(ctx.scope, expr.value)
                if scope is None:
                    return None
                scope_ctx = ctx if scope is ctx.scope else ctx.enclosing(scope)
                # The bindings the value resolver reads there too (flow and known branches):
                # ``test_model = ema.ema if args.use_ema else model`` with ``use_ema`` on is the copy.
                live = self.r.live_bindings(scope, expr.value, expr, scope_ctx)
                if any(b.kind != "assign" or b.path for b in live):
                    return None  # a parameter, loop variable, import...: unknown
                # (by the bindings read, not the name: ``model = model.to(device)`` reads an earlier one)
                key = (id(scope), expr.value, tuple(id(b.stmt) for b in live))
                if key in seen:
                    return (_CYCLE,)
                seen.add(key)
                bindings = [(b.expr, ctx if b.scope is ctx.scope else Ctx(b.scope)) for b in live]
        elif isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index):
            # ``tnet = nets["tnet"]`` from ``nets = {"snet": snet, "tnet": tnet}``: the entry's object.
            key = self.r.const(expr.slice[0].slice.value, ctx)
            if not isinstance(key, str):
                return None
            bindings = self.r.item_exprs(expr.value, key, ctx, 0)
            if not bindings:
                return None
        elif isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name):
            owner = self._owner_class(expr.value, ctx)
            if owner is None:
                return None
            found = [b for c, _ in self.r.mro(*owner) for b in c.attrs.get(expr.attr.value, [])]
            if not found or any(b.kind != "assign" or b.path for b in found):
                return None
            key = (id(owner[0]), expr.attr.value)
            if key in seen:
                return (_CYCLE,)
            seen.add(key)
            bindings = [(b.expr, Ctx(b.scope)) for b in found]
        origins = {self.origin(e, c, seen, _depth) for e, c in bindings}
        origins = {o for o in origins if o != (_CYCLE,)}
        if len(origins) == 1:
            return origins.pop()
        return None

    def _owner_class(self, name: cst.Name, ctx: Ctx):
        """(class, module) whose attribute ``name.attr`` is: ``self``'s class, or the project class of the
        one object ``name`` holds (``ema.ema`` after ``ema = ModelEMA(model)``); None when unknown."""
        if ctx.scope.cls is not None and name.value == ctx.scope.self_name:
            return ctx.scope.cls, ctx.scope.module
        values = self.r.resolve(name, ctx)
        if len(values) == 1 and isinstance(values[0], Instance) and values[0].call is not None:
            return values[0].cls, values[0].module
        return None

    def receiver_relation(self, expr: cst.BaseExpression, ctx: Ctx, target: Target) -> Optional[str]:
        """covers / inside / other (a known, different object) / unknown."""
        if self._another_objects_attribute(expr, ctx, target):
            return "other"
        values = self.r.resolve(expr, ctx)
        modules = [v for v in values if not isinstance(v, Const)]
        if modules and len(modules) < len(values):
            # ``model = None`` (or a factory's name argument) on a path the resolver cannot rule
            # out: nothing constant has ``.train()``, so when the module values alone certainly
            # are the target, so is the receiver. Else unknown, as any value we cannot place.
            found = self._relation_of(expr, ctx, target, modules)
            found = found if found in ("covers", "inside") else "unknown"
        else:
            found = self._relation_of(expr, ctx, target, values)
        if found == "unknown" and target.named_as is not None and self._named_alike(expr, ctx, target):
            return "covers"
        return found

    def _named_alike(self, expr: cst.BaseExpression, ctx: Ctx, target: Target) -> bool:
        """``expr`` names the target's forward call's object the same way: the same name bound once
        in the same function, or ``self.<attr>`` in a method of the same class or of one related to
        it by inheritance (a base trainer's loop, a subclass's step)."""
        mine = self.named_as(expr, ctx)
        if mine is None or mine[0] != target.named_as[0] or mine[2] != target.named_as[2]:
            return False
        if mine[1] == target.named_as[1]:
            return True
        return mine[0] == "attr" and any(id(c.node) == target.named_as[1]
                                         for c, _ in self.r.mro(ctx.scope.cls, ctx.module))

    def _relation_of(self, expr: cst.BaseExpression, ctx: Ctx, target: Target, values: Sequence[Value]) -> str:
        keys = []
        for v in values:
            if isinstance(v, Maybe) or not isinstance(v, (Instance, ExtCall, SubModule)):
                return "unknown"
            k = model_key([v])
            if not k:
                return "unknown"
            keys.extend(_norm(x) for x in k)
        if any(_same(k, t) for k in keys for t in target.keys) and self._distinct(expr, ctx, target):
            return "other"  # same construction for the resolver, but another object (a copy, a second call)
        rels = {relation(k, t) for k in keys for t in target.keys}
        if "covers" in rels and (len(set(keys)) == 1 or set(keys) == target.alternatives):
            return "covers"
        if rels & {"covers", "inside"}:
            return "inside"  # may be the model or a part of it: not certain
        return "other"

    def _another_objects_attribute(self, expr: cst.BaseExpression, ctx: Ctx, target: Target) -> bool:
        """``self.net`` in a method of one plain class, with ``target`` the ``self.net`` of another
        plain class of the module, neither deriving from the other (``FastReIDExtractor`` beside
        ``Extractor``): each object's own attribute, whatever the first one holds."""
        cls = ctx.scope.cls
        if cls is None or not isinstance(expr, cst.Attribute) or not rooted_at(expr, ctx.scope.self_name):
            return False
        owners = {k[1][1] for k in target.keys
                  if k[0] == "sub" and isinstance(k[1], tuple) and k[1][0] == "inst" and k[1][2] is None}
        if len(owners) != 1:
            return False
        owner = next((c for c in ctx.module.classes.values() if id(c.node) in owners), None)
        if owner is None or owner is cls or not (self.r.plain_class(cls, ctx.module)
                                                  and self.r.plain_class(owner, ctx.module)):
            return False
        return all(id(c.node) != id(owner.node) for c, _ in self.r.mro(cls, ctx.module)) \
            and all(id(c.node) != id(cls.node) for c, _ in self.r.mro(owner, ctx.module))

    def _distinct(self, expr: cst.BaseExpression, ctx: Ctx, target: Target) -> bool:
        if self.is_copy(expr, ctx) != target.copied:
            return True
        mine = self.origin(expr, ctx)
        theirs = target.origin
        if not mine or not theirs or mine[0] is theirs[0]:
            return False
        return not any(c is theirs[0] for c in mine) and not any(c is mine[0] for c in theirs)

    # -- events ---------------------------------------------------------------------
    def events(self, scope: Scope, ctx: Ctx, target: Target, depth: int = 0) -> List[Event]:
        """Mode events of ``scope`` on ``target`` in source order."""
        # A helper's events under its caller's arguments are kept too (``call_ctx`` gives a followed
        # call one context), by depth: deeper, fewer helpers are followed.
        key = ("mode_events", id(scope), id(ctx.env), id(ctx.self_value), target,
               None if ctx.env is None else depth)
        if key in self.memo:
            return self.memo[key][0]
        out: List[Event] = []
        module = scope.module
        for site in sorted(scope.calls, key=lambda s: module.order(s.call)):
            pos = module.order(site.call)
            found = self.site_events(site, ctx, target, depth)
            guards = site.guards
            if found and guards:
                # ``if args.freeze_bn: model.eval() else: model.train()``: the default configuration
                # decides the branch when the option has a literal default.
                if not self.r.branch_possible(site.call, ctx, depth):
                    continue
                if self.r.guards_hold(guards, ctx, depth):
                    guards = ()
            for kind, cond in found:
                out.append(Event(kind, site.call, pos, guards, cond))
        self.memo[key] = (out, ctx)  # ctx keeps the ids in the key alive
        return out

    def site_events(self, site: CallSite, ctx: Ctx, target: Target, depth: int) -> List[Tuple[str, bool]]:
        """(kind, conditional) pairs; a helper's events are conditional when guarded inside it."""
        call = site.call
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in MODE_METHODS:
            if func.attr.value == "apply" and self._applies_no_switch(call, ctx):
                return []  # ``model.apply(weights_init)``: an initializer, not a mode switch
            kind = self._mode_kind(call, ctx)
            rel = self.receiver_relation(func.value, ctx, target)
            if rel == "other":
                return []
            if rel == "covers":
                if self._replaced_switch(func, ctx):
                    # ``def eval(self): <validation loop>`` in a project class: the call runs that
                    # method, and nn.Module's switch only if it calls it itself.
                    return self._override_events(func, ctx, target, depth)
                return [(kind, False)] + self._override_events(func, ctx, target, depth)
            # A part of the model, or an unresolved receiver: only an eval makes the state unknown.
            return [(UNKNOWN, False)] if kind in (EVAL, UNKNOWN) else []
        if self.t.is_update_call(site, ctx):
            return [(TRAINED, False)]
        if self._mode_manager(site, ctx, target):
            return [(UNKNOWN, False)]
        if depth >= MAX_DEPTH:
            return self._trains_below(site, ctx)
        out: List[Tuple[str, bool]] = []
        for fref in self.t.called_functions(site, ctx):
            inner = self.r.call_ctx(fref.scope, call, ctx, fref.bound_self is not None,
                                    fref.bound_self or self.r.ctx_for(fref.scope).self_value)
            out.extend(_restoring([(e.kind, e.cond or bool(e.guards))
                                   for e in self.events(fref.scope, inner, target, depth + 1)]))
        for init, inner in self._constructors(site, ctx):
            out.extend((e.kind, e.cond or bool(e.guards)) for e in self.events(init, inner, target, depth + 1))
        return out

    def _trains_below(self, site: CallSite, ctx: Ctx) -> List[Tuple[str, bool]]:
        """Past the depth where helpers are followed for mode switches, a helper may still train (a
        trainer's ``optimize()`` calling ``update_netd()`` and ``update_netg()``): a training event,
        conditional unless the helper trains outside any branch."""
        for fref in self.t.called_functions(site, ctx):
            own = self.r.ctx_for(fref.scope)
            training = [s for s in fref.scope.calls if self.t.site_trains(s, own)]
            if training:
                return [(TRAINED, all(s.guards for s in training))]
        return []

    def _mode_manager(self, site: CallSite, ctx: Ctx, target: Target) -> bool:
        """``with TrainingModeManager([net, head], train=False):`` (a library's context manager handed
        the model): it may switch the mode, and we cannot read it."""
        if not isinstance(site.scope.module.parents.get(site.call), cst.WithItem):
            return False
        if any(isinstance(v, (FuncRef, ClassRef)) or (isinstance(v, Ref) and (
                v.qualname.startswith("torch.") or "." not in v.qualname))
               for v in self.r.resolve(site.call.func, ctx)):
            # a project manager (followed as a call), torch's own (``torch.no_grad()``) or a builtin
            # (``with open(path, "w") as f:``)
            return False
        # (a manager named for modes may be handed a model we only partly resolve)
        named = bool(_MODE_WORDS.search(site.scope.module.code(site.call.func))) or any(
            a.keyword is not None and a.keyword.value in ("train", "mode", "training") for a in site.call.args)
        wanted = ("covers", "inside", "unknown") if named else ("covers", "inside")
        for arg in site.call.args:
            items = [e.value for e in arg.value.elements] if isinstance(arg.value, (cst.List, cst.Tuple)) \
                else [arg.value]
            if any(self.receiver_relation(item, ctx, target) in wanted for item in items):
                return True
        return False

    def _constructors(self, site: CallSite, ctx: Ctx) -> List[Tuple[Scope, Ctx]]:
        """``__init__`` of a project class this call constructs, with the new object as ``self``, when its
        module switches some mode: ``self.teacher = copy.deepcopy(model); self.teacher.eval()`` there
        is an event of the caller."""
        out: List[Tuple[Scope, Ctx]] = []
        for v in self.r.resolve(site.call.func, ctx):
            if not isinstance(v, ClassRef):
                continue
            for cls, module in self.r.mro(v.cls, v.module):
                init = cls.methods.get("__init__")
                if init is None:
                    continue
                if self._module_switches(module):
                    inst = Instance(v.cls, v.module, site.call, ctx)
                    out.append((init, Ctx(init, self.r.bind_args(init, site.call, ctx, True), inst)))
                break
        return out

    def _module_switches(self, module: ModuleInfo) -> bool:
        """Some call in ``module`` is a mode method (``x.eval()``, ``x.train(...)``, ``x.apply(...)``)."""
        key = ("mode_calls_in_module", id(module))
        if key not in self.memo:
            self.memo[key] = any(isinstance(s.call.func, cst.Attribute) and s.call.func.attr.value in MODE_METHODS
                                 for scope in module.scopes for s in scope.calls)
        return self.memo[key]

    def may_switch(self, scope: Scope, loop: cst.CSTNode, ctx: Ctx) -> bool:
        """Whether the body of ``loop`` can hold an EVAL event for any model: a mode call
        (``eval``/``train``/``apply``) in it, or in a helper it calls as deep as :meth:`events`
        follows helpers. A necessary condition that is cheap next to the per-model analysis."""
        module = scope.module
        return self._sites_may_switch([s for s in scope.calls if within(module, s.call, loop)], ctx, 0)

    def _sites_may_switch(self, sites: Sequence[CallSite], ctx: Ctx, depth: int) -> bool:
        # Mirrors site_events: the same order of cases, the same helper contexts and depth.
        for site in sites:
            func = site.call.func
            if isinstance(func, cst.Attribute) and func.attr.value in MODE_METHODS:
                return True
            if self.t.is_update_call(site, ctx) or depth >= MAX_DEPTH:
                continue
            for fref in self.t.called_functions(site, ctx):
                inner = Ctx(fref.scope, self.r.bind_args(fref.scope, site.call, ctx, fref.bound_self is not None),
                            fref.bound_self or self.r.ctx_for(fref.scope).self_value)
                if self._sites_may_switch(fref.scope.calls, inner, depth + 1):
                    return True
            for init, inner in self._constructors(site, ctx):
                if self._sites_may_switch(init.calls, inner, depth + 1):
                    return True
        return False

    def _applies_no_switch(self, call: cst.Call, ctx: Ctx) -> bool:
        """``apply(fn)`` with ``fn`` project functions none of which calls ``eval``/``train``/``apply``
        (a weight initializer); ``model.apply(set_bn_eval)`` stays a possible switch."""
        arg = call_arg(call, 0, "fn")
        values = self.r.resolve(arg, ctx) if arg is not None else []
        return bool(values) and all(
            isinstance(v, FuncRef) and not any(
                isinstance(s.call.func, cst.Attribute) and s.call.func.attr.value in MODE_METHODS
                for s in v.scope.calls)
            for v in values)

    def _mode_kind(self, call: cst.Call, ctx: Ctx) -> str:
        name = call.func.attr.value
        if name == "eval":
            return EVAL
        if name == "apply":
            return UNKNOWN
        arg = call_arg(call, 0, "mode")
        if arg is None:
            return TRAIN
        value = self.r.const(arg, ctx)
        if value is True:
            return TRAIN
        if value is False:
            return EVAL
        return UNKNOWN

    def _replaced_switch(self, func: cst.Attribute, ctx: Ctx) -> bool:
        """``obj.eval()``/``obj.train()`` runs a project class's method of that name that never calls
        the module's own switch (``super().eval()``, ``nn.Module.train(self, ...)``, ``self.train(False)``):
        a trainer's ``eval()`` that validates, a model's ``train(loader)`` that fits."""
        name = func.attr.value
        if name == "apply":
            return False
        methods = [v.scope for v in self.r.resolve(func, ctx) if isinstance(v, FuncRef) and v.scope.cls is not None]
        return bool(methods) and not any(_calls_module_switch(m) for m in methods)

    def _override_events(self, func: cst.Attribute, ctx: Ctx, target: Target, depth: int) -> List[Tuple[str, bool]]:
        """Events inside a project class's own ``train()``/``eval()`` (e.g. re-freezing a backbone)."""
        out: List[Tuple[str, bool]] = []
        for v in self.r.resolve(func, ctx):
            if isinstance(v, FuncRef) and v.scope.cls is not None and depth < MAX_DEPTH:
                inner = Ctx(v.scope, None, v.bound_self)
                out.extend((e.kind, e.cond or bool(e.guards)) for e in self.events(v.scope, inner, target, depth + 1))
        return out

    # -- folding --------------------------------------------------------------------
    @staticmethod
    def fold(states: FrozenSet[str], events: Sequence[Event], at_guards: tuple = ()) -> FrozenSet[str]:
        """Apply events in order. Runs of events under if-branches that ``at_guards`` (the branches of
        the point of interest) does not share may not happen: they add states instead of replacing them."""
        blocks: List[Tuple[tuple, List[Event]]] = []
        for e in events:
            extra = tuple(g for g in e.guards if not guard_among(g, at_guards))
            key = (tuple((id(t), b) for t, b in extra), e.cond)
            if blocks and blocks[-1][0] == key:
                blocks[-1][1].append(e)
            else:
                blocks.append((key, [e]))
        current = set(states)
        for key, block in blocks:
            applied = {_apply(state, block) for state in current}
            current = applied if key == ((), False) else current | applied
        return frozenset(current)

    def states_at(self, scope: Scope, node: cst.CSTNode, ctx: Ctx, target: Target,
                  entry: Optional[FrozenSet[str]] = None, depth: int = 0) -> FrozenSet[str]:
        """Possible states of ``target`` when ``node`` (a call in ``scope``) runs."""
        module = scope.module
        here = module.order(node)
        events = self.events(scope, ctx, target, min(depth, MAX_DEPTH - 1))
        if entry is None:
            entry = self.entry_states(scope, target, depth)
        at = _guards_of(scope, node)
        before = [e for e in events if _before(module, e, here, node)]
        result = set(self.fold(entry, before, at))
        # Later iterations of each enclosing loop also see the events after `node` in that loop.
        for loop in self._enclosing_loops(module, scope, node):
            body = [e for e in events if within(module, e.node, loop)]
            start = module.order(loop)
            outside = [e for e in events if e.pos < start and not within(module, e.node, loop)]
            carried = self.fold(self.fold(entry, outside, at), body, at)
            result |= self.fold(carried, [e for e in body if _before(module, e, here, node)], at)
        return frozenset(result)

    def iteration_states(self, scope: Scope, node: cst.CSTNode, loop: cst.CSTNode, ctx: Ctx,
                         target: Target) -> Tuple[FrozenSet[str], Optional[cst.CSTNode]]:
        """State at ``node`` in a later iteration of ``loop``, from the loop's own events only.

        Starts from train mode, so EVAL in the result comes from the loop body. Returns the
        states and the last EVAL event of the loop body (where the switch happens), or None when the
        body can also switch to train mode on some path (``if phase == "train": model.train()``).
        """
        module = scope.module
        here = module.order(node)
        at = _guards_of(scope, node)
        body = [e for e in self.events(scope, ctx, target) if within(module, e.node, loop)]
        after_body = self.fold(frozenset({S_FRESH}), body, at)
        states = self.fold(after_body, [e for e in body if e.pos < here], at)
        evals = [e.node for e in body if e.kind == EVAL]
        if any(e.kind in (TRAIN, RESTORE) for e in body):
            return states, None
        return states, (evals[-1] if evals else None)

    def entry_states(self, scope: Scope, target: Target, depth: int = 0,
                     param: Optional[str] = None) -> FrozenSet[str]:
        """States of ``target`` on entry to ``scope``, from its callers.

        ``param``: the parameter the model comes in by (``def evaluate(model, loader)``): each caller
        gives the state of the object it passes (``evaluate(model_nobn, ...)`` another object).
        """
        if scope.parent is None:
            return frozenset({S_DEFAULT})
        if depth >= MAX_CALLER_DEPTH:
            return frozenset({S_UNKNOWN})
        key = ("mode_entry", id(scope), target, param)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = frozenset({S_UNKNOWN})  # recursion guard
        by_caller = self.caller_entries(scope, target, depth, param)
        if by_caller:
            result = frozenset().union(*(states for _site, states in by_caller))
        elif scope.cls is not None and not self._own_model(scope, target) or self.r.callers_incomplete(scope) \
                or self._switched_elsewhere(scope, target):
            result = frozenset({S_UNKNOWN})  # a hook called by a framework, or set up we cannot order
        else:
            result = frozenset({S_DEFAULT})
        self.memo[key] = result
        return result

    def caller_entries(self, scope: Scope, target: Target, depth: int = 0,
                       param: Optional[str] = None) -> List[Tuple[CallSite, FrozenSet[str]]]:
        """Each caller of ``scope`` with the states of ``target`` it enters ``scope`` in (``param``:
        as in :meth:`entry_states`). Empty when nobody in the project calls it."""
        out = []
        for site in self._callers(scope):
            ctx = self.r.ctx_for(site.scope)
            passed = self._passed_target(site, ctx, scope, param) if param is not None else None
            out.append((site, self.states_at(site.scope, site.call, ctx, passed or target, None, depth + 1)))
        return out

    def _passed_target(self, site: CallSite, ctx: Ctx, scope: Scope, param: str) -> Optional[Target]:
        """The object the call ``site`` passes as ``param``, as a target known at the call (with the
        calls that created it): ``evaluate(model_nobn, ...)`` passes another object than
        ``evaluate(model, ...)`` even when both come from one factory."""
        bound = self.r.bind_args(scope, site.call, ctx, skip_self=scope.self_name is not None).get(param)
        if not bound or len(bound) != 1:
            return None
        expr, actx = bound[0]
        origin = self.origin(expr, actx)
        if not origin:
            return None
        # (through the attribute path too: ``test(loader, Model_R.predict_layer)`` after ``Model_R.eval()``)
        passed = self.target_of_expr(expr, actx, self.r.resolve(expr, actx))
        return passed or None

    def _callers(self, scope: Scope) -> List[CallSite]:
        """Callers in the function's own module when there are any, else anywhere in the project.

        An entry point such as ``main()`` or ``evaluate()`` is usually called from its own file;
        searching the project for such a common name costs a parse of every file that mentions it.
        """
        key = ("mode_local_callers", id(scope))
        if key not in self.memo:
            name = scope.cls.name if scope.short_name == "__init__" and scope.cls is not None else scope.short_name
            local = []
            for other in scope.module.scopes:
                for site in other.calls:
                    func = site.call.func
                    last = callee_name(func)
                    if last == name and any(
                            isinstance(v, FuncRef) and v.scope is scope
                            for v in self.r.resolve(func, self.r.ctx_for(other), 4)):
                        local.append(site)
            self.memo[key] = local
        return self.memo[key] or self.r.callers(scope)

    def _own_model(self, scope: Scope, target: Target) -> bool:
        """``scope`` is a method of a plain class (no base but project classes and ``object``: no
        framework calls it) and ``target`` is a model that class builds in its own ``__init__`` (a
        metric's Inception network): called from outside the project, the method still finds it as
        built, unless another function switches it (see ``_switched_elsewhere``)."""
        if not target.keys or not self.r.plain_class(scope.cls, scope.module):
            return False
        built, owners = self._built_in_constructor(scope.cls, scope.module)
        own = ("inst", id(scope.cls.node), None)  # the object the method runs on (``self``)
        # A library network (``ext``) or a project one (``inst``) made by a call in ``__init__``, or
        # the attribute of ``self`` it is stored in (``self.net = Net(reid=True)``); also one that a
        # plain object built in ``__init__`` builds in its own (an app's ``self.extractor =
        # Extractor(device)``, whose ``__init__`` loads the network), unless some file switches an
        # attribute of that name from outside (``app.extractor.model.eval()``: another object's
        # attribute, which the switches of this module are not matched with).
        return all(k[0] == "ext" and k[1] in built or k[0] == "inst" and k[2] in built
                   or k[0] == "sub" and (k[1] == own or k[1] in owners and not self._attribute_switched(k[2]))
                   for k in target.keys) \
            and any(k[0] != "sub" for k in target.keys)

    def _attribute_switched(self, attr: str) -> bool:
        """Some project file calls ``<x>.<attr>.eval()`` or ``<x>.<attr>.train(...)`` with ``<x>`` not
        ``self`` (an object's own switches are its module's, which ``_switched_elsewhere`` reads)."""
        key = ("attribute_switched", attr)
        if key not in self.memo:
            index, pattern = self.r.index, _attribute_mode_call(attr)
            self.memo[key] = any(index.text_matches(path, pattern) for path in index.files_mentioning(attr))
        return self.memo[key]

    def _built_in_constructor(self, cls, module: ModuleInfo, depth: int = 0) -> Tuple[set, set]:
        """(ids of the calls made while a ``cls`` object is constructed, the keys of the objects that
        hold what they build): ``cls.__init__``'s calls, and those of the ``__init__`` of each plain
        project class it instantiates (two levels)."""
        key = ("built_in_constructor", id(cls.node), depth)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = (set(), set())  # recursion guard
        init = cls.methods.get("__init__")
        built: set = set()
        owners = {("inst", id(cls.node), None)}  # the object itself (``self``)
        if init is not None:
            built = {id(site.call) for site in init.calls}
            ctx = self.r.ctx_for(init)
            for site in init.calls if depth < 2 else ():
                for v in self.r.resolve(site.call.func, ctx, 4):
                    if isinstance(v, ClassRef) and v.cls is not cls and self.r.plain_class(v.cls, v.module):
                        inner_built, inner_owners = self._built_in_constructor(v.cls, v.module, depth + 1)
                        built |= inner_built
                        owners |= inner_owners
        self.memo[key] = (built, owners)
        return built, owners

    def _switched_elsewhere(self, scope: Scope, target: Target) -> bool:
        """Another function of the module switches ``target``'s mode, one that ``scope`` does not call
        itself (those switches are ordered: ``scope``'s own events include them)."""
        own = self._called_scopes(scope)
        for other in scope.module.scopes:
            if other is scope or id(other) in own:
                continue
            events = self.events(other, self.r.ctx_for(other), target, MAX_DEPTH - 1)
            if any(e.kind in (EVAL, UNKNOWN, RESTORE) for e in events):
                return True
        return False

    def _called_scopes(self, scope: Scope) -> set:
        """ids of the project functions ``scope`` calls, as deep as :meth:`events` follows helpers."""
        seen: set = set()
        frontier = [(scope, self.r.ctx_for(scope))]
        for _ in range(MAX_DEPTH):
            nxt = []
            for s, ctx in frontier:
                for site in s.calls:
                    for fref in self.t.called_functions(site, ctx):
                        if id(fref.scope) not in seen:
                            seen.add(id(fref.scope))
                            nxt.append((fref.scope, self.r.ctx_for(fref.scope)))
            frontier = nxt
        return seen

    def forward_states(self, fc: ForwardCall, target: Target,
                       loop: Optional[cst.CSTNode] = None, start: Optional[FrozenSet[str]] = None,
                       entry: Optional[FrozenSet[str]] = None) -> FrozenSet[str]:
        """States at a forward call, walking down the helper chain that reaches it.

        With ``loop``, the state in a later iteration of that loop from its own events only; with
        ``start``, the helper chain's own effect on a model entering it in those states; with
        ``entry``, the states on entry to the function the chain starts in (one caller's).
        """
        sites = list(fc.chain) + [fc.site]
        scope = sites[0].scope
        ctx = self.r.ctx_for(scope)
        if start is not None:
            states = start
        elif loop is None:
            if entry is None and not fc.chain:
                entry = self.entry_states(scope, target, param=_model_param(fc, scope))
            states = self.states_at(scope, sites[0].call, ctx, target, entry)
        else:
            states = self.iteration_states(scope, sites[0].call, loop, ctx, target)[0]
        for outer, inner_site in zip(sites, sites[1:]):
            inner_ctx = self._callee_ctx(outer, ctx, inner_site.scope)
            if inner_ctx is None:
                return frozenset({S_UNKNOWN})
            states = self.states_at(inner_site.scope, inner_site.call, inner_ctx, target, states)
            ctx = inner_ctx
        return states

    def forward_states_by_caller(self, fc: ForwardCall, target: Target) -> List[Tuple[CallSite, FrozenSet[str]]]:
        """:meth:`forward_states` once per caller of the function the chain starts in: an evaluation
        helper called after training from one place and with a model of unknown mode from another."""
        scope = fc.chain[0].scope if fc.chain else fc.site.scope
        param = None if fc.chain else _model_param(fc, scope)
        return [(site, self.forward_states(fc, target, entry=entry))
                for site, entry in self.caller_entries(scope, target, param=param)]

    def _callee_ctx(self, site: CallSite, ctx: Ctx, scope: Scope) -> Optional[Ctx]:
        for fref in self.t.called_functions(site, ctx):
            if fref.scope is scope:
                return Ctx(scope, self.r.bind_args(scope, site.call, ctx, fref.bound_self is not None),
                           fref.bound_self or self.r.ctx_for(scope).self_value)
        for method, self_value in self.forward_methods(site, ctx):
            if method is scope:
                return Ctx(scope, self.r.bind_args(scope, site.call, ctx, True), self_value)
        return None

    def forward_methods(self, site: CallSite, ctx: Ctx) -> List[Tuple[Scope, Value]]:
        """(``forward`` method, the instance) a call of a project module runs: ``wrapper(x)`` or
        ``wrapper.forward(x)`` with ``wrapper`` an instance of a class of this project."""
        func = site.call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "forward":
            func = func.value
        out = []
        for v in self.r.resolve(func, ctx):
            if isinstance(v, Instance):
                method = self.r.find_method(v.cls, v.module, "forward")
                if method is not None:
                    out.append((method, v))
        return out

    @staticmethod
    def _enclosing_loops(module: ModuleInfo, scope: Scope, node: cst.CSTNode) -> List[cst.CSTNode]:
        return [loop for loop in scope.loops if within(module, node, loop)]

    # -- gradient mode -----------------------------------------------------------------
    def grad_disabled(self, fc: ForwardCall) -> bool:
        """The forward call runs under ``torch.no_grad()``/``inference_mode()`` (a with or a decorator)."""
        return self.t.without_grad(fc)


def _model_param(fc: ForwardCall, scope: Scope) -> Optional[str]:
    """The parameter of ``scope`` the forward call runs directly: ``model`` in ``model(x)``."""
    func = fc.site.call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "forward":
        func = func.value
    if not isinstance(func, cst.Name) or scope.param(func.value) is None:
        return None
    bindings = scope.bindings.get(func.value, ())
    return func.value if all(b.kind == "param" for b in bindings) else None


def _calls_module_switch(method: Scope) -> bool:
    """The method switches modes itself: nn.Module's ``train``/``eval`` on its own object (through
    ``super()``, the class, ``self``) or on a module it holds (``self.teacher.train(mode)``: an EMA
    wrapper delegating the switch)."""
    for site in method.calls:
        func = site.call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in ("train", "eval")):
            continue
        receiver = func.value
        if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name) and receiver.func.value == "super":
            return True
        if isinstance(receiver, cst.Attribute) and receiver.attr.value == "Module":
            return True
        if rooted_at(receiver, method.self_name):
            return True
    return False
