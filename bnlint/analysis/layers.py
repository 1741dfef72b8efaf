"""Layers in order, and the constructor arguments of BatchNorm layers.

Architecture rules ask three questions that this module answers once:

- which layer's output goes *directly* into which other layer?  ``adjacent_pairs``
  reads ``nn.Sequential(...)`` arguments (also ``OrderedDict`` and
  ``nn.Sequential(*layers)`` fed by list literals) and the straight-line code of
  a module's methods (``x = self.conv(x); x = self.bn(x)`` or
  ``self.bn(self.conv(x))``);
- what was passed to a BatchNorm constructor (``momentum``, ``affine``,
  ``track_running_stats``), positionally, by keyword or through ``partial``?
- which BatchNorm layers does a model value build?  ``bn_sites`` enumerates
  them, where ``BNAnalysis.has_bn`` only answers yes/no with an early exit.

Only layers built by known torch constructors count; a project block or an
unresolvable attribute breaks a chain, so rules built on it stay silent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import libcst as cst

from .bn import BN_CLASSES, CONTAINERS, BNAnalysis, is_bn_class
from .module import ModuleInfo, Scope, code_children
from .names import dotted_name
from .syntax import read_names
from .values import (
    SEQUENTIALS, ClassRef, Const, Ctx, ExtCall, FuncRef, Instance, Maybe, Partial, Ref, Resolver, Value,
    call_arg,
)

_NN = ("torch.nn.", "torch.nn.modules.conv.", "torch.nn.modules.linear.", "torch.nn.modules.dropout.",
       "torch.nn.modules.batchnorm.")


def _names(*names: str) -> frozenset:
    return frozenset(prefix + n for prefix in _NN for n in names)


CONVS = _names("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
LAZY_CONVS = _names("LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
                    "LazyConvTranspose3d")
LINEARS = _names("Linear")
LAZY_LINEARS = _names("LazyLinear")
DROPOUTS = _names("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")
F_DROPOUTS = frozenset("torch.nn.functional." + n for n in (
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"))
BN_MODULES = frozenset(q for q in BN_CLASSES if not q.endswith(".batch_norm"))
SYNC_BN = frozenset({"torch.nn.SyncBatchNorm", "torch.nn.modules.batchnorm.SyncBatchNorm"})
_ORDERED_DICTS = frozenset({"collections.OrderedDict", "typing.OrderedDict"})

# Constructor positions: BatchNorm{1,2,3}d / SyncBatchNorm(num_features, eps, momentum, affine,
# track_running_stats); the Lazy variants have no num_features; F.batch_norm(input, running_mean,
# running_var, weight, bias, training, momentum, eps).
_BN_POSITION = {"num_features": 0, "eps": 1, "momentum": 2, "affine": 3, "track_running_stats": 4}
_F_BN_POSITION = {"momentum": 6, "eps": 7, "training": 5}
# Conv{1,2,3}d(in, out, kernel, stride, padding, dilation, groups, bias); ConvTranspose puts
# output_padding before groups, bias stays 8th. Linear(in, out, bias). Lazy variants drop ``in``.
_BIAS_POSITION = {"conv": 7, "lazy_conv": 6, "linear": 2, "lazy_linear": 1}

ABSENT = "absent"  # the argument is not passed: the constructor's default applies
UNREADABLE = "unreadable"  # *args/**kwargs may carry it: unknown


def layer_kind(qualname: str) -> Optional[str]:
    if qualname in CONVS or qualname in LAZY_CONVS:
        return "conv"
    if qualname in LINEARS or qualname in LAZY_LINEARS:
        return "linear"
    if qualname in BN_MODULES:
        return "bn"
    if qualname in DROPOUTS or qualname in F_DROPOUTS:
        return "dropout"
    if qualname.startswith("torch.nn.") and not qualname.startswith("torch.nn.functional."):
        return "other"
    return None


def named_by_import(call: cst.Call, module: ModuleInfo, qualnames) -> bool:
    """The callee is written as an imported name of one of ``qualnames`` (``nn.Conv2d``, ``Conv2d``,
    an ``as`` alias). Rules that report a constructor require it, so the class's name is in the
    file's text and the pre-filter cannot change their results."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "forward":
        func = func.value
    name = dotted_name(func)
    return name is not None and module.imports.qualify(name) in qualnames


def spatial_dims(qualname: str) -> Optional[int]:
    """1/2/3 for ``Conv2d``/``BatchNorm2d``...; Linear is 1-D; None when it does not say."""
    if qualname in LINEARS or qualname in LAZY_LINEARS:
        return 1
    for d in (1, 2, 3):
        if qualname.endswith(f"{d}d"):
            return d
    return None


@dataclass(eq=False, repr=False)
class Layer:
    """One layer: a constructor call of a torch module, or a functional call applied in place."""

    kind: str  # conv | linear | bn | dropout | other
    qualname: str
    call: cst.Call  # the constructor call (for functional layers: the call applying it)
    ctx: Ctx  # where ``call`` is evaluated
    functional: bool = False

    @property
    def module(self) -> ModuleInfo:
        return self.ctx.module


@dataclass(eq=False, repr=False)
class Adjacent:
    """``second`` is applied directly to the output of ``first``."""

    first: Layer
    second: Layer
    where: cst.CSTNode  # the Sequential call, or the forward-code call applying ``second``
    how: str  # "sequential" | "forward"
    # ``second`` is the only consumer of ``first``'s output (not also ``out = self.bn(y) + y``).
    exclusive: bool = True


@dataclass(eq=False, repr=False)
class BNSite:
    """A BatchNorm layer a model builds: its constructor call (or a BN-bearing external model)."""

    qualname: str
    call: Optional[cst.Call]
    ctx: Optional[Ctx]
    partial: Optional[Partial] = None  # ``partial(nn.BatchNorm2d, ...)`` the call went through
    external: bool = False  # a torchvision/timm constructor with BN inside (arguments unknown)


class LayerAnalysis:
    def __init__(self, resolver: Resolver, bn: BNAnalysis):
        self.r = resolver
        self.bn = bn
        self.memo = resolver.index.memo

    # -- single layers -------------------------------------------------------------------
    def layer(self, expr: cst.BaseExpression, ctx: Ctx) -> Optional[Layer]:
        """The torch layer ``expr`` certainly is (every possible value agrees), else None."""
        values = self.r.resolve(expr, ctx)
        layers = []
        for v in values:
            if not isinstance(v, ExtCall):
                return None  # a Maybe, a project module, something unknown
            kind = layer_kind(v.qualname)
            if kind is None:
                return None
            layers.append(Layer(kind, v.qualname, v.call, v.ctx))
        if not layers or any(l.call is not layers[0].call for l in layers):
            return None
        return layers[0]

    def applied_layer(self, call: cst.Call, ctx: Ctx) -> Optional[Layer]:
        """The layer a call runs: ``self.bn(x)``, ``self.bn.forward(x)``, ``F.dropout(x)``.

        Only these forms are read (submodules are attributes of ``self``): resolving any other
        callee, such as ``x.view``, would follow ``forward``'s parameters into every caller.
        """
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "forward":
            func = func.value
        name = dotted_name(func)
        if name is None:
            return None
        qual = ctx.module.imports.qualify(name)
        if qual in F_DROPOUTS:
            return Layer("dropout", qual, call, ctx, functional=True)
        head, _, attr = name.partition(".")
        if not attr or "." in attr or head != ctx.scope.self_name or not self._built_here(ctx, attr):
            return None
        return self.layer(func, ctx)

    def _built_here(self, ctx: Ctx, attr: str) -> bool:
        """``self.<attr>`` is assigned a call (``self.bn = nn.BatchNorm2d(c)``), not a parameter or a
        tensor: only then can it be a layer, and only then is resolving it worth the cost."""
        for cls, _module in self.r.mro(ctx.scope.cls, ctx.module):
            bindings = cls.attrs.get(attr)
            if bindings:
                return all(isinstance(b.expr, cst.Call) and not b.path for b in bindings)
        return False

    # -- adjacency -------------------------------------------------------------------------
    def adjacent_pairs(self, module: ModuleInfo) -> List[Adjacent]:
        key = ("adjacent", id(module))
        if key not in self.memo:
            pairs: List[Adjacent] = []
            for scope in module.scopes:
                ctx = self.r.ctx_for(scope)
                pairs.extend(self._sequential_pairs(scope, ctx))
                if scope.cls is not None and scope.short_name != "__init__":
                    pairs.extend(self._forward_pairs(scope, ctx))
            self.memo[key] = pairs
        return self.memo[key]

    def _sequential_pairs(self, scope: Scope, ctx: Ctx) -> List[Adjacent]:
        out: List[Adjacent] = []
        sites = {id(s.call): s for s in scope.calls}
        for site in scope.calls:
            if not self._is_ref(site.call.func, ctx, SEQUENTIALS):
                continue
            args = [a for a in site.call.args if a.keyword is None]
            if len(args) == 1 and args[0].star == "*":
                for lst in self._list_literals(args[0].value, scope):
                    items = [e.value for e in lst.elements]
                    out.extend(self._chain(items, site.call, ctx, sites, self._list_guards(items, sites)))
                continue
            if any(a.star for a in args):
                continue
            items = [a.value for a in args]
            if len(items) == 1 and isinstance(items[0], cst.Call) and self._is_ref(items[0].func, ctx, _ORDERED_DICTS):
                items = self._ordered_dict_items(items[0])
            out.extend(self._chain(items, site.call, ctx, sites, site.guards))
        return out

    def _chain(self, items, where, ctx: Ctx, sites, guards) -> List[Adjacent]:
        """Consecutive layer pairs of a literal sequence of layer expressions.

        A layer built before the sequence (``conv`` in ``[conv, nn.BatchNorm2d(v)]``) may also be
        used without the next one (``if batch_norm: ... else: [conv, nn.ReLU()]``): such a pair
        counts only when the conditions of the sequence that the layer's construction does not
        share certainly hold. ``guards`` is None when those conditions are unknown.
        """
        out = []
        layers = [None if isinstance(e, cst.StarredElement) else self.layer(e, ctx) for e in items]
        for i in range(len(items) - 1):
            first, second = layers[i], layers[i + 1]
            if first is None or second is None:
                continue
            if not all(isinstance(e, cst.Call) for e in items[i:i + 2]):
                if guards is None or not self._extra_guards_hold(guards, (first, second), ctx, sites):
                    continue
            out.append(Adjacent(first, second, where, "sequential"))
        return out

    def _extra_guards_hold(self, guards, layers, ctx: Ctx, sites) -> bool:
        shared = None
        for layer in layers:
            site = sites.get(id(layer.call))
            own = {(id(t), b) for t, b in site.guards} if site is not None else set()
            shared = own if shared is None else shared & own
        extra = tuple(g for g in guards if (id(g[0]), g[1]) not in (shared or set()))
        return self.bn.guards_hold(extra, ctx)

    @staticmethod
    def _list_guards(items, sites):
        """The conditions of a list literal, read off a constructor call written inside it."""
        for e in items:
            site = sites.get(id(e)) if isinstance(e, cst.Call) else None
            if site is not None:
                return site.guards
        return None

    def _list_literals(self, expr, scope: Scope) -> List[cst.List]:
        """List literals that make up ``name`` in ``nn.Sequential(*name)`` (=, +=, .extend)."""
        if not isinstance(expr, cst.Name) or expr.value not in scope.bindings:
            return []
        out = []
        for b in scope.bindings[expr.value]:
            if b.kind in ("assign", "augassign") and not b.path and isinstance(b.expr, cst.List):
                out.append(b.expr)
        for site in scope.calls:
            func = site.call.func
            if (isinstance(func, cst.Attribute) and func.attr.value == "extend"
                    and isinstance(func.value, cst.Name) and func.value.value == expr.value):
                arg = call_arg(site.call, 0)
                if isinstance(arg, cst.List):
                    out.append(arg)
        return out

    @staticmethod
    def _ordered_dict_items(call: cst.Call) -> List[cst.BaseExpression]:
        arg = call_arg(call, 0)
        if not isinstance(arg, (cst.List, cst.Tuple)):
            return []
        items = []
        for e in arg.elements:
            if not (isinstance(e.value, cst.Tuple) and len(e.value.elements) == 2):
                return []
            items.append(e.value.elements[1].value)
        return items

    def _is_ref(self, func, ctx: Ctx, qualnames) -> bool:
        """``func`` names one of ``qualnames``. Only names that end like one of them are resolved:
        resolving every call of a module would follow parameters into every caller."""
        name = dotted_name(func)
        if name is None:
            return False
        qual = ctx.module.imports.qualify(name)
        if qual is not None:
            return qual in qualnames
        if name.rsplit(".", 1)[-1] not in {q.rsplit(".", 1)[-1] for q in qualnames}:
            return False
        values = self.r.resolve(func, ctx)
        return bool(values) and all(isinstance(v, Ref) and v.qualname in qualnames for v in values)

    # Straight-line code of a method: which layer produced each local name.
    def _forward_pairs(self, scope: Scope, ctx: Ctx) -> List[Adjacent]:
        flow = _Flow()
        body = scope.node.body
        if isinstance(body, cst.IndentedBlock):
            self._statements(body.body, flow, ctx)
        flow.finish()
        return flow.out

    def _statements(self, stmts, flow: "_Flow", ctx: Ctx) -> None:
        for stmt in stmts:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._small(small, flow, ctx)
            elif isinstance(stmt, cst.With) and isinstance(stmt.body, cst.IndentedBlock):
                for item in stmt.items:
                    flow.load(_loaded_names(item.item))
                self._statements(stmt.body.body, flow, ctx)
            elif flow.tracking():
                # Branches and loops: what a name holds afterwards depends on the path taken.
                flow.load(_loaded_names(stmt))
                for name in _assigned_names(stmt):
                    flow.assign(name, None)

    def _small(self, small, flow: "_Flow", ctx: Ctx) -> None:
        value = getattr(small, "value", None)
        if isinstance(value, cst.BaseExpression):
            flow.load(_loaded_names(value))
            self._record_edges(value, flow, ctx)
        if isinstance(small, cst.Assign):
            produced = self._produced(small.value, flow, ctx)
            for target in small.targets:
                if isinstance(target.target, cst.Name):
                    flow.assign(target.target.value, produced)
                else:
                    for name in _assigned_names(target.target):
                        flow.assign(name, None)
        elif isinstance(small, (cst.AugAssign, cst.AnnAssign)):
            flow.load(_loaded_names(small.target))
            for name in _assigned_names(small.target):
                flow.assign(name, None)

    def _produced(self, expr, flow: "_Flow", ctx: Ctx) -> Optional[Layer]:
        """The layer whose output ``expr`` is, unchanged."""
        if isinstance(expr, cst.Name):
            return flow.producers.get(expr.value)
        if isinstance(expr, cst.Call):
            return self.applied_layer(expr, ctx)
        return None

    def _record_edges(self, expr, flow: "_Flow", ctx: Ctx) -> None:
        for call in _calls_in(expr):
            second = self.applied_layer(call, ctx)
            if second is None:
                continue
            arg = call_arg(call, 0, "input")
            first = self._produced(arg, flow, ctx) if arg is not None else None
            if first is not None:
                pair = Adjacent(first, second, call, "forward")
                flow.out.append(pair)
                if isinstance(arg, cst.Name):
                    flow.pending.setdefault(arg.value, []).append(pair)

    # -- constructor arguments ---------------------------------------------------------------
    def bn_argument(self, site: BNSite, name: str) -> Tuple[str, Optional[cst.BaseExpression], Optional[Ctx]]:
        """(ABSENT|"given"|UNREADABLE, expr, ctx) for argument ``name`` of a BN constructor."""
        found = _argument(site.call, _bn_position(site.qualname, name), name) if site.call is not None \
            else (ABSENT, None)
        if found[0] == ABSENT and site.partial is not None:
            found = _argument(site.partial.call, -1, name)
            return found[0], found[1], site.partial.ctx
        return found[0], found[1], site.ctx

    def bias_argument(self, layer: Layer) -> Tuple[str, Optional[cst.BaseExpression]]:
        lazy = layer.qualname in LAZY_CONVS or layer.qualname in LAZY_LINEARS
        key = ("lazy_" if lazy else "") + layer.kind
        return _argument(layer.call, _BIAS_POSITION[key], "bias")

    def const_values(self, expr: cst.BaseExpression, ctx: Ctx) -> Optional[List[object]]:
        """Every value ``expr`` can have, when all are constants; else None."""
        values = self.r.resolve(expr, ctx)
        if not values or not all(isinstance(v, Const) for v in values):
            return None
        return [v.value for v in values]

    def numeric_bn_arguments(self, module: ModuleInfo, name: str):
        """(site, call, expr, values, by_keyword) for every BN construction in ``module`` given argument
        ``name`` as numbers. A positional argument is read only on a BN class written by name
        (``nn.BatchNorm2d(c, 0.8)``): through a variable (``norm_layer(c, 0.8)``) a position may mean
        something else. BN402 (momentum) and BN406 (eps) ask this."""
        for site in self.bn_constructions(module):
            state, expr, actx = self.bn_argument(site, name)
            if state != "given":
                continue
            call = site.call if site.call is not None else site.partial.call
            keyword = any(a.keyword is not None and a.keyword.value == name and a.value is expr for a in call.args)
            if not keyword:
                func = dotted_name(call.func)
                if func is None or not is_bn_class(module.imports.qualify(func)):
                    continue
            values = self.const_values(expr, actx)
            if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                yield site, call, expr, values, keyword

    # -- BN constructions ---------------------------------------------------------------------
    def bn_constructions(self, module: ModuleInfo) -> List[BNSite]:
        """Every BN constructor call written in ``module`` (direct, or ``partial(nn.BatchNorm2d, ...)``)."""
        out = []
        for scope in module.scopes:
            ctx = self.r.ctx_for(scope)
            for site in scope.calls:
                if not self._may_build_bn(site.call, module):
                    continue
                values = self.r.resolve(site.call.func, ctx)
                if not values:
                    continue
                if all(isinstance(v, Ref) and is_bn_class(v.qualname) for v in values):
                    out.append(BNSite(values[0].qualname, site.call, ctx))
                elif all(isinstance(v, Ref) and v.qualname == "functools.partial" for v in values):
                    first = call_arg(site.call, 0)
                    inner = self.r.resolve(first, ctx) if first is not None else []
                    if inner and all(isinstance(v, Ref) and v.qualname in BN_MODULES for v in inner):
                        out.append(BNSite(inner[0].qualname, None, ctx,
                                          partial=Partial(inner[0], site.call, ctx)))
        return out

    @staticmethod
    def _may_build_bn(call: cst.Call, module: ModuleInfo) -> bool:
        """Cheap filter before resolving: a BN class or ``partial`` named through an import, or a
        call that passes ``momentum=``/``track_running_stats=`` (``norm_layer(c, momentum=m)``)."""
        name = dotted_name(call.func)
        qual = module.imports.qualify(name) if name is not None else None
        if is_bn_class(qual) or qual == "functools.partial":
            return True
        return any(a.keyword is not None and a.keyword.value in ("momentum", "track_running_stats")
                   for a in call.args)

    def bn_sites(self, value: Value, depth: int = 0) -> List[BNSite]:
        """The BN layers a model value builds (on paths whose conditions hold)."""
        if depth > 6 or isinstance(value, Maybe):
            return []
        if isinstance(value, Instance):
            if not self.bn.has_bn(value):
                return []  # memoised and shared with the other rules: skips the full walk
            key = ("bn_sites", id(value.cls), id(value.call))
            if key not in self.memo:
                self.memo[key] = []  # cycle guard
                self.memo[key] = self._class_sites(value, depth)
            return self.memo[key]
        if isinstance(value, ExtCall):
            if value.qualname in BN_MODULES:
                return [BNSite(value.qualname, value.call, value.ctx)]
            if value.qualname in CONTAINERS:
                out = []
                for arg in value.call.args:
                    if not arg.star:
                        for v in self.r.resolve(arg.value, value.ctx):
                            out.extend(self.bn_sites(v, depth + 1))
                return out
            if self.bn.has_bn(value):
                return [BNSite(value.qualname, value.call, value.ctx, external=True)]
        return []

    def _class_sites(self, inst: Instance, depth: int) -> List[BNSite]:
        out: List[BNSite] = []
        for cls, _module in self.r.mro(inst.cls, inst.module):
            for name, method in cls.methods.items():
                env = None
                if name == "__init__" and inst.call is not None:
                    env = self.r.bind_args(method, inst.call, inst.ctx, skip_self=True)
                out.extend(self._scope_sites(method, Ctx(method, env, inst), depth))
        return out

    def _scope_sites(self, scope: Scope, ctx: Ctx, depth: int) -> List[BNSite]:
        out: List[BNSite] = []
        for site in scope.calls:
            if not self.bn.guards_hold(site.guards, ctx):
                continue
            for callee in self.r.resolve(site.call.func, ctx):
                if isinstance(callee, Ref):
                    if callee.qualname in BN_MODULES:
                        out.append(BNSite(callee.qualname, site.call, ctx))
                    elif callee.qualname not in CONTAINERS and self.bn.builds_bn(callee, site.call, ctx):
                        out.append(BNSite(callee.qualname, site.call, ctx, external=True))
                elif isinstance(callee, Partial) and isinstance(callee.func, Ref) \
                        and callee.func.qualname in BN_MODULES:
                    out.append(BNSite(callee.func.qualname, site.call, ctx, partial=callee))
                elif isinstance(callee, ClassRef):
                    out.extend(self.bn_sites(Instance(callee.cls, callee.module, site.call, ctx), depth + 1))
                elif isinstance(callee, FuncRef) and depth < 6:
                    key = ("bn_sites_fn", id(callee.scope), id(site.call))
                    if key not in self.memo:
                        self.memo[key] = []
                        env = self.r.bind_args(callee.scope, site.call, ctx, skip_self=callee.bound_self is not None)
                        self.memo[key] = self._scope_sites(callee.scope, Ctx(callee.scope, env, callee.bound_self),
                                                           depth + 1)
                    out.extend(self.memo[key])
        return out


class _Flow:
    """Per-method state of the straight-line walk: the layer each name holds, how often the name
    was read since it was assigned, and the pairs that read it through the name."""

    def __init__(self):
        self.producers: Dict[str, Optional[Layer]] = {}
        self.loads: Dict[str, int] = {}
        self.pending: Dict[str, List[Adjacent]] = {}
        self.out: List[Adjacent] = []

    def tracking(self) -> bool:
        """Some name holds a layer's output or feeds a pair: reads and writes matter."""
        return bool(self.pending) or any(self.producers.values())

    def load(self, names: List[str]) -> None:
        for name in names:
            self.loads[name] = self.loads.get(name, 0) + 1

    def assign(self, name: str, layer: Optional[Layer]) -> None:
        self._settle(name)
        self.producers[name] = layer

    def finish(self) -> None:
        for name in list(self.pending):
            self._settle(name)

    def _settle(self, name: str) -> None:
        for pair in self.pending.pop(name, []):
            pair.exclusive = self.loads.get(name, 0) <= 1
        self.loads[name] = 0


def _loaded_names(node: cst.CSTNode) -> List[str]:
    """Names read in ``node`` (not attribute names, keywords, or nested function bodies)."""
    return [name.value for name in read_names(node)]


def _bn_position(qualname: str, name: str) -> int:
    if qualname.endswith(".batch_norm"):
        return _F_BN_POSITION.get(name, -1)
    pos = _BN_POSITION.get(name, -1)
    if ".LazyBatchNorm" in qualname and pos >= 0:
        pos -= 1  # no num_features
    return pos


def _argument(call: cst.Call, index: int, keyword: str) -> Tuple[str, Optional[cst.BaseExpression]]:
    expr = call_arg(call, index, keyword)
    if expr is not None:
        return "given", expr
    if any(a.star for a in call.args):
        return UNREADABLE, None
    return ABSENT, None


def _calls_in(node: cst.CSTNode) -> List[cst.Call]:
    """Calls inside an expression, innermost first (not descending into lambdas)."""
    out: List[cst.Call] = []
    stack = [node]
    order = []
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Lambda):
            continue
        order.append(cur)
        stack.extend(code_children(cur))
    for cur in reversed(order):
        if isinstance(cur, cst.Call):
            out.append(cur)
    return out


def _assigned_names(node: cst.CSTNode) -> List[str]:
    """Every plain name bound anywhere inside ``node`` (targets of =, +=, for, with, :=)."""
    out = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(cur, cst.AssignTarget):
            out.extend(_target_names(cur.target))
        elif isinstance(cur, (cst.AugAssign, cst.AnnAssign)):
            out.extend(_target_names(cur.target))
        elif isinstance(cur, (cst.For, cst.CompFor)):
            out.extend(_target_names(cur.target))
        elif isinstance(cur, cst.AsName):
            out.extend(_target_names(cur.name))
        elif isinstance(cur, cst.NamedExpr):
            out.extend(_target_names(cur.target))
        elif isinstance(cur, (cst.Name, cst.Tuple, cst.List, cst.Attribute)) and cur is node:
            out.extend(_target_names(cur))
        stack.extend(code_children(cur))
    return out


def _target_names(target) -> List[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _target_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []
