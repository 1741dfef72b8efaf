"""Where a module's parameters are frozen: with ``requires_grad=False``, or by running a submodule
only under ``torch.no_grad()`` in a model's ``forward`` (:meth:`FreezeAnalysis.no_grad_submodules`).

A ``requires_grad`` freeze is ``x.requires_grad_(False)``, a loop ``for p in x.parameters(): p.requires_grad =
False`` (also ``named_parameters()`` with a name filter that does not single out the BN layers),
or a call of the model's own method that freezes it (``encoder.fine_tune(False)`` with the method
defined in another file). Freezes on a path the default configuration takes count, and so do
freezes under a command-line option (``if args.freeze:``): a path the user turns on.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

import libcst as cst

from .bn import BNAnalysis
from .loops import TrainingAnalysis
from .names import callee_name
from .module import CallSite, ClassInfo, ModuleInfo, Scope, code_children
from .reaching import exits as _exits
from ..patterns import GAP
from ..schedule import imported_names
from ..tree import DEFINED
from .syntax import names_in, rooted_at
from .values import ArgsNamespace, Ctx, ExtCall, FuncRef, Instance, Resolver, Seq, SubModule, call_arg

PARAM_ITERS = ("parameters", "named_parameters")
_BN_WORDS = ("bn", "norm", "running")  # a freeze guarded by these selects (or spares) BN layers on purpose


@dataclass(frozen=True, eq=False)
class Freeze:
    scope: Scope
    node: cst.CSTNode  # where to report: the call, or the ``parameters()`` call of the loop
    expr: cst.BaseExpression  # the frozen module (``backbone``, ``model.f``, ``encoder``)
    option: Optional[str] = None  # "args.freeze" when only that option turns it on
    method: Optional[str] = None  # "fine_tune" when a model method of another file freezes it
    # The tests on the function's own parameters the freeze needs (``if pretrained:``,
    # ``requires_grad = train_bn``): each call decides, in a constructor each object built
    # (see ``built_frozen``).
    param_guards: Tuple = ()


# A freeze written as such (``p.requires_grad = False``, ``net.requires_grad_(False)``), and the
# functions a file defines at module level (what another file can import by name).
_FREEZE_TEXT = re.compile(r"\." + GAP + r"requires_grad(?:" + GAP + r"=(?!=)" + GAP + r"|_" + GAP + r"\(" + GAP
                          + r"(?:requires_grad" + GAP + r"=" + GAP + r")?)False\b")
_TOP_LEVEL = re.compile(r"^(?:(?:async[ \t]+)?def[ \t]+(\w+))?(?=\S)", re.M)  # a statement at column 0
_RETURNS = re.compile(r"return(?<!\wreturn)\b")


def calls_imported_freezing_factory(index, code: str, fs_path: str) -> bool:
    """The file (``code``: its text with comments and strings blanked) calls a module-level function
    of a project module it imports, a function that writes a freeze and returns something: a script
    building its network with ``get_pretrained_model('resnet50')`` of ``models/`` (which freezes it)
    and handing it to a training function of a third file. Such a script has neither a freeze nor a
    training step of its own to show; the finding is the factory call's. Only the imported modules'
    text is read (never parsed), and each becomes a dependency of the file's result."""
    for dotted in imported_names(code, index.module_name(fs_path), fs_path.endswith("__init__.py")):
        path = index.resolve_module(dotted, fs_path)
        if path is None or os.path.abspath(path) == os.path.abspath(fs_path):
            continue
        factories = index.run_fact("freezing factories " + os.path.abspath(path),
                                   lambda path=path: _freezing_factories(index.code_of(path)))
        if any(re.search(r"(?<!\w)" + re.escape(name) + GAP + r"\(", code) for name in factories):
            return True
    return False


def _freezing_factories(code: str) -> List[str]:
    """Module-level functions whose text writes a freeze and returns something (``code``: comments
    and strings blanked, so a docstring's ``return`` or ``requires_grad = False`` does not count)."""
    starts = [(m.start(), m.group(1)) for m in _TOP_LEVEL.finditer(code)] + [(len(code), None)]
    return [name for (start, name), (end, _) in zip(starts, starts[1:])
            if name and _FREEZE_TEXT.search(code, start, end) and _RETURNS.search(code, start, end)]


class FreezeAnalysis:
    def __init__(self, resolver: Resolver, bn: BNAnalysis, training: TrainingAnalysis):
        self.r = resolver
        self.bn = bn
        self.training = training

    def no_grad_submodules(self, module: ModuleInfo) -> List[Tuple[ClassInfo, CallSite, str]]:
        """(class, call site, attribute) for ``self.<attr>(...)`` under ``torch.no_grad()`` in a class's
        ``forward`` (``with torch.no_grad(): features = self.resnet(images)``), when ``<attr>`` has BN
        and the class never runs it with gradients there."""
        out = []
        for cls in module.classes.values():
            forward = cls.methods.get("forward")
            if forward is None:
                continue
            rctx = self.r.ctx_for(forward)
            calls: Dict[str, List[CallSite]] = {}
            for site in forward.calls:
                attr = self_attribute(site.call.func, forward.self_name)
                if attr is not None:
                    calls.setdefault(attr, []).append(site)
            for attr, sites in calls.items():
                if not all(any(self.training.is_no_grad(item.item, rctx) for w in s.withs for item in w.items)
                           for s in sites):
                    continue
                values = self.r.resolve(sites[0].call.func, rctx)
                if values and all(isinstance(v, (Instance, ExtCall, SubModule)) and self.bn.has_bn(v)
                                  for v in values):
                    out.append((cls, sites[0], attr))
        return out

    def freezes(self, module: ModuleInfo) -> List[Freeze]:
        """Every freeze written in ``module`` (memoised per module)."""
        key = ("freezes", id(module))
        memo = self.r.index.memo
        if key not in memo:
            memo[key] = list(self._module_freezes(module))
        return memo[key]

    def _module_freezes(self, module: ModuleInfo) -> Iterator[Freeze]:
        for scope in module.scopes:
            rctx = self.r.ctx_for(scope)
            for node, expr, guards in self.gated_freezes(scope):
                if isinstance(expr, cst.Attribute) and expr.attr.value in ("weight", "bias"):
                    continue  # one parameter (BNNeck's ``bn.bias.requires_grad_(False)``), not a module
                yield Freeze(scope, node, expr, self._option_gate(scope, node, rctx), param_guards=guards)
            for site in scope.calls:
                # What the call freezes first, its guards last: evaluating a condition may search
                # the project for callers, and nearly no call freezes anything.
                func = site.call.func
                writes = self._may_freeze(func)
                if writes and isinstance(func, cst.Attribute) and func.attr.value != "requires_grad_" \
                        and self._method_freezes_self(site.call, rctx, module):
                    frozen = (func.attr.value, self._frozen_part(func, rctx))
                else:
                    frozen = self._frozen_argument(site, rctx) if writes else None
                    if frozen is None and (_from_another_module(func, module)
                                           or self._guarded_factory_here(func, module)):
                        factory = self.returned_frozen(site, rctx)
                        received = _received(module, site.call, factory[1]) if factory else None
                        frozen = (factory[0], received) if received is not None else None
                if frozen is not None and self._holds(site, rctx):
                    yield Freeze(scope, site.call, frozen[1], self._option_gate(scope, site.call, rctx), frozen[0],
                                 self._param_guards(scope, site.call, rctx))

    def _guarded_factory_here(self, func: cst.BaseExpression, module: ModuleInfo) -> bool:
        """``build_model(name, freeze_backbone=freeze)``: a function of this module that freezes only
        when its parameters say so (``if freeze_backbone:``). Such a freeze is not reported where it
        is written (each call decides), so the calls that take it are."""
        if not isinstance(func, cst.Name):
            return False
        bindings = module.scope.bindings.get(func.value, [])
        if len(bindings) != 1 or bindings[0].kind != "def":
            return False
        scope = module.scope_of.get(bindings[0].stmt)
        return scope is not None and bool(scope.returns) and any(
            guards for _node, _expr, guards in self.gated_freezes(scope))

    def _may_freeze(self, func: cst.BaseExpression) -> bool:
        """A function of that name is defined in a project file that writes ``requires_grad``: the
        only calls worth resolving (resolving every call of every module was most of this analysis).
        A factory returning what a helper froze is found through the helper's call, not gated here."""
        name = callee_name(func)
        if name is None:
            return False
        index = self.r.index
        writers = set(index.files_mentioning("requires_grad")) | set(index.files_mentioning("requires_grad_"))
        return any(path in writers for path in index.files_mentioning(DEFINED + name))

    def _frozen_argument(self, site: CallSite, rctx: Ctx) -> Optional[Tuple[str, cst.BaseExpression]]:
        """(function name, argument) for ``freeze(self.bn1)``: a project function that freezes the
        module it is given (``for p in module.parameters(): p.requires_grad = False``). A function of
        this file counts only in a constructor freezing its own submodule: elsewhere the freeze is
        reported where the function writes it."""
        callee = self._one_function(site.call, rctx) if site.call.args else None
        scope = callee.scope if callee is not None else None
        # (also a method of the model freezing what it is given: ``self.set_parameter_requires_grad(self.resnet50, True)``)
        arg = self._passed_frozen(scope, site.call, rctx, callee.bound_self) if scope is not None else None
        if arg is None:
            return None
        if scope.module is site.scope.module and not (
                site.scope.short_name == "__init__" and rooted_at(arg, site.scope.self_name)):
            return None
        return scope.short_name, arg

    def unfrozen_by(self, site: CallSite, rctx: Ctx) -> Optional[cst.BaseExpression]:
        """The module a call certainly unfreezes: ``encoder.requires_grad_(True)``, or a call of a
        project helper that writes its argument's ``p.requires_grad = requires_grad`` with the value
        known true here (``set_requires_grad(encoder, requires_grad=True)``)."""
        call, func = site.call, site.call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
            arg = call_arg(call, 0, "requires_grad")
            return func.value if arg is None or self.r.const(arg, rctx) is True else None
        if not call.args or not self._may_freeze(func):
            return None
        callee = self._one_function(call, rctx)
        frozen = self._frozen_param(callee.scope) if callee is not None else None
        if frozen is None or frozen[2] or len(frozen[1]) != 1:
            return None
        (test, branch), scope = frozen[1][0], callee.scope
        if not isinstance(scope.module.parents.get(test), cst.Assign):
            return None  # a test around the freeze (``if freeze:``), not the value written: false writes nothing
        bound = Ctx(scope, self.r.bind_args(scope, call, rctx, skip_self=callee.bound_self is not None),
                    callee.bound_self)
        passed = bound.env.get(frozen[0])
        if not passed or len(passed) != 1 or self.r.truth(test, bound) is not (not branch):
            return None
        return passed[0][0]

    def _passed_frozen(self, scope: Scope, call: cst.Call, ctx: Ctx, bound_self=None) -> Optional[cst.BaseExpression]:
        """The argument of ``call`` that ``scope`` freezes as a whole, when its tests hold for this call
        (``set_parameter_requires_grad(model, feature_extract)`` with ``if feature_extracting:``);
        ``bound_self``: the object when ``call`` runs a method."""
        frozen = self._frozen_param(scope)
        if frozen is None or not self._called_with(scope, call, ctx, frozen[1], bound_self):
            return None
        passed = self.r.bind_args(scope, call, ctx, skip_self=bound_self is not None).get(frozen[0])
        if not passed or len(passed) != 1:
            return None
        arg, part = passed[0][0], frozen[2]
        if not part:
            return arg
        # ``freeze_backbone(model)`` freezing ``model.features``: the part, written on the argument
        # (a node of no tree, as in ``_frozen_part``).
        key = ("frozen_arg_part", id(arg), part)
        memo = self.r.index.memo
        if key not in memo:
            expr = arg
            for attr in part:
                expr = cst.Attribute(value=expr, attr=cst.Name(attr))
            memo[key] = expr
        return memo[key]

    def _frozen_param(self, scope: Scope) -> Optional[Tuple[str, Tuple, Tuple[str, ...]]]:
        """The parameter a function freezes (``def freeze(module): for p in module.parameters(): ...``),
        with the tests on its parameters the freeze needs, and the attribute path of the part it
        freezes (``("features",)`` for ``model.features.parameters()``; empty for the whole)."""
        key = ("frozen_param", id(scope))
        memo = self.r.index.memo
        if key not in memo:
            params = {p.name for p in scope.params}
            found = []
            for _node, expr, guards in self.gated_freezes(scope):
                path = _attribute_path(expr)
                if path is not None and path[0] in params:
                    found.append((path[0], guards, path[1:]))
            # The whole parameter first; else one part (several parts: no single answer).
            whole = [f for f in found if not f[2]]
            memo[key] = whole[0] if whole else (found[0] if len({f[:1] + f[2:] for f in found}) == 1 else None)
        return memo[key]

    def returned_frozen(self, site: CallSite, rctx: Ctx) -> Optional[Tuple[str, Optional[int]]]:
        """(name, position) of a project function of another file (or of this one, freezing under a
        test of its parameters) that builds a network, freezes it and returns it, for this call's
        arguments: the fine-tuning tutorial's ``initialize_model(num_classes, feature_extract)`` calling
        ``set_parameter_requires_grad(model_ft, feature_extracting)`` and returning ``model_ft``
        (position None), or ``return model, input_size`` (position 0)."""
        scope = self._plain_function(site.call, rctx)
        if scope is None or not scope.returns:
            return None
        here = scope.module is site.scope.module  # (then only a freeze its parameters turn on: see above)
        returned: Dict[str, Optional[int]] = {}
        for ret in scope.returns:
            if isinstance(ret, cst.Name):
                returned[ret.value] = None
            elif isinstance(ret, cst.Tuple):
                returned.update((e.value.value, i) for i, e in enumerate(ret.elements) if isinstance(e.value, cst.Name))
        if not returned:
            return None
        inner = Ctx(scope, self.r.bind_args(scope, site.call, rctx, skip_self=False))
        unsure: Dict[str, List[Tuple]] = {}  # returned name -> the guards of its freezes this call cannot decide
        for _node, expr, guards in self.gated_freezes(scope):
            if isinstance(expr, cst.Name) and expr.value in returned and (guards or not here):
                if self.bn.guards_hold(guards, inner):
                    return scope.short_name, returned[expr.value]
                undecided = tuple(g for g in guards if self.r.truth(g[0], inner) is None)
                if all(self.bn.guards_hold((g,), inner) for g in guards if g not in undecided):
                    unsure.setdefault(expr.value, []).append(undecided)
        for name, paths in unsure.items():
            if _every_branch(scope.module, paths):
                return scope.short_name, returned[name]
        if here:
            return None
        for inner_site in scope.calls:
            helper = self._plain_function(inner_site.call, inner) if inner_site.call.args else None
            arg = self._passed_frozen(helper, inner_site.call, inner) if helper is not None else None
            if isinstance(arg, cst.Name) and arg.value in returned and self.bn.guards_hold(inner_site.guards, inner):
                return scope.short_name, returned[arg.value]
        return None

    def _plain_function(self, call: cst.Call, ctx: Ctx) -> Optional[Scope]:
        """The one project function (not a bound method) ``call`` runs, if that is all it can be."""
        callee = self._one_function(call, ctx)
        return callee.scope if callee is not None and callee.bound_self is None else None

    def _one_function(self, call: cst.Call, ctx: Ctx) -> Optional[FuncRef]:
        """The one project function or method ``call`` runs, if that is all it can be."""
        if not isinstance(call.func, (cst.Name, cst.Attribute)):
            return None
        callees = self.r.resolve(call.func, ctx)
        if len(callees) != 1 or not isinstance(callees[0], FuncRef):
            return None
        return callees[0]

    def scope_freezes(self, scope: Scope) -> Iterator[Tuple[cst.CSTNode, cst.BaseExpression]]:
        """(node, module expression) for the freezes written in ``scope`` itself."""
        for node, expr, _guards in self.gated_freezes(scope):
            yield node, expr

    def gated_freezes(self, scope: Scope) -> Iterator[Tuple[cst.CSTNode, cst.BaseExpression, Tuple]]:
        """(node, module expression, parameter tests) for the freezes written in ``scope``: the tests
        on the function's own parameters (``if feature_extracting:``) each call decides."""
        rctx = self.r.ctx_for(scope)
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
                arg = call_arg(site.call, 0, "requires_grad")
                if arg is not None and self.r.const(arg, rctx) is False and self._holds(site, rctx):
                    yield site.call, func.value, self._param_guards(scope, site.call, rctx)
        for loop in scope.loops:
            found = self._param_loop_module(scope, loop, rctx)
            if found is not None:
                call = param_loop(loop)[0]
                yield call, found[0], self._param_guards(scope, call, rctx) + found[1]

    def _called_with(self, scope: Scope, call: cst.Call, ctx: Ctx, guards: Tuple, bound_self=None) -> bool:
        """The parameter tests ``guards`` of ``scope`` hold for this call's arguments."""
        if not guards:
            return True
        bound = Ctx(scope, self.r.bind_args(scope, call, ctx, skip_self=bound_self is not None), bound_self)
        return self.bn.guards_hold(guards, bound)

    def _method_freezes_self(self, call: cst.Call, rctx: Ctx, module: ModuleInfo) -> bool:
        """``obj.method(...)`` runs a project method of another file that freezes ``self`` or a
        submodule of it, with these arguments (a method of this file is analysed where its own
        freeze is written)."""
        callees = self.r.resolve(call.func, rctx)
        bound = [v for v in callees if isinstance(v, FuncRef) and v.bound_self is not None]
        if not bound or len(bound) != len(callees) or any(v.scope.module is module for v in bound):
            return False
        return all(any(self._called_with(v.scope, call, rctx, guards, v.bound_self)
                       for guards in self._freezes_self(v.scope)) for v in bound) \
            and any(self._freezes_bn(v) for v in bound)

    def _frozen_part(self, func: cst.Attribute, rctx: Ctx) -> cst.BaseExpression:
        """What ``obj.method(...)`` freezes, written on the receiver: ``encoder.resnet`` when the
        method freezes ``self.resnet`` (a ``train()`` override may keep that part in eval mode),
        else the receiver itself. (A node of no tree, as for the stand-in calls of ``module.py``.)"""
        attrs = set()
        for v in self.r.resolve(func, rctx):
            for _node, expr, _guards in self.gated_freezes(v.scope):
                if rooted_at(expr, v.scope.self_name):  # (a local such as a child of ``self.resnet`` is inside it)
                    attrs.add(self_attribute(expr, v.scope.self_name))
        if len(attrs) == 1 and None not in attrs:
            key = ("frozen_part", id(func))
            memo = self.r.index.memo
            if key not in memo:
                memo[key] = cst.Attribute(value=func.value, attr=cst.Name(attrs.pop()))
            return memo[key]
        return func.value

    def _freezes_bn(self, method: FuncRef) -> bool:
        """What the method freezes has BN, read with ``self`` bound to the receiver: a
        ``freeze_backbone()`` of a model whose backbone is a plain VGG freezes no BN layer."""
        mctx = Ctx(method.scope, self_value=method.bound_self)
        return any(self.bn.has_bn(v) for _node, expr in self.scope_freezes(method.scope)
                   if rooted_at(expr, method.scope.self_name) for v in self.r.resolve(expr, mctx))

    def _freezes_self(self, method: Scope) -> List[Tuple]:
        """The parameter tests of each freeze of ``self`` (or a part of it) the method writes."""
        key = ("freezes_self", id(method))
        memo = self.r.index.memo
        if key not in memo:
            memo[key] = [guards for _node, expr, guards in self.gated_freezes(method)
                         if rooted_at(expr, method.self_name)]
        return memo[key]

    def _param_loop_module(self, scope: Scope, loop, rctx: Ctx) -> Optional[Tuple[cst.BaseExpression, Tuple]]:
        """``X`` in ``for p in X.parameters(): p.requires_grad = False`` (or ``named_parameters``), with
        the parameter test a value read from a parameter needs: ``p.requires_grad = train_bn``
        freezes when ``train_bn`` is false (``self.train_bn`` set from it, alike)."""
        found = param_loop(loop)
        if found is None:
            return None
        call, param = found
        func = call.func
        site = next((s for s in scope.calls if s.call is call), None)
        if site is None or not self._holds(site, rctx):
            return None
        for stmt in freezing_statements(loop.body, param):
            if not _guarded_by_bn_test(scope, stmt, loop) and not self._selects_from_nothing(scope, stmt, loop, rctx):
                return func.value, ()
        for stmt in freezing_statements(loop.body, param, None):
            value = stmt.value
            if _guarded_by_bn_test(scope, stmt, loop) or isinstance(value, cst.Name) and value.value == "True" \
                    or self._selects_from_nothing(scope, stmt, loop, rctx):
                continue
            if self.r.const(value, rctx) is False:
                return func.value, ()
            if _tests_parameters(value, scope):
                return func.value, ((value, False),)
        return None

    def _selects_from_nothing(self, scope: Scope, stmt: cst.CSTNode, loop, rctx: Ctx) -> bool:
        """The freeze sits under ``if any(x in name for x in freeze):`` with ``freeze`` an empty list
        (``freeze = []``, YOLOv5's trainer with nothing to freeze): it never runs."""
        names = _name_filter(scope.module, stmt, loop)
        values = self.r.resolve(names, rctx) if names is not None else []
        return bool(values) and all(isinstance(v, Seq) and not v.items for v in values)

    def selected_by(self, freeze: Freeze) -> Optional[str]:
        """``freeze`` in ``if any(x in k for x in freeze):`` when every freezing statement of the
        parameter loop at ``freeze.node`` sits under such a name filter: the parameters it freezes
        are those the list names (YOLOv5's ``--freeze N``, which names none by default)."""
        found = next(((lp, p) for lp in freeze.scope.loops for p in [param_loop(lp)] if p and p[0] is freeze.node), None)
        if found is None:
            return None
        loop, (_call, param) = found
        filters = {_name_filter(freeze.scope.module, stmt, loop) for stmt in freezing_statements(loop.body, param)}
        if len(filters) != 1 or None in filters:
            return None
        return " ".join(freeze.scope.module.code(next(iter(filters))).split())

    def _holds(self, site: CallSite, rctx: Ctx) -> bool:
        """Every condition around the freeze holds by default, is a command-line option, or tests the
        function's own parameters (each call decides)."""
        return all(self.bn.guards_hold((guard,), rctx) or self.option_name(guard[0], rctx)
                   or _tests_parameters(guard[0], site.scope) for guard in site.guards)

    def _option_gate(self, scope: Scope, node: cst.CSTNode, rctx: Ctx) -> Optional[str]:
        """The option (``args.freeze``) the freeze needs when the default configuration skips it."""
        for guard in self._unsure_guards(scope, node, rctx):
            if not _tests_parameters(guard[0], scope):
                return self.option_name(guard[0], rctx)
        return None

    def _param_guards(self, scope: Scope, node: cst.CSTNode, rctx: Ctx) -> Tuple:
        """The tests on the function's own parameters (``if pretrained:``) the freeze needs."""
        return tuple(g for g in self._unsure_guards(scope, node, rctx) if _tests_parameters(g[0], scope))

    def _unsure_guards(self, scope: Scope, node: cst.CSTNode, rctx: Ctx) -> list:
        site = next((s for s in scope.calls if s.call is node), None)
        return [g for g in (site.guards if site is not None else ()) if not self.bn.guards_hold((g,), rctx)]

    def built_frozen(self, freeze: Freeze, inst: Instance) -> bool:
        """``inst`` was built with arguments under which its constructor's freeze runs
        (``ResNet18(pretrained=True)`` for ``if pretrained: <freeze>``)."""
        if not freeze.param_guards:
            return True
        if inst.call is None:
            return False
        scope = freeze.scope
        if scope.short_name == "__init__" or scope.cls is None:
            return self._called_with(scope, inst.call, inst.ctx, freeze.param_guards, inst)
        # ``self.set_trainable(trainable)`` in ``__init__``: the constructor's arguments, passed on
        init = scope.cls.methods.get("__init__")
        site = next((s for s in init.calls if not s.guards and not s.loops
                     and self_attribute(s.call.func, init.self_name) == scope.short_name), None) if init else None
        if site is None:
            return False
        init_ctx = Ctx(init, self.r.bind_args(init, inst.call, inst.ctx, skip_self=True), inst)
        return self._called_with(scope, site.call, init_ctx, freeze.param_guards, inst)

    def option_name(self, test: cst.BaseExpression, rctx: Ctx) -> Optional[str]:
        """``args.freeze`` for a test on a command-line option (``args.freeze``, ``not args.x``,
        ``args.mode == "linear"``), else None."""
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test = test.expression
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            test = test.left
        if isinstance(test, cst.Attribute) and any(
                isinstance(v, ArgsNamespace) for v in self.r.resolve(test.value, rctx)):
            return " ".join(rctx.scope.module.code(test).split())
        return None


def _received(module: ModuleInfo, call: cst.Call, position: Optional[int]) -> Optional[cst.BaseExpression]:
    """What holds the frozen network a factory call returns: the call itself, or for ``return model,
    size`` the target at that position of ``self.model, self.in_num = factory(...)``."""
    if position is None:
        return call
    stmt = module.parents.get(call)
    if not isinstance(stmt, cst.Assign) or len(stmt.targets) != 1 \
            or not isinstance(stmt.targets[0].target, (cst.Tuple, cst.List)):
        return None
    elements = stmt.targets[0].target.elements
    if position >= len(elements) or isinstance(elements[position], cst.StarredElement):
        return None
    return elements[position].value


def _every_branch(module: ModuleInfo, paths: List[Tuple]) -> bool:
    """The freezes under these undecided branch paths (each a tuple of (test, branch)) cover every
    way through one ``if``/``elif`` chain: a factory freezing whichever architecture ``model_name``
    picks. A final ``else`` may instead end the program (``raise``, ``exit()``)."""
    taken = {tuple((id(t), b) for t, b in path) for path in paths}
    first = paths[0][0][0] if paths and paths[0] else None
    node = module.parents.get(first) if first is not None else None
    if not isinstance(node, cst.If):
        return False
    while True:  # up to the chain's first ``if`` (an ``elif`` is the ``orelse`` of the one before)
        parent = module.parents.get(node)
        if not (isinstance(parent, cst.If) and parent.orelse is node):
            break
        node = parent
    before: Tuple = ()
    while isinstance(node, cst.If):
        if before + ((id(node.test), True),) not in taken:
            return False
        before += ((id(node.test), False),)
        node = node.orelse
    if before in taken:
        return True
    body = node.body.body if isinstance(node, cst.Else) else ()
    last = body[-1] if body else None
    if isinstance(last, cst.SimpleStatementLine):
        last = last.body[-1]
    return isinstance(last, cst.Raise) or (isinstance(last, cst.Expr) and _exits(last.value))


def _from_another_module(func: cst.BaseExpression, module: ModuleInfo) -> bool:
    """``initialize_model(...)`` or ``utils.initialize_model(...)``: a name the module imports (or
    does not bind at all: a star import), or an attribute of an imported module; not a method
    call on an object nor a function of this module (a factory of another file, cheaply told)."""
    if isinstance(func, cst.Attribute):
        func = func.value
        if not isinstance(func, cst.Name):
            return False
        bindings = module.scope.bindings.get(func.value, [])
        return bool(bindings) and all(b.kind == "import" for b in bindings)
    if not isinstance(func, cst.Name):
        return False
    return all(b.kind == "import" for b in module.scope.bindings.get(func.value, []))


def _name_filter(module: ModuleInfo, stmt: cst.CSTNode, loop: cst.CSTNode) -> Optional[cst.BaseExpression]:
    """``freeze`` when ``stmt`` sits (inside ``loop``) under ``if any(x in k for x in freeze):``."""
    cur = module.parents.get(stmt)
    while cur is not None and cur is not loop:
        test = cur.test if isinstance(cur, cst.If) else None
        if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "any" \
                and len(test.args) == 1 and isinstance(test.args[0].value, cst.GeneratorExp):
            return test.args[0].value.for_in.iter
        cur = module.parents.get(cur)
    return None


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


def _tests_parameters(test: cst.BaseExpression, scope: Scope) -> bool:
    """``test`` reads only parameters of ``scope``, a function: ``pretrained``, ``not freeze``,
    ``mode == "linear"``; whether it holds depends on each call (each object's construction)."""
    if scope.parent is None:
        return False
    params = {p.name for p in scope.params} - {scope.self_name}
    if isinstance(test, cst.Attribute) and isinstance(test.value, cst.Name) and test.value.value == scope.self_name \
            and scope.short_name == "__init__":
        # ``self.train_bn`` in a constructor: set from its parameter, read back per object
        return any(b.scope is scope for b in scope.cls.attrs.get(test.attr.value, []))
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "bool" \
            and len(test.args) == 1:
        test = test.args[0].value  # ``p.requires_grad = bool(trainable)``
    names = [n.value for n in names_in(test)]
    return bool(names) and all(n in params for n in names)


def _attribute_path(expr: cst.BaseExpression) -> Optional[Tuple[str, ...]]:
    """``("model", "features")`` for ``model.features``; None for anything but names and attributes."""
    parts = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    return (expr.value,) + tuple(reversed(parts)) if isinstance(expr, cst.Name) else None


def self_attribute(func: cst.BaseExpression, self_name: Optional[str]) -> Optional[str]:
    """``stem`` for ``self.stem`` (``self_name`` the method's first parameter), else None."""
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == self_name:
        return func.attr.value
    return None


def param_loop(loop) -> Optional[Tuple[cst.Call, str]]:
    """The ``X.parameters()`` call a loop runs over and its name for one parameter: ``p`` in ``for p
    in X.parameters():``, ``for name, p in X.named_parameters():``, also under ``enumerate`` (``for
    i, p in enumerate(X.parameters()):``); else None."""
    if not isinstance(loop, cst.For) or not isinstance(loop.iter, cst.Call):
        return None
    call, target = loop.iter, loop.target
    if isinstance(call.func, cst.Name) and call.func.value == "enumerate" and len(call.args) == 1 \
            and isinstance(call.args[0].value, cst.Call) and isinstance(target, cst.Tuple) \
            and len(target.elements) == 2:
        call, target = call.args[0].value, target.elements[1].value
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in PARAM_ITERS:
        return None
    param = _param_name(target, func.attr.value == "named_parameters")
    return (call, param) if param is not None else None


def _param_name(target: cst.BaseExpression, named: bool) -> Optional[str]:
    if not named:
        return target.value if isinstance(target, cst.Name) else None
    if isinstance(target, cst.Tuple) and len(target.elements) == 2 and isinstance(target.elements[1].value, cst.Name):
        return target.elements[1].value.value
    return None


def freezing_statements(body: cst.CSTNode, param: str, value: Optional[str] = "False") -> List[cst.CSTNode]:
    """``param.requires_grad = False`` / ``param.requires_grad_(False)`` statements in a loop body
    (``value="True"``: the statements that unfreeze; ``None``: the assignments of any value)."""
    out = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Assign) and (value is None or isinstance(node.value, cst.Name)
                                             and node.value.value == value):
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
