"""Reaching definitions: which bindings of a name can reach one use of it.

The module walk (``module.py``) records every binding of a name in a scope, in no particular
order of execution. This layer adds flow: for one scope (a function body, or a module's top-level
code) it walks the statements in program order with an environment from names to the bindings in
effect, and keeps, for every ``Name`` read in that scope, the bindings that can reach it:

- straight-line code: a binding replaces the ones before it (``x += ...`` adds to them);
- ``if``/``match``/``try`` join their branches (an ``except`` handler starts from the bindings
  before the ``try`` plus every binding made in its body); ``return``/``raise``/``break``/
  ``continue`` end a path;
- a loop's head joins the entry with the end of the body and every ``continue``, iterated to a
  fixpoint: a binding later in the body reaches an earlier use in it only through the back edge,
  a ``for`` target rebinds at the head, ``break`` jumps past ``else``; a later loop that is not
  around the use does not reach it;
- comprehension targets are seen inside the comprehension only (a walrus inside one leaks out
  as a binding that may or may not have run).

Computed lazily, once per scope, and cached on it. ``reaching(scope, name, use)`` answers with the
bindings of ``scope`` (in their recorded order) or ``None`` when this layer has no answer: the use
is not a read of ``name`` in ``scope`` (a nested function or lambda body reads it later, at call
time), no binding reaches it, one path binds it in a way the module walk does not record (a
starred target, ``except ... as``, a ``match`` capture), or the name is declared ``global`` /
``nonlocal`` somewhere in the module. Callers then fall back to every binding of the name (the
flow-insensitive answer), so "unknown" stays unknown. The exception is a name that one function
alone declares ``global`` (and nothing else rebinds while it runs): there the walk starts from the
value on entry, and ``global_reaching`` says which of the function's own bindings reach a read and
whether the module's value still may.
"""
from __future__ import annotations

from typing import Collection, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

import libcst as cst

from .module import Binding, Scope, code_children

Env = Dict[str, FrozenSet[object]]  # name -> bindings in effect; an environment of None: unreachable

MAX_STEPS = 400_000  # nodes visited for one scope (fixpoint rounds included) before giving up on it
MAX_ROUNDS = 12  # rounds of one loop's fixpoint (two or three in practice)


class _Opaque:
    """A binding the module walk did not record (a starred target, ``except E as e``, a match capture)."""

    __slots__ = ()


OPAQUE = _Opaque()
_EMPTY: FrozenSet[object] = frozenset()
_MATCH = getattr(cst, "Match", None)
_TRY_STAR = getattr(cst, "TryStar", None)
_TRIES = tuple(t for t in (cst.Try, _TRY_STAR) if t is not None)
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)


class _Entry:
    """The value a ``global`` name has when its function starts (the module's, at call time)."""

    __slots__ = ()


ENTRY = _Entry()


class Flow:
    """The reaching bindings of every read of a name in one scope."""

    __slots__ = ("uses", "escaping", "complete")

    def __init__(self, uses: Dict[cst.Name, FrozenSet[object]], escaping: Set[str], complete: bool):
        self.uses = uses
        self.escaping = escaping
        self.complete = complete  # False: the walk gave up (too large); every answer is None


def flow_of(scope: Scope) -> Flow:
    flow = scope.flow
    if flow is None:
        flow = scope.flow = _compute(scope)
    return flow


def reaching(scope: Scope, name: str, use: Optional[cst.CSTNode]) -> Optional[List[Binding]]:
    """The bindings of ``name`` in ``scope`` that can reach ``use`` (a ``Name`` node), or None (no answer)."""
    if use is None or not isinstance(use, cst.Name) or use.value != name:
        return None
    bindings = scope.bindings.get(name)
    if not bindings:
        return None
    flow = flow_of(scope)
    found = flow.uses.get(use)
    if not found or OPAQUE in found or name in flow.escaping:
        return None
    if ENTRY in found:
        return None  # the module's value may reach: answered by ``global_reaching``
    out = [b for b in bindings if b in found]
    return out or None


def global_reaching(scope: Scope, name: str, use: Optional[cst.CSTNode]) -> Optional[Tuple[List[Binding], bool]]:
    """For ``name`` declared ``global`` in the function ``scope`` and by no other function of the module
    (so nothing else rebinds it while ``scope`` runs): (the bindings of ``scope`` that reach ``use``,
    whether the value the name had when the function started reaches it). ``if checkpoint is None:``
    at the top of ``main`` reads the module's ``checkpoint = None``, not ``main``'s own
    ``checkpoint = torch.load(checkpoint)`` further down. None when unknown."""
    if use is None or not isinstance(use, cst.Name) or use.value != name \
            or name not in _own_globals(scope):
        return None
    flow = flow_of(scope)
    found = flow.uses.get(use)
    if not found or OPAQUE in found:
        return None
    return [b for b in scope.bindings.get(name, ()) if b in found], ENTRY in found


def _compute(scope: Scope) -> Flow:
    own = _own_globals(scope)
    escaping = set(declared_escaping(scope)) - own
    walker = _Walker(scope, own)
    try:
        walker.run()
    except (_GiveUp, RecursionError):  # too large, or nested deeper than the stack allows
        return Flow({}, escaping, False)
    return Flow(walker.uses, escaping, True)


def declared_escaping(scope: Scope) -> Collection[str]:
    """Names declared ``global``/``nonlocal`` anywhere in the module (rebound behind the walk's back)."""
    return _declarers(scope).keys()


def _own_globals(scope: Scope) -> Set[str]:
    """Names ``scope`` (a function) declares ``global`` and no other scope of its module declares
    ``global`` or ``nonlocal``: only ``scope`` and the module's top level bind them."""
    if not isinstance(scope.node, cst.FunctionDef):
        return set()
    return {name for name, (declarers, only_global) in _declarers(scope).items()
            if only_global and declarers == {scope.node}}


def _declarers(scope: Scope) -> Dict[str, Tuple[Set[cst.CSTNode], bool]]:
    """name -> (the functions declaring it ``global``/``nonlocal``, whether every declaration is ``global``)."""
    module = scope.module
    if module.escaping_names is None:
        names: Dict[str, Tuple[Set[cst.CSTNode], bool]] = {}
        text = module.source.text
        if "global" in text or "nonlocal" in text:
            for node in module.parents:
                if isinstance(node, (cst.Global, cst.Nonlocal)):
                    owner = module.parents.get(node)
                    while owner is not None and not isinstance(owner, (cst.FunctionDef, cst.Module)):
                        owner = module.parents.get(owner)
                    for item in node.names:
                        declarers, only_global = names.get(item.name.value, (set(), True))
                        declarers.add(owner)
                        names[item.name.value] = (declarers, only_global and isinstance(node, cst.Global))
        module.escaping_names = names
    return module.escaping_names


class _GiveUp(Exception):
    pass


class _Loop:
    __slots__ = ("breaks", "continues")

    def __init__(self):
        self.breaks: List[Env] = []
        self.continues: List[Env] = []


def join(*envs: Optional[Env]) -> Optional[Env]:
    out: Optional[Env] = None
    for env in envs:
        if env is None:
            continue
        if out is None:
            out = dict(env)
            continue
        for name, bs in env.items():
            have = out.get(name)
            out[name] = bs if have is None else (have | bs)
    return out


class _Walker:
    def __init__(self, scope: Scope, entry_names: Set[str] = frozenset()):
        self.scope = scope
        self.entry_names = entry_names  # globals whose value on entry reaches reads until rebound
        # statement node -> (name, binding) events, from this scope's own bindings
        self.events: Dict[cst.CSTNode, List[Tuple[str, Binding]]] = {}
        for name, bindings in scope.bindings.items():
            for b in bindings:
                if b.kind != "param":
                    self.events.setdefault(b.stmt, []).append((name, b))
        self.uses: Dict[cst.Name, FrozenSet[object]] = {}
        self.loops: List[_Loop] = []
        self.tries: List[Dict[str, Set[object]]] = []  # bindings made so far in each enclosing ``try`` body
        self.leaks: List[Dict[str, Set[object]]] = []  # walrus bindings made in each enclosing comprehension
        # loop -> (entry, exit, bindings made in it) of its last walk: an inner loop entered again with
        # the same bindings (the confirming round of the loop around it) is not walked again
        self.done: Dict[cst.CSTNode, Tuple[Env, Optional[Env], Dict[str, Set[object]]]] = {}
        self.steps = 0

    def _tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise _GiveUp()

    def run(self) -> None:
        node = self.scope.node
        env: Env = {}
        if isinstance(node, cst.FunctionDef):
            for name, bindings in self.scope.bindings.items():
                params = frozenset(b for b in bindings if b.kind == "param")
                if params:
                    env[name] = params
            for name in self.entry_names:
                env[name] = frozenset({ENTRY})
            self.suite(node.body, env)
        elif isinstance(node, cst.Module):
            self.block(node.body, env)

    # -- recording and binding ------------------------------------------------------------
    def record(self, node: cst.Name, env: Env) -> None:
        found = env.get(node.value)
        if found is None:
            return
        have = self.uses.get(node)
        self.uses[node] = found if have is None else (have | found)

    def bind(self, stmt: cst.CSTNode, env: Env, stores: Sequence[cst.Name] = ()) -> None:
        """Apply the bindings ``stmt`` makes; ``stores`` are the target names written (recorded after)."""
        grouped: Dict[str, Set[object]] = {}
        adds: Set[str] = set()
        for name, b in self.events.get(stmt, ()):
            grouped.setdefault(name, set()).add(b)
            if b.kind == "augassign":
                adds.add(name)
        for node in stores:
            if node.value not in grouped:
                grouped[node.value] = {OPAQUE}  # a target the module walk does not bind (after a star)
        for name, bs in grouped.items():
            new = frozenset(bs)
            env[name] = (env.get(name, _EMPTY) | new) if name in adds else new
            for acc in self.tries:
                acc.setdefault(name, set()).update(bs)
            if self.leaks and isinstance(stmt, cst.NamedExpr):
                self.leaks[-1].setdefault(name, set()).update(bs)
        for node in stores:
            self.record(node, env)  # a target name means the value just bound

    # -- statements ---------------------------------------------------------------------
    def suite(self, body, env: Optional[Env]) -> Optional[Env]:
        if isinstance(body, cst.IndentedBlock):
            return self.block(body.body, env)
        if isinstance(body, cst.SimpleStatementSuite):
            for small in body.body:
                if env is None:
                    return None
                env = self.small(small, env)
            return env
        return env

    def block(self, stmts, env: Optional[Env]) -> Optional[Env]:
        for stmt in stmts:
            if env is None:
                return None  # unreachable: its reads get no answer
            env = self.statement(stmt, env)
        return env

    def statement(self, stmt, env: Env) -> Optional[Env]:
        self._tick()
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if env is None:
                    return None
                env = self.small(small, env)
            return env
        if isinstance(stmt, cst.If):
            self.expr(stmt.test, env)
            taken = self.suite(stmt.body, dict(env))
            orelse = stmt.orelse
            if orelse is None:
                other: Optional[Env] = env
            elif isinstance(orelse, cst.If):
                other = self.statement(orelse, dict(env))
            else:
                other = self.suite(orelse.body, dict(env))
            return join(taken, other)
        if isinstance(stmt, (cst.For, cst.While)):
            return self.loop(stmt, env)
        if isinstance(stmt, _TRIES):
            return self.try_(stmt, env)
        if isinstance(stmt, cst.With):
            stores: List[cst.Name] = []
            for item in stmt.items:
                self.expr(item.item, env)
            for item in stmt.items:
                if item.asname is not None:
                    self.target(item.asname.name, env, stores)
            self.bind(stmt, env, stores)
            return self.suite(stmt.body, env)
        if isinstance(stmt, cst.FunctionDef):
            for d in stmt.decorators:
                self.expr(d.decorator, env)
            self.parameters(stmt.params, env)
            if stmt.returns is not None:
                self.expr(stmt.returns.annotation, env)
            self.bind(stmt, env)
            return env
        if isinstance(stmt, cst.ClassDef):
            for d in stmt.decorators:
                self.expr(d.decorator, env)
            for arg in list(stmt.bases) + list(stmt.keywords):
                self.expr(arg.value, env)
            # The body runs now, in its own namespace: its names are the class's, not this scope's.
            self.suite(stmt.body, dict(env))
            self.bind(stmt, env)
            return env
        if _MATCH is not None and isinstance(stmt, _MATCH):
            self.expr(stmt.subject, env)
            outs: List[Optional[Env]] = [env]  # no case matched
            for case in stmt.cases:
                case_env = dict(env)
                self.pattern(case.pattern, case_env)
                if case.guard is not None:
                    self.expr(case.guard, case_env)
                outs.append(self.suite(case.body, case_env))
            return join(*outs)
        # Any other compound statement: its parts in order, as if straight-line.
        for child in code_children(stmt):
            if isinstance(child, cst.BaseSuite):
                env = self.suite(child, env)
                if env is None:
                    return None
            elif isinstance(child, cst.BaseExpression):
                self.expr(child, env)
        return env

    def small(self, node, env: Env) -> Optional[Env]:
        self._tick()
        if isinstance(node, cst.Assign):
            self.expr(node.value, env)
            stores: List[cst.Name] = []
            for t in node.targets:
                self.target(t.target, env, stores)
            self.bind(node, env, stores)
            return env
        if isinstance(node, cst.AugAssign):
            self.expr(node.target, env)  # ``x += y`` reads x
            self.expr(node.value, env)
            self.bind(node, env)
            return env
        if isinstance(node, cst.AnnAssign):
            if node.value is not None:
                self.expr(node.value, env)
            self.expr(node.annotation.annotation, env)
            stores = []
            self.target(node.target, env, stores)
            if node.value is not None:
                self.bind(node, env, stores)
            return env
        if isinstance(node, cst.Expr):
            self.expr(node.value, env)
            self.bind(node, env)  # ``buf.copy_(real)`` rebinds ``buf`` (module.py)
            return None if exits(node.value) else env
        if isinstance(node, cst.Return):
            if node.value is not None:
                self.expr(node.value, env)
            return None
        if isinstance(node, cst.Raise):
            if node.exc is not None:
                self.expr(node.exc, env)
            if node.cause is not None:
                self.expr(node.cause.item, env)
            return None
        if isinstance(node, cst.Break):
            if self.loops:
                self.loops[-1].breaks.append(env)
            return None
        if isinstance(node, cst.Continue):
            if self.loops:
                self.loops[-1].continues.append(env)
            return None
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            self.bind(node, env)
            return env
        if isinstance(node, (cst.Global, cst.Nonlocal, cst.Pass)):
            return env
        if isinstance(node, cst.Del):
            self.expr(node.target, env)
            return env
        for child in code_children(node):  # assert, and anything newer
            if isinstance(child, cst.BaseExpression):
                self.expr(child, env)
        return env

    def loop(self, node, env: Env) -> Optional[Env]:
        is_for = isinstance(node, cst.For)
        if is_for:
            self.expr(node.iter, env)
        entry = dict(env)
        known = self.done.get(node)
        if known is not None and known[0] == entry:
            for acc in self.tries:
                for name, bs in known[2].items():
                    acc.setdefault(name, set()).update(bs)
            return dict(known[1]) if known[1] is not None else None
        made: Dict[str, Set[object]] = {}
        self.tries.append(made)  # collects the bindings made in the loop, for the entry above
        try:
            out = self._loop(node, is_for, entry)
        finally:
            self.tries.pop()  # (``bind`` gave the enclosing ``try`` bodies these bindings already)
        self.done[node] = (entry, out, made)
        return dict(out) if out is not None else None

    def _loop(self, node, is_for: bool, entry: Env) -> Optional[Env]:
        head = dict(entry)
        frame = _Loop()
        for _ in range(MAX_ROUNDS):
            frame = _Loop()
            self.loops.append(frame)
            try:
                body_env = dict(head)
                if is_for:
                    stores: List[cst.Name] = []
                    self.target(node.target, body_env, stores)
                    self.bind(node, body_env, stores)
                else:
                    self.expr(node.test, body_env)
                out = self.suite(node.body, body_env)
            finally:
                self.loops.pop()
            new_head = join(entry, out, *frame.continues)
            if new_head == head:
                break
            head = new_head
        if not is_for and _always_true(node.test):
            done: Optional[Env] = None  # ``while True``: left only by ``break``
        else:
            done = dict(head)
            if not is_for:
                self.expr(node.test, done)
            if node.orelse is not None:
                done = self.suite(node.orelse.body, done)
        return join(done, *frame.breaks)

    def try_(self, node, env: Env) -> Optional[Env]:
        entry = dict(env)
        made: Dict[str, Set[object]] = {}
        self.tries.append(made)
        try:
            out = self.suite(node.body, dict(env))
        finally:
            self.tries.pop()
        # A handler starts anywhere in the body: the bindings before it plus any made in it.
        raised = dict(entry)
        for name, bs in made.items():
            raised[name] = raised.get(name, _EMPTY) | frozenset(bs)
        if node.orelse is not None and out is not None:
            out = self.suite(node.orelse.body, out)
        outs: List[Optional[Env]] = [out]
        for handler in node.handlers:
            h_env = dict(raised)
            if handler.type is not None:
                self.expr(handler.type, h_env)
            if handler.name is not None and isinstance(handler.name.name, cst.Name):
                h_env[handler.name.name.value] = frozenset((OPAQUE,))
            outs.append(self.suite(handler.body, h_env))
        normal = join(*outs)
        if node.finalbody is None:
            return normal
        self.suite(node.finalbody.body, join(normal, raised))  # reads on every path into ``finally``
        return self.suite(node.finalbody.body, normal) if normal is not None else None

    # -- targets, parameters, patterns ----------------------------------------------------
    def target(self, node, env: Env, stores: List[cst.Name]) -> None:
        """Walk an assignment target: names are written (``stores``), anything inside them is read."""
        if isinstance(node, cst.Name):
            stores.append(node)
        elif isinstance(node, (cst.Tuple, cst.List)):
            for element in node.elements:
                self.target(element.value, env, stores)
        elif isinstance(node, cst.StarredElement):
            self.target(node.value, env, stores)
        else:  # obj.attr = ..., d[k] = ...: reads of obj, d and k
            self.expr(node, env)

    def parameters(self, params: cst.Parameters, env: Env) -> None:
        """Defaults and annotations run where the function is defined."""
        for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params):
            if p.default is not None:
                self.expr(p.default, env)
            if p.annotation is not None:
                self.expr(p.annotation.annotation, env)
        for p in (params.star_arg, params.star_kwarg):
            if isinstance(p, cst.Param) and p.annotation is not None:
                self.expr(p.annotation.annotation, env)

    def pattern(self, node, env: Env) -> None:
        """A match pattern: captured names are written (opaquely), value patterns are read."""
        stack = [node]
        while stack:
            cur = stack.pop()
            self._tick()
            if isinstance(cur, cst.Name):
                env[cur.value] = frozenset((OPAQUE,))
                continue
            if type(cur).__name__ == "MatchValue":
                self.expr(cur.value, env)
                continue
            if type(cur).__name__ == "MatchClass":
                self.expr(cur.cls, env)
                stack.extend(reversed(list(cur.patterns) + [k.pattern for k in cur.kwds]))
                continue
            if type(cur).__name__ == "MatchMappingElement":
                self.expr(cur.key, env)
                stack.append(cur.pattern)
                continue
            stack.extend(reversed(code_children(cur)))

    # -- expressions ---------------------------------------------------------------------
    def expr(self, node, env: Env) -> None:
        """Record the reads in an expression, in evaluation order (iterative: deep nesting is common)."""
        stack = [node]
        while stack:
            cur = stack.pop()
            self._tick()
            kind = type(cur)  # exact types: ``isinstance`` on LibCST's ABCs is slow
            if kind is cst.Name:
                self.record(cur, env)
            elif kind is cst.Attribute or kind is cst.Arg:
                stack.append(cur.value)
            elif isinstance(cur, cst.NamedExpr):
                self.expr(cur.value, env)
                stores: List[cst.Name] = []
                self.target(cur.target, env, stores)
                self.bind(cur, env, stores)
            elif isinstance(cur, cst.Lambda):
                self.parameters(cur.params, env)  # the body runs later, when called: no answer there
            elif isinstance(cur, _COMPREHENSIONS):
                self.comprehension(cur, env)
            else:
                stack.extend(reversed(code_children(cur)))

    def comprehension(self, node, env: Env) -> None:
        inner = dict(env)
        leaked: Dict[str, Set[object]] = {}
        self.leaks.append(leaked)
        try:
            comp = node.for_in
            first = True
            while comp is not None:
                # The outermost iterable is evaluated in the enclosing scope; the rest inside.
                self.expr(comp.iter, env if first else inner)
                first = False
                stores: List[cst.Name] = []
                self.target(comp.target, inner, stores)
                self.bind(comp, inner, stores)
                for cond in comp.ifs:
                    self.expr(cond.test, inner)
                comp = comp.inner_for_in
            if isinstance(node, cst.DictComp):
                self.expr(node.key, inner)
                self.expr(node.value, inner)
            else:
                self.expr(node.elt, inner)
        finally:
            self.leaks.pop()
        for name, bs in leaked.items():  # ``[y := f(x) for x in xs]`` binds y here, if it ran at all
            env[name] = env.get(name, _EMPTY) | frozenset(bs)
            if self.leaks:
                self.leaks[-1].setdefault(name, set()).update(bs)


def _always_true(test) -> bool:
    if isinstance(test, cst.Name):
        return test.value == "True"
    if isinstance(test, cst.Integer):
        return test.evaluated_value != 0
    return False


_EXIT_CALLS = frozenset({"exit", "quit", "sys.exit", "os._exit"})


def exits(expr: cst.BaseExpression) -> bool:
    """``exit()``, ``sys.exit(1)``: the program ends there (``else: print("Invalid model"); exit()``
    leaves no path on which the names of the other branches are unbound)."""
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        return f"{func.value.value}.{func.attr.value}" in _EXIT_CALLS
    return isinstance(func, cst.Name) and func.value in _EXIT_CALLS
