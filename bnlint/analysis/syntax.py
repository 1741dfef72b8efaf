"""Small syntactic questions about one parsed module: nesting, the names a loop binds, name roots.

Answered from the module walk's tables (``ModuleInfo.parents``, ``Scope.bindings``) without
resolving values, so they are cheap enough to ask before the value resolver is consulted.
"""
from __future__ import annotations

from typing import Dict, FrozenSet, Iterator, List, Optional

import libcst as cst

from .module import ModuleInfo, Scope, code_children
from .names import dotted_name


def one_line(node: cst.CSTNode) -> str:
    """The source of ``node`` on one line, each run of whitespace made one space (a stable key)."""
    return " ".join(cst.Module(body=[]).code_for_node(node).split())


def within(module: ModuleInfo, node: cst.CSTNode, ancestor: cst.CSTNode) -> bool:
    cur = node
    while cur is not None:
        if cur is ancestor:
            return True
        cur = module.parents.get(cur)
    return False


def ancestors(module: ModuleInfo, node: cst.CSTNode, stop: Optional[cst.CSTNode] = None) -> Iterator[cst.CSTNode]:
    """The nodes enclosing ``node``, innermost first, up to (not including) ``stop``."""
    cur = module.parents.get(node)
    while cur is not None and cur is not stop:
        yield cur
        cur = module.parents.get(cur)


def in_own_body(module: ModuleInfo, node: cst.CSTNode, outer: cst.CSTNode) -> bool:
    """``node`` lies in ``outer`` (a function, the module) and runs there, not in a function or class
    defined inside it."""
    return within(module, node, outer) and not any(
        isinstance(a, (cst.FunctionDef, cst.ClassDef, cst.Lambda)) for a in ancestors(module, node, outer))


def conditional_within(module: ModuleInfo, node: cst.CSTNode, outer: cst.CSTNode) -> bool:
    """An ``if`` stands between ``node`` and the enclosing ``outer`` (a loop, a function)."""
    return any(isinstance(a, cst.If) for a in ancestors(module, node, outer))


def periodic_within(module: ModuleInfo, node: cst.CSTNode, outer: cst.CSTNode) -> bool:
    """Every ``if`` between ``node`` and ``outer`` tests a counter modulo a period (``if i % k == 0:``):
    over the iterations of ``outer``, ``node`` runs again and again, not once from some point on."""
    return all(_periodic_test(a.test) for a in ancestors(module, node, outer) if isinstance(a, cst.If))


def _periodic_test(test: cst.BaseExpression) -> bool:
    return isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
        and isinstance(test.comparisons[0].operator, (cst.Equal, cst.NotEqual)) \
        and any(isinstance(side, cst.BinaryOperation) and isinstance(side.operator, cst.Modulo)
                for side in (test.left, test.comparisons[0].comparator))


def rooted_at(expr: cst.BaseExpression, name: Optional[str]) -> bool:
    """``self`` / ``self.resnet`` / ``self.a.b`` for ``name == "self"``."""
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return name is not None and isinstance(expr, cst.Name) and expr.value == name


def param_data_names(module: ModuleInfo, scope: Scope) -> FrozenSet[str]:
    """The function's parameters (not ``self``) and the names computed from them in its body."""
    names = {p.name for p in scope.params if p.name != scope.self_name}
    return _grown(names, [(name, b) for name, bs in scope.bindings.items() for b in bs if b.kind != "param"])


def _grown(names: set, bindings) -> FrozenSet[str]:
    """``names`` and every name bound from them (through assignments, to a fixpoint)."""
    for _ in range(6):
        grown = {name for name, b in bindings
                 if name not in names and b.expr is not None and mentions(b.expr, names)}
        if not grown:
            break
        names |= grown
    return frozenset(names)


def loop_data_names(module: ModuleInfo, scope: Scope, loop: cst.CSTNode,
                    methods: Optional[Dict[str, Scope]] = None) -> FrozenSet[str]:
    """Names in ``loop`` that hold the data it iterates: the loop target and what is computed from it.

    For ``while`` loops, what ``next(...)`` returns. Lets a rule tell a loop over
    batches (evaluation, prediction) from a loop that only repeats a call. ``methods``: the methods of
    the object a method's loop runs on, inherited ones included (default: its own class's).
    """
    names = set()
    if isinstance(loop, cst.For):
        names |= _target_names(loop.target)
    bindings = [(name, b) for name, bs in scope.bindings.items() for b in bs
                if b.stmt is not loop and within(module, b.stmt, loop)]
    for name, b in bindings:
        if isinstance(b.expr, cst.Call) and isinstance(b.expr.func, cst.Name) and b.expr.func.value == "next":
            names.add(name)
    grown = _grown(names, bindings)
    return grown | _stored_by_methods(scope, loop, grown, methods)


def _stored_by_methods(scope: Scope, loop: cst.CSTNode, names: FrozenSet[str],
                           methods: Optional[Dict[str, Scope]]) -> FrozenSet[str]:
    """``self.set_input(data)`` in a method's loop, with ``set_input`` of the object storing its
    argument (``self.input.copy_(batch[0])``, ``self.real = batch["A"]``): ``self.input`` and
    ``self.real`` hold the loop's data, as dotted names."""
    cls, me = scope.cls, scope.self_name
    if cls is None or me is None or not names:
        return frozenset()
    methods = cls.methods if methods is None else methods
    out = set()
    for site in scope.calls:
        func = site.call.func
        if loop not in site.loops or not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)
                                          and func.value.value == me):
            continue
        method = methods.get(func.attr.value)
        if method is None or method.cls is None or not mentions(site.call, names):
            continue
        params = {p.name for p in method.params if p.name != method.self_name}
        out.update(f"{me}.{attr}" for attr, bindings in method.cls.attrs.items()
                   if any(b.scope is method and b.expr is not None and mentions(b.expr, params) for b in bindings))
    return frozenset(out)


def slices_by_iteration(module: ModuleInfo, scope: Scope, loop: cst.CSTNode) -> bool:
    """``loop`` cuts another sequence by its iteration count (``labels[bs * i:bs * (i + 1)]`` with
    ``i`` the ``enumerate`` index or a counter the body increments): it pairs each batch with those
    rows by position, so the order of its batches is part of the program's meaning."""
    counters = {name for name, bs in scope.bindings.items() for b in bs
                if b.kind == "augassign" and within(module, b.stmt, loop)}
    if isinstance(loop, cst.For) and isinstance(loop.iter, cst.Call) and isinstance(loop.iter.func, cst.Name) \
            and loop.iter.func.value == "enumerate" and isinstance(loop.target, cst.Tuple) and loop.target.elements:
        counters |= _target_names(loop.target.elements[0].value)
    if not counters:
        return False
    stack = [loop.body]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Subscript) and any(
                isinstance(e.slice, cst.Slice) and any(
                    bound is not None and mentions(bound, counters) for bound in (e.slice.lower, e.slice.upper))
                for e in cur.slice):
            return True
        stack.extend(code_children(cur))
    return False


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """``node`` and every code node below it, in source order."""
    yield node
    for child in code_children(node):
        yield from descendants(child)


def names_in(node: cst.CSTNode) -> Iterator[cst.Name]:
    """Every ``Name`` node in ``node``, attribute names (``freeze`` of ``args.freeze``) included."""
    if isinstance(node, cst.Name):
        yield node
    for child in code_children(node):
        yield from names_in(child)


def read_names(node: cst.CSTNode) -> List[cst.Name]:
    """The ``Name`` nodes read in ``node``: not attribute names (``step`` of ``args.step``),
    keyword names of calls, or names inside nested function, class or lambda bodies."""
    out = []
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(cur, cst.Name):
            out.append(cur)
        elif isinstance(cur, cst.Attribute):
            stack.append(cur.value)
        elif isinstance(cur, cst.Arg):
            stack.append(cur.value)
        else:
            stack.extend(code_children(cur))
    return out


def mentions(node: cst.CSTNode, names) -> bool:
    """``node`` reads one of ``names`` (as a bare name, or as a dotted one such as ``self.input``)."""
    dotted = any("." in name for name in names)
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Name) and cur.value in names:
            return True
        if isinstance(cur, cst.Attribute):
            if dotted and dotted_name(cur) in names:
                return True
            stack.append(cur.value)  # `batch.x` reads batch; `.x` is not a name
            continue
        stack.extend(code_children(cur))
    return False


def _target_names(target: cst.BaseExpression) -> set:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        out = set()
        for e in target.elements:
            out |= _target_names(e.value)
        return out
    return set()


def root_kinds(expr: cst.BaseExpression, scope: Scope) -> FrozenSet[str]:
    """Binding kinds of the root name of a dotted expression (``import``, ``param``, ``assign``...).

    Lets a rule skip resolving method calls on parameters (``x.mean()`` in ``forward``), which makes
    the resolver search the whole project for the function's callers.
    """
    node = expr
    while isinstance(node, (cst.Attribute, cst.Call)):
        node = node.value if isinstance(node, cst.Attribute) else node.func
    if not isinstance(node, cst.Name):
        return frozenset()
    cur: Optional[Scope] = scope
    while cur is not None:
        if node.value in cur.bindings:
            return frozenset(b.kind for b in cur.bindings[node.value])
        cur = cur.parent
    return frozenset({"builtin"})
