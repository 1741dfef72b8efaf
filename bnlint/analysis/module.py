"""One parsed module: its scopes, bindings, classes and call sites, collected in one walk.

Everything the value resolver and the rules ask about a file ("what is bound to
this name?", "which calls does this function make, under which conditions and
loops?") is answered from these tables, so each file is walked exactly once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from ..parsing import syntax_check
from ..source import Source
from .cst_fields import FIELDS
from .names import ImportTable, callee_name

Guard = Tuple[cst.BaseExpression, bool]  # (test, branch taken)


def guard_among(guard: Guard, guards: Tuple[Guard, ...]) -> bool:
    """``guard`` is one of ``guards``: the same test node, the same branch."""
    return any(guard[0] is g[0] and guard[1] == g[1] for g in guards)


# In-place random fills of a tensor (``noise.normal_(0, 1)``): their result is noise.
RANDOM_FILLS = frozenset({"normal_", "uniform_", "random_", "bernoulli_"})


@dataclass(eq=False, repr=False)
class Binding:
    """``name`` receives ``expr`` (``path`` indexes into tuple unpacking)."""

    kind: str  # assign | augassign | for | with | param | def | class | import | fill (``x.copy_(y)``)
    expr: Optional[cst.CSTNode]
    path: Tuple[int, ...]
    stmt: cst.CSTNode
    scope: "Scope"
    # Enclosing conditions and loops (as for call sites): only ``x += [...]`` bindings carry them,
    # for the list contents a guard such as ``if batch_norm:`` decides.
    guards: Tuple["Guard", ...] = ()
    loops: Tuple[cst.CSTNode, ...] = ()


@dataclass(eq=False, repr=False)
class Param:
    name: str
    default: Optional[cst.BaseExpression]
    index: int  # positional index, -1 for keyword-only / star params
    star: str = ""  # "", "*", "**"
    annotation: Optional[cst.BaseExpression] = None  # ``discriminator: Discriminator``


@dataclass(eq=False, repr=False)
class CallSite:
    call: cst.Call
    scope: "Scope"
    guards: Tuple[Guard, ...]
    loops: Tuple[cst.CSTNode, ...]  # enclosing For/While nodes, outermost first
    withs: Tuple[cst.With, ...]


@dataclass(eq=False, repr=False)
class Scope:
    node: cst.CSTNode  # Module or FunctionDef
    name: str  # qualified within the module: "train", "Trainer.fit", "<module>"
    parent: Optional["Scope"]
    module: "ModuleInfo"
    cls: Optional["ClassInfo"] = None
    params: List[Param] = field(default_factory=list)
    bindings: Dict[str, List[Binding]] = field(default_factory=dict)
    calls: List[CallSite] = field(default_factory=list)
    loops: List[cst.CSTNode] = field(default_factory=list)
    returns: List[cst.BaseExpression] = field(default_factory=list)
    raises: List[Tuple[Guard, ...]] = field(default_factory=list)  # the guards of each ``raise`` outside loops
    decorators: List[cst.BaseExpression] = field(default_factory=list)
    # ``config["network"] = {...}`` and ``config["network"]["name"] = ...``: (the key expressions,
    # binding of the stored value) per dict name
    item_stores: Dict[str, List[Tuple[Tuple[cst.BaseExpression, ...], Binding]]] = field(default_factory=dict)
    flow: Optional[object] = None  # reaching.Flow, computed on first use

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def self_name(self) -> Optional[str]:
        """Name of the instance parameter of a method (usually ``self``)."""
        if self.cls is not None and self.params and self.params[0].index == 0:
            if not any(_is_static(d) for d in self.decorators):
                return self.params[0].name
        return None

    def param(self, name: str) -> Optional[Param]:
        for p in self.params:
            if p.name == name:
                return p
        return None


def _is_static(decorator: cst.BaseExpression) -> bool:
    return isinstance(decorator, cst.Name) and decorator.value in ("staticmethod",)


def binding_scope(scope: Optional["Scope"], name: str) -> Optional["Scope"]:
    """``scope`` or the nearest scope around it that binds ``name`` (None: no scope binds it)."""
    while scope is not None and name not in scope.bindings:
        scope = scope.parent
    return scope


@dataclass(eq=False, repr=False)
class ClassInfo:
    name: str
    node: cst.ClassDef
    bases: List[cst.BaseExpression]
    keywords: Dict[str, cst.BaseExpression]
    outer: Scope  # scope the class statement runs in (resolves bases)
    methods: Dict[str, Scope] = field(default_factory=dict)
    attrs: Dict[str, List[Binding]] = field(default_factory=dict)  # self.x = ...
    counters: Set[str] = field(default_factory=set)  # self.x += ...: no constant value
    class_bindings: Dict[str, List[Binding]] = field(default_factory=dict)


class ModuleInfo:
    """Parsed module plus the tables of one walk over it."""

    def __init__(self, source: Source, tree: cst.Module, fs_path: str, module_name: str, package: str):
        self.source = source
        self.tree = tree
        self.fs_path = fs_path
        self.path = source.path
        self.module_name = module_name
        self.imports = ImportTable(package)
        self.scope = Scope(node=tree, name="<module>", parent=None, module=self)
        self.scopes: List[Scope] = [self.scope]
        self.classes: Dict[str, ClassInfo] = {}
        self.class_of: Dict[cst.ClassDef, ClassInfo] = {}  # every class statement, also a name's second one
        self.functions: Dict[str, Scope] = {}  # module-level functions by name
        self.scope_of: Dict[cst.CSTNode, Scope] = {}  # FunctionDef -> Scope
        self.parents: Dict[cst.CSTNode, cst.CSTNode] = {}
        self.mutated: set = set()  # names of dicts/lists changed in place (d[k] = v, d.update(...))
        self.updated: set = set()  # those changed by a method call (d.update(...)): any key may change
        self.escaping_names: Optional[dict] = None  # names declared global/nonlocal -> by whom (reaching.py)
        # ``data_parallel(net, x)`` -> the call it makes, ``net(x)``: a node of no tree, standing in
        # for the written call in the call sites; ``stand_in`` maps its nodes back to written ones.
        self.forward_view: Dict[cst.Call, cst.Call] = {}
        self.stand_in: Dict[cst.CSTNode, cst.CSTNode] = {}
        self._positions = None
        self._order: Optional[Dict[cst.CSTNode, int]] = None
        self._compiles: Optional[bool] = None
        _Collector(self).run()

    # -- positions -------------------------------------------------------------------
    def position(self, node: cst.CSTNode) -> Tuple[int, int, int, int]:
        """(line, column, end_line, end_column): lines 1-based, columns 0-based."""
        if self._positions is None:
            self._positions = _positions(self.tree)
        rng = self._positions[self.stand_in.get(node, node)]
        return rng.start.line, rng.start.column, rng.end.line, rng.end.column

    def line(self, node: cst.CSTNode) -> int:
        return self.position(node)[0]

    def order(self, node: cst.CSTNode) -> int:
        """Where ``node`` starts in the text, as a rank: below its children's and every later node's
        (pre-order in source order). Ordering calls and events needs no line numbers, and this costs a
        walk instead of LibCST's code generation: positions are then computed only to report."""
        if self._order is None:
            self._order = _text_order(self.tree)
        return self._order[self.stand_in.get(node, node)]

    def compiles(self) -> bool:
        """This interpreter compiles the file's text as it is (a fix to it can be checked). False for a
        file analysed through a renamed copy (``cuda(async=True)``) or written for a newer Python."""
        if self._compiles is None:
            self._compiles = syntax_check(self.source.text) is not None
        return self._compiles

    def code(self, node: cst.CSTNode) -> str:
        return self.tree.code_for_node(node)

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """The innermost simple or compound statement containing ``node``."""
        cur = node
        while cur is not None and not isinstance(cur, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            cur = self.parents.get(cur)
        return cur if cur is not None else node


def _text_order(tree: cst.Module) -> Dict[cst.CSTNode, int]:
    order: Dict[cst.CSTNode, int] = {}
    stack: List[cst.CSTNode] = [tree]
    while stack:
        node = stack.pop()
        order[node] = len(order)
        stack.extend(reversed(code_children(node)))
    return order


def _positions(tree: cst.Module):
    """Every node's position. ``MetadataWrapper.resolve`` also walks and rebuilds the whole tree with
    no visitor and throws the copy away (about 14 % of a cold run on ML projects); the provider's
    own generation step computes the same mapping, and the public route stays as the fallback."""
    wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
    gen = getattr(PositionProvider(), "_gen", None)
    if gen is not None:
        try:
            return gen(wrapper)
        except (TypeError, AttributeError):  # a LibCST whose private step differs
            pass
    return wrapper.resolve(PositionProvider)


class _Ctx:
    __slots__ = ("scope", "guards", "loops", "withs", "cls")

    def __init__(self, scope, guards=(), loops=(), withs=(), cls=None):
        self.scope = scope
        self.guards = guards
        self.loops = loops
        self.withs = withs
        self.cls = cls  # ClassInfo when directly inside a class body

    def but(self, **changes) -> "_Ctx":
        new = _Ctx(self.scope, self.guards, self.loops, self.withs, self.cls)
        for k, v in changes.items():
            setattr(new, k, v)
        return new


def _walk_fields(cls: type) -> Optional[Tuple[str, ...]]:
    """Fields of ``cls`` that can hold code, in LibCST's order; None if the table does not fit."""
    entry = FIELDS.get(cls.__name__)
    if entry is None or not dataclasses.is_dataclass(cls):
        return None
    walk, trivia = entry
    # A LibCST release that adds or renames a field falls back to ``node.children`` for that class.
    if {f.name for f in dataclasses.fields(cls)} != set(walk) | set(trivia):
        return None
    return walk


_FIELDS_OF: Dict[type, Optional[Tuple[str, ...]]] = {}


def code_children(node: cst.CSTNode) -> List[cst.CSTNode]:
    """The children of ``node`` that can hold code (no whitespace, comments or punctuation), in
    source order. Reads the fields directly: LibCST's ``children`` rebuilds the node through a
    visitor, which cost more than parsing the file."""
    cls = type(node)
    try:
        fields = _FIELDS_OF[cls]
    except KeyError:
        fields = _FIELDS_OF[cls] = _walk_fields(cls)
    if fields is None:
        return list(node.children)
    out: List[cst.CSTNode] = []
    for name in fields:
        value = getattr(node, name)
        kind = type(value)
        if kind is tuple or kind is list:
            out.extend(v for v in value if _is_node(type(v)))
        elif _is_node(kind):
            out.append(value)
    return out


_NODE_TYPES: Dict[type, bool] = {}


def _is_node(kind: type) -> bool:
    """``issubclass(kind, cst.CSTNode)``, remembered: ``isinstance`` on LibCST's ABCs is slow."""
    found = _NODE_TYPES.get(kind)
    if found is None:
        found = _NODE_TYPES[kind] = issubclass(kind, cst.CSTNode)
    return found


class _Collector:
    """Iterative walk (deeply nested expressions must not overflow the C stack)."""

    def __init__(self, info: ModuleInfo):
        self.info = info
        # Exact-type dispatch: one dict lookup per node instead of a chain of isinstance checks.
        self.handlers = {
            cst.FunctionDef: self._function, cst.ClassDef: self._class,
            cst.Import: self._import, cst.ImportFrom: self._import,
            cst.Assign: self._assign, cst.AugAssign: self._augassign, cst.AnnAssign: self._annassign,
            cst.NamedExpr: self._namedexpr, cst.For: self._for, cst.CompFor: self._for,
            cst.While: self._while, cst.With: self._with, cst.If: self._if, cst.IfExp: self._ifexp,
            cst.Call: self._call, cst.Return: self._return, cst.Lambda: self._lambda, cst.Raise: self._raise,
        }

    def run(self) -> None:
        parents = self.info.parents
        handlers = self.handlers
        stack: List[Tuple[cst.CSTNode, _Ctx]] = [(self.info.tree, _Ctx(self.info.scope))]
        while stack:
            node, ctx = stack.pop()
            handler = handlers.get(type(node))
            children = handler(node, ctx) if handler is not None else None
            if children is None:
                for child in reversed(code_children(node)):
                    parents[child] = node
                    stack.append((child, ctx))
            else:
                for child, cctx in reversed(children):
                    parents[child] = node
                    stack.append((child, cctx))

    # Each handler returns the (child, ctx) pairs to walk, or None for "all children, same ctx".
    def _import(self, node, ctx: _Ctx):
        self.info.imports.add(node)
        if not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                local = alias.asname.name if alias.asname else alias.name
                while isinstance(local, cst.Attribute):  # `import a.b` binds `a`
                    local = local.value
                if isinstance(local, cst.Name):
                    self._bind_name(ctx, local.value, Binding("import", node, (), node, ctx.scope))
        return []

    def _assign(self, node: cst.Assign, ctx: _Ctx):
        for target in node.targets:
            self._bind(ctx, target.target, "assign", node.value, (), node)
        return [(node.value, ctx)] + [(t, ctx) for t in node.targets]

    def _augassign(self, node: cst.AugAssign, ctx: _Ctx):
        if isinstance(node.target, cst.Name):
            self._bind_name(ctx, node.target.value, Binding("augassign", node.value, (), node, ctx.scope,
                                                            ctx.guards, ctx.loops))
        elif isinstance(node.target, cst.Subscript) and isinstance(node.target.value, cst.Name):
            self.info.mutated.add(node.target.value.value)
        elif isinstance(node.target, cst.Attribute) and isinstance(node.target.value, cst.Name) \
                and ctx.scope.cls is not None and node.target.value.value == ctx.scope.self_name:
            ctx.scope.cls.counters.add(node.target.attr.value)  # ``self.iteration += 1``
        return None

    def _annassign(self, node: cst.AnnAssign, ctx: _Ctx):
        if node.value is not None:
            self._bind(ctx, node.target, "assign", node.value, (), node)
        return None

    def _namedexpr(self, node: cst.NamedExpr, ctx: _Ctx):
        self._bind(ctx, node.target, "assign", node.value, (), node)
        return None

    def _for(self, node, ctx: _Ctx):
        self._bind(ctx, node.target, "for", node.iter, (), node)
        if isinstance(node, cst.CompFor):
            return None
        ctx.scope.loops.append(node)
        inner = ctx.but(loops=ctx.loops + (node,))
        out = [(node.target, ctx), (node.iter, ctx), (node.body, inner)]
        if node.orelse is not None:
            out.append((node.orelse, ctx))
        return out

    def _while(self, node: cst.While, ctx: _Ctx):
        ctx.scope.loops.append(node)
        out = [(node.test, ctx), (node.body, ctx.but(loops=ctx.loops + (node,)))]
        if node.orelse is not None:
            out.append((node.orelse, ctx))
        return out

    def _with(self, node: cst.With, ctx: _Ctx):
        for item in node.items:
            if item.asname is not None:
                self._bind(ctx, item.asname.name, "with", item.item, (), node)
        inner = ctx.but(withs=ctx.withs + (node,))
        return [(item, ctx) for item in node.items] + [(node.body, inner)]

    def _if(self, node: cst.If, ctx: _Ctx):
        out = [(node.test, ctx), (node.body, ctx.but(guards=ctx.guards + ((node.test, True),)))]
        if node.orelse is not None:
            out.append((node.orelse, ctx.but(guards=ctx.guards + ((node.test, False),))))
        return out

    def _ifexp(self, node: cst.IfExp, ctx: _Ctx):
        return [
            (node.test, ctx),
            (node.body, ctx.but(guards=ctx.guards + ((node.test, True),))),
            (node.orelse, ctx.but(guards=ctx.guards + ((node.test, False),))),
        ]

    def _call(self, node: cst.Call, ctx: _Ctx):
        made = _functional_forward(node)
        if made is not None:
            self.info.forward_view[node] = made
            self.info.stand_in[made] = node
            self.info.parents[made] = self.info.parents[node]
            for arg in made.args:
                self.info.stand_in[arg] = arg.value
                self.info.parents[arg] = made
        ctx.scope.calls.append(CallSite(made or node, ctx.scope, ctx.guards, ctx.loops, ctx.withs))
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.attr.value in ("update", "setdefault", "pop", "__setitem__"):
            self.info.mutated.add(func.value.value)
            self.info.updated.add(func.value.value)
        if isinstance(func, cst.Attribute) and isinstance(self.info.parents.get(node), cst.Expr) and (
                func.attr.value == "copy_" and len(node.args) == 1 or func.attr.value in RANDOM_FILLS):
            self._inplace_fill(func.value, node, ctx)
        return None

    def _inplace_fill(self, receiver: cst.BaseExpression, node: cst.Call, ctx: _Ctx) -> None:
        """``buf.copy_(real)`` / ``buf.resize_as_(real).copy_(real)`` / ``noise.resize_(...).normal_()``
        as a statement: from there on ``buf`` holds ``real``'s values, ``noise`` random values (old
        GAN scripts feed D and G preallocated tensors filled in place)."""
        value = node.args[0].value if node.func.attr.value == "copy_" else node
        while True:
            if isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Attribute) \
                    and receiver.func.attr.value in ("resize_as_", "resize_"):
                receiver = receiver.func.value
            elif isinstance(receiver, cst.Attribute) and receiver.attr.value == "data":
                receiver = receiver.value
            else:
                break
        if isinstance(receiver, cst.Name) or isinstance(receiver, cst.Attribute) and isinstance(receiver.value, cst.Name):
            self._bind(ctx, receiver, "fill", value, (), self.info.parents[node])  # ``x`` or ``self.x``

    def _return(self, node: cst.Return, ctx: _Ctx):
        if node.value is not None:
            ctx.scope.returns.append(node.value)
        return None

    def _raise(self, node: cst.Raise, ctx: _Ctx):
        if not ctx.loops:
            ctx.scope.raises.append(ctx.guards)
        return None

    def _lambda(self, node: cst.Lambda, ctx: _Ctx):
        return [(node.body, ctx)]

    def _function(self, node: cst.FunctionDef, ctx: _Ctx):
        info = self.info
        outer = ctx.scope
        prefix = ctx.cls.name + "." if ctx.cls is not None else ("" if outer.parent is None else outer.name + ".")
        scope = Scope(node=node, name=prefix + node.name.value, parent=outer, module=info, cls=ctx.cls)
        scope.decorators = [d.decorator for d in node.decorators]
        params = node.params
        index = 0
        for p in list(params.posonly_params) + list(params.params):
            scope.params.append(Param(p.name.value, p.default, index, annotation=_annotation(p)))
            index += 1
        if isinstance(params.star_arg, cst.Param):
            scope.params.append(Param(params.star_arg.name.value, None, -1, "*"))
        for p in params.kwonly_params:
            scope.params.append(Param(p.name.value, p.default, -1, annotation=_annotation(p)))
        if params.star_kwarg is not None:
            scope.params.append(Param(params.star_kwarg.name.value, None, -1, "**"))
        for p in scope.params:
            scope.bindings.setdefault(p.name, []).append(Binding("param", None, (), node, scope))
        info.scopes.append(scope)
        info.scope_of[node] = scope
        if ctx.cls is not None:
            ctx.cls.methods[node.name.value] = scope
        elif outer.parent is None:
            info.functions[node.name.value] = scope
        if ctx.cls is None:
            self._bind_name(ctx, node.name.value, Binding("def", node, (), node, outer))
        inner = _Ctx(scope)
        # Decorators and defaults run in the enclosing scope; the body in its own.
        out = [(d, ctx) for d in node.decorators]
        out += [(c, ctx) for c in code_children(params)]
        out.append((node.body, inner))
        return out

    def _class(self, node: cst.ClassDef, ctx: _Ctx):
        info = self.info
        bases = [a.value for a in node.bases if a.keyword is None and a.star == ""]
        keywords = {a.keyword.value: a.value for a in node.bases if a.keyword is not None}
        cls = ClassInfo(node.name.value, node, bases, keywords, ctx.scope)
        info.class_of[node] = cls
        if ctx.scope.parent is None and ctx.cls is None:
            info.classes.setdefault(cls.name, cls)
        self._bind_name(ctx, cls.name, Binding("class", node, (), node, ctx.scope))
        out = [(d, ctx) for d in node.decorators] + [(b, ctx) for b in node.bases]
        out.append((node.body, ctx.but(cls=cls)))
        return out

    # -- binding -------------------------------------------------------------------
    def _bind_name(self, ctx: _Ctx, name: str, binding: Binding) -> None:
        if ctx.cls is not None and ctx.scope is binding.scope and binding.kind != "def":
            ctx.cls.class_bindings.setdefault(name, []).append(binding)
            return
        ctx.scope.bindings.setdefault(name, []).append(binding)

    def _bind(self, ctx: _Ctx, target, kind: str, expr, path, stmt) -> None:
        if isinstance(target, cst.Name):
            self._bind_name(ctx, target.value, Binding(kind, expr, path, stmt, ctx.scope))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for i, element in enumerate(target.elements):
                if isinstance(element, cst.StarredElement):
                    return  # positions after a star are unknown
                self._bind(ctx, element.value, kind, expr, path + (i,), stmt)
        elif isinstance(target, cst.Subscript) and _subscript_root(target) is not None:
            root, keys = _subscript_root(target)
            self.info.mutated.add(root)  # d["key"] = ...: the dict's literal is not all of it
            if keys:  # (with a path: ``train["x"], val["x"] = train_test_split(x)``)
                ctx.scope.item_stores.setdefault(root, []).append(
                    (keys, Binding(kind, expr, path, stmt, ctx.scope, ctx.guards, ctx.loops)))
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            scope = ctx.scope
            if scope.cls is not None and target.value.value == scope.self_name:
                scope.cls.attrs.setdefault(target.attr.value, []).append(
                    Binding(kind, expr, path, stmt, scope)
                )


def _annotation(param: cst.Param) -> Optional[cst.BaseExpression]:
    return param.annotation.annotation if param.annotation is not None else None


def _subscript_root(target: cst.Subscript) -> Optional[Tuple[str, Tuple[cst.BaseExpression, ...]]]:
    """``d["a"]["b"]`` -> ("d", (key a, key b)); the keys are empty when one is a slice or a tuple
    of indices (only the root is known to change)."""
    keys: Optional[List[cst.BaseExpression]] = []
    node: cst.BaseExpression = target
    while isinstance(node, cst.Subscript):
        single = len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index)
        keys = [node.slice[0].slice.value] + keys if single and keys is not None else None
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    return node.value, tuple(keys or ())


def _functional_forward(call: cst.Call) -> Optional[cst.Call]:
    """``nn.parallel.data_parallel(net, inputs, gpus)`` runs ``net(*inputs)`` (``net(inputs)`` for one
    tensor) over the devices: the model call it stands for, as a node of no tree (StackGAN and the
    text-to-image GANs built on it call every network this way). Known by its name: the function
    has no other common meaning."""
    func = call.func
    name = callee_name(func)
    if name != "data_parallel" or any(a.star for a in call.args):
        return None
    named = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
    positional = [a.value for a in call.args if a.keyword is None]
    net = positional[0] if positional else named.get("module")
    inputs = positional[1] if len(positional) > 1 else named.get("inputs")
    if net is None or inputs is None:
        return None
    if isinstance(inputs, cst.Tuple):
        args = [cst.Arg(value=e.value, star="*" if isinstance(e, cst.StarredElement) else "")
                for e in inputs.elements]
    else:
        args = [cst.Arg(value=inputs)]
    return cst.Call(func=net, args=args)
