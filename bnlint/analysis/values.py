"""A small abstract interpreter: "what can this expression be?"

``Resolver.resolve(expr, ctx)`` returns the possible abstract values of an
expression: an external API by qualified name (``torch.nn.BatchNorm2d``), a
project class or function, an instance built by a call, a DataLoader, the
batch produced by iterating a loader, a constant, an argparse default...
Parameters are resolved through the call being followed (``Ctx.env``) or,
failing that, through every call site of the function in the project.

A name read in its own scope means the bindings that can reach that read
(``reaching.py``: program order, joins at branches, loop back edges), less
those under an ``if`` known to take the other branch, in the call being
followed or in the default configuration (``if args.resume:`` with
``default=None``); a ``global`` that only its function rebinds reads the
module's value until that function rebinds it. A name read from an enclosing
scope (a closure, a module global read in a function), and attributes of
``self``, still mean every value ever bound there.

Values from a conditional expression whose test cannot be decided are wrapped
in ``Maybe``; rules treat those as unknown (precision over recall).
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Pattern, Sequence, Set, Tuple, TypeVar

import libcst as cst

from ..patterns import call_of, subclass_of
from . import config_files, model_zoo
from ..tree import IMPORTED
from .module import Binding, CallSite, ClassInfo, ModuleInfo, Scope, binding_scope
from .names import callee_name, dotted_name
from .reaching import declared_escaping, global_reaching, reaching
from .syntax import read_names, within

# Nested resolutions one question may take: each name, call or return followed costs one. 13 reaches a
# model built by a factory, passed through apex's amp.initialize and DataParallel and returned in a
# tuple (OVANet); 14 cost 5% more CPU on the benchmark repositories for no further finding.
MAX_DEPTH = 13
MAX_ASIDES = 3  # nested side questions that get a depth budget of their own (``Resolver.aside``)
T = TypeVar("T")
# A reverse call search considers at most this many files that name the function and can import it
# (it reads their text, and parses those that call it). A function named by more files is a library
# utility, not a training helper handed one model: its callers are "unknown". Fixtures and eight real
# projects give the same findings as with 40; a compiler-sized tree reads and parses far fewer files,
# and fewer cache dependencies mean fewer files re-checked after an edit.
MAX_CALLER_FILES = 12
MAX_RANGE_VALUES = 1000  # a loop variable's values tried one by one to decide a periodic condition
_NOT_SEEN = float("inf")
STARRED = "*"  # ``bind_args`` key for a call's ``*args``/``**kwargs`` (never a parameter name)
BUILTINS = frozenset(
    "iter next zip enumerate range len list tuple dict set sorted reversed map filter "
    "isinstance getattr super print open int float str bool type object eval".split()
)
# Methods that return their receiver (or a tensor/model with the same provenance).
PASS_THROUGH_METHODS = frozenset(
    "to cuda cpu float half double bfloat16 train eval requires_grad_ apply detach clone "
    "contiguous squeeze unsqueeze view reshape permute type_as long int".split()
)
# Lightning Fabric: ``setup``/``setup_module``/``setup_dataloaders`` wrap what they are given.
_FABRIC = frozenset({"lightning.Fabric", "lightning.fabric.Fabric", "lightning_fabric.Fabric",
                     "lightning.fabric.fabric.Fabric", "lightning_fabric.fabric.Fabric"})
_FABRIC_SETUP = frozenset({"setup", "setup_module", "setup_dataloaders"})
# What a wrapper calls the model it wraps (DataParallel/DDP ``.module``, torch.compile's ``._orig_mod``).
WRAPPED_ATTRS = ("module", "_orig_mod")
NN_MODULE_BASES = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module"})
# Callables that wrap their first argument and keep its identity for our purposes.
SEQUENTIALS = frozenset({"torch.nn.Sequential", "torch.nn.modules.container.Sequential"})
MODULE_LISTS = frozenset({"torch.nn.ModuleList", "torch.nn.modules.container.ModuleList"})
PASS_THROUGH_CALLS = frozenset(
    {
        "torch.nn.DataParallel",
        "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.DistributedDataParallel",
        "torch.compile",
        "torch.jit.script",
        "copy.deepcopy",
        "torch.autograd.Variable",
        "torch.autograd.variable.Variable",
        "tqdm.tqdm",
        "tqdm.auto.tqdm",
        "tqdm.notebook.tqdm",
        "tqdm.std.tqdm",
        "torch.nn.SyncBatchNorm.convert_sync_batchnorm",
        "torch.nn.modules.batchnorm.SyncBatchNorm.convert_sync_batchnorm",
        "apex.parallel.convert_syncbn_model",  # (the model itself, its BN layers swapped in place)
        "itertools.cycle",
        "iter",
    }
)


class Value:
    __slots__ = ()


@dataclass(frozen=True, eq=False, repr=False)
class Unknown(Value):
    pass


UNKNOWN = Unknown()


@dataclass(frozen=True, eq=False, repr=False)
class Maybe(Value):
    """A value that exists only on a branch whose condition we cannot decide."""

    value: Value


@dataclass(frozen=True, eq=False, repr=False)
class Ref(Value):
    """An external object by qualified name (a torch class, a torchvision function...)."""

    qualname: str


@dataclass(frozen=True, eq=False, repr=False)
class ModuleRef(Value):
    module: ModuleInfo


@dataclass(frozen=True, eq=False, repr=False)
class ClassRef(Value):
    cls: ClassInfo
    module: ModuleInfo


@dataclass(frozen=True, eq=False, repr=False)
class FuncRef(Value):
    scope: Scope
    bound_self: Optional[Value] = None


@dataclass(frozen=True, eq=False, repr=False)
class Instance(Value):
    """An object built by calling a project class (``call`` is None for ``self``)."""

    cls: ClassInfo
    module: ModuleInfo
    call: Optional[cst.Call] = None
    ctx: Optional["Ctx"] = None


@dataclass(frozen=True, eq=False, repr=False)
class ExtCall(Value):
    """The result of calling an external callable, e.g. ``torch.utils.data.DataLoader(...)``."""

    qualname: str
    call: cst.Call
    ctx: "Ctx"


@dataclass(frozen=True, eq=False, repr=False)
class Partial(Value):
    func: Value
    call: cst.Call
    ctx: "Ctx"


@dataclass(frozen=True, eq=False, repr=False)
class Const(Value):
    value: object


@dataclass(frozen=True, eq=False, repr=False)
class Data(Value):
    """A mapping or list read from a settings file (``config_files``); its scalars resolve to ``Const``."""

    value: object


def data_value(obj) -> "Value":
    """The value of one item of a settings file."""
    if isinstance(obj, (dict, list)):
        return Data(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return Const(obj)
    return UNKNOWN


@dataclass(frozen=True, eq=False, repr=False)
class Seq(Value):
    """A tuple/list/zip: position -> the values there."""

    items: Tuple[Tuple[Value, ...], ...]
    kind: str = "tuple"  # tuple | zip | enumerate


@dataclass(frozen=True, eq=False, repr=False)
class Elem(Value):
    """An element produced by iteration (a for-loop target, ``next(it)``), at ``path`` inside it.

    What is iterated is not resolved: no analysis looks into an element (batches are the
    provenance analysis's business), and resolving the iterable (often a parameter, so a
    search of every caller) cost more than the rest of the resolution.
    """

    path: Tuple[int, ...] = ()
    # A for-loop target's iterable and the context it is read in: resolved only when a model is
    # called through the loop variable (``for disc in discs: disc(x)``, :meth:`Resolver.elements`).
    source: Optional[Tuple[cst.BaseExpression, "Ctx"]] = None


@dataclass(frozen=True, eq=False, repr=False)
class SubModule(Value):
    """``model.features``: an attribute of a model we cannot see into."""

    parent: Value
    attr: str


@dataclass(frozen=True, eq=False, repr=False)
class Output(Value):
    """What calling a model returns (``G(z)``)."""

    model: Value
    call: cst.Call
    ctx: "Ctx"


@dataclass(frozen=True, eq=False, repr=False)
class ArgsNamespace(Value):
    """``parser.parse_args()``: attributes resolve to the argparse defaults of ``module``, else of the
    modules whose code built ``parser`` (``parser = get_training_parser()`` from another file)."""

    module: ModuleInfo
    parser_modules: Tuple[ModuleInfo, ...] = ()


class Ctx:
    """Where an expression is evaluated: a scope, plus parameter bindings when a call is followed,
    and for a nested function called from the function that defines it, that caller's context
    (``outer``), which its free variables read."""

    __slots__ = ("scope", "env", "self_value", "outer", "call")

    def __init__(self, scope: Scope, env: Optional[Dict[str, List[Tuple[cst.BaseExpression, "Ctx"]]]] = None,
                 self_value: Optional[Value] = None, outer: Optional["Ctx"] = None):
        self.scope = scope
        self.env = env
        self.self_value = self_value
        self.outer = outer
        self.call: Optional[cst.Call] = None  # the call followed into a function, when one was

    def enclosing(self, scope: Scope) -> "Ctx":
        """The context for ``scope``, a scope around this one, where a free variable is read."""
        outer = self.outer
        if outer is not None and outer.scope is scope:
            return outer
        return self._maker(scope) or Ctx(scope)

    def factory_call(self) -> Optional[cst.Call]:
        """The function call this context, or the object it builds, runs under: what tells apart
        the objects that two calls of one factory build at one constructor call."""
        return next((ctx.call for ctx in self.builders() if ctx.call is not None), None)

    def _maker(self, scope: Scope) -> Optional["Ctx"]:
        """For a method of a class defined in the function ``scope`` (a factory's nested class),
        the context of that function's call that built the object, reached through the objects
        that built this one: ``get_model(use_bn=True)`` builds ``Net()``, whose ``__init__``
        builds ``Block()``, whose ``__init__`` reads ``use_bn``."""
        for ctx in itertools.islice(self.builders(), 1, None):
            if ctx.scope is scope:
                return ctx
            if ctx.outer is not None and ctx.outer.scope is scope:
                return ctx.outer
        return None

    def builders(self) -> Iterator["Ctx"]:
        """This context, then the context where its object was built, and so on (a few levels)."""
        ctx = self
        for _ in range(8):
            yield ctx
            inst = ctx.self_value
            if not isinstance(inst, Instance) or inst.ctx is None:
                return
            ctx = inst.ctx

    @property
    def module(self) -> ModuleInfo:
        return self.scope.module


def _is_super_init(func: cst.BaseExpression) -> bool:
    """``super().__init__`` / ``super(Cls, self).__init__``."""
    return isinstance(func, cst.Attribute) and func.attr.value == "__init__" and isinstance(func.value, cst.Call) \
        and isinstance(func.value.func, cst.Name) and func.value.func.value == "super"


def _distinct(values: List[Value]) -> List[Value]:
    """``values`` without repeats, in order. Values compare by identity; with memoised resolution
    one value object reaches a result along many paths (each caller passing the same model), and
    repeats multiply through every attribute and call that follows. Names of one thing are one value
    too: ``import torch`` and ``import torch.optim`` both bind ``torch`` to the same ``Ref``, and a
    module, class or plain function is the same whichever import reached it."""
    if len(values) < 2:
        return values
    seen: Set[object] = set()
    out = []
    for v in values:
        key = _identity(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def _identity(v: Value) -> object:
    if isinstance(v, Ref):
        return ("ref", v.qualname)
    if isinstance(v, ModuleRef):
        return ("module", id(v.module))
    if isinstance(v, ClassRef):
        return ("class", id(v.cls))
    if isinstance(v, FuncRef) and v.bound_self is None:
        return ("function", id(v.scope))
    return id(v)


def _first_of_method(scope: Scope, name: str) -> bool:
    """``cls`` of a classmethod (``self`` of a method): the class itself, not one handed in."""
    return scope.cls is not None and bool(scope.params) and scope.params[0].name == name


def _imported_module(expr: cst.BaseExpression, ctx: "Ctx") -> bool:
    """``torch`` in ``torch.squeeze(x)``: a name only an ``import`` statement binds."""
    if not isinstance(expr, cst.Name):
        return False
    bindings = _bindings_of(ctx.scope, expr.value)
    return bool(bindings) and all(b.kind == "import" for b in bindings)


def _bindings_of(scope: Scope, name: str) -> List[Binding]:
    """The bindings of ``name`` in ``scope`` or the nearest enclosing scope that binds it."""
    binder = binding_scope(scope, name)
    return binder.bindings[name] if binder is not None else []


def _canonical_qualname(qual: str) -> str:
    """``torch.nn.modules.BatchNorm2d`` (the package ``torch.nn.modules`` re-exports its classes) is
    ``torch.nn.BatchNorm2d``, the name every analysis knows. Private names keep their module path."""
    prefix = "torch.nn.modules."
    if qual.startswith(prefix):
        rest = qual[len(prefix):]
        if rest and "." not in rest and not rest.startswith("_") and rest[0].isupper():
            return "torch.nn." + rest
    return qual


def _interned(value) -> bool:
    """An int CPython caches (-5 to 256): ``is`` on two of them compares their values."""
    return isinstance(value, int) and not isinstance(value, bool) and -5 <= value <= 256


@lru_cache(maxsize=1024)
def _as_value(name: str) -> Pattern[str]:
    """``name`` written as a value, not called: an argument, an assignment, an item (``Encoder,``,
    ``= Encoder`` at the end of a line, ``"enc": Encoder}``)."""
    return re.compile(r"(?<![\w.])" + re.escape(name) + r"[ \t]*(?:[,)\]}]|$)", re.M)


@lru_cache(maxsize=1024)
def _imported_as(name: str) -> Pattern[str]:
    """The local name of ``import ... name as alias``."""
    return re.compile(r"(?<![\w.])" + re.escape(name) + r"[ \t]+as[ \t]+(\w+)")


@lru_cache(maxsize=1024)
def _as_dict_value(name: str) -> Pattern[str]:
    """``name`` (or ``module.name``) as the value of a dict literal's item: ``"ds3tl": ds3tl.Trainer,``."""
    return re.compile(r":[ \t]*(?:\w+[ \t]*\.[ \t]*)*" + re.escape(name) + r"[ \t]*(?:[,}#]|$)", re.M)


MAX_REGISTRY_ENTRIES = 40
# The classes a module's namespace may hold for ``eval(name)``: its own, its imports, its star imports'.
MAX_NAMESPACE_ENTRIES = 120


def _offered_names(module: ModuleInfo, use_all: bool = True, imports: bool = False) -> List[str]:
    """The names a project module holds for others to pick by name: its ``__all__`` (with ``use_all``)
    when it has one, else the public classes and functions it defines and, with ``imports``, the
    classes it imports (named like classes: not every helper it imports)."""
    listed = _all_names(module) if use_all else None
    if listed is not None:
        return listed
    return [n for n, bs in module.scope.bindings.items() if not n.startswith("_") and (
        all(b.kind in ("class", "def") for b in bs)
        or imports and n[:1].isupper() and all(b.kind == "import" for b in bs))]


def _given_by_name(expr: cst.IfExp) -> bool:
    """``<lookup> if isinstance(x, str) else x``: ``x`` itself unless it is a name to look up."""
    test = expr.test
    if not (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance"
            and len(test.args) == 2 and isinstance(test.args[1].value, cst.Name) and test.args[1].value.value == "str"):
        return False
    subject = test.args[0].value
    return isinstance(subject, cst.Name) and isinstance(expr.orelse, cst.Name) and expr.orelse.value == subject.value


def _fitting(offers: List[Value], call: cst.Call, spread: Optional[Set[str]] = None) -> List[Value]:
    """The entries of a registry that ``call`` can build: those whose parameters take its arguments
    by name (``SRResNet(in_channels=..., num_rcb=...)``), else those that may through ``**kwargs``
    (``srresnet_x4(**kwargs)``). ``spread``: the keys of the dict the call spreads with ``**``."""
    def signature(v: Value) -> Optional[Scope]:
        if isinstance(v, FuncRef):
            return v.scope
        return v.cls.methods.get("__init__") if isinstance(v, ClassRef) else None

    fitting = [(v, sig) for v in offers for sig in [signature(v)] if sig is None or _fits(sig, call, spread)]
    exact = [v for v, sig in fitting if sig is not None and not any(p.star for p in sig.params)]
    return exact or [v for v, _sig in fitting]


def _all_names(module: ModuleInfo) -> Optional[List[str]]:
    """The strings of a module's literal ``__all__`` (a list or tuple), None without one."""
    bindings = module.scope.bindings.get("__all__", [])
    if len(bindings) != 1 or not isinstance(bindings[0].expr, (cst.List, cst.Tuple)):
        return None
    names = []
    for element in bindings[0].expr.elements:
        value = element.value
        if not isinstance(value, cst.SimpleString):
            return None
        text = value.evaluated_value
        if isinstance(text, str) and text.isidentifier():
            names.append(text)
    return names


def _fits(scope: Scope, call: cst.Call, spread: Optional[Set[str]] = None) -> bool:
    """``call`` can bind to the function's parameters: no missing or extra positional argument, no
    unknown keyword (a sibling class's method of another signature is not what it runs). A ``**``
    argument binds the keys ``spread`` (when known), anything otherwise."""
    params = scope.params[1:] if scope.self_name is not None else scope.params
    stars = [a.star for a in call.args if a.star]
    if stars and (spread is None or stars != ["**"]):
        return True
    if any(p.star for p in params):
        return True
    positional = [p for p in params if p.index >= 0]
    names = {p.name for p in params}
    given = [a for a in call.args if a.keyword is None and not a.star]
    keywords = {a.keyword.value for a in call.args if a.keyword is not None} | (spread or set())
    if len(given) > len(positional) or not keywords <= names:
        return False
    bound = {p.name for p in positional[:len(given)]} | keywords
    return all(p.default is not None or p.name in bound for p in params)


def _same_objects(a: List[Value], b: List[Value]) -> bool:
    """Both branches of a conditional build the same things: project objects or external calls of
    the same classes, made by calls written alike in one context (not one factory's call made with
    different arguments)."""
    def keys(values):
        out = set()
        for v in values:
            if isinstance(v, (Instance, ExtCall)) and (v.call is None or v.ctx is None):
                return None
            if isinstance(v, Instance):
                out.add(("instance", id(v.cls), id(v.ctx), _spaced_code(v.call)))
            elif isinstance(v, ExtCall):
                out.add(("external", v.qualname, id(v.ctx), _spaced_code(v.call)))
            elif isinstance(v, (Ref, ClassRef, ModuleRef)) or (isinstance(v, FuncRef) and v.bound_self is None):
                out.add(_identity(v))
            else:
                return None
        return out
    ka = keys(a)
    return bool(ka) and ka == keys(b)


def _spaced_code(node: cst.CSTNode) -> str:
    return "".join(cst.Module([]).code_for_node(node).split())


def data_parallel(name: str) -> bool:
    """A data-parallel wrapper class, by its (qualified) name: torch's ``DataParallel``,
    ``DistributedDataParallel`` and ``FullyShardedDataParallel``, and other libraries' (mmcv's
    ``MMDataParallel``, jactorch's ``JacDataParallel``, apex's ``DistributedDataParallel``)."""
    return name.rpartition(".")[2].endswith("DataParallel")


def wraps_model(qual: str) -> bool:
    """A call that returns (a wrapper running) its first argument: a data-parallel wrapper,
    ``torch.compile``, ``copy.deepcopy`` and the other pass-through calls."""
    return qual in PASS_THROUGH_CALLS or data_parallel(qual)


def _attribute_dict_written(attr: str, module: ModuleInfo) -> bool:
    """Whether the module's code stores into or updates a dict kept as attribute ``attr``
    (``self.models["ema"] = ...``, ``self.models.update(...)``): then the items found where it was
    built need not be all it holds."""
    return bool(_dict_write_pattern(attr).search(module.source.code))


@lru_cache(maxsize=256)
def _dict_write_pattern(attr: str) -> Pattern[str]:
    stored = r"\[[^\]\n]*\]\s*=(?!=)"  # self.models["ema"] = ...
    updated = r"\.\s*(?:update|setdefault|pop|__setitem__)\s*\("  # self.models.update(...)
    return re.compile(r"\." + re.escape(attr) + r"\s*(?:" + stored + "|" + updated + ")")


def unwrap(values: Iterable[Value]) -> List[Value]:
    """Drop ``Maybe`` wrappers (for questions where uncertainty does not matter)."""
    out = []
    for v in values:
        while isinstance(v, Maybe):
            v = v.value
        out.append(v)
    return out


def call_arg(call: cst.Call, index: int, keyword: Optional[str] = None) -> Optional[cst.BaseExpression]:
    """The expression passed for parameter ``keyword`` / positional ``index`` (no star args)."""
    if keyword is not None:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value == keyword:
                return arg.value
    if index is not None and index >= 0:
        pos = 0
        for arg in call.args:
            if arg.keyword is not None or arg.star:
                if arg.star == "*":
                    return None  # positions after *args are unknown
                continue
            if pos == index:
                return arg.value
            pos += 1
    return None


class Resolver:
    def __init__(self, index):
        self.index = index  # ProjectIndex
        # Resolutions in progress -> their position on the stack (cycle guard), and the lowest
        # position of an in-progress resolution or caller search that the current one saw.
        self._frames: Dict[tuple, int] = {}
        self._low = _NOT_SEEN
        self._searching: Dict[int, int] = {}  # id(scope) -> stack height when its caller search began
        self._keyword_params: Set[tuple] = set()  # parameters whose ``**`` dict is being read (``_keyword_items``)
        self._aside = 0  # side questions (see ``aside``) being answered
        self._pinned: Dict[int, int] = {}  # ``Name`` nodes read as a given value (``_over_loop_range``)

    # -- entry points -------------------------------------------------------------
    def ctx_for(self, scope: Scope) -> Ctx:
        """The context of ``scope`` read on its own (no caller's arguments). One per scope and linted
        file: resolutions are memoised by the context's identity, so every question about the same
        function asked from its own context shares their answers."""
        key = ("ctx_for", id(scope))
        memo = self.index.memo
        ctx = memo.get(key)
        if ctx is None:
            self_value = None
            if scope.cls is not None and scope.self_name:
                self_value = Instance(scope.cls, scope.module)
            ctx = memo[key] = Ctx(scope, None, self_value)
        return ctx

    def resolve(self, expr: cst.BaseExpression, ctx: Ctx, depth: int = 0) -> List[Value]:
        """What ``expr`` may evaluate to in ``ctx``.

        Memoised for the linted file (the index memo): the same expression is asked about again
        and again (every forward call, mode event and BN check of a loop resolves the model). A
        result is kept only if it did not depend on a resolution or caller search still in
        progress further out (a cycle cut short), so a memoised answer is the one a fresh
        resolution at the same depth would give.
        """
        index = self.index
        index.fuel -= 1
        if depth > MAX_DEPTH or index.fuel < 0:
            return [UNKNOWN]
        key = (id(expr), id(ctx.scope), id(ctx.env), id(ctx.self_value))
        pos = self._frames.get(key)
        if pos is not None:
            self._low = min(self._low, pos)
            return [UNKNOWN]  # recursive definition such as ``x = x.to(device)``
        memo_key = ("resolve", key, depth, self._aside)
        known = index.memo.get(memo_key)
        if known is not None:
            return list(known[0])
        pos = len(self._frames)
        self._frames[key] = pos
        outer_low, self._low = self._low, _NOT_SEEN
        try:
            result = _distinct(self._resolve(expr, ctx, depth + 1)) or [UNKNOWN]
        finally:
            del self._frames[key]
            low, self._low = self._low, min(outer_low, self._low)
        if low >= pos and index.fuel >= 0:
            index.memo[memo_key] = (tuple(result), ctx)  # ctx keeps the ids in the key alive
        return result

    def aside(self, depth: int, ask: Callable[[int], T]) -> T:
        """Answer a side question with a depth budget of its own: which option value names a
        registry entry (``globals()[args.algorithm]``), where a parser was built. ``args`` reaches
        such places through chains of helpers that each return it, deeper than what is left of the
        budget of the question that led there. At most ``MAX_ASIDES`` side questions nest, each
        starting afresh, so resolution still ends (within ``MAX_ASIDES + 1`` times ``MAX_DEPTH``)."""
        if self._aside >= MAX_ASIDES:
            return ask(depth)
        self._aside += 1
        try:
            return ask(0)
        finally:
            self._aside -= 1

    # -- expressions --------------------------------------------------------------
    def _resolve(self, expr, ctx: Ctx, depth: int) -> List[Value]:
        kind = type(expr)  # exact types: LibCST's node classes are ABCs, and ``isinstance`` on them is slow
        if kind is cst.Name:
            if expr.value in ("True", "False", "None"):
                return [Const({"True": True, "False": False, "None": None}[expr.value])]
            return self.lookup(expr.value, ctx, depth, expr)
        if kind is cst.Attribute:
            return self._attribute(expr, ctx, depth)
        if kind is cst.Call:
            if type(expr.func) is cst.Attribute and expr.func.attr.value in _STR_METHODS and not expr.args:
                # ``kind = kind.lower()`` before ``if kind == "batch":``, each value the name may hold
                values = self.resolve(expr.func.value, ctx, depth)
                if all(isinstance(v, Const) and isinstance(v.value, str) for v in values):
                    return [Const(getattr(v.value, expr.func.attr.value)()) for v in values]
            return self._call(expr, ctx, depth)
        if isinstance(expr, (cst.Integer, cst.Float)):
            return [Const(expr.evaluated_value)]
        if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
            value = expr.evaluated_value
            return [Const(value)] if value is not None else [UNKNOWN]
        if isinstance(expr, (cst.Tuple, cst.List)):
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return [UNKNOWN]
            return [Seq(tuple(tuple(self.resolve(e.value, ctx, depth)) for e in expr.elements))]
        if isinstance(expr, cst.Subscript):
            return self._subscript(expr, ctx, depth)
        if isinstance(expr, cst.IfExp):
            test = self.truth(expr.test, ctx, depth)
            if test is True:
                return self.resolve(expr.body, ctx, depth)
            if test is False:
                return self.resolve(expr.orelse, ctx, depth)
            body, orelse = self.resolve(expr.body, ctx, depth), self.resolve(expr.orelse, ctx, depth)
            if _given_by_name(expr) and not any(isinstance(v, (ClassRef, FuncRef, Instance, Ref, ExtCall, Partial))
                                                for v in orelse):
                # ``eval(m) if isinstance(m, str) else m``: a layer given by its name or as itself;
                # what the name may stand for is all that is known of it
                return body
            if _same_objects(body, orelse):
                # ``Net().cuda() if torch.cuda.is_available() else Net()``: a Net either way
                return body + orelse
            return [Maybe(v) for v in body + orelse]
        if isinstance(expr, (cst.UnaryOperation, cst.Comparison, cst.BooleanOperation)):
            value = self.const(expr, ctx, depth)
            return [UNKNOWN] if value is None else [Const(value)]
        if isinstance(expr, cst.NamedExpr):
            return self.resolve(expr.value, ctx, depth)
        if isinstance(expr, cst.Await):
            return self.resolve(expr.expression, ctx, depth)
        return [UNKNOWN]

    def lookup(self, name: str, ctx: Ctx, depth: int, use: Optional[cst.Name] = None) -> List[Value]:
        """What ``name`` may be in ``ctx``; with ``use`` (the ``Name`` node read), only the bindings
        that can reach that read (flow-sensitive, ``reaching.py``), else every binding."""
        scope: Optional[Scope] = ctx.scope
        cur_ctx = ctx
        while scope is not None:
            bindings = scope.bindings.get(name)
            if bindings:
                out: List[Value] = []
                escaping = scope.parent is not None and name in declared_escaping(scope)
                split = global_reaching(scope, name, use) if escaping else None
                live = self._possible(split[0], cur_ctx, depth) if split is not None \
                    else self.live_bindings(scope, name, use, cur_ctx, depth)
                for b in live:
                    out.extend(self.binding_values(b, name, cur_ctx, depth))
                if any(b.kind == "augassign" for b in live):
                    out = _counted(out)  # ``i = 0`` then ``i += 1`` in a loop: not 0 at the read
                if escaping and (split is None or split[1]):
                    # ``global checkpoint`` in ``main``: the module's value may be the one read here.
                    out.extend(self.lookup(name, Ctx(ctx.module.scope), depth))
                return out
            scope = scope.parent
            cur_ctx = cur_ctx.enclosing(scope) if scope is not None else None
        star = self.star_import(ctx.module, name, depth)
        if star is not None:
            return star
        if name in BUILTINS:
            return [Ref(name)]
        if name in _CONVENTIONAL_ALIASES and self._external_star(ctx.module):
            # ``from easydl import *`` then ``nn.DataParallel(...)``: a helper library re-exporting
            # torch under its usual names.
            return [Ref(_CONVENTIONAL_ALIASES[name])]
        return [UNKNOWN]

    def _external_star(self, module: ModuleInfo) -> bool:
        """``module`` (or a project module it star-imports) has ``from <library> import *``."""
        return any(info is None for info in self._star_imports(module))

    def _star_imports(self, module: ModuleInfo, _seen=None) -> Iterable[Optional[ModuleInfo]]:
        """The project module (None for a library) of each ``from X import *`` of ``module``, each
        followed depth first by those of its own star imports."""
        seen = _seen if _seen is not None else set()
        if id(module) in seen:
            return
        seen.add(id(module))
        for star in module.imports.star_modules:
            info = self.index.module_by_name(star, module.fs_path)
            yield info
            if info is not None:
                yield from self._star_imports(info, seen)

    def live_bindings(self, scope: Scope, name: str, use: Optional[cst.CSTNode], ctx: Ctx,
                      depth: int = 0) -> List[Binding]:
        """The bindings of ``name`` in ``scope`` (``ctx`` is a context of ``scope``) that can give
        its value at ``use``: those reaching it (:meth:`visible_bindings`), less those under a branch
        known not to run: a followed call's arguments (``get_norm_layer("instance")``) or the
        default configuration (``if args.use_ema:`` with ``default=True``) rule it out."""
        found = reaching(scope, name, use) if use is not None else None
        if found is None:
            return self._possible(scope.bindings.get(name, []), ctx, depth)
        return self._possible(found, ctx, depth, True)

    def _possible(self, bindings: List[Binding], ctx: Ctx, depth: int, flow: bool = False) -> List[Binding]:
        """``bindings`` less those under a branch known not to run (all of them if that leaves none);
        with ``flow`` (they are those reaching one read), also less those that a later binding, on a
        branch known to run, replaces."""
        if len(bindings) > 1:
            bindings = [b for b in bindings if self.branch_possible(b.stmt, ctx, depth)] or bindings
        if flow and len(bindings) > 1:
            bindings = self._not_replaced(bindings, ctx, depth)
        return bindings

    def _not_replaced(self, bindings: List[Binding], ctx: Ctx, depth: int) -> List[Binding]:
        """``encoder = None`` then ``if args.attention == False: encoder = CResNet50`` with the
        option's default False: the ``if`` certainly runs its branch, so ``None`` never reaches past it."""
        kept = bindings
        for later in bindings:
            kept = [b for b in kept if b is later or not self._replaces(later, b, ctx, depth)]
        return kept or bindings

    def _replaces(self, later: Binding, earlier: Binding, ctx: Ctx, depth: int) -> bool:
        """``later`` runs whenever ``earlier`` has: both lie in one block, ``earlier`` before an ``if``
        that is known to take the branch holding ``later``, with no loop, ``try`` or other ``if``
        that may go either way between that block and ``later``."""
        module = ctx.scope.module
        parents = module.parents
        child, cur, head = later.stmt, parents.get(later.stmt), None
        while cur is not None and not within(module, earlier.stmt, cur):
            if isinstance(cur, cst.If):
                if child is cur.test:
                    return False
                value = self.aside(depth, lambda d: self.truth(cur.test, ctx, d))  # None: unknown
                if value is None or value != (child is cur.body):
                    return False
                head = cur
            elif not isinstance(cur, _STRAIGHT_LINE) or cur is ctx.scope.node:
                return False
            child, cur = cur, parents.get(cur)
        return head is not None and isinstance(cur, (cst.IndentedBlock, cst.Module)) \
            and module.order(earlier.stmt) < module.order(head)

    def branch_possible(self, node: cst.CSTNode, ctx: Ctx, depth: int) -> bool:
        """False when an ``if`` around ``node`` (within ``ctx.scope``) is known to take the other branch."""
        # Memoised as ``resolve`` is (most lookups ask about the same few branches): kept only
        # when no resolution still in progress further out was cut short on the way.
        key = ("branch_possible", id(node), id(ctx.scope), id(ctx.env), id(ctx.self_value), depth, self._aside)
        memo = self.index.memo
        known = memo.get(key)
        if known is not None:
            return known[0]
        pos = len(self._frames)
        outer_low, self._low = self._low, _NOT_SEEN
        try:
            result = self._branch_possible(node, ctx, depth)
        finally:
            low, self._low = self._low, min(outer_low, self._low)
        if low >= pos and self.index.fuel >= 0:
            memo[key] = (result, ctx)  # ctx keeps the ids in the key alive
        return result

    def guards_hold(self, guards, ctx: Ctx, depth: int) -> bool:
        """True when every guard ``(test, branch)`` (of an ``if`` or a conditional expression in
        ``ctx.scope``) is known to go that way: ``if args.freeze_bn:`` with ``default=1``."""
        return all(self.truth(test, ctx, depth) is branch for test, branch in guards)

    def _branch_possible(self, node: cst.CSTNode, ctx: Ctx, depth: int) -> bool:
        parents = ctx.scope.module.parents
        child, cur = node, parents.get(node)
        while cur is not None and cur is not ctx.scope.node:
            if isinstance(cur, cst.If) and child is not cur.test:
                # A side question: the option deciding it (``args.set``) often lies deeper than the
                # budget left to the resolution that reached this branch.
                value = self.aside(depth, lambda d: self.truth(cur.test, ctx, d))  # None: unknown
                if value is not None and value != (child is cur.body):
                    return False
            child, cur = cur, parents.get(cur)
        return True

    @staticmethod
    def visible_bindings(scope: Scope, name: str, use: Optional[cst.CSTNode],
                         bindings: Optional[List[Binding]] = None) -> List[Binding]:
        """The bindings of ``name`` in ``scope`` that can reach the read ``use``: those on some path to
        it when ``use`` is a read of ``name`` in ``scope`` itself and the flow is known, else all."""
        found = reaching(scope, name, use) if use is not None else None
        if found is not None:
            return found
        return bindings if bindings is not None else scope.bindings.get(name, [])

    def star_import(self, module: ModuleInfo, name: str, depth: int) -> Optional[List[Value]]:
        """``name`` provided by a ``from X import *`` of a project module (followed transitively)."""
        source = self.star_source(module, name)
        return self.lookup(name, Ctx(source.scope), depth) if source is not None else None

    def star_source(self, module: ModuleInfo, name: str) -> Optional[ModuleInfo]:
        """The project module whose ``name`` a ``from X import *`` chain of ``module`` provides."""
        if name.startswith("_"):
            return None
        return next((info for info in self._star_imports(module)
                     if info is not None and name in info.scope.bindings), None)

    def binding_values(self, b: Binding, name: str, ctx: Ctx, depth: int) -> List[Value]:
        if b.kind == "param":
            return self.param_values(b.scope, name, ctx, depth)
        if b.kind == "import":
            importer = b.scope.module
            qual = importer.imports.qualify(name)
            if not qual:
                return [UNKNOWN]
            package, _, attr = qual.rpartition(".")
            if package and isinstance(b.stmt, cst.ImportFrom) and depth < MAX_DEPTH:
                # ``from models import RRDBNet`` is the package's name ``RRDBNet`` (its ``__init__``
                # re-exports the class of ``models/RRDBNet.py``), the submodule only if unbound there.
                info = self.index.module_by_name(package, importer.fs_path)
                if info is not None and info is not importer and attr in info.scope.bindings:
                    return self.module_attr(info, attr, depth + 1)
            return self.qualname_values(qual, importer, depth)
        if b.kind == "def":
            scope = b.scope.module.scope_of.get(b.expr)
            return [FuncRef(scope)] if scope else [UNKNOWN]
        if b.kind == "class":
            module = b.scope.module
            cls = module.class_of.get(b.expr)
            if cls is not None and (b.scope.parent is None or module.classes.get(name) is cls
                                    or isinstance(b.scope.node, cst.FunctionDef)):
                # (a module-level class, also one of two defined under ``if arch == 0:`` / ``elif``,
                # or one a function defines and builds: ``class Discriminator(nn.Module)`` inside
                # ``get_generator_discriminator()``)
                return [ClassRef(cls, module)]
            return [UNKNOWN]
        eval_ctx = ctx if ctx.scope is b.scope else Ctx(b.scope)
        if b.kind == "augassign":
            return []  # ``x += ...`` keeps x's other bindings; lists read it via list_contents
        if b.kind == "for":
            return [Elem(b.path, (b.expr, eval_ctx))]
        expr, path = b.expr, b.path
        while path and type(expr) in (cst.Tuple, cst.List) and type(path[0]) is int \
                and -len(expr.elements) <= path[0] < len(expr.elements) \
                and not any(isinstance(e, cst.StarredElement) for e in expr.elements):
            # ``gen, dis = gen.cuda(), dis.cuda()``: only the element bound to the name (the other
            # would be resolved for nothing, and each unpacking would cost a level of depth).
            expr, path = expr.elements[path[0]].value, path[1:]
        return self.index_path(self.resolve(expr, eval_ctx, depth), path)

    def index_path(self, values: Sequence[Value], path: Tuple[int, ...]) -> List[Value]:
        for i in path:
            nxt: List[Value] = []
            for v in values:
                nxt.extend(self.index_value(v, i))
            values = nxt
        return list(values)

    def index_value(self, value: Value, i) -> List[Value]:
        if isinstance(value, Maybe):
            return [Maybe(v) for v in self.index_value(value.value, i)]
        if isinstance(value, Seq) and isinstance(i, int) and -len(value.items) <= i < len(value.items):
            return list(value.items[i])
        if isinstance(value, Elem) and isinstance(i, int):
            return [Elem(value.path + (i,), value.source)]
        if isinstance(value, ExtCall) and value.qualname in SEQUENTIALS and isinstance(i, int) \
                and value.call is not None and value.ctx is not None:
            layers = value.call.args
            if all(a.keyword is None and not a.star for a in layers) and -len(layers) <= i < len(layers):
                return self.resolve(layers[i].value, value.ctx)  # ``base[1]`` of ``nn.Sequential(conv, bn, relu)``
        return [UNKNOWN]

    def param_values(self, scope: Scope, name: str, ctx: Ctx, depth: int) -> List[Value]:
        if ctx.scope is scope and ctx.env is not None and name in ctx.env:
            out = []
            for expr, caller_ctx in ctx.env[name]:
                out.extend(self.resolve(expr, caller_ctx, depth))
            return out
        if name == scope.self_name:
            if ctx.scope is scope and ctx.self_value is not None:
                return [ctx.self_value]
            return [Instance(scope.cls, scope.module)]
        param = scope.param(name)
        if ctx.scope is scope and ctx.env is not None:
            # Following a call that does not pass this parameter: its default, unless the call
            # has ``*args``/``**kwargs`` that may pass it.
            if STARRED in ctx.env:
                return [UNKNOWN]
            if param is not None and param.default is not None:
                return self.resolve(param.default, Ctx(scope.parent or scope), depth)
            return [UNKNOWN]
        out: List[Value] = []
        passed, omitted = self._callers_pass(scope, name, depth)
        if not passed and param is not None and param.index == 0 and scope.cls is None:
            passed = self._bound_by_method_type(scope)
        for expr, caller_ctx in passed:
            out.extend(self.resolve(expr, caller_ctx, depth))
        if not passed and param is not None and param.index == 0 and scope.cls is None \
                and _stores_param_as_item(scope, name):
            out.extend(self._decorated_by(scope))
        if self.callers_incomplete(scope):
            out.append(UNKNOWN)  # callers we did not look at may pass anything
        if param is not None and param.default is not None and (omitted or not passed):
            # The default only where some call leaves the parameter out: ``Trainer(ds, use_bn=True)``
            # everywhere builds no object with ``use_bn=False``.
            out.extend(self.resolve(param.default, Ctx(scope.parent or scope), depth))
        if not out and param is not None and param.annotation is not None:
            # No caller in the project (a module built by a notebook or a missing script): a
            # parameter annotated with a project class (``discriminator: Discriminator``) holds one.
            out = [Instance(v.cls, v.module) for v in self.resolve(param.annotation, Ctx(scope.parent or scope), depth)
                   if isinstance(v, ClassRef)]
        return out or [UNKNOWN]

    # -- attributes ---------------------------------------------------------------
    def _attribute(self, expr: cst.Attribute, ctx: Ctx, depth: int) -> List[Value]:
        attr = expr.attr.value
        if attr == "value":
            members = self._enum_member_values(expr.value, ctx, depth)
            if members is not None:
                return members
        if attr == "name":
            name = self._enum_member_name(expr.value, ctx, depth)
            if name is not None:
                return [Const(name)]
        out: List[Value] = []
        for base in self.resolve(expr.value, ctx, depth):
            if isinstance(base, (Unknown, ArgsNamespace)):
                own = self._class_option_default(ctx.scope, attr)
                if own is not None:
                    out.append(own)
                    continue
            if isinstance(base, ExtCall) and base.qualname in ATTRIBUTE_DICTS and depth < MAX_DEPTH:
                # ``extractor_dict = Munch({"ResNet50Extractor": ResNet50Extractor, ...})``: attributes are items
                items = self.item_exprs(expr.value, attr, ctx, depth + 1)
                if items:
                    out.extend(v for item, ictx in items for v in self.resolve(item, ictx, depth + 1))
                    continue
            running = ctx.scope if base is ctx.self_value and ctx.scope.cls is not None else None
            out.extend(self.attribute_of(base, attr, depth, running))
        return out

    def _enum_member_values(self, member: cst.BaseExpression, ctx: Ctx, depth: int) -> Optional[List[Value]]:
        """``Discriminators[key.upper()].value`` / ``Discriminators.PATCHGAN.value`` for ``class
        Discriminators(Enum): PATCHGAN = PatchGAN``: the value of the member named, or of any member
        when the name is not known. None when the base is not an ``Enum`` class."""
        if isinstance(member, cst.Subscript) and len(member.slice) == 1 \
                and isinstance(member.slice[0].slice, cst.Index):
            base, name = member.value, self.const(member.slice[0].slice.value, ctx, depth)
        elif isinstance(member, cst.Attribute):
            base, name = member.value, member.attr.value
        else:
            return None
        out: List[Value] = []
        for cls_ref in self.resolve(base, ctx, depth):
            if not isinstance(cls_ref, ClassRef) or not any(
                    q.startswith("enum.") and q.endswith("Enum") for q in self.external_bases(cls_ref.cls, cls_ref.module)):
                return None
            for attr, bindings in cls_ref.cls.class_bindings.items():
                if not isinstance(name, str) or attr == name:
                    out.extend(v for b in bindings for v in self.binding_values(b, attr, Ctx(b.scope), depth + 1))
        return out or None

    def _enum_member_name(self, member: cst.BaseExpression, ctx: Ctx, depth: int) -> Optional[str]:
        """``GANType.VANILLA.name`` for ``class GANType(Enum)`` with a member ``VANILLA``: ``"VANILLA"``."""
        if not isinstance(member, cst.Attribute):
            return None
        bases = self.resolve(member.value, ctx, depth)
        if not bases or not all(isinstance(v, ClassRef) and member.attr.value in v.cls.class_bindings and any(
                q.startswith("enum.") and q.endswith("Enum") for q in self.external_bases(v.cls, v.module))
                for v in bases):
            return None
        return member.attr.value

    def _class_option_default(self, scope: Scope, attr: str) -> Optional[Value]:
        """``opt.norm`` in a method of a model class whose static ``modify_commandline_options(parser)``
        calls ``parser.set_defaults(norm="batch")`` unguarded: the pix2pix/CycleGAN framework applies
        the chosen model class's defaults before parsing, so that class always sees them (unless the
        command line overrides them)."""
        while scope is not None and scope.cls is None:
            scope = scope.parent
        if scope is None:
            return None
        key = ("class_option_defaults", id(scope.cls))
        defaults = self.index.memo.get(key)
        if defaults is None:
            defaults = {}
            hooked = False
            for cls, _module in reversed(self.mro(scope.cls, scope.module)):
                hook = cls.methods.get("modify_commandline_options")
                if hook is not None:
                    hooked = True
                    defaults.update(_unguarded_set_defaults(hook))
            if hooked:
                # Below them, the options module's own defaults (the parser the hook is handed).
                defaults = {**self._option_module_defaults(), **defaults}
            self.index.memo[key] = defaults
        return Const(defaults[attr]) if attr in defaults else None

    def _option_module_defaults(self) -> Dict[str, object]:
        """argparse defaults of the project modules that hand their parser to the model classes
        (``models.get_option_setter(opt.model)(parser)``); a name they disagree on is left out."""
        merged: Dict[str, object] = {}
        clash = set()
        for path in self.index.files_mentioning("get_option_setter"):
            module = self.index.module(path)
            if module is None or not self.index.text_matches(path, _ADDS_ARGUMENTS):
                continue
            for name, value in _argparse_defaults(module).items():
                if name in merged and merged[name] != value:
                    clash.add(name)
                merged.setdefault(name, value)
        return {k: v for k, v in merged.items() if k not in clash}

    def attribute_of(self, base: Value, attr: str, depth: int, running: Optional[Scope] = None) -> List[Value]:
        """``running``: the method whose ``self`` ``base`` is, when that is where the attribute is read."""
        if isinstance(base, Maybe):
            return [Maybe(v) for v in self.attribute_of(base.value, attr, depth, running)]
        if isinstance(base, Ref):
            return [Ref(_canonical_qualname(f"{base.qualname}.{attr}"))]
        if isinstance(base, ModuleRef):
            return self.module_attr(base.module, attr, depth)
        if isinstance(base, Instance):
            return self.instance_attr(base, attr, depth, running)
        if isinstance(base, ClassRef):
            method = self.find_method(base.cls, base.module, attr)
            if method is not None:
                return [FuncRef(method)]
            for cls, _module in self.mro(base.cls, base.module):
                if attr in cls.class_bindings:  # a settings class: ``class config: checkpoint = None``
                    return [v for b in cls.class_bindings[attr]
                            for v in self.binding_values(b, attr, Ctx(b.scope), depth)]
            return [UNKNOWN]
        if isinstance(base, ArgsNamespace):
            for module in (base.module,) + base.parser_modules:
                found = self.argparse_default(module, attr)
                if found is not UNKNOWN:
                    return [found]
            return [UNKNOWN]
        if isinstance(base, (ExtCall, SubModule)):
            return [SubModule(base, attr)]
        if isinstance(base, Data):
            return [_data_item(base, attr)]  # ``EasyDict(settings).model.base_model``
        return [UNKNOWN]

    def elements(self, elem: Elem, depth: int = 0) -> List[Value]:
        """What the loop variable ``elem`` may be, when its loop runs over a list of known values
        (``discs = [D1(), D2()]; for i, disc in enumerate(discs)``, also ``zip`` and
        ``nn.ModuleList([...])``): any of them. Else ``[elem]`` itself."""
        if elem.source is None:
            return [elem]
        expr, ctx = elem.source
        out: List[Value] = []
        entries = self._dict_iteration(expr, ctx, depth)
        for value in ([] if entries is not None else self.resolve(expr, ctx, depth)):
            items = self._iteration(value, depth)
            if items is None:
                return [elem]
            out.extend(self.index_path(items, elem.path))
        if entries is not None:
            out = self.index_path(entries, elem.path)
        known = [v for v in out if v is not UNKNOWN]
        return known if known and len(known) == len(out) else [elem]

    def _dict_iteration(self, expr: cst.BaseExpression, ctx: Ctx, depth: int) -> Optional[List[Value]]:
        """What one step of ``for key, model in models.items()`` (or ``models.values()``) gives when
        ``models`` is a dict whose entries are known (``{"elu": EEGNet(nn.ELU), ...}``, also a
        caller's); None otherwise."""
        if not (isinstance(expr, cst.Call) and not expr.args and isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in ("items", "values") and isinstance(expr.func.value, cst.Name)):
            return None
        entries = self.item_exprs(expr.func.value, None, ctx, depth + 1)
        if not entries:
            return None
        values = tuple(v for item, ictx in entries for v in self.resolve(item, ictx, depth + 1))
        return [Seq(((UNKNOWN,), values))] if expr.func.attr.value == "items" else list(values)

    def _iteration(self, value: Value, depth: int) -> Optional[List[Value]]:
        """The values one iteration over ``value`` may give, or None when they are not known."""
        if isinstance(value, Maybe):
            inner = self._iteration(value.value, depth)
            return None if inner is None else [Maybe(v) for v in inner]
        if isinstance(value, Seq) and value.kind == "tuple":
            return [v for item in value.items for v in item]
        if isinstance(value, Seq):  # zip / enumerate: one tuple per step, each position iterating its own
            positions = []
            for item in value.items:
                each = [] if item == (UNKNOWN,) else [self._iteration(v, depth) for v in item]
                positions.append((UNKNOWN,) if not each or None in each else tuple(v for vs in each for v in vs))
            return [Seq(tuple(positions))]
        if isinstance(value, ExtCall) and value.qualname in MODULE_LISTS and value.call is not None:
            first = call_arg(value.call, 0, "modules")
            if first is None:
                return None
            out: List[Value] = []
            for v in self.resolve(first, value.ctx, depth):
                items = self._iteration(v, depth)
                if items is None:
                    return None
                out.extend(items)
            return out
        return None

    def _attr_bindings(self, inst: Instance, bindings: List[Binding], depth: int) -> List[Tuple[Binding, Ctx]]:
        """Each binding of an attribute with the context to read it in (``__init__`` with this
        object's constructor arguments), less those the arguments rule out (``if len(shape) == 3:
        self.D = ...``; without a known call, every construction's arguments must)."""
        out = []
        for b in bindings:
            env = None
            if b.scope.short_name == "__init__" and inst.call is not None:
                env = self.bind_args(b.scope, inst.call, inst.ctx, skip_self=True)
            out.append((b, Ctx(b.scope, env, inst)))
        if len(out) < 2:
            return out
        kept = [(b, bctx) for b, bctx in out
                if b.scope.short_name != "__init__" or self.branch_possible(b.stmt, bctx, depth)]
        return kept or out

    def _rewraps(self, b: Binding, attr: str, ctx: Ctx, depth: int) -> bool:
        """``self.<attr> = <pass-through of self.<attr>>`` (``.cuda()``, ``nn.DataParallel(...)``)."""
        if b.kind != "assign" or b.path or not b.scope.self_name:
            return False
        expr = b.expr
        while isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Attribute) and func.attr.value in PASS_THROUGH_METHODS:
                expr = func.value
            elif expr.args and not expr.args[0].keyword and any(
                    isinstance(v, Ref) and wraps_model(v.qualname) for v in self.resolve(func, ctx, depth)):
                expr = expr.args[0].value
            else:
                return False
        return isinstance(expr, cst.Attribute) and expr.attr.value == attr \
            and isinstance(expr.value, cst.Name) and expr.value.value == b.scope.self_name

    def instance_attr(self, inst: Instance, attr: str, depth: int, running: Optional[Scope] = None) -> List[Value]:
        for cls, module in self.mro(inst.cls, inst.module):
            bindings = cls.attrs.get(attr)
            if bindings:
                out = []
                pairs = self._attr_bindings(inst, bindings, depth)
                # ``self.c_net = nn.DataParallel(self.c_net)``, ``self.c_net = self.c_net.cuda()``: the
                # same object again (read through itself it would only add an unknown).
                kept = [(b, bctx) for b, bctx in pairs if not self._rewraps(b, attr, bctx, depth)]
                if pairs and not kept and any(attr in c.attrs for c, _m in self.mro(cls, module)[1:]):
                    continue  # a subclass only re-wraps it (``self.model = self.model.train()``): the base's
                pairs = kept or pairs
                for b, bctx in pairs:
                    out.extend(self.index_path(self.resolve(b.expr, bctx, depth), b.path) if b.kind != "for"
                               else [Elem(b.path)])
                if any(attr in c.counters for c, _m in self.mro(inst.cls, inst.module)):
                    out = _counted(out)  # ``self.iteration = 0`` and ``self.iteration += 1``
                return out
            method = cls.methods.get(attr)
            if method is not None and _is_property(method) and depth < MAX_DEPTH:
                # ``@property def model(self): return self._model``: reading it runs the method.
                inner = Ctx(method, None, inst)
                return [v for ret in method.returns for v in self.resolve(ret, inner, depth + 1)]
            if method is not None:
                if inst.call is None and _is_abstract(method):
                    # ``self.netD = self.getNetD()`` in a base class whose ``getNetD`` only says
                    # "define it in a subclass": the subclasses' versions.
                    overrides = self.subclass_methods(inst.cls, inst.module, attr)
                    if overrides:
                        return overrides
                return [FuncRef(method, inst)]
            if attr in cls.class_bindings:
                out = []
                for b in cls.class_bindings[attr]:
                    out.extend(self.binding_values(b, attr, Ctx(b.scope), depth))
                return out
        if inst.call is None:
            overrides = self.subclass_methods(inst.cls, inst.module, attr) \
                or self._subclass_attrs(inst, attr, depth, running)
            if overrides:
                return overrides
        if attr in WRAPPED_ATTRS and all(b in NN_MODULE_BASES for b in self.external_bases(inst.cls, inst.module)):
            # ``gen.module.infer(z)`` written for ``nn.DataParallel(gen)`` (wrapped only on several GPUs):
            # a plain model defines no ``module``, and the code means the model itself.
            return [inst]
        return [SubModule(inst, attr)]

    def subclass_methods(self, cls: ClassInfo, module: ModuleInfo, name: str) -> List[Value]:
        """``self.optimize()`` in a base class that leaves ``optimize`` to its subclasses (a template
        method): the subclasses of its module that define it, each on an object of that subclass."""
        out: List[Value] = []
        for sub, sub_module in self.subclasses(cls, module):
            if name in sub.methods:
                out.append(FuncRef(sub.methods[name], Instance(sub, sub_module)))
        return out

    def _subclass_attrs(self, inst: Instance, attr: str, depth: int, running: Optional[Scope]) -> List[Value]:
        """``self.netg(self.input)`` in a base class's ``test()`` while only its subclasses' constructors
        set ``self.netg``: the values they set, on an object of each such subclass that runs this
        method (``running``, when known: a subclass overriding ``test()`` never runs the base's)."""
        if depth >= MAX_DEPTH:
            return []
        out: List[Value] = []
        for sub, sub_module in self.subclasses(inst.cls, inst.module):
            if attr not in sub.attrs or running is not None \
                    and self.find_method(sub, sub_module, running.short_name) is not running:
                continue
            out.extend(self.instance_attr(Instance(sub, sub_module), attr, depth + 1))
        return out

    @staticmethod
    def is_template(cls: ClassInfo) -> bool:
        """A class with a hook left to its subclasses (``train_model`` that only says "define it in a
        subclass"): its ``self`` is always an object of a subclass."""
        return any(_is_abstract(method) for method in cls.methods.values())

    def subclasses(self, cls: ClassInfo, module: ModuleInfo) -> List[Tuple[ClassInfo, ModuleInfo]]:
        """The project's subclasses of ``cls``: in its own module, and in the files that import its
        module and write ``class X(... Name ...)`` (at most ``MAX_CALLER_FILES`` of them)."""
        key = ("subclasses", id(cls))
        memo = self.index.memo
        if key in memo:
            return memo[key]
        memo[key] = []  # recursion guard
        modules = [module]
        candidates = self.importing(module, cls.name)
        if len(candidates) <= MAX_CALLER_FILES:
            pattern = subclass_of(cls.name)
            for path in candidates:
                if self.index.text_matches(path, pattern):
                    info = self.index.module(path)
                    if info is not None and info is not module:
                        modules.append(info)
        out = [(sub, info) for info in modules for sub in info.classes.values()
               if sub is not cls and any(c is cls for c, _ in self.mro(sub, info)[1:])]
        memo[key] = out
        return out

    def methods_of(self, cls: ClassInfo, module: ModuleInfo) -> Dict[str, Scope]:
        """Every method an object of the class has, by name: its own and those it inherits from project
        base classes (a subclass's definition wins)."""
        methods: Dict[str, Scope] = {}
        for c, _module in reversed(self.mro(cls, module)):
            methods.update(c.methods)
        return methods

    def find_method(self, cls: ClassInfo, module: ModuleInfo, name: str) -> Optional[Scope]:
        for c, _ in self.mro(cls, module):
            if name in c.methods:
                return c.methods[name]
        return None

    def mro(self, cls: ClassInfo, module: ModuleInfo, _seen=None) -> List[Tuple[ClassInfo, ModuleInfo]]:
        """The class and its project base classes, depth first (good enough for our questions)."""
        seen = _seen if _seen is not None else set()
        if id(cls) in seen:
            return []
        seen.add(id(cls))
        out = [(cls, module)]
        for base in cls.bases:
            for v in self.resolve(base, Ctx(cls.outer), MAX_DEPTH - 4):
                if isinstance(v, ClassRef):
                    out.extend(self.mro(v.cls, v.module, seen))
        return out

    def plain_class(self, cls: ClassInfo, module: ModuleInfo) -> bool:
        """Every base class is a project class or ``object``: not an ``nn.Module`` (a GAN trainer
        whose ``forward()`` is an ordinary method, not a forward pass)."""
        for c, _ in self.mro(cls, module):
            for base in c.bases:
                values = self.resolve(base, Ctx(c.outer), MAX_DEPTH - 4)
                if not values or not all(isinstance(v, ClassRef) or isinstance(v, Ref) and v.qualname == "object"
                                         for v in values):
                    return False
        return True

    def network_class(self, cls: ClassInfo, module: ModuleInfo) -> bool:
        """A base of the class is an ``nn.Module`` or a LightningModule (not a ``Dataset``, a test
        case or another library's class)."""
        return any(q.startswith(_NETWORK_BASES) for q in self.external_bases(cls, module))

    def parallel_wrapper(self, cls: ClassInfo, module: ModuleInfo) -> bool:
        """A project subclass of ``DataParallel``/``DistributedDataParallel`` (sync-BN repositories'
        ``DataParallelWithCallback``): built around a model, it runs that model."""
        key = ("parallel_wrapper", id(cls))
        if key not in self.index.memo:
            self.index.memo[key] = any(data_parallel(q) for q in self.external_bases(cls, module))
        return self.index.memo[key]

    def external_bases(self, cls: ClassInfo, module: ModuleInfo) -> List[str]:
        out = []
        for c, _ in self.mro(cls, module):
            for base in c.bases:
                for v in self.resolve(base, Ctx(c.outer), MAX_DEPTH - 4):
                    if isinstance(v, Ref):
                        out.append(v.qualname)
        return out

    # -- calls ----------------------------------------------------------------------
    def _call(self, call: cst.Call, ctx: Ctx, depth: int) -> List[Value]:
        func = call.func
        if type(func) is cst.Name and func.value == "bool" and len(call.args) == 1 and not call.args[0].star \
                and not call.args[0].keyword and binding_scope(ctx.scope, "bool") is None:
            value = self.truth(call.args[0].value, ctx, depth)  # ``trainable=bool(args.encoder_trainable)``
            return [Const(value)] if value is not None else [UNKNOWN]
        if isinstance(func, cst.Attribute):
            name = func.attr.value
            if name in PASS_THROUGH_METHODS or name == "type" and call.args:  # ``model.type(dtype)``
                receiver = self.resolve(func.value, ctx, depth)
                if not all(isinstance(v, ModuleRef) for v in receiver) and not _imported_module(func.value, ctx) \
                        and not self._own_method(receiver, name):
                    # (else ``utils.cuda(model)``, ``torch.squeeze(x)``: a function of a module;
                    # ``data.train(batch_size)``: a plain class's own method, not nn.Module's)
                    return receiver
            if name in ("parse_args", "parse_known_args"):
                made_in = self.aside(depth, lambda d: self._parser_modules(func.value, ctx, d))
                values = [ArgsNamespace(ctx.module, made_in)]
                return [Seq(((values[0],), (UNKNOWN,)))] if name == "parse_known_args" else values
            if name in _FABRIC_SETUP and self._is_fabric(func.value, ctx, depth):
                return self._fabric_setup(call, ctx, depth)
            if name == "get" and isinstance(func.value, cst.Attribute) and func.value.attr.value == "__dict__":
                # ``models.__dict__.get(arch)``
                return self._registry_lookup(func.value.value, call_arg(call, 0), ctx, depth, call)
            if name == "get" and isinstance(func.value, cst.Name):
                got = self._literal_get(func.value, call, ctx, depth)
                if got is not None:
                    return got
            if name == "get" and isinstance(func.value, cst.Name) and func.value.value.isupper() \
                    and "REGISTRY" in func.value.value and len(call.args) == 1:
                entries = self.registered(func.value, ctx, depth)
                if entries:
                    return entries
        out: List[Value] = []
        for callee in self.resolve(func, ctx, depth):
            out.extend(self.call_value(callee, call, ctx, depth))
        return out

    def _own_method(self, receiver: List[Value], name: str) -> bool:
        """The receiver is an object of a plain project class (no ``nn.Module``) that defines ``name``."""
        return any(isinstance(v, Instance) and self.plain_class(v.cls, v.module)
                   and self.find_method(v.cls, v.module, name) is not None for v in receiver)

    def _parser_modules(self, parser: cst.BaseExpression, ctx: Ctx, depth: int) -> Tuple[ModuleInfo, ...]:
        """Other project modules where the ``ArgumentParser`` that ``parser`` holds was made."""
        out = []
        for v in self.resolve(parser, ctx, depth):
            if isinstance(v, ExtCall) and v.qualname in _ARGUMENT_PARSERS and v.ctx is not None \
                    and v.ctx.module is not ctx.module and v.ctx.module not in out:
                out.append(v.ctx.module)
        return tuple(out)

    def _is_fabric(self, receiver, ctx: Ctx, depth: int) -> bool:
        return any(isinstance(v, ExtCall) and v.qualname in _FABRIC for v in self.resolve(receiver, ctx, depth))

    def _fabric_setup(self, call: cst.Call, ctx: Ctx, depth: int) -> List[Value]:
        """``fabric.setup(model, opt)`` returns its arguments (wrapped; one argument: itself)."""
        args = [a.value for a in call.args if a.keyword is None and not a.star]
        if len(args) != len(call.args) or not args:
            return [UNKNOWN]
        if len(args) == 1:
            return self.resolve(args[0], ctx, depth)
        return [Seq(tuple(tuple(self.resolve(a, ctx, depth)) for a in args))]

    def call_value(self, callee: Value, call: cst.Call, ctx: Ctx, depth: int) -> List[Value]:
        if isinstance(callee, Maybe):
            return [Maybe(v) for v in self.call_value(callee.value, call, ctx, depth)]
        if isinstance(callee, Ref):
            return self.external_call(callee.qualname, call, ctx, depth)
        if isinstance(callee, ClassRef):
            if call.args and not call.args[0].keyword and not call.args[0].star \
                    and self.parallel_wrapper(callee.cls, callee.module):
                return self.resolve(call.args[0].value, ctx, depth)  # the model it wraps, as for DataParallel
            return [Instance(callee.cls, callee.module, call, ctx)]
        if isinstance(callee, FuncRef):
            return self.function_returns(callee, call, ctx, depth)
        if isinstance(callee, Partial):
            return self.call_value(callee.func, call, ctx, depth)
        if isinstance(callee, (Instance, ExtCall, SubModule)):
            return [Output(callee, call, ctx)]
        return [UNKNOWN]

    def external_call(self, qual: str, call: cst.Call, ctx: Ctx, depth: int) -> List[Value]:
        first = call_arg(call, 0)
        if wraps_model(qual):
            if first is None:
                return [UNKNOWN]
            return self.resolve(first, ctx, depth)
        if qual == "next":
            return [Elem()] if first else [UNKNOWN]
        if qual == "apex.amp.initialize" and first is not None:
            # ``[G, C], [opt] = amp.initialize([G, C], [opt])``: the models (and optimizers) it was given.
            models = self.resolve(first, ctx, depth)
            optimizers = call_arg(call, 1, "optimizers")
            if optimizers is None:
                return models
            return [Seq((tuple(models), tuple(self.resolve(optimizers, ctx, depth))))]
        if qual in ("list", "tuple") and first is not None and len(call.args) == 1 and not call.args[0].star:
            items = self.resolve(first, ctx, depth)
            if items and all(isinstance(v, Seq) for v in items):
                return items  # a copy of a literal sequence: ``list([model.conv1, model.bn1])``
        if qual in ("zip", "enumerate"):
            items = []
            if qual == "enumerate":
                items.append((UNKNOWN,))
            for arg in call.args:
                if arg.keyword is not None:
                    continue
                if arg.star:
                    return [UNKNOWN]
                items.append(tuple(self.resolve(arg.value, ctx, depth)))
            return [Seq(tuple(items), qual)]
        if qual in SEQUENTIALS:
            whole = self._children_source(call, ctx, depth)
            if whole is not None:
                # ``nn.Sequential(*list(resnet.children())[:-1])``: the network less its head, the
                # same modules (freezing or switching ``resnet`` reaches them).
                return self.resolve(whole, ctx, depth)
        if qual == "functools.partial" and first is not None:
            return [Partial(v, call, ctx) for v in self.resolve(first, ctx, depth)]
        if qual in config_files.LOADERS and first is not None:
            return [self._settings_file(first, qual in config_files.YAML_LOADERS, ctx, depth)]
        if qual in ATTRIBUTE_DICTS and first is not None and len(call.args) == 1:
            read = self.resolve(first, ctx, depth)
            if read and all(isinstance(v, Data) for v in read):
                return read  # ``EasyDict(yaml.safe_load(f))``: the same settings, read by attribute
        if qual == "getattr" and first is not None:
            return self._registry_lookup(first, call_arg(call, 1), ctx, depth, call)  # getattr(models, arch)
        if qual == "eval" and first is not None and len(call.args) == 1:
            # ``m = eval(m)`` with a layer's name read from a model's YAML file (YOLO's ``parse_model``)
            found = self.aside(depth, lambda d: self._evaluated_name(first, ctx, d))
            made = ctx.module.parents.get(call)
            if isinstance(made, cst.Call) and made.func is call and len(found) > 1:
                # ``eval(name)(**kwargs)``: the entries whose parameters take the call's arguments
                found = _fitting(found, made, self._spread_keywords(made, ctx, depth)) or found
            return found
        if qual == "importlib.import_module" and first is not None and len(call.args) == 1:
            # ``importlib.import_module(ENVS.get(name, name))`` with the name known: that project module
            names = self.aside(depth, lambda d: self.resolve(first, ctx, d))  # (a side question, as a registry key)
            found = [self.index.module_by_name(v.value, ctx.module.fs_path) for v in names
                     if isinstance(v, Const) and isinstance(v.value, str)
                     and all(part.isidentifier() for part in v.value.split("."))]
            if names and len(found) == len(names) and all(found):
                return [ModuleRef(info) for info in found]
        return [ExtCall(qual, call, ctx)]

    def _settings_file(self, stream: cst.BaseExpression, as_yaml: bool, ctx: Ctx, depth: int) -> Value:
        """``yaml.safe_load(f)`` / ``json.load(f)`` with ``f = open(<constant path>)``: the file's data,
        when it lies in the project (recorded as a dependency of the linted file), else unknown."""
        found: List[Value] = []
        for v in self.resolve(stream, ctx, depth):
            written = call_arg(v.call, 0, "file") if isinstance(v, ExtCall) and v.qualname in _OPENERS else None
            path = self.const(written, v.ctx, depth) if written is not None else None
            if not isinstance(path, str):
                return UNKNOWN
            data = None
            script_dir = os.path.dirname(os.path.abspath(ctx.module.fs_path))
            for candidate in config_files.candidate_paths(self.index.root, script_dir, path):
                data = config_files.load_data(candidate, as_yaml, self.index.memo)
                if data is None:
                    self.index.probed.add(candidate)  # (a file appearing there would be read instead)
                    continue
                self.index.consulted.add(candidate)
                break
            if data is None:
                return UNKNOWN
            found.append(data_value(data))
        return found[0] if len(found) == 1 else UNKNOWN

    def _children_source(self, call: cst.Call, ctx: Ctx, depth: int) -> Optional[cst.BaseExpression]:
        """``X`` of ``Sequential(*list(X.children())[a:b])`` (the slice optional, the list possibly
        bound to a name first: ``modules = list(X.children())[:-1]``), else None."""
        if len(call.args) != 1 or call.args[0].star != "*":
            return None
        expr = call.args[0].value
        if isinstance(expr, cst.Name):
            live = self.live_bindings(ctx.scope, expr.value, expr, ctx, depth) if expr.value in ctx.scope.bindings else []
            if len(live) != 1 or live[0].kind != "assign" or live[0].path:
                return None
            expr = live[0].expr
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Slice):
            expr = expr.value
        if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "list"
                and len(expr.args) == 1 and not expr.args[0].star):
            return None
        inner = expr.args[0].value
        if isinstance(inner, cst.Call) and not inner.args and isinstance(inner.func, cst.Attribute) \
                and inner.func.attr.value == "children":
            return inner.func.value
        return None

    def registered(self, receiver: cst.Name, ctx: Ctx, depth: int) -> List[Value]:
        """What ``REGISTRY.get(name)`` may return (Dassl, detectron2, fvcore): the classes and functions
        of the project decorated ``@REGISTRY.register()`` with this very registry object, in files
        that name it (at most ``MAX_CALLER_FILES`` of them with such a decorator); any of them when
        the name is a configuration value."""
        registry = receiver.value
        made = _made_by(self.resolve(receiver, ctx, depth))
        key = ("registered", registry, made)
        memo = self.index.memo
        if key in memo:
            return memo[key]
        marker = re.compile(r"@\s*" + re.escape(registry) + r"\s*\.\s*register")
        paths = [p for p in self.index.files_mentioning(registry) if self.index.text_matches(p, marker)]
        out: List[Value] = []
        if len(paths) <= MAX_CALLER_FILES:
            for path in paths:
                info = self.index.module(path)
                if info is None:
                    continue
                if made and not made & _made_by(self.lookup(registry, Ctx(info.scope), MAX_DEPTH - 4)):
                    continue  # another registry of the same name (a second framework in the tree)
                for cls in info.classes.values():
                    if cls.outer is info.scope and _registers(cls.node.decorators, registry):
                        out.append(ClassRef(cls, info))
                for fn in info.functions.values():
                    if _registers(fn.node.decorators, registry):
                        out.append(FuncRef(fn))
        memo[key] = out
        return out

    def _registry_lookup(self, base, key, ctx: Ctx, depth: int, node: cst.BaseExpression) -> List[Value]:
        """``getattr(models, name)`` / ``models.__dict__[name]`` (``node``): the attribute, when
        ``name`` is known."""
        return self.aside(depth, lambda d: self._registry_entry(base, key, ctx, d, node))

    def _registry_entry(self, base, key, ctx: Ctx, depth: int, node: cst.BaseExpression) -> List[Value]:
        name = self.const(key, ctx, depth) if key is not None else None
        if not isinstance(name, str) or not name.isidentifier():
            # ``f"resnet{depth}"``: a zoo's family of constructors (resnet18 ... resnet152).
            prefix = _literal_prefix(key) if key is not None else None
            bases = self.resolve(base, ctx, depth)
            zoos = [v for v in bases if isinstance(v, Ref)] if prefix else []
            found = [Ref(f"{z.qualname}.{n}") for z in zoos for n in model_zoo.family(z.qualname, prefix)]
            # ``model.__dict__[config["MODEL"]["D"]["NAME"]]`` with the name in a YAML file: any
            # model the project module offers (a table whose entry the user picks).
            if not found and bases and all(isinstance(v, ModuleRef) for v in bases):
                made = ctx.module.parents.get(node)
                offers = [c for v in bases for c in self._module_offers(v.module, depth)]
                found = _fitting(offers, made, self._spread_keywords(made, ctx, depth)) \
                    if isinstance(made, cst.Call) and made.func is node else offers
            return found or [UNKNOWN]
        out: List[Value] = []
        for v in self.resolve(base, ctx, depth):
            out.extend(self.attribute_of(v, name, depth))
        return out

    def _spread_keywords(self, call: cst.Call, ctx: Ctx, depth: int) -> Optional[Set[str]]:
        """The keys ``call`` spreads with ``**kwargs``, read from the one dict literal the name is
        bound to (``kwargs = {'pretrained': ..., 'num_classes': ...}``); None when unknown or when the
        call spreads nothing."""
        keywords: Optional[Set[str]] = None
        for arg in call.args:
            if arg.star == "*":
                return None
            if arg.star == "**":
                keywords = set() if keywords is None else keywords
                literals = [node for node, _ in self._dict_sources(arg.value, ctx, depth)]
                if len(literals) != 1 or not isinstance(literals[0], cst.Dict):
                    return None
                for element in literals[0].elements:
                    key = self.const(element.key, ctx, depth) if isinstance(element, cst.DictElement) else None
                    if not isinstance(key, str):
                        return None
                    keywords.add(key)
        return keywords

    def _evaluated_name(self, expr: cst.BaseExpression, ctx: Ctx, depth: int) -> List[Value]:
        """``eval(name)``: what the name is bound to where ``eval`` runs, when the name is a known
        identifier; else any class or function the module holds by name (see ``_offered_names``),
        its own and its star imports', at most ``MAX_NAMESPACE_ENTRIES``: a table whose entry a
        settings file picks (``eval(cfg.MODEL.BASENET)(**kwargs)``)."""
        name = self.const(expr, ctx, depth)
        if isinstance(name, str):
            return self.lookup(name, ctx, depth) if name.isidentifier() else [UNKNOWN]
        holders = [ctx.module] + [m for m in self._star_imports(ctx.module) if m is not None]
        names = {(m, n) for i, m in enumerate(holders) for n in _offered_names(m, use_all=i > 0, imports=True)}
        if not names or len(names) > MAX_NAMESPACE_ENTRIES:
            return [UNKNOWN]
        out: List[Value] = []
        for m, n in sorted(names, key=lambda mn: (mn[0].fs_path, mn[1])):
            out.extend(v for v in self.module_attr(m, n, depth + 1) if isinstance(v, (ClassRef, FuncRef)))
        return out or [UNKNOWN]

    def _module_offers(self, module: ModuleInfo, depth: int) -> List[Value]:
        """The classes and functions a project module offers by name: those its ``__all__`` lists,
        else the public ones it defines itself. Nothing past ``MAX_REGISTRY_ENTRIES`` names (a library
        module, not a table of models)."""
        names = _offered_names(module)
        if len(names) > MAX_REGISTRY_ENTRIES:
            return []
        out: List[Value] = []
        for n in names:
            out.extend(v for v in self.module_attr(module, n, depth + 1) if isinstance(v, (ClassRef, FuncRef)))
        return out

    def function_returns(self, fref: FuncRef, call: cst.Call, ctx: Ctx, depth: int) -> List[Value]:
        scope = fref.scope
        if not scope.returns:
            return [UNKNOWN]
        env = self.bind_args(scope, call, ctx, skip_self=fref.bound_self is not None)
        # A helper defined in the calling function reads that call's arguments as free variables.
        inner = Ctx(scope, env, fref.bound_self, ctx if scope.parent is ctx.scope else None)
        inner.call = call
        returns = scope.returns
        if len(returns) > 1:  # ``if kind == "batch": return nn.BatchNorm2d`` with kind known here
            returns = [r for r in returns if self.branch_possible(r, inner, depth)] or returns
        out: List[Value] = []
        for ret in returns:
            out.extend(self.resolve(ret, inner, depth))
        return out

    def call_ctx(self, scope: Scope, call: cst.Call, ctx: Ctx, skip_self: bool,
                 self_value: Optional[Value]) -> Ctx:
        """The context of ``scope`` run by ``call`` from ``ctx``: one object per call and caller
        context, so that what is memoised by context (resolutions, mode events) is found again when
        a walk follows the same call a second time (another model, another forward call)."""
        key = ("call_ctx", id(scope), id(call), id(ctx), skip_self, id(self_value))
        known = self.index.memo.get(key)
        if known is None:
            # (the entry holds the objects whose ids make its key, keeping them alive)
            known = self.index.memo[key] = (Ctx(scope, self.bind_args(scope, call, ctx, skip_self), self_value),
                                            ctx, self_value)
        return known[0]

    def bind_args(self, scope: Scope, call: cst.Call, ctx: Optional[Ctx], skip_self: bool):
        """Map the callee's parameter names to the caller's argument expressions."""
        env: Dict[str, List[Tuple[cst.BaseExpression, Ctx]]] = {}
        if ctx is None:
            return env
        params = [p for p in scope.params if p.index >= 0]
        if skip_self and params:
            params = params[1:]
        pos = 0
        for arg in call.args:
            spread = self._spread(arg.value, ctx) if arg.star == "*" and pos < len(params) else None
            if spread is not None:
                # ``train_gan(device, *setup_gan(config))`` with ``return loader, models, optimizers``
                for elements in spread:
                    if pos < len(params):
                        env.setdefault(params[pos].name, []).extend(elements)
                        pos += 1
                continue
            items = self._keyword_items(arg.value, ctx) if arg.star == "**" else None
            if items is not None:
                # ``Trainer(save_dir, **models)`` with ``models = setup_models(cfg)`` returning a dict
                # literal: each key passes its parameter.
                for key, value, vctx in items:
                    env.setdefault(key, []).append((value, vctx))
                continue
            if arg.star:
                # ``*args``/``**kwargs`` may pass any parameter not named here; positions after a
                # ``*args`` are unknown. The entry under STARRED says so to ``param_values``.
                env.setdefault(STARRED, []).append((arg.value, ctx))
                if arg.star == "*":
                    pos = len(params)
                continue
            if arg.keyword is not None:
                env.setdefault(arg.keyword.value, []).append((arg.value, ctx))
            elif pos < len(params):
                env.setdefault(params[pos].name, []).append((arg.value, ctx))
                pos += 1
        return env

    def _keyword_items(self, expr: cst.BaseExpression, ctx: Ctx,
                       depth: int = 0) -> Optional[List[Tuple[str, cst.BaseExpression, Ctx]]]:
        """What ``**expr`` passes, key by key, when that is written out: a dict literal with constant
        keys, a name bound once to one and never changed, or a call of a project function whose every
        ``return`` is such a literal with the same keys. None when any key may be missing or added."""
        if depth > 4:
            return None
        if isinstance(expr, cst.Dict):
            items = []
            for element in expr.elements:
                key = self.const(element.key, ctx) if isinstance(element, cst.DictElement) else None
                if not isinstance(key, str):
                    return None
                items.append((key, element.value, ctx))
            return items
        if isinstance(expr, cst.Name):
            scope = binding_scope(ctx.scope, expr.value)
            if scope is None or expr.value in ctx.module.updated or scope.item_stores.get(expr.value):
                return None
            bindings = self.visible_bindings(scope, expr.value, expr)
            if len(bindings) == 1 and bindings[0].kind == "param" and scope is ctx.scope:
                # A parameter handed on (``setup_trainer(config, models)``): what its one caller passes.
                key = (id(scope), expr.value)
                if key in self._keyword_params:
                    return None  # (``**kwargs`` handed around a cycle of callers)
                self._keyword_params.add(key)
                try:
                    passed = ctx.env.get(expr.value, []) if ctx.env is not None \
                        else self.callers_args(scope, expr.value, MAX_DEPTH - 4)
                    if len(passed) != 1 or (ctx.env is None and self.callers_incomplete(scope)):
                        return None
                    return self._keyword_items(passed[0][0], passed[0][1], depth + 1)
                finally:
                    self._keyword_params.discard(key)
            if len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].path:
                return None
            return self._keyword_items(bindings[0].expr, ctx if scope is ctx.scope else Ctx(scope), depth + 1)
        if not isinstance(expr, cst.Call):
            return None
        frefs = self.resolve(expr.func, ctx, MAX_DEPTH - 4)
        if len(frefs) == 1 and isinstance(frefs[0], Ref) and frefs[0].qualname == "dict":
            # ``dict(train_loader=train_loader, test_loader=test_loader)``
            if not all(a.keyword is not None and not a.star for a in expr.args):
                return None
            return [(a.keyword.value, a.value, ctx) for a in expr.args]
        if len(frefs) != 1 or not isinstance(frefs[0], FuncRef) or not frefs[0].scope.returns:
            return None
        fref = frefs[0]
        inner = self.call_ctx(fref.scope, expr, ctx, fref.bound_self is not None, fref.bound_self)
        found = [self._keyword_items(r, inner, depth + 1) for r in fref.scope.returns]
        if any(f is None for f in found) or len({tuple(sorted(k for k, _, _ in f)) for f in found}) != 1:
            return None
        return [item for f in found for item in f]

    def _spread(self, expr: cst.BaseExpression, ctx: Ctx) -> Optional[List[List[Tuple[cst.BaseExpression, Ctx]]]]:
        """What ``*expr`` passes, position by position, when that is written out: a tuple or list
        literal, or a call of a project function whose every ``return`` is a literal of one length
        (``*setup_gan(config)``). None when the positions are unknown."""
        if type(expr) in (cst.Tuple, cst.List):
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return None
            return [[(e.value, ctx)] for e in expr.elements]
        if type(expr) is not cst.Call:
            return None
        frefs = [v for v in self.resolve(expr.func, ctx, MAX_DEPTH - 4)]
        if len(frefs) != 1 or not isinstance(frefs[0], FuncRef) or not frefs[0].scope.returns:
            return None
        fref = frefs[0]
        returns = fref.scope.returns
        if not all(type(r) in (cst.Tuple, cst.List) and len(r.elements) == len(returns[0].elements)
                   and not any(isinstance(e, cst.StarredElement) for e in r.elements) for r in returns):
            return None
        inner = Ctx(fref.scope, self.bind_args(fref.scope, expr, ctx, skip_self=fref.bound_self is not None),
                    fref.bound_self)
        return [[(r.elements[i].value, inner) for r in returns] for i in range(len(returns[0].elements))]

    # -- reverse lookups ------------------------------------------------------------
    def callers(self, scope: Scope) -> List[CallSite]:
        """Call sites in the project whose callee resolves to ``scope``."""
        memo = self.index.memo
        key = ("callers", id(scope))
        if key in memo:
            if id(scope) in self._searching:  # a recursive search: what it finds is not final yet
                self._low = min(self._low, self._searching[id(scope)] - 0.5)
            return memo[key]
        memo[key] = []  # recursion guard
        self._searching[id(scope)] = len(self._frames)
        try:
            found = self._search_callers(scope) or self._overridden_callers(scope) \
                or self._indirect_constructions(scope)
        finally:
            del self._searching[id(scope)]
        memo[key] = found
        return found

    def _decorated_by(self, scope: Scope) -> List[Value]:
        """The project classes and functions that ``scope`` is applied to as a decorator, which is how
        a registry dict fills: ``@register`` with ``def register(cls): MODELS[cls.__name__] = cls``,
        or ``@register("dann")`` with ``def register(name): def wrap(cls): SOLVERS[name] = cls ...
        return wrap``; its first parameter is each of them (at most ``MAX_REGISTRY_ENTRIES``)."""
        key = ("decorated_by", id(scope))
        memo = self.index.memo
        if key in memo:
            return memo[key]
        memo[key] = []
        maker, factory = scope, False
        parent = scope.parent
        if parent is not None and isinstance(parent.node, cst.FunctionDef) and parent.cls is None and any(
                isinstance(r, cst.Name) and r.value == scope.short_name for r in parent.returns):
            maker, factory = parent, True  # ``register(name)`` returns the decorator
        elif parent is not maker.module.scope:
            return []
        name = maker.short_name
        marker = re.compile(r"@[\w.\s]*\b" + re.escape(name) + (r"\s*\(" if factory else r"\s*$"), re.M)
        paths = [p for p in [maker.module.fs_path] + self.importing(maker.module, name)
                 if self.index.text_matches(p, marker)]
        out: List[Value] = []
        for path in paths[:MAX_CALLER_FILES]:
            info = self.index.module(path)
            if info is None:
                continue
            entries = [(c.node, ClassRef(c, info), c.outer) for c in info.classes.values()]
            entries += [(f.node, FuncRef(f), f.parent) for f in info.functions.values()]
            for node, value, owner in entries:
                for d in node.decorators:
                    expr = d.decorator
                    if factory != isinstance(expr, cst.Call):
                        continue
                    func = expr.func if factory else expr
                    if any(isinstance(v, FuncRef) and v.scope is maker
                           for v in self.resolve(func, self.ctx_for(owner or info.scope), MAX_DEPTH - 4)):
                        out.append(value)
        memo[key] = out = out[:MAX_REGISTRY_ENTRIES]
        return out

    def _bound_by_method_type(self, scope: Scope) -> List[Tuple[cst.BaseExpression, Ctx]]:
        """``self._step = MethodType(training_step, self)``: a module-level function bound to an
        object as its method (picked by library version, say); its first parameter is that object."""
        key = ("method_type", id(scope))
        if key in self.index.memo:
            return self.index.memo[key]
        self.index.memo[key] = []
        out = []
        for path in [scope.module.fs_path] + self.importing(scope.module, scope.short_name):
            if not self.index.text_matches(path, _METHOD_TYPE):
                continue
            info = self.index.module(path)
            for s in info.scopes if info is not None else ():
                ctx = self.ctx_for(s)
                for site in s.calls:
                    args = site.call.args
                    if len(args) != 2 or any(a.keyword or a.star for a in args) \
                            or callee_name(site.call.func) != "MethodType" \
                            or not any(isinstance(v, Ref) and v.qualname == "types.MethodType"
                                       for v in self.resolve(site.call.func, ctx, 4)):
                        continue
                    if any(isinstance(v, FuncRef) and v.scope is scope for v in self.resolve(args[0].value, ctx, 4)):
                        out.append((args[1].value, ctx))
        self.index.memo[key] = out
        return out

    def _overridden_callers(self, scope: Scope) -> List[CallSite]:
        """An override nobody calls by its own class: the calls of the base method it overrides, which
        may run it (``algorithm.update(...)`` with ``algorithm`` picked from a registry of subclasses)."""
        cls = scope.cls
        if cls is None or scope.self_name is None or scope.short_name.startswith("__"):
            return []
        for base, _module in self.mro(cls, scope.module)[1:]:
            method = base.methods.get(scope.short_name)
            if method is not None:
                # ... else its calls on an object of another subclass whose class was picked at run
                # time (``algorithm = algorithm_class(args)`` from a registry), with arguments this
                # override accepts: which override runs depends on an option the default fixes.
                return self.callers(method) or self._search_callers(method, chosen=scope)
        return []

    def _indirect_constructions(self, init: Scope) -> List[CallSite]:
        """A constructor nobody calls by its class's name: the calls of a variable or parameter that
        holds the class (``encoder_class(model_type, fine_tune=...)`` with ``Encoder`` passed in as
        ``encoder_class``). For a class a registry hands out (``algorithm_class(num_classes,
        backbone)`` with ``algorithm_class = globals()[args.algorithm]``), also the calls that build
        a sibling (a class with a project base class in common) that way: a registry's classes take
        the same arguments, and the default option names only one of them."""
        cls = init.cls
        if init.short_name != "__init__" or cls is None:
            return []
        # (the variable is called where the class is defined or imported by its name, in a file
        # that writes the class as a value: ``Captioner(Encoder, ...)``, ``cls = Encoder``)
        as_value, as_item = _as_value(cls.name), _as_dict_value(cls.name)
        paths = {init.module.fs_path} | set(self.importing(init.module, cls.name))
        # (``registry[args.alg](model, optimizer, args)`` with the class an item of a dict literal)
        tables = {p for p in paths if self.index.text_matches(p, as_item)}
        if cls.node.decorators:
            # (``@register("dann")`` puts the class into a registry dict: ``SOLVERS[kind](net, ...)``)
            tables |= {p for p in paths if self.index.text_matches(p, _SUBSCRIPT_CALL)}
        if not tables and not any(self.index.text_matches(p, as_value) for p in paths):
            paths = set()
        registries = self._registries(cls, init.module)
        bases = {id(c) for c, _m in self.mro(cls, init.module)[1:]} if registries else set()
        siblings = bool(bases)
        if siblings:
            words = set().union(*(self._import_words(r, set()) for r in registries))
            paths |= set().union(*(self.index.files_mentioning(IMPORTED + w) for w in words))
        if not paths or len(paths) > MAX_CALLER_FILES:
            return []
        found = []
        for path in sorted(paths):
            info = self.index.module(path)
            if info is None:
                continue
            for s in info.scopes:
                for site in s.calls:
                    func = site.call.func
                    if path in tables and isinstance(func, cst.Subscript) and _fits(init, site.call):
                        # Any entry of the table: the option that picks one is what the user varies.
                        sctx = self.ctx_for(s)
                        if any(isinstance(v, ClassRef) and v.cls is cls
                               for expr, ectx in self.item_exprs(func.value, None, sctx, 4)
                               for v in unwrap(self.resolve(expr, ectx, 5))):
                            found.append(site)
                        continue
                    if isinstance(func, cst.Name) and _assigned_class(s, func.value, cls.name) \
                            and _fits(init, site.call):
                        # ``trainer = Pix2PixTrainer`` in one branch of a factory: built with these
                        # arguments whichever option picks it
                        found.append(site)
                        continue
                    if not isinstance(func, cst.Name) or func.value == cls.name or not _CLASS_HOLDER.search(
                            func.value) or not _fits(init, site.call) or not any(
                            b.kind == "assign" or (b.kind == "param" and not _first_of_method(b.scope, func.value))
                            for b in _bindings_of(s, func.value)):
                        continue  # a class is put in a variable (or passed in) before it is called
                    for v in unwrap(self.resolve(func, self.ctx_for(s), 4)):
                        if isinstance(v, ClassRef) and (v.cls is cls or siblings and any(
                                id(c) in bases for c, _m in self.mro(v.cls, v.module)[1:])):
                            found.append(site)
                            break
        return found

    def class_returners(self, cls: ClassInfo, module: ModuleInfo) -> List[Scope]:
        """Functions that hand out the class itself, not an object of it (``if encoder ==
        Encoder.CResNet50: return CResNet50`` in a factory of classes): their callers build it later,
        through whatever variable or parameter the class travels in."""
        key = ("class_returners", id(cls))
        memo = self.index.memo
        if key not in memo:
            found = []
            as_value = _as_value(cls.name)
            for path in [module.fs_path] + self.importing(module, cls.name):
                if not self.index.text_matches(path, as_value):
                    continue
                info = module if path == module.fs_path else self.index.module(path)
                for scope in info.scopes if info is not None else ():
                    if scope.parent is not None and any(
                            isinstance(ret, cst.Name) and ret.value == cls.name and self._names_class(ret, scope, cls)
                            for ret in scope.returns):
                        found.append(scope)
            memo[key] = found
        return memo[key]

    def _names_class(self, expr: cst.BaseExpression, scope: Scope, cls: ClassInfo) -> bool:
        return any(isinstance(v, ClassRef) and v.cls is cls for v in self.resolve(expr, self.ctx_for(scope), 4))

    def _registries(self, cls: ClassInfo, module: ModuleInfo) -> List[ModuleInfo]:
        """The modules that hand ``cls`` out by name through ``globals()[name]``: its own, or one that
        imports it."""
        key = ("registries", id(cls))
        memo = self.index.memo
        if key not in memo:
            found = []
            for path in set(self.index.files_mentioning(cls.name)) & set(self.index.files_mentioning("globals")):
                if self.index.text_matches(path, _GLOBALS_REGISTRY):
                    info = module if path == module.fs_path else self.index.module(path)
                    if info is not None:
                        found.append(info)
            memo[key] = found
        return memo[key]

    def _picked_subclass(self, value: Value, base: ClassInfo) -> bool:
        """``value`` is a method bound to an object of a subclass of ``base`` built by calling a
        class held in a variable (``algorithm_class(args)``), not one named at the call."""
        inst = value.bound_self if isinstance(value, FuncRef) else None
        if not isinstance(inst, Instance) or inst.call is None or inst.cls is base:
            return False
        func = inst.call.func
        named = callee_name(func)
        return named != inst.cls.name and any(c is base for c, _m in self.mro(inst.cls, inst.module)[1:])

    def _search_callers(self, scope: Scope, chosen: Optional[Scope] = None) -> List[CallSite]:
        memo = self.index.memo
        name = scope.short_name
        constructor = scope.cls if name == "__init__" and scope.cls is not None else None
        if constructor is not None:
            name = constructor.name  # ``Trainer(...)`` calls ``Trainer.__init__``
        modules = [scope.module]
        # Another file can only call it after importing its module (or a package above
        # it), so a caller's text names both; this keeps a common name like ``train``
        # from pulling in every script of a big repository.
        # A function or class is called by its name only in files whose import statements name
        # its module (or a package re-exporting it): ``main()`` of main.py is not called by every
        # script with a main() of its own. A method is called on objects that may come from a
        # registry, in files that need not import it; those only have to mention the module.
        plugin = None
        if scope.cls is None or constructor is not None:
            candidates = self.importing(scope.module, name)
        else:
            mentions = self.index.files_mentioning(name)
            words = self._import_words(scope.module, set(mentions))
            # ... or a package whose ``__init__`` names the class (a ``create_model(opt)`` factory),
            words |= self._import_words(scope.module, set(self.index.files_mentioning(scope.cls.name)))
            # ... or a registry that imports the class and hands it out by name (``globals()[name]``),
            for registry in self._registries(scope.cls, scope.module):
                words |= self._import_words(registry, set())
            # ... or the module of a subclass (``DCGAN().optimize(x)`` runs ``BaseGAN.optimize``).
            for sub, sub_module in self.subclasses(scope.cls, scope.module):
                if sub_module is not scope.module:
                    words |= self._import_words(sub_module, set(self.index.files_mentioning(sub.name)))
            # ... or a package that loads its modules by name (``importlib.import_module("models." + name)``
            # in a ``create_model(opt)`` factory): its objects may be of any class of those modules.
            plugin = self._plugin_package(scope.module)
            if plugin is not None:
                words.add(plugin)
            importers = set().union(*(self.index.files_mentioning(w) for w in words))
            candidates = [p for p in mentions if p in importers and p != scope.module.fs_path]
        subclasses = subclass_of(name) if constructor is not None else None
        if len(candidates) > MAX_CALLER_FILES:
            # A name used all over a huge tree: reading every candidate would cost minutes.
            # Search only the function's own module and say the answer is incomplete.
            memo[("callers_incomplete", id(scope))] = True
            candidates = []
        names = {name}
        for path in candidates:
            # ``from trainer_gan import LitTrainer as LitTrainer_gan``: its calls go by the alias
            aliases = set(self.index.findall(path, _imported_as(name))) if scope.cls is None or constructor else set()
            names |= aliases
            if not any(self.index.text_matches(path, call_of(n)) for n in {name} | aliases) and not (
                    subclasses is not None and self.index.text_matches(path, subclasses)):
                continue  # names it without calling it (an import, a comment): no need to parse it
            info = self.index.module(path)
            if info is not None and info is not scope.module:
                modules.append(info)
        if scope.cls is not None and constructor is None:
            # A base class's own methods call ``self.forward_backward(...)``, which runs this override.
            for _base, base_module in self.mro(scope.cls, scope.module)[1:]:
                if all(base_module is not m for m in modules):
                    modules.append(base_module)
        found = []
        for info in modules:
            for s in info.scopes:
                # ``super().__init__(args, ...)`` in a subclass's constructor runs this one.
                inherits = constructor is not None and s.short_name == "__init__" and s.cls is not None \
                    and s.cls is not constructor and self._next_init(s.cls, info) is scope
                for site in s.calls:
                    func = site.call.func
                    if inherits and _is_super_init(func):
                        found.append(site)
                        continue
                    last = callee_name(func)
                    if last not in names:
                        continue
                    values = unwrap(self.resolve(func, self.ctx_for(s), 4))
                    for v in values:
                        if (isinstance(v, FuncRef) and v.scope is scope) or (
                                isinstance(v, ClassRef) and constructor is not None and v.cls is constructor) or (
                                chosen is not None and self._picked_subclass(v, scope.cls) and _fits(chosen, site.call)):
                            found.append(site)
                            break
                    else:
                        if plugin is not None and info is not scope.module and isinstance(func, cst.Attribute) \
                                and values and all(isinstance(v, Unknown) for v in values):
                            found.append(site)  # ``model.set_input(data)`` on what the plugin factory made
        return found

    def _plugin_package(self, module: ModuleInfo) -> Optional[str]:
        """The name of the package directly above ``module`` when its ``__init__`` imports the package's
        modules by name (``importlib.import_module``): a registry of model or dataset classes."""
        parts = [p for p in module.module_name.split(".") if p]
        if len(parts) < 2:
            return None
        init = self.index.resolve_module(".".join(parts[:-1]), module.fs_path)
        if init is None or not init.endswith("__init__.py") or not self.index.text_matches(init, _IMPORTS_BY_NAME):
            return None
        return parts[-2]

    def object_calls(self, forward: Scope) -> List[CallSite]:
        """``model(images)`` for a module's ``forward``: the calls of objects whose ``forward`` it is
        (``nn.Module.__call__`` runs it), in its own file and the files that name its class."""
        cls = forward.cls
        if cls is None or forward.short_name != "forward":
            return []
        memo = self.index.memo
        key = ("object_calls", id(forward))
        if key in memo:
            return memo[key]
        memo[key] = []  # recursion guard
        paths = [p for p in self.index.files_mentioning(cls.name) if p != forward.module.fs_path]
        modules = [forward.module] + [m for m in (self.index.module(p) for p in paths[:MAX_CALLER_FILES])
                                      if m is not None]
        found = []
        for info in modules:
            for s in info.scopes:
                for site in s.calls:
                    if not isinstance(site.call.func, (cst.Name, cst.Attribute)):
                        continue
                    if any(isinstance(v, Instance) and self.find_method(v.cls, v.module, "forward") is forward
                           for v in unwrap(self.resolve(site.call.func, self.ctx_for(s), 4))):
                        found.append(site)
        memo[key] = found
        return found

    def importing(self, module: ModuleInfo, name: str) -> List[str]:
        """The other files that mention ``name`` and whose import statements name ``module`` (or a
        package re-exporting ``name``), or that ``import pkg`` and write the module's name at the use
        (``pkg.mod.f()``): where a function or class of ``module`` can be used by its name."""
        mentions = self.index.files_mentioning(name)
        words = self._import_words(module, set(mentions))
        importers = set().union(*(self.index.files_mentioning(IMPORTED + w) for w in words))
        # Any package above it may be the importer's top level (``from trainers import *`` in a
        # project whose root is a folder above ``trainers``' parent).
        parts = [p for p in module.module_name.split(".") if p]
        if len(parts) > 1:
            writing = set(self.index.files_mentioning(parts[-1]))
            for package in parts[:-1]:
                importers |= set(self.index.files_mentioning(IMPORTED + package)) & writing
        return [p for p in mentions if p in importers and p != module.fs_path]

    def _next_init(self, cls: ClassInfo, module: ModuleInfo) -> Optional[Scope]:
        """The ``__init__`` that ``super().__init__`` in ``cls`` runs: the next one along the MRO."""
        for base, _module in self.mro(cls, module)[1:]:
            if "__init__" in base.methods:
                return base.methods["__init__"]
        return None

    def _import_words(self, module: ModuleInfo, mention_name: Set[str]) -> Set[str]:
        """The names an import of ``module`` writes: ``import a.b.mod``, ``from .mod import f``,
        ``from a.b import mod`` all name ``mod``; a file that names only a package above it
        (``from a.b import f``) can reach ``f`` only if that package's ``__init__`` re-exports it,
        i.e. mentions the name."""
        parts = [p for p in module.module_name.split(".") if p]
        if not parts:
            return set()
        out = {parts[-1]}
        for i in range(1, len(parts)):
            init = self.index.resolve_module(".".join(parts[:i]), module.fs_path)
            if init is not None and init in mention_name:
                out.add(parts[i - 1])
        return out

    def callers_incomplete(self, scope: Scope) -> bool:
        """True when :meth:`callers` gave up on searching the project (too many candidates)."""
        self.callers(scope)
        return bool(self.index.memo.get(("callers_incomplete", id(scope))))

    def callers_args(self, scope: Scope, name: str, depth: int):
        return self._callers_pass(scope, name, depth)[0]

    def _callers_pass(self, scope: Scope, name: str, depth: int):
        """(the arguments the project's calls of ``scope`` pass as ``name``, each with its ctx;
        whether some call may leave it out, so that its default applies)."""
        if depth > MAX_DEPTH - 3:
            return [], True
        out, omitted = [], False
        method = scope.cls is not None and scope.self_name is not None
        for site in self.callers(scope):
            env = self.bind_args(scope, site.call, self.ctx_for(site.scope), skip_self=method)
            if name in env:
                out.extend(env[name])
            else:
                omitted = True
        return out, omitted

    # -- qualified names and modules --------------------------------------------------
    def imported_modules(self, module: ModuleInfo, functions_only: bool = False) -> List[ModuleInfo]:
        """Project modules whose names ``module`` imports (for cross-module searches); with
        ``functions_only``, those it imports a plain function from (a training function)."""
        out: List[ModuleInfo] = []
        quals = list(module.imports.aliases.values()) + ([] if functions_only else module.imports.star_modules)
        for qual in quals:
            for v in self.qualname_values(qual, module, MAX_DEPTH - 2):
                if functions_only:
                    target = v.scope.module if isinstance(v, FuncRef) and v.scope.cls is None else None
                else:
                    target = v.module if isinstance(v, (ModuleRef, ClassRef)) else (
                        v.scope.module if isinstance(v, FuncRef) else None)
                if target is not None and target is not module and target not in out:
                    out.append(target)
        return out

    def qualname_values(self, qual: str, importer: ModuleInfo, depth: int) -> List[Value]:
        """A project module/symbol when ``qual`` names one, else an external ``Ref``."""
        if depth > MAX_DEPTH:
            return [UNKNOWN]  # an import cycle: a script-style ``import x`` inside ``x.py`` names itself
        parts = qual.split(".")
        for cut in range(len(parts), 0, -1):
            modname = ".".join(parts[:cut])
            info = self.index.module_by_name(modname, importer.fs_path)
            if info is None or info is importer and cut == len(parts):
                continue
            values: List[Value] = [ModuleRef(info)]
            for attr in parts[cut:]:
                nxt = []
                for v in values:
                    nxt.extend(self.attribute_of(v, attr, depth + 1))
                values = nxt
            return values
        return [Ref(_canonical_qualname(qual))]

    def module_attr(self, module: ModuleInfo, name: str, depth: int) -> List[Value]:
        if name in module.scope.bindings:
            return self.lookup(name, Ctx(module.scope), depth)
        sub = self.index.module_by_name(f"{module.module_name}.{name}" if module.module_name else name,
                                        module.fs_path)
        if sub is not None:
            return [ModuleRef(sub)]
        star = self.star_import(module, name, depth)  # a package re-exporting ``from .x import *``
        return star if star is not None else [UNKNOWN]

    # -- constants ------------------------------------------------------------------
    def const(self, expr: cst.BaseExpression, ctx: Ctx, depth: int = 0):
        """The compile-time value of ``expr`` when every possibility agrees, else None."""
        kind = type(expr)
        if kind is cst.Name and self._pinned and id(expr) in self._pinned:
            return self._pinned[id(expr)]  # a loop variable taking each of its values in turn
        if kind is cst.Name or kind is cst.Attribute or kind is cst.Subscript:
            return self._agreed_const(expr, ctx, depth)  # the common case, without the checks below
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            v = self.const(expr.expression, ctx, depth)
            return None if v is None else (not v)
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            v = self.const(expr.expression, ctx, depth)
            return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        if isinstance(expr, cst.BooleanOperation):
            left = self.const(expr.left, ctx, depth)
            right = self.const(expr.right, ctx, depth)
            if isinstance(expr.operator, cst.And):
                if left is False or right is False:
                    return False
                return bool(left and right) if left is not None and right is not None else None
            if left is True or right is True:
                return True
            return bool(left or right) if left is not None and right is not None else None
        if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
            target = expr.comparisons[0]
            main = _main_guard(expr)
            if main is not None:
                return main  # ``if __name__ == "__main__":``: the file is analysed as the script it is
            op = target.operator
            if isinstance(op, (cst.In, cst.NotIn)) and dotted_name(target.comparator) == "sys.argv" \
                    and isinstance(self.const(expr.left, ctx, depth), str):
                # ``x = sys.argv[sys.argv.index("-m") + 1] if "-m" in sys.argv else "resnet50"``: the
                # default configuration is the script run without command-line flags
                return isinstance(op, cst.NotIn)
            if isinstance(op, (cst.Is, cst.IsNot)) and isinstance(target.comparator, cst.Name) \
                    and target.comparator.value == "None":
                # Before the constant test below: ``args.resume is None`` with ``default=None``.
                is_none = self._is_none(expr.left, ctx, depth)
                return None if is_none is None else is_none == isinstance(op, cst.Is)
            if isinstance(op, (cst.Is, cst.IsNot)) and isinstance(target.comparator, cst.Name) \
                    and target.comparator.value in ("True", "False"):
                # ``if batch_norm is True:`` with ``batch_norm=i != 0``: identity with a bool constant
                value = self.const(expr.left, ctx, depth)
                if value is None:
                    return None
                same = isinstance(value, bool) and value is (target.comparator.value == "True")
                return same == isinstance(op, cst.Is)
            left = self.const(expr.left, ctx, depth)
            right = self.const(target.comparator, ctx, depth)
            if left is None and not isinstance(expr.left, cst.Name):
                return None
            try:
                if isinstance(op, cst.Equal):
                    return left == right if None not in (left, right) else None
                if isinstance(op, cst.NotEqual):
                    return left != right if None not in (left, right) else None
                if isinstance(op, (cst.Is, cst.IsNot)) and all(_interned(x) for x in (left, right)):
                    # ``batch_norm=i is not 0``: CPython keeps one object per small int
                    return (left == right) == isinstance(op, cst.Is)
                if isinstance(op, cst.In) and right is not None and left is not None:
                    return left in right
                if isinstance(op, cst.NotIn) and right is not None and left is not None:
                    return left not in right
                if isinstance(op, tuple(_ORDERINGS)) and None not in (left, right) \
                        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (left, right)):
                    return _ORDERINGS[type(op)](left, right)
            except TypeError:
                return None
            return None
        if isinstance(expr, cst.Comparison):
            return self._chained_comparison(expr, ctx, depth)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "len" \
                and len(expr.args) == 1 and not expr.args[0].star:
            sizes = {len(v.items) if isinstance(v, Seq) and v.kind == "tuple" else None
                     for v in self.resolve(expr.args[0].value, ctx, depth)}
            return sizes.pop() if len(sizes) == 1 else None  # len(dims) of a literal tuple/list
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value in _STR_METHODS and not any(a.star or a.keyword for a in expr.args):
            # ``args.backbone.startswith("ResNet")``, ``args.net.lower()``: pure methods of a known string
            text = self.const(expr.func.value, ctx, depth)
            args = [self.const(a.value, ctx, depth) for a in expr.args]
            if isinstance(text, str) and all(isinstance(a, (str, tuple)) for a in args):
                try:
                    return getattr(text, expr.func.attr.value)(*args)
                except TypeError:
                    return None
            return None
        if isinstance(expr, cst.BinaryOperation) and type(expr.operator) in _ARITHMETIC:
            left = self.const(expr.left, ctx, depth)
            right = self.const(expr.right, ctx, depth)
            if all(isinstance(x, int) and not isinstance(x, bool) for x in (left, right)):
                try:
                    return _ARITHMETIC[type(expr.operator)](left, right)
                except ZeroDivisionError:
                    return None
            return None
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            items = [self.const(e.value, ctx, depth) for e in expr.elements if not isinstance(e, cst.StarredElement)]
            return None if any(i is None for i in items) else tuple(items)
        return self._agreed_const(expr, ctx, depth)

    def truth(self, expr: cst.BaseExpression, ctx: Ctx, depth: int = 0) -> Optional[bool]:
        """Whether the condition ``expr`` holds, None when unknown. Unlike ``const``, whose None also
        means "unknown", a value known to be None is known to be false: ``if args.resume:`` with
        ``default=None`` is not taken in the default configuration."""
        kind = type(expr)
        if kind is cst.UnaryOperation and isinstance(expr.operator, cst.Not):
            inner = self.truth(expr.expression, ctx, depth)
            return None if inner is None else not inner
        if kind is cst.BooleanOperation:
            left = self.truth(expr.left, ctx, depth)
            right = self.truth(expr.right, ctx, depth)
            decisive = isinstance(expr.operator, cst.Or)  # the value that decides alone
            if left is decisive or right is decisive:
                return decisive
            return None if left is None or right is None else not decisive
        if kind is cst.Name or kind is cst.Attribute or kind is cst.Subscript:
            values = self.resolve(expr, ctx, depth)
            truths = {bool(v.value) for v in values if isinstance(v, Const)}
            return truths.pop() if values and len(truths) == 1 and all(isinstance(v, Const) for v in values) else None
        if kind is cst.Call and isinstance(expr.func, cst.Name) and expr.func.value == "isinstance" \
                and len(expr.args) == 2 and not any(a.star or a.keyword for a in expr.args) \
                and binding_scope(ctx.scope, "isinstance") is None:
            return self._isinstance_truth(expr.args[0].value, expr.args[1].value, ctx, depth)
        value = self.const(expr, ctx, depth)
        if value is None and kind is cst.Comparison:
            value = self._over_loop_range(expr, ctx, depth)
        return None if value is None else bool(value)

    def _chained_comparison(self, expr: cst.Comparison, ctx: Ctx, depth: int) -> Optional[bool]:
        """``1 <= i <= 2`` on numbers, link by link: False when a known link fails, whatever the
        others are (Python stops there too)."""
        left, unknown = self.const(expr.left, ctx, depth), False
        for link in expr.comparisons:
            right = self.const(link.comparator, ctx, depth)
            numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (left, right))
            if type(link.operator) not in _ORDERINGS or not numbers:
                unknown = True
            elif not _ORDERINGS[type(link.operator)](left, right):
                return False
            left = right
        return None if unknown else True

    def _over_loop_range(self, test: cst.Comparison, ctx: Ctx, depth: int):
        """The value of ``test`` when it agrees for every value of the loop variable it reads:
        ``(epoch + 1) % EVAL_EVERY == 0`` inside ``for epoch in range(EPOCHS)`` never holds when
        ``EPOCHS < EVAL_EVERY``. Only a variable of a loop over ``range`` of known, few bounds."""
        loop_var, values = None, None
        for name in read_names(test):
            # Read from the bindings alone: resolving every name of every condition asked about
            # would start searches (callers, attributes) that nothing else needed.
            found = reaching(ctx.scope, name.value, name) if name.value in ctx.scope.bindings else None
            if not found or len(found) != 1 or found[0].kind != "for" or found[0].path:
                continue
            span = self._const_range(found[0].expr, ctx, depth)
            if span is None or loop_var is not None and loop_var.value != name.value:
                return None
            loop_var, values = name, span
        if loop_var is None or not values or len(values) > MAX_RANGE_VALUES:
            return None
        pinned = [n for n in read_names(test) if n.value == loop_var.value]
        answers, outer = set(), self._pinned
        try:
            for v in values:
                self._pinned = {**outer, **{id(n): v for n in pinned}}
                answer = self.const(test, ctx, depth)
                if answer is None:
                    return None
                answers.add(bool(answer))
                if len(answers) > 1:
                    return None
        finally:
            self._pinned = outer
        return answers.pop()

    def _const_range(self, iterable: cst.BaseExpression, ctx: Ctx, depth: int) -> Optional[range]:
        """``range(a, b, c)`` with constant integer arguments, else None."""
        if type(iterable) is not cst.Call or not 1 <= len(iterable.args) <= 3 \
                or any(a.star or a.keyword for a in iterable.args) \
                or not any(isinstance(v, Ref) and v.qualname == "range" for v in self.resolve(iterable.func, ctx, depth)):
            return None
        bounds = [self.const(a.value, ctx, depth) for a in iterable.args]
        if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds) or bounds[-1] == 0 and len(bounds) == 3:
            return None
        return range(*bounds)

    def _isinstance_truth(self, subject: cst.BaseExpression, classes: cst.BaseExpression, ctx: Ctx,
                          depth: int) -> Optional[bool]:
        """``isinstance(module, nn.DataParallel)`` on a project network, also with the class taken from a
        loop over a list of classes (sync-BN's ``convert_model``): decided when every value of the
        subject is an object of a project class whose only outside base is ``nn.Module`` and every
        class is known: an outside class (other than ``nn.Module``) is never among its bases, a project
        class is or is not on its MRO."""
        objects = self.resolve(subject, ctx, depth)
        kinds: List[Value] = []
        for v in self.resolve(classes, ctx, depth):
            if isinstance(v, Seq):
                kinds.extend(x for item in v.items for x in item)
            elif isinstance(v, Elem):
                kinds.extend(self.elements(v, depth))
            else:
                kinds.append(v)
        if not objects or not kinds or not all(
                isinstance(o, Instance) and all(b in NN_MODULE_BASES for b in self.external_bases(o.cls, o.module))
                for o in objects):
            return None
        if not all(isinstance(k, ClassRef) or isinstance(k, Ref) and k.qualname not in NN_MODULE_BASES | {"object"}
                   for k in kinds):
            return None
        answers = {any(isinstance(k, ClassRef) and any(c is k.cls for c, _m in self.mro(o.cls, o.module)) for k in kinds)
                   for o in objects}
        return answers.pop() if len(answers) == 1 else None

    def _agreed_const(self, expr: cst.BaseExpression, ctx: Ctx, depth: int):
        values = self.resolve(expr, ctx, depth)
        if values and all(isinstance(v, Const) for v in values):
            first = values[0].value
            if all(v.value == first for v in values):
                return first
        return None

    def _is_none(self, expr: cst.BaseExpression, ctx: Ctx, depth: int) -> Optional[bool]:
        """``expr is None``: True/False when every value it may have agrees, else None."""
        vals = self.resolve(expr, ctx, depth)
        if all(isinstance(v, Const) for v in vals):
            nones = {v.value is None for v in vals}
            # (``None`` from one caller and ``True`` from another: either branch may run)
            return None if len(nones) > 1 else all(v.value is None for v in vals)
        if all(isinstance(v, (Instance, ClassRef, FuncRef, ModuleRef, Seq))
               or (isinstance(v, ExtCall) and v.qualname.startswith("torch.")) for v in vals):
            return False  # a model, an optimizer, a function, a literal tuple: certainly not None
        return None

    def argparse_default(self, module: ModuleInfo, attr: str) -> Value:
        memo = self.index.memo
        key = ("argparse", id(module))
        if key not in memo:
            memo[key] = _argparse_defaults(module)
        defaults = memo[key]
        return Const(defaults[attr]) if attr in defaults else UNKNOWN

    def _subscript(self, expr: cst.Subscript, ctx: Ctx, depth: int) -> List[Value]:
        if len(expr.slice) != 1 or not isinstance(expr.slice[0].slice, cst.Index):
            return [UNKNOWN]
        key = expr.slice[0].slice.value
        base = expr.value
        if isinstance(base, cst.Attribute) and base.attr.value == "__dict__":
            return self._registry_lookup(base.value, key, ctx, depth, expr)
        if isinstance(base, cst.Call) and not base.args and isinstance(base.func, cst.Name) \
                and base.func.value == "globals" and "globals" not in ctx.module.scope.bindings:
            # ``globals()[name]``: a registry of what the module imports and defines.
            return self.aside(depth, lambda d: self._global_entry(key, ctx, d))
        index = self.const(key, ctx, depth)
        out: List[Value] = []
        if isinstance(base, cst.Name) or isinstance(base, cst.Attribute):
            # A dict literal bound to a name, or items stored into it: d["train"]
            items = self.item_exprs(base, index, ctx, depth)
            appended = self._appended(base, ctx, depth) if isinstance(base, cst.Name) else []
            for v in self.resolve(base, ctx, depth):
                if isinstance(v, Data):
                    out.append(_data_item(v, index))
                elif appended and isinstance(v, Seq) and v.kind == "tuple":
                    # ``nets = []; nets.append(a); nets.append(b)`` then ``nets[i]``: any of them
                    out.extend(x for item in v.items for x in item)
                    out.extend(appended)
                elif isinstance(index, int):
                    out.extend(self.index_value(v, index))
                elif not (items and isinstance(index, str) and (
                        isinstance(base, cst.Name) and base.value not in ctx.module.updated
                        or isinstance(base, cst.Attribute) and isinstance(v, Unknown)
                        and not _attribute_dict_written(base.attr.value, ctx.module))):
                    # (a string key found in the dict's literal or stores is all it can hold, unless
                    # ``d.update(...)`` may have replaced it)
                    out.append(UNKNOWN)
            for value, vctx in items:
                out.extend(self.resolve(value, vctx, depth))
            return out
        if isinstance(base, (cst.Dict, cst.DictComp)):
            return self._dict_lookup(base, index, ctx, depth)
        for v in self.resolve(base, ctx, depth):
            if isinstance(v, Data):
                out.append(_data_item(v, index))
            else:
                out.extend(self.index_value(v, index) if isinstance(index, int) else [UNKNOWN])
        return out

    def _appended(self, name: cst.Name, ctx: Ctx, depth: int) -> List[Value]:
        """What ``name.append(x)`` calls of the scope that binds the list add to it."""
        scope = binding_scope(ctx.scope, name.value)
        if scope is None:
            return []
        sctx = ctx if scope is ctx.scope else Ctx(scope)
        out: List[Value] = []
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "append" and isinstance(func.value, cst.Name) \
                    and func.value.value == name.value and len(site.call.args) == 1:
                out.extend(self.resolve(site.call.args[0].value, sctx, depth))
        return out

    def _global_entry(self, key, ctx: Ctx, depth: int) -> List[Value]:
        name = self.const(key, ctx, depth)
        if isinstance(name, str) and name.isidentifier():
            return self.lookup(name, Ctx(ctx.module.scope), depth)
        return [UNKNOWN]

    def item_exprs(self, base, key, ctx: Ctx, depth: int,
                   outer: tuple = ()) -> List[Tuple[cst.BaseExpression, Ctx]]:
        """(value expression, its ctx) of ``base[key]`` for a dict: the entries of its dict literals,
        the items stored into it (``config["network"] = {...}`` on a branch the defaults take), through
        names bound to another dict's item (``net = config["network"]``), parameters (``train(config)``)
        and project functions that return the dict (``config = make_config(args)``).
        ``key`` None (not a constant): every entry. ``outer``: the keys before ``key``, for items
        stored at depth (``config["network"]["name"] = ResNetFc`` is ``config``, ``"name"``, outer
        ``("network",)``); the literals of ``base`` itself are then another level and not read."""
        out: List[Tuple[cst.BaseExpression, Ctx]] = []
        self.index.fuel -= 1  # one step of the rule's budget, as a resolution is
        if self.index.fuel < 0:
            return out
        if not outer:
            for node, dctx in self._dict_sources(base, ctx, depth):
                out.extend(self._literal_items(node, key, dctx, depth))
        if isinstance(base, cst.Attribute) and depth < MAX_DEPTH:
            return out + self._attribute_items(base, key, ctx, depth, outer)
        if not isinstance(base, cst.Name) or depth >= MAX_DEPTH:
            return out
        scope = binding_scope(ctx.scope, base.value)
        if scope is None:
            # A settings dict filled in another module and star-imported (``from dataPre import *``).
            source = self.star_source(ctx.module, base.value)
            return out + self.item_exprs(base, key, Ctx(source.scope), depth + 1, outer) if source is not None \
                else out
        sctx = ctx if scope is ctx.scope else Ctx(scope)
        # A module-level dict is also filled by the functions that use it as a global.
        writers = [scope] if scope.parent is not None else [
            s for s in scope.module.scopes if s is scope or base.value not in s.bindings]
        stores = []
        path = outer + (key,)
        for writer in writers:
            wctx = sctx if writer is scope else Ctx(writer)
            stores.extend((b, wctx) for keys, b in writer.item_stores.get(base.value, [])
                          if len(keys) == len(path) and not b.path and all(
                              k is None or self.key_may_be(e, k, wctx, depth) for e, k in zip(keys, path)))
        # As for names (``_possible``): when the defaults take none of the branches that store the
        # item (``config["network"]`` set only under ``--dset office-home``), every store counts.
        out.extend((b.expr, wctx) for b, wctx in
                   [(b, w) for b, w in stores if self.branch_possible(b.stmt, w, depth)] or stores)
        # Only the bindings reaching this read: ``y = y[idx]`` repeated down a function otherwise
        # expands every binding from every other one, exponentially.
        for b in self.visible_bindings(scope, base.value, base, scope.bindings[base.value]):
            if b.kind == "assign" and not b.path and isinstance(b.expr, (cst.Subscript, cst.Call)):
                out.extend(self._expr_items(b.expr, key, sctx, depth + 1, outer))
            elif b.kind == "param":
                passed = ctx.env.get(base.value, []) if ctx.scope is scope and ctx.env is not None \
                    else self.callers_args(scope, base.value, depth)
                for expr, caller_ctx in passed:
                    out.extend(self._expr_items(expr, key, caller_ctx, depth + 1, outer))
        return out

    def _attribute_items(self, base: cst.Attribute, key, ctx: Ctx, depth: int,
                         outer: tuple) -> List[Tuple[cst.BaseExpression, Ctx]]:
        """Items of a dict an object keeps but did not write as a literal: ``self.models = models``
        in a trainer's constructor, called as ``Trainer(loader, {"gen": G, "dis": D})`` (the
        literal itself is read by ``_dict_sources``)."""
        out: List[Tuple[cst.BaseExpression, Ctx]] = []
        for v in self.resolve(base.value, ctx, depth):
            if not isinstance(v, Instance) or any(
                    _attribute_dict_written(base.attr.value, m) for m in (ctx.module, v.module)):
                continue  # (``self.models["dis"] = ...``: the entries passed in need not be what it holds)
            for cls, _module in self.mro(v.cls, v.module):
                # (each binding read with this object's constructor arguments when its build is known)
                for b, bctx in self._attr_bindings(v, cls.attrs.get(base.attr.value, []), depth):
                    if b.kind == "assign" and not b.path and isinstance(b.expr, (cst.Name, cst.Subscript, cst.Call)):
                        out.extend(self._expr_items(b.expr, key, bctx, depth, outer))
        return out

    def key_may_be(self, key_expr: cst.BaseExpression, key, ctx: Ctx, depth: int) -> bool:
        """Whether the dict key written as ``key_expr`` may be the constant ``key``. A computed key
        (``"val" + str(i)``, ``f"test{i}"``) is its literal text followed by a converted value, which
        is never empty: the ten-crop loaders ``loaders["val" + str(i)]`` are not ``loaders["val"]``."""
        known = self.const(key_expr, ctx, depth)
        if known is not None:
            return known == key
        prefix = _literal_prefix(key_expr)
        if prefix is None or not isinstance(key, str):
            return True
        return key.startswith(prefix) and len(key) > len(prefix)

    def _expr_items(self, expr, key, ctx: Ctx, depth: int, outer: tuple = ()) -> List[Tuple[cst.BaseExpression, Ctx]]:
        """Items of the dict ``expr[*outer]`` evaluates to: ``expr`` a dict name, a dict literal,
        ``d["k"]`` or a call of a project function that returns a dict."""
        if isinstance(expr, cst.Name):
            return self.item_exprs(expr, key, ctx, depth, outer)
        if isinstance(expr, (cst.Dict, cst.DictComp)):
            if outer:
                return [item for value, vctx in self._literal_items(expr, outer[0], ctx, depth)
                        for item in self._expr_items(value, key, vctx, depth + 1, outer[1:])]
            return self._literal_items(expr, key, ctx, depth)
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) \
                and depth < MAX_DEPTH:
            first = self.const(expr.slice[0].slice.value, ctx, depth)
            out: List[Tuple[cst.BaseExpression, Ctx]] = []
            for value, vctx in self.item_exprs(expr.value, first, ctx, depth + 1):
                if isinstance(value, (cst.Dict, cst.DictComp, cst.Name, cst.Subscript, cst.Call)):
                    out.extend(self._expr_items(value, key, vctx, depth + 1, outer))
            # Items stored at depth into the outer dict (``config["network"]["name"] = ResNetFc``).
            return out + self._expr_items(expr.value, key, ctx, depth + 1, (first,) + outer)
        if isinstance(expr, cst.Call) and depth < MAX_DEPTH:
            # A settings dict a project function builds and returns (``config = make_config(args)``).
            out = []
            for fref in self.resolve(expr.func, ctx, depth + 1):
                if isinstance(fref, FuncRef):
                    env = self.bind_args(fref.scope, expr, ctx, skip_self=fref.bound_self is not None)
                    inner = Ctx(fref.scope, env, fref.bound_self)
                    for ret in fref.scope.returns:
                        out.extend(self._expr_items(ret, key, inner, depth + 1, outer))
            return out
        return []

    def _literal_items(self, node, key, ctx: Ctx, depth: int) -> List[Tuple[cst.BaseExpression, Ctx]]:
        if isinstance(node, cst.DictComp):
            return [(node.value, ctx)]  # same expression for every key
        out = []
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                k = self.const(element.key, ctx, depth)
                if key is None or k is None or k == key:
                    out.append((element.value, ctx))
        return out

    def _dict_sources(self, base, ctx: Ctx, depth: int = 0):
        if isinstance(base, cst.Attribute):
            # A table in another project module: ``cfg.NETS[args.arch]``.
            out = []
            for v in self.resolve(base.value, ctx, depth):
                if isinstance(v, ModuleRef):
                    out.extend(self._dict_sources(base.attr, Ctx(v.module.scope), depth))
                elif isinstance(v, (Instance, ClassRef)):
                    # A table an object keeps (``self._builders = {"resnet18": Resnet18, ...}``) or
                    # its class does (``class LAMDA: encoders = {"small": Generator_Small, ...}``).
                    for cls, _module in self.mro(v.cls, v.module):
                        attrs = cls.attrs.get(base.attr.value, []) if isinstance(v, Instance) else []
                        for b in attrs + cls.class_bindings.get(base.attr.value, []):
                            if b.kind == "assign" and not b.path:
                                bctx = Ctx(b.scope, None, v) if isinstance(v, Instance) else Ctx(b.scope)
                                out.extend((node, bctx) for node in self._dict_literals(b.expr, bctx, depth))
            return out
        if not isinstance(base, cst.Name):
            return []
        scope = binding_scope(ctx.scope, base.value)
        if scope is None:
            return []
        out = []
        for b in scope.bindings[base.value]:
            if b.kind == "assign" and not b.path:
                bctx = Ctx(b.scope) if b.scope is not ctx.scope else ctx
                out.extend((node, bctx) for node in self._dict_literals(b.expr, bctx, depth))
            elif b.kind == "import" and depth < MAX_DEPTH:
                # A table imported from a project module: ``from nets import get_model_from_name``.
                qual = b.scope.module.imports.qualify(base.value) or ""
                modname, _, attr = qual.rpartition(".")
                info = self.index.module_by_name(modname, ctx.module.fs_path) if modname else None
                if info is not None and info is not ctx.module:
                    out.extend(self._dict_sources(cst.Name(attr), Ctx(info.scope), depth + 1))
        return out

    def _dict_literals(self, expr, ctx: Ctx, depth: int):
        """The dict literals ``expr`` may be: itself, or the branches of
        ``{"num_workers": 1} if torch.cuda.is_available() else {}`` that may be taken."""
        if isinstance(expr, (cst.Dict, cst.DictComp)):
            return [expr]
        if isinstance(expr, cst.Call) and len(expr.args) == 1 and not expr.args[0].keyword \
                and not expr.args[0].star and isinstance(expr.args[0].value, (cst.Dict, cst.DictComp)):
            # ``Munch({...})``, ``EasyDict({...})``: a dict with attribute access, the same items
            if any(isinstance(v, ExtCall) and v.qualname in ATTRIBUTE_DICTS for v in self.resolve(expr, ctx, depth)):
                return [expr.args[0].value]
            return []
        if isinstance(expr, cst.IfExp):
            taken = self.truth(expr.test, ctx, depth)
            branches = [expr.body] if taken is True else [expr.orelse] if taken is False else [expr.body, expr.orelse]
            return [node for branch in branches for node in self._dict_literals(branch, ctx, depth)]
        return []

    def _literal_get(self, base: cst.Name, call: cst.Call, ctx: Ctx, depth: int) -> Optional[List[Value]]:
        """``mapping.get(arch, arch)`` with ``mapping`` a dict literal bound once, never changed, and
        ``arch`` known: the entry, or the default for a key the literal lacks (None: not such a call)."""
        args = call.args
        if not 1 <= len(args) <= 2 or any(a.keyword is not None or a.star for a in args) \
                or base.value in ctx.module.updated:
            return None
        bindings = _bindings_of(ctx.scope, base.value)
        if len(bindings) != 1 or bindings[0].kind != "assign" or bindings[0].path \
                or not isinstance(bindings[0].expr, cst.Dict):
            return None
        literal = bindings[0].expr
        keys = [self.const(e.key, ctx, depth) if isinstance(e, cst.DictElement) else None for e in literal.elements]
        key = self.const(args[0].value, ctx, depth)
        if not isinstance(key, str) or any(not isinstance(k, str) for k in keys):
            return None
        items = self.item_exprs(base, key, ctx, depth)  # the literal's entry, or an item stored later
        if items:
            return [v for value, vctx in items for v in self.resolve(value, vctx, depth)]
        return self.resolve(args[1].value, ctx, depth) if len(args) == 2 and key not in keys else None

    def _dict_lookup(self, node, key, ctx: Ctx, depth: int) -> List[Value]:
        if isinstance(node, cst.DictComp):
            return self.resolve(node.value, ctx, depth)  # same expression for every key
        out = []
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                k = self.const(element.key, ctx, depth)
                if key is None or k is None or k == key:
                    out.extend(self.resolve(element.value, ctx, depth))
        return out


def _data_item(data: Data, key) -> Value:
    """``settings[key]`` of data read from a settings file; unknown for a key it does not hold."""
    container = data.value
    if isinstance(container, dict) and key is not None and not isinstance(key, (list, dict)):
        try:
            return data_value(container[key]) if key in container else UNKNOWN
        except TypeError:
            return UNKNOWN
    if isinstance(container, list) and isinstance(key, int) and not isinstance(key, bool) \
            and -len(container) <= key < len(container):
        return data_value(container[key])
    return UNKNOWN


def _counted(values: List[Value]) -> List[Value]:
    """The values of a name or attribute also updated in place (``+=``): a constant it starts
    from is not its value everywhere (a list it starts from still holds what it holds)."""
    return [UNKNOWN if isinstance(v, Const) else v for v in values]


# Integer arithmetic ``const`` folds (``range(n_layers - 1)``, ``if i < depth - 1:``).
_ARITHMETIC = {
    cst.Add: lambda a, b: a + b, cst.Subtract: lambda a, b: a - b, cst.Multiply: lambda a, b: a * b,
    cst.FloorDivide: lambda a, b: a // b, cst.Modulo: lambda a, b: a % b,
}

# The names code gives torch's modules by convention, for names only a library's star import binds.
_CONVENTIONAL_ALIASES = {"torch": "torch", "nn": "torch.nn", "F": "torch.nn.functional", "optim": "torch.optim"}
# Bases that make a project class a network.
_NETWORK_BASES = ("torch.nn.", "pytorch_lightning.", "lightning.")
# ``importlib.import_module(...)``: a package that loads its modules by name.
_IMPORTS_BY_NAME = re.compile(r"import_module\s*\(")
# (the word boundary as a look-behind after the name: a leading ``\b`` keeps the regex engine from
# skipping to the name's first letter, which made this search 30 times slower)
_METHOD_TYPE = re.compile(r"MethodType(?<!\wMethodType)\s*\(")
def _assigned_class(scope: Scope, name: str, cls_name: str) -> bool:
    """``trainer = Pix2PixTrainer`` in ``scope``: the variable holds that class by its name."""
    return any(b.kind == "assign" and not b.path and isinstance(b.expr, (cst.Name, cst.Attribute))
               and (b.expr.value if isinstance(b.expr, cst.Name) else b.expr.attr.value) == cls_name
               for b in _bindings_of(scope, name))


# Nodes between an ``if`` and a statement of one of its branches that run it whenever the branch runs.
_STRAIGHT_LINE = (cst.IndentedBlock, cst.SimpleStatementSuite, cst.SimpleStatementLine, cst.Else, cst.With)
# A call of an item (``SOLVERS[kind](net, ...)``): where a registry dict's class may be built.
_SUBSCRIPT_CALL = re.compile(r"\]\s*\(")
# The names code gives a variable that holds a class (``algorithm_class``, ``encoder_cls``, ``Model``):
# resolving every variable called in a file (``model(x)`` is the usual one) costs too much.
_CLASS_HOLDER = re.compile(r"(?i:cls|class|klass|builder|factory|constructor)|^[A-Z][a-z]")
_GLOBALS_REGISTRY = re.compile(r"globals(?<!\wglobals)\s*\(\s*\)\s*\[")
_ADDS_ARGUMENTS = re.compile(r"\.add_argument\s*\(")
# Calls that open a file for reading, whose first argument is its path.
_OPENERS = frozenset({"open", "io.open", "codecs.open"})
# Dicts whose items are also attributes (``cfg.lr`` is ``cfg["lr"]``).
ATTRIBUTE_DICTS = frozenset({"munch.Munch", "munch.munchify", "easydict.EasyDict", "attrdict.AttrDict",
                             "addict.Dict", "dotmap.DotMap", "ml_collections.ConfigDict",
                             "ml_collections.config_dict.ConfigDict",
                             # ``nets = nn.ModuleDict({"discriminator": D(), ...})``: ``nets.discriminator``
                             "torch.nn.ModuleDict", "torch.nn.modules.container.ModuleDict"})
# String methods that only read the string: evaluated on a constant receiver.
_STR_METHODS = frozenset({"startswith", "endswith", "lower", "upper", "strip", "casefold"})

# Numeric comparisons ``const`` decides (``if domains > 1:`` with a literal default).
_ORDERINGS = {
    cst.LessThan: lambda a, b: a < b, cst.LessThanEqual: lambda a, b: a <= b,
    cst.GreaterThan: lambda a, b: a > b, cst.GreaterThanEqual: lambda a, b: a >= b,
}


_ARGUMENT_PARSERS = frozenset({"argparse.ArgumentParser"})


def _main_guard(expr: cst.Comparison) -> Optional[bool]:
    """True for ``__name__ == "__main__"`` (False for ``!=``), None for any other comparison."""
    op = expr.comparisons[0].operator
    right = expr.comparisons[0].comparator
    if isinstance(expr.left, cst.Name) and expr.left.value == "__name__" and isinstance(right, cst.SimpleString) \
            and right.evaluated_value == "__main__" and isinstance(op, (cst.Equal, cst.NotEqual)):
        return isinstance(op, cst.Equal)
    return None


def _argparse_defaults(module: ModuleInfo) -> Dict[str, object]:
    """dest -> default for every ``add_argument`` call in the module (literal values only), with
    ``parser.set_defaults(dest=value)`` over them: argparse's parser-level defaults win."""
    defaults: Dict[str, object] = {}
    overrides: Dict[str, object] = {}
    for scope in module.scopes:
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Attribute) and func.attr.value == "set_defaults":
                for arg in site.call.args:
                    if arg.keyword is not None:
                        value = _literal(arg.value)
                        if value is _NOT_LITERAL or overrides.get(arg.keyword.value, value) != value:
                            overrides[arg.keyword.value] = _NOT_LITERAL  # not one known value
                        else:
                            overrides[arg.keyword.value] = value
                continue
            if not (isinstance(func, cst.Attribute) and func.attr.value == "add_argument"):
                continue
            names = []
            for arg in site.call.args:
                if arg.keyword is None and isinstance(arg.value, cst.SimpleString):
                    names.append(arg.value.evaluated_value)
            dest = None
            longs = [n for n in names if isinstance(n, str) and n.startswith("--")]
            if longs:
                dest = longs[0][2:].replace("-", "_")
            elif names and isinstance(names[0], str):
                dest = names[0].lstrip("-").replace("-", "_")
            kw = {a.keyword.value: a.value for a in site.call.args if a.keyword is not None}
            if "dest" in kw and isinstance(kw["dest"], cst.SimpleString):
                dest = kw["dest"].evaluated_value
            if not dest:
                continue
            default = None
            action = kw.get("action")
            action_name = action.evaluated_value if isinstance(action, cst.SimpleString) else None
            if action_name == "store_true":
                default = False
            elif action_name == "store_false":
                default = True
            if "default" in kw:
                default = _literal(kw["default"])
                if default is _NOT_LITERAL:
                    defaults.pop(dest, None)
                    continue
            defaults[dest] = default
    for dest, value in overrides.items():
        if value is _NOT_LITERAL:
            defaults.pop(dest, None)
        else:
            defaults[dest] = value
    return defaults


_NOT_LITERAL = object()


def _unguarded_set_defaults(scope: Scope) -> Dict[str, object]:
    """Literal keyword values of the ``X.set_defaults(...)`` calls ``scope`` makes on every path."""
    out: Dict[str, object] = {}
    for site in scope.calls:
        func = site.call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "set_defaults" and not site.guards \
                and not site.loops:
            for arg in site.call.args:
                value = _literal(arg.value) if arg.keyword is not None else _NOT_LITERAL
                if value is not _NOT_LITERAL:
                    out[arg.keyword.value] = value
    return out


def _literal(node):
    if isinstance(node, (cst.Integer, cst.Float)):
        return node.evaluated_value
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = _literal(node.expression)
        return -inner if isinstance(inner, (int, float)) else _NOT_LITERAL
    return _NOT_LITERAL


def _literal_prefix(key: cst.BaseExpression) -> Optional[str]:
    """The text a computed name starts with: ``f"resnet{n}"``, ``"resnet{}".format(n)``,
    ``"resnet" + str(n)``; None when it starts with no literal text."""
    if isinstance(key, cst.FormattedString):
        first = key.parts[0] if key.parts else None
        return first.value if isinstance(first, cst.FormattedStringText) else None
    if isinstance(key, cst.Call) and isinstance(key.func, cst.Attribute) and key.func.attr.value == "format" \
            and isinstance(key.func.value, cst.SimpleString):
        text = key.func.value.evaluated_value
        return text.split("{", 1)[0] if isinstance(text, str) else None
    if isinstance(key, cst.BinaryOperation) and isinstance(key.operator, cst.Add) \
            and isinstance(key.left, cst.SimpleString):
        text = key.left.evaluated_value
        return text if isinstance(text, str) else None
    return None


_PROPERTIES = frozenset({"property", "cached_property", "functools.cached_property"})


def _is_property(method: Scope) -> bool:
    """A method read as an attribute: ``@property`` (or ``@functools.cached_property``)."""
    return isinstance(method.node, cst.FunctionDef) and any(
        dotted_name(d.decorator) in _PROPERTIES for d in method.node.decorators)


def _is_abstract(method: Scope) -> bool:
    """A method whose body only documents, passes or raises ``NotImplementedError``: a template
    method's hook that subclasses fill in."""
    body = getattr(method.node, "body", None)
    statements = getattr(body, "body", None)
    if not statements:
        return False
    for stmt in statements:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return False
        for small in stmt.body:
            if isinstance(small, cst.Pass):
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis)):
                continue
            if isinstance(small, cst.Raise) and small.exc is not None and "NotImplementedError" in _dotted_text(small.exc):
                continue
            return False
    return True


def _dotted_text(expr: cst.BaseExpression) -> str:
    node = expr.func if isinstance(expr, cst.Call) else expr
    return node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else ""


def _made_by(values: Sequence[Value]) -> frozenset:
    """The construction calls of the objects in ``values`` (empty when any is unknown)."""
    calls = [getattr(v, "call", None) for v in values]
    if not calls or any(c is None or not isinstance(v, (Instance, ExtCall)) for c, v in zip(calls, values)):
        return frozenset()
    return frozenset(id(c) for c in calls)


def _stores_param_as_item(scope: Scope, name: str) -> bool:
    """``MODELS[key] = cls`` with ``cls`` the parameter ``name``: a function that fills a registry."""
    return any(isinstance(b.expr, cst.Name) and b.expr.value == name
               for stores in scope.item_stores.values() for _keys, b in stores)


def _registers(decorators, registry: str) -> bool:
    """``@REGISTRY.register()`` / ``@REGISTRY.register`` / ``@REGISTRY.register_module()`` among ``decorators``."""
    for d in decorators:
        expr = d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
        if isinstance(expr, cst.Attribute) and expr.attr.value in ("register", "register_module") \
                and isinstance(expr.value, cst.Name) and expr.value.value == registry:
            return True
    return False
