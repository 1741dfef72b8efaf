"""Batch provenance: where does a tensor passed to a forward call come from?

``Provenance.of(expr, ctx)`` follows an expression back to the iterables its
batch was drawn from (``for xs, ys in src_loader``, ``next(tgt_iter)``,
``zip(a, b)``), through tuple unpacking, ``.to(device)``/``.cuda()``/``Variable``,
project helpers and model outputs (``G(z)``: a part produced *via* ``G``).
``torch.cat``/``torch.stack`` along the batch axis mixes parts into one batch;
``.chunk``/``.split``/slicing of such a batch gives per-source parts again;
concatenating along another axis (``torch.cat([a, b], 1)``) is not a batch mix.

The result is a small structure:

- ``Batch(parts)``: a tensor whose rows come from the ordered ``parts``;
  one part is a pure batch, several parts a mixed one.
- ``Tup(items)``: a tuple whose positions have different provenance (a ``zip``).
- ``Alt(options)``: one of several values, one per iteration of a loop over a
  literal tuple (``for x in (xs, xt): model(x)`` runs the call once per domain).
- ``Spread(template)``: a sequence with one item per member of a collection of
  loaders (``next(zip(*train_loaders))``, DomainBed's per-domain minibatches).
  ``template`` is the item at any position; its origin keys hold the placeholder
  ``ANY``. Iterating a spread yields the template, so a call inside the loop
  (``[net(x) for x, y in minibatches]``) runs once per loader: ``alternatives``
  expands it into two positions, two sources.
- ``None``: unknown. Rules stay silent on unknowns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable, List, Optional, Tuple, Union

import libcst as cst

from .describe import describe_expr
from .names import callee_name, dotted_name
from .module import RANDOM_FILLS, Binding, CallSite, ModuleInfo, Scope, binding_scope, code_children
from .syntax import ancestors, names_in, one_line, rooted_at, within
from .reaching import reaching
from .roles import domain_role, unlabelled
from .values import (
    PASS_THROUGH_CALLS, PASS_THROUGH_METHODS, Ctx, ExtCall, FuncRef, Instance, Maybe, ModuleRef, Ref, Resolver,
    SubModule, Unknown, Value, call_arg, unwrap,
)

MAX_DEPTH = 40
NO_GRAD = frozenset({
    "torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad",
    "torch.autograd.grad_mode.inference_mode", "torch.autograd.inference_mode",
})
_TORCH_NAMESPACES = frozenset({"torch", "torch.nn.functional"})
_CONCAT = frozenset({"torch.cat", "torch.concat", "torch.concatenate", "torch.stack"})
_SPLIT_METHODS = frozenset({"chunk", "split", "tensor_split", "unbind"})
_SPLIT_FUNCS = frozenset({"torch.chunk", "torch.split", "torch.tensor_split", "torch.unbind"})
# Calls producing random tensors: the input of a generator, not data.
_NOISE_FUNCS = frozenset({
    "torch.randn", "torch.rand", "torch.randn_like", "torch.rand_like", "torch.normal", "torch.randint",
    "torch.empty", "torch.zeros", "torch.ones",
})
_NOISE_METHODS = RANDOM_FILLS  # ``torch.empty(...).normal_()``
# Tensor functions whose result has its first argument's rows.
_ROWWISE_FUNCS = frozenset({
    "torch.flatten", "torch.squeeze", "torch.unsqueeze", "torch.reshape", "torch.clamp", "torch.flip",
    "torch.autograd.Variable", "torch.autograd.variable.Variable", "torch.as_tensor",
    # elementwise: Fourier-style augmentation (``torch.real(torch.fft.ifft2(...))``) keeps the rows
    "torch.abs", "torch.angle", "torch.real", "torch.imag", "torch.cos", "torch.sin", "torch.exp", "torch.log",
    "torch.sqrt", "torch.sigmoid", "torch.tanh", "torch.clip", "torch.nan_to_num", "torch.log1p", "torch.pow",
    # an image grid of the batch for logging: the same samples, so ``gen_hr = make_grid(gen_hr)`` in a
    # sampling block later in the loop does not make ``gen_hr`` unknown on the next iteration
    "torchvision.utils.make_grid",
})
# Random values (not random indices: ``randint``/``randperm`` pick rows of a data manager's arrays).
_RANDOM_TEXT = re.compile(r"rand(?<!\wrand)n?(?:_like)?\s*\(|\.normal_?\s*\(|\.uniform_?\s*\(")  # (no leading \b: slow)
_ROWWISE_PREFIXES = ("torch.nn.functional.", "torch.fft.")
# Elementwise functions of two tensors: the rows' one data source, if both agree (like ``a * b``).
_ELEMENTWISE_PAIRS = frozenset({"torch.complex", "torch.polar", "torch.mul", "torch.add", "torch.sub"})
# Classes whose objects map a batch to a batch of the same rows (normalization, augmentation).
_TRANSFORM_PREFIXES = ("torchvision.transforms.", "torchaudio.transforms.", "kornia.augmentation.", "kornia.enhance.")
# A class named for augmenting or transforming samples (``RandAugment``, ``TransformFixMatch``; not a
# ``Transformer`` network), whatever module it comes from.
_TRANSFORM_NAME = re.compile(r"(?i:augment|transform(?!er))")
# torch.nn layers without weights that keep a batch's rows (padding, resizing, pooling): applied to a
# batch (``nn.ReflectionPad2d(padding=2)(x)``), they transform it rather than run a network on it.
_ROWWISE_LAYER = re.compile(
    r"torch\.nn\.(?:modules\.\w+\.)?(?:\w*Pad[123]d|Upsample\w*|\w*Pool[123]d|Flatten|Identity)")
# Arrays of samples read or built from data, whose slices a loop hands out as batches.
_DATA_ARRAYS = frozenset({
    "torch.from_numpy", "torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor", "torch.load",
    "numpy.load", "numpy.array", "numpy.asarray", "numpy.loadtxt", "numpy.genfromtxt",
})
# Methods that draw the next element of an iterator.
_NEXT_METHODS = frozenset({"next", "__next__"})
# Tensor methods keeping rows (beyond the resolver's pass-through methods).
_ROWWISE_METHODS = frozenset({"type", "astype", "copy", "repeat", "expand", "expand_as", "flatten", "requires_grad_",
                              "pin_memory", "squeeze_", "unsqueeze_", "sub", "add", "mul", "div", "clamp", "flip",
                              # elementwise
                              "abs", "pow", "exp", "log", "log1p", "sqrt", "sigmoid", "tanh", "neg"})
# Tensor methods (and their ``torch.`` functions) that keep rows when their axis argument names no
# batch axis: ``x.mean(dim=-1)``, ``x.unfold(-1, size, step)``; ``x.mean()`` reduces the batch away.
_AXIS_METHODS = frozenset({"mean", "sum", "amax", "amin", "std", "var", "logsumexp", "prod", "unfold",
                           "cumsum", "softmax", "log_softmax"})
# Methods that swap two axes: rows kept when neither is the batch axis (``x.transpose(2, 1)``).
_SWAP_METHODS = frozenset({"transpose", "swapaxes", "swapdims"})


@dataclass(frozen=True, eq=False)
class Origin:
    """A source of batches: an iterable (loader, iterator, generator function) or random noise."""

    key: tuple
    label: str  # "`src_loader`"
    # "data" | "noise" | "drawn": rows a data manager's method slices out of its arrays, real
    # samples but of no known split (a matched batch from the training data is no second domain)
    kind: str

    @property
    def real(self) -> bool:
        return self.kind in ("data", "drawn")


@dataclass(frozen=True, eq=False)
class Part:
    """Rows of a batch: drawn from ``origin`` and passed through the models in ``via`` (in order)."""

    origin: Optional[Origin]
    via: Tuple[tuple, ...] = ()
    via_labels: Tuple[str, ...] = ()
    detached: bool = False  # cut from the graph (``.detach()``, made under ``torch.no_grad()``)

    @property
    def key(self) -> tuple:
        return (self.origin.key if self.origin is not None else None, self.via)

    @property
    def generated(self) -> bool:
        return bool(self.via)


@dataclass(frozen=True, eq=False)
class Batch:
    parts: Tuple[Part, ...]

    @property
    def pure(self) -> bool:
        return len({p.key for p in self.parts}) == 1


def _made_by_call(struct: "Struct", scope, ctx, call: cst.Call) -> "Struct":
    """Rows that a project helper makes inside ``scope`` (``return batches(data, bs)``, a source keyed
    by that inner call), as the caller's ``call`` makes them: ``prepare(load("src"))`` and
    ``prepare(load("tgt"))`` are two sources, as two calls of ``batches`` itself would be."""
    if not isinstance(struct, Batch):
        return struct
    inner = id(scope.node)
    if not all(p.origin is not None and p.origin.kind == "data" and p.origin.key[:2] == ("code", inner)
               for p in struct.parts):
        return struct
    key = ("code", id(ctx.scope.node), one_line(call))
    return Batch(tuple(Part(Origin(key + p.origin.key[2:], describe_expr(call), "data"), p.via, p.via_labels,
                            p.detached) for p in struct.parts))


def _named_at_call(struct: "Struct", call: cst.Call) -> "Struct":
    """Rows a method made with its own object (``return self.forward(z)`` in ``gen.infer(codes)``),
    named as the caller wrote it: "`gen.infer`", not "`self.forward`"."""
    name = dotted_name(call.func)
    if not isinstance(struct, Batch) or name is None:
        return struct
    parts = tuple(replace(p, via_labels=p.via_labels[:-1] + (f"`{name}`",))
                  if p.via_labels and p.via_labels[-1].startswith("`self.") else p for p in struct.parts)
    return Batch(parts)


@dataclass(frozen=True, eq=False)
class Tup:
    items: Tuple[Optional["Struct"], ...]


@dataclass(frozen=True, eq=False)
class Alt:
    options: Tuple[Optional["Struct"], ...]


@dataclass(frozen=True, eq=False)
class Spread:
    template: "Struct"


Struct = Union[Batch, Tup, Alt, Spread]
ANY = "*"  # the position placeholder in a spread's origin keys


def same(a: Optional[Struct], b: Optional[Struct]) -> bool:
    """Structural equality (by origin keys), used to merge the bindings of one name."""
    if a is None or b is None:
        return False
    if isinstance(a, Batch) and isinstance(b, Batch):
        return [p.key for p in a.parts] == [p.key for p in b.parts]
    if isinstance(a, Spread) and isinstance(b, Spread):
        return same(a.template, b.template)
    if isinstance(a, Tup) and isinstance(b, Tup) or isinstance(a, Alt) and isinstance(b, Alt):
        xs = a.items if isinstance(a, Tup) else a.options
        ys = b.items if isinstance(b, Tup) else b.options
        # (a position unknown in both, such as ``enumerate``'s index, is the same unknown)
        return len(xs) == len(ys) and all((x is None and y is None) or same(x, y) for x, y in zip(xs, ys))
    return False


def model_key(values: List[Value]) -> Optional[tuple]:
    """Identity of the module object a call runs (same constructor call, same attribute)."""
    keys = set()
    for v in values:
        if isinstance(v, Maybe):
            return None
        k = _value_key(v)
        if k is None:
            return None
        keys.add(k)
    return tuple(sorted(keys, key=repr)) if keys else None


def _value_key(v: Value) -> Optional[tuple]:
    if isinstance(v, Instance):
        return ("inst", id(v.cls.node), id(v.call) if v.call is not None else None)
    if isinstance(v, ExtCall):
        return ("ext", id(v.call))
    if isinstance(v, SubModule):
        parent = _value_key(v.parent)
        return ("sub", parent, v.attr) if parent is not None else None
    return None


def index(struct: Optional[Struct], i) -> Optional[Struct]:
    """``struct[i]`` (tuple unpacking or subscription with a constant integer)."""
    if struct is None:
        return None
    if isinstance(struct, Tup):
        if isinstance(i, int) and -len(struct.items) <= i < len(struct.items):
            return struct.items[i]
        return None
    if isinstance(struct, Alt):
        return Alt(tuple(index(o, i) for o in struct.options))
    if isinstance(struct, Spread):
        return at(struct.template, i) if isinstance(i, int) else struct.template
    # An element of a batch tuple (images, labels) or a row range of a pure batch: same rows' source.
    return struct if struct.pure else None


class Provenance:
    """Memo-free walker over expressions; cheap enough for the few forward calls of a step."""

    def __init__(self, resolver: Resolver, model_values, in_training_loop: Callable[[CallSite], bool]):
        self.r = resolver
        self.model_values = model_values  # TrainingAnalysis.model_values
        self.in_training_loop = in_training_loop  # StepAnalysis: the call sits in a loop that trains
        self._active: set = set()

    # -- entry points -------------------------------------------------------------
    def of(self, expr: cst.BaseExpression, ctx: Ctx, depth: int = 0) -> Optional[Struct]:
        index = self.r.index
        index.fuel -= 1  # one step of the rule's budget, as a value resolution is
        if depth > MAX_DEPTH or index.fuel < 0:
            return None
        key = (id(expr), id(ctx.scope), id(ctx.env))
        if key in self._active:
            return None
        self._active.add(key)
        try:
            return self._of(expr, ctx, depth + 1)
        finally:
            self._active.discard(key)

    def alternatives(self, expr: cst.BaseExpression, ctx: Ctx) -> List[Optional[Batch]]:
        """The batches a forward call on ``expr`` runs on: several for a loop over domains."""
        struct = self.of(expr, ctx)
        if struct is _NO_ROWS:
            return [None]
        if isinstance(struct, Batch) and has_any(struct):
            struct = Alt((at(struct, 0), at(struct, 1)))  # once per loader of a spread: two of them
        if isinstance(struct, Alt):
            return [o if isinstance(o, Batch) else None for o in struct.options]
        return [struct if isinstance(struct, Batch) else None]

    # -- expressions ----------------------------------------------------------------
    def _of(self, expr, ctx: Ctx, depth: int) -> Optional[Struct]:
        if isinstance(expr, cst.Name):
            return self._name(expr.value, ctx, depth, expr)
        if isinstance(expr, cst.Attribute):
            if isinstance(expr.value, cst.Name) and ctx.scope.self_name == expr.value.value:
                return self._state(expr.attr.value, ctx, depth)  # self.real = ... in another method
            inner = self.of(expr.value, ctx, depth)  # batch.x (a field of a batch object)
            return detached(inner) if expr.attr.value == "data" else inner
        if isinstance(expr, (cst.Tuple, cst.List)):
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return None
            return Tup(tuple(self.of(e.value, ctx, depth) for e in expr.elements))
        if isinstance(expr, cst.Subscript):
            return self._subscript(expr, ctx, depth)
        if isinstance(expr, cst.Call):
            return self._call(expr, ctx, depth)
        if isinstance(expr, cst.BinaryOperation):
            return self._binary(expr, ctx, depth)
        if isinstance(expr, cst.UnaryOperation):
            return self.of(expr.expression, ctx, depth)
        if isinstance(expr, cst.IfExp):
            a, b = self.of(expr.body, ctx, depth), self.of(expr.orelse, ctx, depth)
            return a if same(a, b) else None
        if isinstance(expr, cst.NamedExpr):
            return self.of(expr.value, ctx, depth)
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
            return self._comprehension(expr, ctx, depth)
        if isinstance(expr, cst.DictComp):
            moved = _moved_items(expr)  # ``{k: v.to(device) for k, v in batch.items()}``: the same batch
            return self.of(moved, ctx, depth) if moved is not None else None
        return None

    def _comprehension(self, expr, ctx: Ctx, depth: int) -> Optional[Struct]:
        """``[(x.cuda(), y.cuda()) for x, y in spread]``: a spread again, each item mapped."""
        comp = expr.for_in
        if comp.inner_for_in is not None or comp.ifs:
            return None
        item = self.of(expr.elt, ctx, depth)
        if isinstance(item, Batch) and not has_any(item):
            return item  # ``[f.detach() for f in fakes]``: the scales of one generated batch, still that batch
        if isinstance(item, Alt):
            # Over a written list of batches (``[augment(f) for f in (real, fake)]``): item by item.
            source = self.of(comp.iter, ctx, depth)
            if isinstance(source, Tup) and len(source.items) == len(item.options):
                return Tup(item.options)
        return Spread(item) if item is not None and has_any(item) else None

    def _name(self, name: str, ctx: Ctx, depth: int, use: Optional[cst.Name] = None) -> Optional[Struct]:
        scope: Optional[Scope] = ctx.scope
        cur = ctx
        while scope is not None:
            # Those that reach ``use``, less those under a branch the default configuration skips.
            bindings = self.r.live_bindings(scope, name, use, cur, depth)
            if bindings:
                bindings = _this_pass(scope.module, bindings, use)
                results = [self._binding(b, name, cur, depth) for b in bindings]
                kept = [r for r in results if r is not _SKIP and r is not _NO_ROWS]
                if not kept and _NO_ROWS in results:
                    # ``batch = torch.empty(0)`` before ``batch = torch.cat((batch, row))`` grows it
                    return _NO_ROWS
                results = kept
                if not results or any(r is None for r in results):
                    return None
                return _agreed(results) or _optionally_transformed(results)
            scope = scope.parent
            cur = Ctx(scope) if scope is not None else None
        return None

    def _uncalled_param(self, scope: Scope, name: str) -> Optional[Batch]:
        """A parameter of a function that nothing in the project calls (a library trainer's
        ``train_D(self, x, ...)``, a GAN's ``optimize_parameters(self, input_batch)``): data the user's
        code passes. Parameters are one source unless the name says target or unlabelled (``x1``/``x2``
        may be two views of one batch, ``x_src``/``x_aug`` a batch and its augmented copy; ``x_tgt`` is
        another domain, ``x_unsup`` semi-supervised training's other split). Not a constructor's: those
        are loaders and settings."""
        if scope.short_name == "__init__" or name == scope.self_name or scope.param(name) is None \
                or self.r.callers_incomplete(scope):
            return None
        kind = (domain_role(name) == "target", unlabelled(name))
        return Batch((Part(Origin(("uncalled", id(scope.node)) + kind, f"`{name}`", "data")),))

    def _state(self, attr: str, ctx: Ctx, depth: int) -> Optional[Struct]:
        """``self.attr``: what the methods of the class store there (``self.real_A = input["A"]`` in
        ``set_input``, ``self.fake_B = self.netG(self.real_A)`` in ``forward``), each evaluated in its
        method with the same ``self``; every store must agree, else unknown."""
        cls = ctx.scope.cls
        if cls is None:
            return None
        bindings: List[Binding] = []  # the stores of every class of the object (a base's set_input)
        for c, _module in self.r.mro(cls, ctx.module):
            found = c.attrs.get(attr)
            if found:
                bindings.extend(found)
            elif not bindings and (attr in c.methods or attr in c.class_bindings):
                return None
        results = []
        filled = any(b.kind == "fill" for b in bindings)
        stored_later = any(b.scope.short_name != "__init__" for b in bindings)
        for b in bindings:
            if b.kind not in ("assign", "for", "fill") or _is_none(b.expr):
                continue  # ``self.fake = None``: a placeholder until the real store
            if b.kind == "assign" and _allocation(b.expr) and (
                    filled or (stored_later and b.scope.short_name == "__init__")):
                # ``self.input = torch.empty(...)``: the buffer that ``copy_`` fills; in ``__init__``,
                # ``self.generated_imgs = torch.empty(3, 128, 128)``: a placeholder until the step stores
                continue
            bctx = ctx if ctx.scope is b.scope else Ctx(b.scope, None, ctx.self_value)
            results.append(self._binding(b, attr, bctx, depth))
        results = [r for r in results if r is not _SKIP]
        if not results or any(r is None for r in results):
            return None
        return _agreed(results)

    def _binding(self, b: Binding, name: str, ctx: Ctx, depth: int):
        if b.kind == "param":
            return self._param(b.scope, name, ctx, depth)
        if b.kind in ("import", "def", "class", "with"):
            return None
        if b.kind == "augassign":
            return _SKIP
        bctx = ctx if ctx.scope is b.scope else Ctx(b.scope)
        key = (id(b.expr), id(bctx.scope), id(bctx.env))
        if key in self._active:
            return _SKIP  # ``x = x.to(device)``: the other bindings of x decide
        if b.kind == "assign" and not b.path and self._no_rows(b.expr, bctx):
            return _NO_ROWS  # the other bindings decide
        if b.kind == "for":
            struct = self.element_of(b.expr, bctx, depth)
        elif b.path and self._is_split(b.expr, bctx):
            return self._split_part(b.expr, b.path, bctx, depth)
        else:
            struct = self.of(b.expr, bctx, depth)
            if struct is not None and self._under_no_grad(b.stmt, bctx):
                struct = detached(struct)
        split_at = None  # how deep in the unpacking one batch starts being split
        for k, i in enumerate(b.path):
            if split_at is None and isinstance(struct, Batch):
                split_at = k
            struct = index(struct, i)
        if struct is None and b.kind == "assign":
            struct = self._rebound_through_helper(b, name, bctx, depth)
        if split_at is not None and _contrasted(name, b, split_at) or b.path and _item_unpacked(b.expr):
            # ``for source, target in paired_loader``: positions of one item named as two domains;
            # ``source_x, source_y = batch[0]`` then ``target_x, _ = batch[1]``: items named so.
            return with_role(struct, domain_role(name), f"`{name}` of {_first_label(struct)}")
        return struct

    def _no_rows(self, expr: cst.BaseExpression, ctx: Ctx) -> bool:
        """``torch.empty(0)``, ``torch.tensor([]).to(device)``, ``torch.Tensor()``: a tensor without rows,
        the start of a batch that a loop grows row by row."""
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value in PASS_THROUGH_METHODS:
            expr = expr.func.value
        if not isinstance(expr, cst.Call) or callee_name(expr.func) not in _EMPTY_NAMES:
            return False
        quals = {v.qualname for v in self.r.resolve(expr.func, ctx) if isinstance(v, Ref)}
        if not quals or not quals <= _EMPTY_MAKERS or any(a.keyword is not None for a in expr.args):
            return False
        if not expr.args:
            return quals <= {"torch.Tensor", "torch.FloatTensor"}
        first = expr.args[0].value
        return len(expr.args) == 1 and (
            (isinstance(first, cst.Integer) and first.value == "0")
            or (isinstance(first, (cst.List, cst.Tuple)) and not first.elements))

    def _rebound_through_helper(self, b: Binding, name: str, ctx: Ctx, depth: int) -> Optional[Struct]:
        """``gt, lr = random_crop(gt, lr, size)``, ``x = augment(x)``: a project helper whose result
        the analysis cannot follow, rebinding each name to what it made of the argument passed at the
        same position. An augmentation keeps the rows it is given, so the rows keep their source."""
        call = b.expr
        if not isinstance(call, cst.Call) or len(b.path) > 1:
            return None
        pos = b.path[0] if b.path else 0
        args = call.args
        if pos >= len(args) or args[pos].keyword is not None or args[pos].star \
                or not isinstance(args[pos].value, cst.Name) or args[pos].value.value != name:
            return None
        callees = self.r.resolve(call.func, ctx)
        if not callees or not all(isinstance(v, FuncRef) for v in callees):
            return None
        return self.of(args[pos].value, ctx, depth)

    def _param(self, scope: Scope, name: str, ctx: Ctx, depth: int) -> Optional[Struct]:
        if ctx.scope is scope and ctx.env is not None:
            passed = ctx.env.get(name)
            if not passed:
                return None
            results = [self.of(e, c, depth) for e, c in passed]
            return _agreed(results)
        if scope.short_name == "training_step" and scope.cls is not None:
            param = scope.param(name)
            if param is not None and param.index == 1:
                origin = Origin(("lightning-batch", id(scope.node)), f"the `{name}` of `training_step`", "data")
                return Batch((Part(origin),))
            return None
        # A step function analysed on its own: every caller must pass the same provenance.
        # (A module whose ``forward`` is the training step is called as ``model(images)``.)
        sites = self.r.callers(scope) or self.r.object_calls(scope)
        if not sites:
            return self._uncalled_param(scope, name)
        results = []
        method = scope.cls is not None and scope.self_name is not None
        for site in sites:
            env = self.r.bind_args(scope, site.call, self.r.ctx_for(site.scope), skip_self=method)
            passed = env.get(name)
            if not passed:
                return None
            results.extend((site, self.of(e, c, depth)) for e, c in passed)
        agreed = _agreed([r for _site, r in results])
        if agreed is None and len(results) > 1:
            # ``set_input(data)`` from the training loop and from ``test()``: a training step
            # sees what the training loop's calls set.
            agreed = _agreed([r for site, r in results if self.in_training_loop(site)])
        scripts = sorted({site.scope.module.fs_path for site, _r in results})
        if agreed is None and len(scripts) > 1:
            # ``train.py`` and ``train_custom.py`` both drive the model, each with its own loader: a run
            # is one script's, so read the calls of one (the first by path, for the same answer always).
            agreed = _agreed([r for site, r in results if site.scope.module.fs_path == scripts[0]])
        if agreed is None and len(results) > 1:
            # ``update(st_batch, s_batch)`` from three training functions, each looping over its own
            # loader parameters: one call's arguments belong together, so read one call, the first
            # training one by place. Every parameter of the step reads the same call, so two batches
            # compared in the step are never taken from two different callers.
            agreed = results[_first_call(results, self.in_training_loop)][1]
        return agreed

    def _subscript(self, expr: cst.Subscript, ctx: Ctx, depth: int) -> Optional[Struct]:
        if len(expr.slice) > 1 and isinstance(expr.slice[0].slice, cst.Index) and _whole_axes(expr.slice[1:]):
            # ``inputs_u[j, :, :, :]``: one row of the batch (a per-sample loop), that batch's source
            base = self.of(expr.value, ctx, depth)
            return base if isinstance(base, Batch) and base.pure else None
        if len(expr.slice) != 1 and not (expr.slice and isinstance(expr.slice[0].slice, cst.Slice)):
            return None  # ``x[:n, :, :, :]`` goes on: its first element picks the rows, like ``x[:n]``
        sl = expr.slice[0].slice
        keyword = self._keyword_item(expr.value, sl, ctx)
        if keyword is not None:  # ``kwargs["real_images"]``: the caller's ``real_images=`` argument
            return self._param(*keyword, ctx, depth)
        base = self.of(expr.value, ctx, depth)
        if isinstance(base, Spread):  # minibatches[0]: that loader's; minibatches[m] in a loop: any
            i = self.r.const(sl.value, ctx) if isinstance(sl, cst.Index) else None
            return base if isinstance(sl, cst.Slice) else index(base, i)
        if isinstance(sl, cst.Index):
            if self._is_split(expr.value, ctx):
                i = self.r.const(sl.value, ctx)
                return self._split_part(expr.value, (i,), ctx, depth) if isinstance(i, int) else None
            i = self.r.const(sl.value, ctx)
            if isinstance(i, int):
                return index(base, i)
            if isinstance(base, Tup) and self._range_counter(sl.value, ctx, depth) \
                    and all(isinstance(item, Batch) for item in base.items):
                # ``for idx in range(len(images)): net(images[idx])`` over a written list of batches:
                # the call runs once per item
                return Alt(base.items)
            pure = base if isinstance(base, Batch) and base.pure else None
            if isinstance(i, str) and base is None and depth < MAX_DEPTH - 2:
                # ``batch["src_images"]`` of a dict built by storing items (``batch["src_images"] =
                # src_images`` in a trainer's ``_merge_batches``, handed to a loss helper): that item.
                items = self.r.item_exprs(expr.value, i, ctx, depth + 1)
                return _agreed([self.of(item, ictx, depth + 1) for item, ictx in items])
            if isinstance(i, str):  # ``data["S"]`` / ``data["T"]`` of a paired loader: two domains
                return with_role(pure, domain_role(i), describe_expr(expr))
            return pure
        if isinstance(sl, cst.Slice) and isinstance(base, Batch):
            if base.pure:
                return base
            # x[:n] / x[n:] of a two-part batch: the first / the last part again.
            if sl.step is None and (sl.lower is None) != (sl.upper is None):
                return _end_part(base, first=sl.lower is None)
        if isinstance(sl, cst.Slice) and base is None:
            return self._array_rows(expr.value, sl, ctx, depth)
        return None

    def _narrowed(self, value: cst.BaseExpression, call: cst.Call, ctx: Ctx, depth: int) -> Optional[Struct]:
        """``x.narrow(0, start, length)``: rows of ``x`` as the slice ``x[start:start + length]`` picks
        them; of a batch concatenated from two parts, the first part when ``start`` is 0, else the
        last (``inputs.narrow(0, bs, bs)`` after ``torch.cat((xs, xt))``), as ``x[:n]`` / ``x[n:]``."""
        dim, start = call_arg(call, 0, "dim"), call_arg(call, 1, "start")
        if dim is None or start is None or self.r.const(dim, ctx) != 0:
            return None
        base = self.of(value, ctx, depth)
        if not isinstance(base, Batch):
            return None
        return base if base.pure else _end_part(base, first=self.r.const(start, ctx) == 0)

    def _array_rows(self, array: cst.BaseExpression, sl: cst.Slice, ctx: Ctx, depth: int) -> Optional[Struct]:
        """``x_data[idx * bs:(idx + 1) * bs]`` with ``idx`` a ``range`` counter and ``x_data`` an array
        loaded or built from data (``torch.from_numpy(np.load(path))``): the loop's batches of that
        array, a data source of their own (two arrays sliced alike are two sources)."""
        bounds = [b for b in (sl.lower, sl.upper) if b is not None]
        if not any(self._range_counter(n, ctx, depth) for b in bounds for n in names_in(b)):
            return None
        values = self.r.resolve(array, ctx, depth)
        if not values or not all(isinstance(v, ExtCall) and v.qualname in _DATA_ARRAYS for v in values):
            return None
        key = ("array",) + tuple(id(v.call) for v in values)
        return Batch((Part(Origin(key, describe_expr(array), "data")),))

    def _range_counter(self, expr, ctx: Ctx, depth: int) -> bool:
        """``idx`` here bound only by ``for idx in range(...)``: a loop counter that takes every index."""
        if not isinstance(expr, cst.Name):
            return False
        bindings = self.r.live_bindings(ctx.scope, expr.value, expr, ctx, depth)
        return bool(bindings) and all(
            b.kind == "for" and not b.path and isinstance(b.expr, cst.Call) and isinstance(b.expr.func, cst.Name)
            and b.expr.func.value == "range" for b in bindings)

    def _keyword_item(self, base: cst.BaseExpression, sl, ctx: Ctx) -> Optional[Tuple[Scope, str]]:
        """(the function, the keyword) when ``base`` names the function's ``**`` parameter and
        ``sl`` is a constant string key."""
        if not isinstance(base, cst.Name) or not isinstance(sl, cst.Index):
            return None
        scope = binding_scope(ctx.scope, base.value)
        param = scope.param(base.value) if scope is not None else None
        if param is None or param.star != "**" or len(scope.bindings[base.value]) != 1:
            return None  # (a ``kwargs`` rebound in the body is not the callers' keywords)
        key = self.r.const(sl.value, ctx)
        return (scope, key) if isinstance(key, str) else None

    def _binary(self, expr: cst.BinaryOperation, ctx: Ctx, depth: int) -> Optional[Struct]:
        """``x + noise``, ``alpha * real + (1 - alpha) * fake``: the rows' one data source, if only one."""
        if isinstance(expr.operator, cst.Multiply):
            # ``3 * [imgs]``: a list of one batch repeated (grey images made RGB with ``torch.cat(..., 1)``)
            for seq, count in ((expr.left, expr.right), (expr.right, expr.left)):
                if isinstance(seq, (cst.List, cst.Tuple)) and isinstance(self.r.const(count, ctx), int):
                    return self.of(seq, ctx, depth)
        sides = [self.of(expr.left, ctx, depth), self.of(expr.right, ctx, depth)]
        if isinstance(expr.operator, (cst.Multiply, cst.Divide)):
            masked = _masked(sides)
            if masked is not None:
                return masked
        return _one_source(sides)

    # -- calls ------------------------------------------------------------------------
    def _call(self, call: cst.Call, ctx: Ctx, depth: int) -> Optional[Struct]:
        call = ctx.module.forward_view.get(call, call)  # ``data_parallel(net, x)``: ``net(x)``
        func = call.func
        first = call_arg(call, 0)
        if isinstance(func, cst.Attribute) and self._torch_namespace(func.value, ctx):
            # ``torch.flatten(x, 1)``, ``F.normalize(x)``: the function form of a tensor method works
            # on its first argument, not on ``torch``.
            if func.attr.value in PASS_THROUGH_METHODS or func.attr.value in _ROWWISE_METHODS:
                return self.of(first, ctx, depth) if first is not None else None
            if func.attr.value in _AXIS_METHODS and first is not None and self._keeps_rows(call, 1, ctx):
                return self.of(first, ctx, depth)
            if func.attr.value in _SWAP_METHODS and first is not None and self._swaps_feature_axes(call, 1, ctx):
                return self.of(first, ctx, depth)
        elif isinstance(func, cst.Attribute) and not self._module_function(func, ctx):
            name = func.attr.value
            if name == "detach":
                return detached(self.of(func.value, ctx, depth))
            if name in PASS_THROUGH_METHODS or name in _ROWWISE_METHODS:
                return self.of(func.value, ctx, depth)
            if name in _AXIS_METHODS and self._keeps_rows(call, 0, ctx):
                return self.of(func.value, ctx, depth)
            if name in _SWAP_METHODS and self._swaps_feature_axes(call, 0, ctx):
                return self.of(func.value, ctx, depth)  # ``points.transpose(2, 1)``: channels first
            if name in _NOISE_METHODS:
                return _noise(call)
            if name in _NEXT_METHODS and not call.args:
                return self.element_of(func.value, ctx, depth)
            if name == "narrow":
                return self._narrowed(func.value, call, ctx, depth)
        callees = [v for v in self.r.resolve(func, ctx)]
        quals = {v.qualname for v in callees if isinstance(v, Ref)}
        if quals and len(quals) == len(callees):
            return self._external(quals, call, first, ctx, depth)
        if first is not None and callees and all(isinstance(v, Ref) and v.qualname in _TENSOR_TYPES
                                                 for v in unwrap(callees)):
            # ``FloatTensor(x)`` with ``FloatTensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor``
            return self.of(first, ctx, depth)
        if callees and first is not None and all(
                isinstance(v, ExtCall) and _transform_class(v.qualname)
                or isinstance(v, Instance) and _TRANSFORM_NAME.search(v.cls.name)
                and not self.r.network_class(v.cls, v.module) for v in callees):
            # ``normalize(x)`` with ``normalize = T.Normalize(...)``; ``strong(img)`` with ``strong =
            # RandAugment(n, m)``, from a module the checkout lacks or a project class whose
            # ``__call__`` goes through PIL and numpy: an augmentation keeps its rows
            return self.of(first, ctx, depth)
        models = self.model_values(func, ctx)
        if models:
            return self._model_output(models, func, call, ctx, depth)
        frefs = [v for v in callees if isinstance(v, FuncRef)]
        if frefs and len(frefs) == len(callees) and len({id(f.scope) for f in frefs}) == 1:
            # (one function, perhaps bound to several objects of its class: ``gen`` wrapped or not)
            result = self._function_result(frefs[0], call, ctx, depth)
            if result is None and self._network_method(frefs[0]) and isinstance(func, cst.Attribute) \
                    and self._from_rows(func.attr.value, call, ctx, depth):
                # ``feature_extractor.extract_features(img_s)``: a network's own method on a batch,
                # beyond what the analysis follows, computes from those rows as a forward call does
                # (and ``gen.sample(batch_size=n)`` generates rows).
                return self._model_output([frefs[0].bound_self], func, call, ctx, depth)
            return result
        if all(isinstance(v, Unknown) for v in callees):
            return self._unknown_on_noise(func, call, ctx, depth)
        return None

    def _network_method(self, fref: FuncRef) -> bool:
        """A method (not a dunder) bound to an object of a network class (an ``nn.Module`` or a
        LightningModule; not a ``Dataset``, a pipeline or another library's class)."""
        inst = fref.bound_self
        return isinstance(inst, Instance) and not fref.scope.short_name.startswith("__") \
            and self.r.network_class(inst.cls, inst.module)

    def _from_rows(self, name: str, call: cst.Call, ctx: Ctx, depth: int) -> bool:
        """The method works on a batch of known rows, or is named for generating them."""
        if name.startswith(("sample", "generate")):
            return True
        arg = call.args[0] if call.args else None
        return arg is not None and arg.keyword is None and not arg.star and self.of(arg.value, ctx, depth) is not None

    def _keeps_rows(self, call: cst.Call, pos: int, ctx: Ctx) -> bool:
        """The axis argument (``dim``/``dimension``, at ``pos``) is constant and names no batch axis."""
        expr = call_arg(call, pos, "dim") or call_arg(call, pos, "dimension")
        if expr is None:
            return False
        axes = expr.elements if isinstance(expr, (cst.Tuple, cst.List)) else [expr]
        values = [self.r.const(a.value if isinstance(a, cst.BaseElement) else a, ctx) for a in axes]
        return bool(values) and all(type(v) is int and v != 0 for v in values)

    def _swaps_feature_axes(self, call: cst.Call, pos: int, ctx: Ctx) -> bool:
        """The two axes (at ``pos`` and ``pos + 1``) are constants and neither is the batch axis."""
        axes = [call_arg(call, pos, "dim0"), call_arg(call, pos + 1, "dim1")]
        values = [self.r.const(a, ctx) if a is not None else None for a in axes]
        return all(type(v) is int and v != 0 for v in values)

    def _module_function(self, func: cst.Attribute, ctx: Ctx) -> bool:
        """``utils.cuda(xs)``: a project module's function, not the tensor method of that name."""
        values = self.r.resolve(func.value, ctx) if isinstance(func.value, cst.Name) else ()
        return bool(values) and all(isinstance(v, ModuleRef) for v in values)

    def _torch_namespace(self, expr, ctx: Ctx) -> bool:
        values = self.r.resolve(expr, ctx)
        return bool(values) and all(isinstance(v, Ref) and v.qualname in _TORCH_NAMESPACES for v in values)

    def _unknown_on_noise(self, func, call: cst.Call, ctx: Ctx, depth: int) -> Optional[Struct]:
        """``netG(torch.randn(...))`` with ``netG`` unresolved: whatever maps noise to a batch generates it."""
        arg = batch_argument(call)
        inner = self.of(arg, ctx, depth) if arg is not None else None
        if not (isinstance(inner, Batch) and _is_noise(inner)):
            return None
        label = _model_label(func)
        return Batch((Part(None, (("unresolved", id(ctx.scope.node), label),), (label,)),))

    def _external(self, quals, call: cst.Call, first, ctx: Ctx, depth: int) -> Optional[Struct]:
        if len(quals) != 1:
            return None
        qual = next(iter(quals))
        if qual == "next":
            return self.element_of(first, ctx, depth) if first is not None else None
        if qual == "map" and _moves_only(first) and len(call.args) == 2:
            return self.of(call.args[1].value, ctx, depth)  # ``map(lambda v: v.to(device), batch)``
        if qual in _CONCAT:
            return self._concat(qual, call, ctx, depth)
        if qual in _ELEMENTWISE_PAIRS:
            return _one_source([self.of(a.value, ctx, depth) for a in call.args[:2] if a.keyword is None])
        if qual in _NOISE_FUNCS or qual.startswith("numpy.random."):
            return _noise(call)
        if first is None:
            return None
        if qual in PASS_THROUGH_CALLS or qual in _ROWWISE_FUNCS or qual.startswith(_ROWWISE_PREFIXES) \
                or qual in ("torch.Tensor", "torch.FloatTensor", "torch.from_numpy", "torch.tensor"):
            return self.of(first, ctx, depth)
        return None

    def _concat(self, qual: str, call: cst.Call, ctx: Ctx, depth: int) -> Optional[Struct]:
        seq = call_arg(call, 0, "tensors")
        if seq is None:
            return None
        items = self.of(seq, ctx, depth)
        if isinstance(items, Spread):  # torch.cat([x for x, y in minibatches]): every loader's rows
            items = Tup((at(items.template, 0), at(items.template, 1)))
        if not isinstance(items, Tup) or not items.items:
            return None
        dim_expr = call_arg(call, 1, "dim")
        dim = 0 if dim_expr is None else self.r.const(dim_expr, ctx)
        if dim == 0:
            if any(not isinstance(i, Batch) for i in items.items):
                return None
            return Batch(tuple(p for item in items.items for p in item.parts))
        if not isinstance(dim, int):
            return None
        # Along features (pix2pix's conditional input): each row holds one sample of every item.
        # A row with generated content is a generated row (whatever else of unknown source, such as
        # one-hot labels, it holds); otherwise all items must be known and agree: an unknown item
        # may be an unresolved generator's output.
        known = [i for i in items.items if isinstance(i, Batch)]
        generated = [i for i in known if any(p.generated for p in i.parts)]
        if not known or (not generated and len(known) < len(items.items)):
            return None
        chosen = generated or known
        first = chosen[0]
        return first if all(same(first, c) for c in chosen[1:]) else None

    def _model_output(self, models, func, call: cst.Call, ctx: Ctx, depth: int) -> Optional[Struct]:
        key = model_key(models)
        if key is None or not all(_module_like(m) for m in models):
            # An object of a library class, or of a module missing from the checkout, called on noise.
            return self._unknown_on_noise(func, call, ctx, depth)
        if not call.args and all(isinstance(m, Instance) and self.r.plain_class(m.cls, m.module) for m in models):
            # ``(x_src, y_src), (x_trg, y_trg) = loader_train()``: an object that is no network,
            # called on nothing, hands out data (a paired sampler), it generates nothing.
            return Batch((Part(Origin(("object",) + key, describe_expr(func), "data")),))
        arg = batch_argument(call)
        inner = self.of(arg, ctx, depth) if arg is not None else None
        label = _model_label(func)
        if isinstance(inner, Batch) and inner.pure:
            part = inner.parts[0]
            return Batch((Part(part.origin, part.via + (key,), part.via_labels + (label,)),))
        # Unknown or mixed input: the rows are still generated by this model.
        return Batch((Part(None, (key,), (label,)),))

    def _function_result(self, fref: FuncRef, call: cst.Call, ctx: Ctx, depth: int) -> Optional[Struct]:
        scope = fref.scope
        if not scope.returns or depth > MAX_DEPTH - 4:
            return None
        env = self.r.bind_args(scope, call, ctx, skip_self=fref.bound_self is not None)
        moved = {_moved_param(ret, scope) for ret in scope.returns}
        # ``imgs, z = to_device([imgs, z])``: a helper that only moves what it is given; a history
        # buffer (``fake = pool.query(fake)``) that returns its rows or older ones of the same kind
        same_rows = next(iter(moved)) if len(moved) == 1 and None not in moved else _pooled_param(scope)
        if same_rows is not None and len(env.get(same_rows, ())) == 1:
            expr, arg_ctx = env[same_rows][0]
            return self.of(expr, arg_ctx, depth)
        inner = Ctx(scope, env, fref.bound_self or self.r.ctx_for(scope).self_value)
        # (``try: return next(it)`` / ``except StopIteration: return next(iter(loader))``: the
        # handler draws from the same stream restarted, not from another source)
        returns = [ret for ret in scope.returns if not _restarts_iteration(ret, scope)] or scope.returns
        if len(returns) > 1:  # ``if ret_hid: return out, hidden`` with ``ret_hid=False`` passed or by default
            returns = [ret for ret in returns if self.r.branch_possible(ret, inner, depth)] or returns
        results = [self.of(ret, inner, depth) for ret in returns]
        first = results[0]
        width = _blank_width(results)
        if first is not None and width is None and all(same(first, r) for r in results[1:]):
            first = _made_by_call(first, scope, ctx, call)
            return _named_at_call(first, call) if fref.bound_self is not None else first
        unknown = all(r is None for r in results)
        # ``x, x_torch, y, y_torch, done = dataset.next_train(batch_size)``: every position unknown, from a
        # data manager's method (a sampler of noise and codes, ``noise, idx = noise_sample(...)``, is no data)
        manager = width is not None and scope.cls is not None and not _draws_noise(scope)
        if not (unknown or manager) or any(self.of(a.value, ctx, depth) is not None for a in call.args):
            return None
        # A project function that makes a batch from sizes and seeds (``real_samples(n, gen)``), or a
        # data manager's method that slices its arrays: a source of its own.
        key = ("code", id(ctx.scope.node), one_line(call))
        if unknown:
            return Batch((Part(Origin(key, describe_expr(call), "data")),))
        # (named without its arguments: a ``test_size`` argument is no test split)
        name = dotted_name(call.func) or "…"
        return Tup(tuple(Batch((Part(Origin(key + (i,), f"`{name}()[{i}]`", "drawn")),)) for i in range(width)))

    def _under_no_grad(self, node: cst.CSTNode, ctx: Ctx) -> bool:
        """``node`` sits in a ``with torch.no_grad():`` block of its function."""
        parents = ctx.module.parents
        cur = parents.get(node)
        while cur is not None and not isinstance(cur, (cst.FunctionDef, cst.Module)):
            if isinstance(cur, cst.With):
                for item in cur.items:
                    target = item.item.func if isinstance(item.item, cst.Call) else item.item
                    if any(isinstance(v, Ref) and v.qualname in NO_GRAD for v in self.r.resolve(target, ctx)):
                        return True
            cur = parents.get(cur)
        return False

    # -- splitting a batch ------------------------------------------------------------
    def _is_split(self, expr, ctx: Ctx) -> bool:
        return self._split_form(expr, ctx) is not None

    def _split_form(self, expr, ctx: Ctx) -> Optional[str]:
        """"method" for ``x.chunk(2)``, "function" for ``torch.chunk(x, 2)``, else None."""
        if not isinstance(expr, cst.Call):
            return None
        refs = [v for v in self.r.resolve(expr.func, ctx) if isinstance(v, Ref)]
        if refs:
            return "function" if all(v.qualname in _SPLIT_FUNCS for v in refs) else None
        func = expr.func
        return "method" if isinstance(func, cst.Attribute) and func.attr.value in _SPLIT_METHODS else None

    def _split_part(self, call: cst.Call, path: Tuple[int, ...], ctx: Ctx, depth: int) -> Optional[Struct]:
        """``a, b = x.chunk(2)`` / ``x.split([n, m])``: part ``i`` of a batch concatenated from as many parts."""
        func = call.func
        is_method = self._split_form(call, ctx) == "method"
        base_expr = func.value if is_method else call_arg(call, 0)
        base = self.of(base_expr, ctx, depth) if base_expr is not None else None
        if not isinstance(base, Batch) or not path:
            return None
        rest = path[1:]
        dim_expr = call_arg(call, 1 if is_method else 2, "dim")
        if base.pure or (dim_expr is not None and self.r.const(dim_expr, ctx) != 0):
            part: Optional[Struct] = base if base.pure else None
        else:
            # How many pieces: chunk(k) says k; split([n, m]) says len; split(n) does not say.
            count_expr = call_arg(call, 0 if is_method else 1)
            if isinstance(count_expr, (cst.List, cst.Tuple)):
                pieces = len(count_expr.elements)
            else:
                count = self.r.const(count_expr, ctx) if count_expr is not None else None
                pieces = count if callee_name(func) == "chunk" and isinstance(count, int) else None
            i = path[0]
            if pieces != len(base.parts) or not isinstance(i, int) or not -pieces <= i < pieces:
                return None
            part = Batch((base.parts[i],))
        for i in rest:
            part = index(part, i)
        return part

    # -- iteration ----------------------------------------------------------------------
    def element_of(self, expr: cst.BaseExpression, ctx: Ctx, depth: int) -> Optional[Struct]:
        """What iterating ``expr`` (or calling ``next`` on it) yields."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, (cst.Tuple, cst.List)):
            if any(isinstance(e, cst.StarredElement) for e in expr.elements):
                return None
            return Alt(tuple(self.of(e.value, ctx, depth + 1) for e in expr.elements))
        if isinstance(expr, cst.Call):
            quals = [v.qualname for v in self.r.resolve(expr.func, ctx) if isinstance(v, Ref)]
            qual = quals[0] if len(quals) == 1 else None
            if qual == "zip" and len(expr.args) == 1 and expr.args[0].star == "*":
                return self._spread_of(expr.args[0].value, ctx)
            if qual == "zip":
                return Tup(tuple(self.element_of(a.value, ctx, depth + 1) for a in expr.args
                                 if a.keyword is None and not a.star))
            if qual == "enumerate":
                first = call_arg(expr, 0)
                return Tup((None, self.element_of(first, ctx, depth + 1))) if first is not None else None
            if qual == "range":
                return None
            if qual in PASS_THROUGH_CALLS or qual in ("list", "tuple"):
                # (``list(loader)``: the loader's batches, all drawn at once)
                first = call_arg(expr, 0)
                return self.element_of(first, ctx, depth + 1) if first is not None else None
        if _is_slice(expr) and isinstance(expr.value, cst.Call) and isinstance(expr.value.func, cst.Name) \
                and any(isinstance(v, Ref) and v.qualname in ("list", "tuple")
                        for v in self.r.resolve(expr.value.func, ctx)):
            # ``zip(list(src_loader)[:n], list(tgt_loader)[:n])``: the first batches of each loader
            return self.element_of(expr.value, ctx, depth + 1)
        if isinstance(expr, cst.Name):
            followed = self._follow_iterable_name(expr, ctx, depth)
            if followed is not _SKIP:
                return followed
        if isinstance(expr, (cst.Name, cst.Call, cst.Attribute)):
            struct = self.of(expr, ctx, depth + 1)
            if isinstance(struct, Spread):
                return struct.template  # for x, y in minibatches: one loader's batch per iteration
            if isinstance(struct, Batch) and struct.parts[0].via and not has_any(struct):
                return struct  # the outputs of a model (a generator's images at each scale): that batch
        if _is_slice(expr):
            # ``for chunk in chunks[1:]`` after ``model(chunks[0])``: pieces of the batch ``chunks``
            # holds (a list of splits of one mixed batch), not another source
            struct = self.of(expr.value, ctx, depth + 1)
            if isinstance(struct, Batch) and not has_any(struct):
                return struct
        return Batch((Part(self._origin(expr, ctx)),))

    def _spread_of(self, loaders: cst.BaseExpression, ctx: Ctx) -> Spread:
        """``zip(*loaders)``: each item holds one batch of every loader in ``loaders`` (also a list of
        per-loader iterators, see ``_per_loader_iterator``)."""
        origin = self._origin(loaders, ctx)
        return Spread(Batch((Part(Origin(("spread", origin.key, ANY), origin.label, "data")),)))

    def _follow_iterable_name(self, expr: cst.Name, ctx: Ctx, depth: int):
        """``batches = zip(a, b)`` / ``it = iter(loader)``: iterate the bound expression instead."""
        scope = binding_scope(ctx.scope, expr.value)
        if scope is None:
            return _SKIP
        bindings = self.r.visible_bindings(scope, expr.value, expr)
        if len(bindings) == 1 and bindings[0].kind == "for":
            return self._per_loader_iterator(bindings[0], ctx if ctx.scope is scope else Ctx(scope), depth)
        if not all(b.kind == "assign" and not b.path for b in bindings):
            restarted = self._restarted_iterator(scope, expr.value, ctx, depth)
            if restarted is not None:
                return restarted
            if ctx.env is not None and ctx.scope is scope and expr.value in ctx.env and len(bindings) == 1:
                passed = ctx.env[expr.value]
                # (``iter(loader)`` passed in, or the caller's iterator: ``next_batch(tgt_iter, ...)``)
                if len(passed) == 1 and (_is_iter_wrapper(passed[0][0]) or isinstance(passed[0][0], cst.Name)):
                    e, c = passed[0]
                    return self.element_of(e, c, depth + 1)
            return _SKIP
        if not all(_is_iter_wrapper(b.expr) for b in bindings):
            return _SKIP
        bctx = ctx if ctx.scope is scope else Ctx(scope)
        results = [self.element_of(b.expr, bctx, depth + 1) for b in bindings]
        return _agreed(results)

    def _restarted_iterator(self, scope: Scope, name: str, ctx: Ctx, depth: int) -> Optional[Struct]:
        """``try: x, y = it.__next__()[1]`` / ``except StopIteration: it = enumerate(loader)`` with
        ``it`` a parameter (an iterator the caller keeps across steps): the handler restarts the same
        stream, so its elements are what ``it`` yields."""
        restarts = [b for b in scope.bindings.get(name, []) if b.kind == "assign" and not b.path
                    and _is_iter_wrapper(b.expr) and _restarts_iteration(b.expr, scope)]
        if not restarts:
            return None
        bctx = ctx if ctx.scope is scope else Ctx(scope)
        return _agreed([self.element_of(b.expr, bctx, depth + 1) for b in restarts])

    def _per_loader_iterator(self, b: Binding, ctx: Ctx, depth: int):
        """``for j, it in enumerate(iters): x, y = it.next()`` with ``iters`` filled in a loop, one
        iterator or loader per member of a collection (``iters.append(iter(loader))`` for each source
        domain's loader): each pass reads another loader, a spread's template. Not when the loop
        over the collection also updates the model (one loader after another, each trained on
        its own)."""
        it, path = b.expr, b.path
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "enumerate" \
                and len(it.args) == 1 and path[:1] == (1,):
            it, path = it.args[0].value, path[1:]
        if path or not isinstance(it, cst.Name) or _updates_within(b.stmt):
            return _SKIP
        scope = binding_scope(b.scope, it.value)
        filled = scope.bindings.get(it.value, []) if scope is not None else []
        if len(filled) != 1 or not (isinstance(filled[0].expr, cst.List) and not filled[0].expr.elements):
            return _SKIP
        appends = [site for site in scope.calls if isinstance(site.call.func, cst.Attribute)
                   and site.call.func.attr.value == "append" and isinstance(site.call.func.value, cst.Name)
                   and site.call.func.value.value == it.value and len(site.call.args) == 1]
        if not appends or not all(site.loops for site in appends):
            return _SKIP
        sctx = ctx if ctx.scope is scope else Ctx(scope)
        for site in appends:
            item = self.element_of(site.call.args[0].value, sctx, depth + 1)
            if not (isinstance(item, Batch) and item.pure and item.parts[0].origin is not None
                    and item.parts[0].origin.real and not item.parts[0].via):
                return _SKIP
        return self._spread_of(it, sctx).template

    def _origin(self, expr: cst.BaseExpression, ctx: Ctx) -> Origin:
        """Identity of an iterable by how it is named, qualified by where the name lives."""
        label = describe_expr(expr)
        if isinstance(expr, cst.Name):
            scope = binding_scope(ctx.scope, expr.value)
            return Origin(("name", id(scope.node) if scope else None, expr.value), label, "data")
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) \
                and ctx.scope.self_name == expr.value.value and ctx.scope.cls is not None:
            return Origin(("self", id(ctx.scope.cls.node), expr.attr.value), label, "data")
        code = _code(expr)
        return Origin(("code", id(ctx.scope.node), " ".join(code.split())), label, "data")


class _Skip:
    pass


_SKIP = _Skip()
_NO_ROWS = Batch(())  # a tensor without rows: adds nothing to a concatenation, is no batch of its own
# Tensor types whose call on data converts it (``torch.cuda.FloatTensor(np.random.normal(...))``).
_TENSOR_TYPES = frozenset(f"torch{device}.{kind}Tensor" for device in ("", ".cuda")
                          for kind in ("", "Float", "Double", "Half", "Long", "Int", "Byte", "Bool"))
# Calls that make an empty tensor when given ``0`` or ``[]`` (or, for the classes, nothing).
_EMPTY_MAKERS = frozenset({"torch.empty", "torch.zeros", "torch.tensor", "torch.Tensor", "torch.FloatTensor"})
_EMPTY_NAMES = frozenset(q.rsplit(".", 1)[1] for q in _EMPTY_MAKERS)


def detached(struct: Optional[Struct]) -> Optional[Struct]:
    if isinstance(struct, Batch):
        return Batch(tuple(Part(p.origin, p.via, p.via_labels, True) for p in struct.parts))
    if isinstance(struct, Tup):
        return Tup(tuple(detached(i) for i in struct.items))
    if isinstance(struct, Alt):
        return Alt(tuple(detached(o) for o in struct.options))
    return struct


_MODULE_PREFIXES = ("torch.nn.", "torchvision.models.", "timm.", "segmentation_models_pytorch.")
# A whole pickled or scripted network loaded from a file (``G = torch.load(path)``).
_LOADED_MODULES = frozenset({"torch.load", "torch.jit.load", "torch.hub.load"})


def has_any(struct: Optional[Struct]) -> bool:
    """``struct`` holds a spread's placeholder position (it differs per loader of the spread)."""
    if isinstance(struct, Batch):
        return any(p.origin is not None and p.origin.key[-1:] == (ANY,) and p.origin.key[0] == "spread"
                   for p in struct.parts)
    if isinstance(struct, Tup):
        return any(has_any(i) for i in struct.items)
    if isinstance(struct, Alt):
        return any(has_any(o) for o in struct.options)
    return False


def at(struct: Optional[Struct], position: int) -> Optional[Struct]:
    """``struct`` with a spread's placeholder replaced by one loader (``position``) of it."""
    if isinstance(struct, Batch):
        return Batch(tuple(_part_at(p, position) for p in struct.parts))
    if isinstance(struct, Tup):
        return Tup(tuple(at(i, position) for i in struct.items))
    if isinstance(struct, Alt):
        return Alt(tuple(at(o, position) for o in struct.options))
    return struct


def _part_at(part: Part, position: int) -> Part:
    origin = part.origin
    if origin is None or origin.key[0] != "spread" or origin.key[-1:] != (ANY,):
        return part
    located = Origin(origin.key[:-1] + (position,), origin.label, origin.kind)
    return Part(located, part.via, part.via_labels, part.detached)


def spread_of(a: Origin, b: Origin) -> Optional[tuple]:
    """The shared spread key when ``a`` and ``b`` are two positions of one spread (``zip(*loaders)``)."""
    if a.key[0] == "spread" and b.key[0] == "spread" and a.key[:-1] == b.key[:-1]:
        return a.key[:-1]
    return None


def with_role(struct: Optional[Struct], role: Optional[str], label: str) -> Optional[Struct]:
    """The rows of a pure data batch narrowed to the domain ``role`` names (unchanged without one)."""
    if role is None or not isinstance(struct, Batch) or not struct.pure:
        return struct
    part = struct.parts[0]
    origin = part.origin
    if origin is None or origin.kind != "data" or part.generated or _has_role(origin):
        return struct
    tagged = Origin(origin.key + (("role", role),), label, "data")
    return Batch((Part(tagged, part.via, part.via_labels, part.detached),))


def _this_pass(module: ModuleInfo, bindings: List[Binding], use: Optional[cst.CSTNode]) -> List[Binding]:
    """The bindings reaching ``use`` from the same pass of its innermost loop, when some do: one
    written after ``use`` inside a loop around it reaches it only from an earlier pass (a sampling
    block's ``gen_hr = make_grid(gen_hr)``, a validation loop's ``gen_hr = generator(val_lr)`` at
    the end of the epoch), and the batch a step works on is the one made earlier in that step."""
    if use is None or len(bindings) < 2:
        return bindings
    loops = [a for a in ancestors(module, use) if isinstance(a, (cst.For, cst.While))]
    if not loops:
        return bindings
    here = module.order(use)
    later = [b for b in bindings if module.order(b.stmt) > here and any(within(module, b.stmt, loop) for loop in loops)]
    same = [b for b in bindings if module.order(b.stmt) < here and within(module, b.stmt, loops[0])]
    return [b for b in bindings if b not in later] if same and later else bindings


def _updates_within(node: cst.CSTNode) -> bool:
    """``node`` holds a ``.backward()`` or ``.step()`` call."""
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute) \
                and cur.func.attr.value in ("backward", "step"):
            return True
        stack.extend(code_children(cur))
    return False


def _item_unpacked(expr) -> bool:
    """``batch[0]`` unpacked (``source_x, source_y = batch[0]``): an item that is a tuple itself, one
    loader's batch of a batch that holds several."""
    return isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) \
        and isinstance(expr.slice[0].slice.value, cst.Integer)


def _contrasted(name: str, b: Binding, level: int) -> bool:
    """``name`` is unpacked from one batch next to a name of the other domain (``source, target``;
    not ``s_img, s_label``); ``level``: how deep in the unpacking that batch is split."""
    role = domain_role(name)
    if role is None:
        return False
    stmt = b.stmt
    if isinstance(stmt, (cst.For, cst.CompFor)):
        target = stmt.target
    elif isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0].target
    else:
        return False
    for i in b.path[:level]:
        if not isinstance(target, (cst.Tuple, cst.List)) or not isinstance(i, int) or not 0 <= i < len(target.elements):
            return False
        target = target.elements[i].value
    if not isinstance(target, (cst.Tuple, cst.List)):
        return False
    # Anywhere in what that batch is unpacked into: ``(x_src, y), (x_tgt, _) = batch`` names the
    # domains one level down; ``(s_img, _), (t_img, _)`` from ``zip(src, tgt)`` are two batches.
    return any(domain_role(other) not in (None, role) for other in _unpacked_names(target))


def _unpacked_names(target) -> List[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _unpacked_names(e.value)]
    return []


def _has_role(origin: Origin) -> bool:
    last = origin.key[-1]
    return isinstance(last, tuple) and last[:1] == ("role",)


def _first_label(struct: Optional[Struct]) -> str:
    if isinstance(struct, Batch) and struct.parts and struct.parts[0].origin is not None:
        return struct.parts[0].origin.label
    return "one loader"


_ALLOCATIONS = frozenset({"empty", "zeros", "ones", "Tensor", "FloatTensor", "LongTensor", "empty_like",
                          "zeros_like"})


def _transform_class(qualname: str) -> bool:
    return qualname.startswith(_TRANSFORM_PREFIXES) or bool(_TRANSFORM_NAME.search(qualname.rsplit(".", 1)[-1])) \
        or bool(_ROWWISE_LAYER.fullmatch(qualname))


def _whole_axes(elements) -> bool:
    """Every subscript element is a bare ``:`` or ``...``: the whole of its axes."""
    return all((isinstance(e.slice, cst.Slice) and e.slice.lower is None and e.slice.upper is None
                and e.slice.step is None)
               or (isinstance(e.slice, cst.Index) and isinstance(e.slice.value, cst.Ellipsis)) for e in elements)


def _is_slice(expr) -> bool:
    return isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Slice)


def _first_call(results: List[Tuple[CallSite, Optional[Struct]]], in_training_loop) -> int:
    """Index of the result from the first call by place (file, line), a training loop's if any is."""
    def place(i: int) -> tuple:
        site = results[i][0]
        return site.scope.module.fs_path, site.scope.module.line(site.call)
    order = [i for i, (site, _r) in enumerate(results) if in_training_loop(site)] or range(len(results))
    return min(order, key=place)


def _blank_width(results: List[Optional[Struct]]) -> Optional[int]:
    """The length of the tuples every return gives, when all are tuples of unknowns; else None."""
    widths = {len(r.items) if isinstance(r, Tup) and all(i is None for i in r.items) else None for r in results}
    return next(iter(widths)) if len(widths) == 1 else None


def _draws_noise(scope: Scope) -> bool:
    """The function's code calls a random sampler (``torch.randn``, ``np.random.rand``, ``.normal_()``)."""
    return bool(_RANDOM_TEXT.search(scope.module.tree.code_for_node(scope.node)))


def _moves_only(func) -> bool:
    """``lambda v: v.to(device)``: a one-parameter lambda that only moves or casts its argument."""
    if not isinstance(func, cst.Lambda) or len(func.params.params) != 1 or func.params.kwonly_params \
            or isinstance(func.params.star_arg, cst.Param) or func.params.star_kwarg is not None:
        return False
    body, name = func.body, func.params.params[0].name.value
    while isinstance(body, cst.Call) and isinstance(body.func, cst.Attribute) \
            and body.func.attr.value in PASS_THROUGH_METHODS:
        body = body.func.value
    return isinstance(body, cst.Name) and body.value == name and body is not func.body


def _masked(sides: List[Optional[Struct]]) -> Optional[Struct]:
    """``fake * masks``: a model's output times a tensor of the batch its input came from (an
    inpainting mask) is still the model's rows."""
    pure = [s for s in sides if isinstance(s, Batch) and s.pure]
    out = [s for s in pure if s.parts[0].generated]
    data = [s for s in pure if not s.parts[0].generated]
    if len(out) != 1 or len(data) != 1 or None in (out[0].parts[0].origin, data[0].parts[0].origin):
        return None
    return out[0] if data[0].parts[0].origin.key == out[0].parts[0].origin.key else None


def _one_source(sides: List[Optional[Struct]]) -> Optional[Struct]:
    """An elementwise result's rows: the one data source its known, non-noise operands agree on."""
    known = [s for s in sides if isinstance(s, Batch) and not _is_noise(s)]
    if not known:
        return None
    first = known[0]
    return first if all(same(first, s) for s in known[1:]) else None


def _end_part(batch: Batch, first: bool) -> Optional[Batch]:
    """The first or the last part of a batch concatenated from two (``x[:n]`` / ``x[n:]``)."""
    if len(batch.parts) != 2:
        return None
    return Batch((batch.parts[0] if first else batch.parts[1],))


def _agreed(results: List[Optional[Struct]]) -> Optional[Struct]:
    """The one provenance every result has, else None."""
    if not results:
        return None
    first = results[0]
    return first if all(same(first, r) for r in results[1:]) else None


def _optionally_transformed(results: List[Optional[Struct]]) -> Optional[Struct]:
    """``if self.is_DA: real = self.aug(real)``: the same rows with or without a module applied on an
    undecided branch are still those rows (real images stay real, the generator's stay generated), read
    as the ones without it; anything else that differs stays unknown."""
    parts = [r.parts[0] for r in results if isinstance(r, Batch) and len(r.parts) == 1]
    if len(parts) != len(results) or len({p.origin.key if p.origin is not None else None for p in parts}) != 1:
        return None
    base = min(parts, key=lambda p: len(p.via))
    if (base.origin is not None or base.via) and all(p.via[:len(base.via)] == base.via for p in parts):
        return Batch((base,))  # (no origin: a generator's output, known by the generator it came from)
    return None


def _allocation(expr) -> bool:
    """``torch.empty(...)``, ``torch.FloatTensor(n, c)``: a tensor allocated to be filled later."""
    if not isinstance(expr, cst.Call):
        return False
    func = expr.func
    name = callee_name(func)
    return name in _ALLOCATIONS


def _restarts_iteration(ret: cst.BaseExpression, scope: Scope) -> bool:
    """``ret`` is returned from an ``except StopIteration:`` handler of ``scope``."""
    for node in ancestors(scope.module, ret, scope.node):
        if isinstance(node, cst.ExceptHandler) and node.type is not None:
            caught = [e.value for e in node.type.elements] if isinstance(node.type, cst.Tuple) else [node.type]
            if any(callee_name(n) == "StopIteration" for n in caught):
                return True
    return False


def _moved_param(expr: cst.BaseExpression, scope: Scope, hops: int = 0) -> Optional[str]:
    """The parameter that ``expr`` returns moved to a device or dtype (``xs.cuda()``,
    ``[x.cuda() for x in xs]``, ``tuple(x.to(dev) for x in xs)``, ``a if cond else b`` with both
    moved, a local bound once to such a value, and the elements moved by the helper itself:
    ``[self.to_device(e) for e in input]``), else None."""
    if hops > 3:
        return None
    if isinstance(expr, cst.IfExp):
        both = {_moved_param(expr.body, scope, hops + 1), _moved_param(expr.orelse, scope, hops + 1)}
        return both.pop() if len(both) == 1 else None
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("list", "tuple") \
            and len(expr.args) == 1:
        expr = expr.args[0].value
    if isinstance(expr, (cst.ListComp, cst.GeneratorExp)):
        comp = expr.for_in
        if comp.inner_for_in is not None or comp.ifs or not isinstance(comp.target, cst.Name) \
                or _moved_element(expr.elt, scope) != comp.target.value:
            return None
        expr = comp.iter
    name = _moved_name(expr)
    if name is None or scope.param(name) is not None:
        return name
    bindings = scope.bindings.get(name, ())
    if len(bindings) == 1 and bindings[0].kind == "assign" and not bindings[0].path:
        return _moved_param(bindings[0].expr, scope, hops + 1)  # ``new_list = [...]; return new_list``
    return None


def _moved_element(expr: cst.BaseExpression, scope: Scope) -> Optional[str]:
    """The name an element expression moves: ``x.cuda()``, or the helper's own recursive call
    ``self.to_device(x, device)`` / ``to_device(x)``."""
    if isinstance(expr, cst.Call) and expr.args and not expr.args[0].keyword and not expr.args[0].star:
        func = expr.func
        own = func.attr.value if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
            and func.value.value == scope.self_name else func.value if isinstance(func, cst.Name) else None
        if own == scope.short_name:
            return _moved_name(expr.args[0].value)
    return _moved_name(expr)


def _pooled_param(scope: Scope) -> Optional[str]:
    """The one parameter of a history buffer's method (CycleGAN's ``ImagePool.query(images)``,
    ``ReplayBuffer.push_and_pop(data)``): it loops over the parameter and returns the parameter or
    ``torch.cat``/``torch.stack`` of a list, each row the new one or an older one the buffer kept from
    earlier calls, so rows of the same kind (generated by the same model). Else None."""
    params = [p.name for p in scope.params if not p.star and p.name != scope.self_name]
    if len(params) != 1 or not scope.returns:
        return None
    name = params[0]
    if not any(isinstance(loop, cst.For) and (rooted_at(loop.iter, name) or _moved_name(loop.iter) == name)
               for loop in scope.loops):
        return None  # (``for image in images``, ``for element in data.data``)
    for ret in scope.returns:
        ret = _unwrap_variable(ret)
        if isinstance(ret, cst.Name) and ret.value != name:
            # ``return_images = Variable(torch.cat(return_images, 0))`` then ``return return_images``
            bound = reaching(scope, ret.value, ret)
            if bound and len(bound) == 1 and bound[0].kind == "assign" and not bound[0].path:
                ret = _unwrap_variable(bound[0].expr)
        if _moved_name(ret) == name:
            continue
        gathered = call_arg(ret, 0, "tensors") if isinstance(ret, cst.Call) else None
        if not (isinstance(gathered, cst.Name) and gathered.value != name  # (so ``ret`` is a call)
                and isinstance(ret.func, cst.Attribute) and ret.func.attr.value in ("cat", "stack")):
            return None
    return name


def _moved_items(expr: cst.DictComp) -> Optional[cst.BaseExpression]:
    """``d`` for ``{k: v.to(device) for k, v in d.items()}``: every value kept under its key, moved."""
    comp = expr.for_in
    target, it = comp.target, comp.iter
    if comp.inner_for_in is not None or comp.ifs or not isinstance(target, cst.Tuple) or len(target.elements) != 2 \
            or not all(isinstance(e.value, cst.Name) for e in target.elements):
        return None
    key, value = (e.value.value for e in target.elements)
    if not (isinstance(expr.key, cst.Name) and expr.key.value == key and isinstance(it, cst.Call)
            and isinstance(it.func, cst.Attribute) and it.func.attr.value == "items" and not it.args):
        return None
    body = expr.value
    while isinstance(body, cst.Call) and isinstance(body.func, cst.Attribute) \
            and body.func.attr.value in PASS_THROUGH_METHODS:
        body = body.func.value
    return it.func.value if isinstance(body, cst.Name) and body.value == value else None


def _unwrap_variable(expr: cst.BaseExpression) -> cst.BaseExpression:
    """The argument of the pre-0.4 autograd wrapper ``Variable(x)``, else ``expr``."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "Variable" \
            and len(expr.args) == 1:
        return expr.args[0].value
    return expr


def _moved_name(expr: cst.BaseExpression) -> Optional[str]:
    while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
            and expr.func.attr.value in PASS_THROUGH_METHODS:
        expr = expr.func.value
    return expr.value if isinstance(expr, cst.Name) else None


def _module_like(value: Value) -> bool:
    """A value that is certainly a network (not a tensor method or another external object)."""
    while isinstance(value, SubModule):
        value = value.parent
    if isinstance(value, Instance):
        return True
    return isinstance(value, ExtCall) and (value.qualname.startswith(_MODULE_PREFIXES)
                                           or value.qualname in _LOADED_MODULES)


def _noise(call: cst.Call) -> Batch:
    return Batch((Part(Origin(("noise", id(call)), "random noise", "noise")),))


def _is_none(expr) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _is_noise(batch: Batch) -> bool:
    return all(p.origin is not None and p.origin.kind == "noise" and not p.via for p in batch.parts)


def _is_iter_wrapper(expr) -> bool:
    """Expressions worth iterating through a name: zip/iter/enumerate/cycle calls and literal tuples."""
    if isinstance(expr, (cst.Tuple, cst.List)):
        return True
    if isinstance(expr, cst.Call):
        func = expr.func
        name = callee_name(func)
        return name in ("zip", "iter", "enumerate", "cycle", "tqdm")
    return False


def _model_label(func: cst.BaseExpression) -> str:
    """How a message names the model of a call: ``netG`` for ``netG.forward(z)``; ``self.forward``
    for a module's own forward (``self(z)`` in a LightningModule whose ``forward`` runs the generator)."""
    if isinstance(func, cst.Attribute) and func.attr.value == "forward" and not _is_self(func.value):
        func = func.value
    return "`self.forward`" if _is_self(func) else describe_expr(func)


def _is_self(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "self"


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def batch_argument(call: cst.Call) -> Optional[cst.BaseExpression]:
    """The argument carrying the batch: the first positional one, else the first keyword one."""
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            return arg.value
    for arg in call.args:
        if arg.keyword is not None:
            return arg.value
    return None


def other_arguments(call: cst.Call) -> Tuple[str, ...]:
    """Source text of every argument except the batch one (domain indices, flags...), without its
    spacing: ``alpha=alpha``, ``alpha = alpha`` and a positional ``alpha`` are the same argument."""
    batch = batch_argument(call)
    out = []
    for arg in call.args:
        if arg.value is batch:
            continue
        text = "".join(_code(arg.value).split())
        name = f"{arg.keyword.value}=" if arg.keyword is not None else arg.star
        if arg.keyword is not None and text == arg.keyword.value:
            name = ""  # ``alpha=alpha`` passes what a positional ``alpha`` does
        out.append(name + text)
    return tuple(out)
