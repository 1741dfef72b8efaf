"""DataLoader calls: is this a ``torch.utils.data.DataLoader``, does it shuffle?"""
from __future__ import annotations

from typing import List, Optional

import libcst as cst

from .module import Scope, binding_scope
from .values import ClassRef, Const, Ctx, ExtCall, FuncRef, Instance, Maybe, Resolver, Seq, Value, call_arg, unwrap

DATALOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
ITERABLE_DATASETS = frozenset({"torch.utils.data.IterableDataset", "torch.utils.data.dataset.IterableDataset",
                               "torch.utils.data.datapipes.datapipe.IterDataPipe"})
# DataLoader(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, ...)
_POSITION = {"dataset": 0, "batch_size": 1, "shuffle": 2, "sampler": 3, "batch_sampler": 4, "drop_last": 8}
# Tensor factories whose first dimension is the dataset length in ``TensorDataset(torch.randn(N, ...))``.
_FACTORIES = frozenset("torch." + n for n in ("randn", "rand", "zeros", "ones", "empty", "tensor", "arange"))
_RANDINT = frozenset({"torch.randint"})

SHUFFLED, UNSHUFFLED, UNKNOWN = "shuffled", "unshuffled", "unknown"
_RANDOM_SPLITS = frozenset({"torch.utils.data.random_split", "torch.utils.data.dataset.random_split"})
_SUBSETS = frozenset({"torch.utils.data.Subset", "torch.utils.data.dataset.Subset"})
_PERMUTATIONS = frozenset({"numpy.random.permutation", "torch.randperm", "random.sample", "sklearn.utils.shuffle"})
# Splits that shuffle the rows unless told ``shuffle=False`` (scikit-learn's default is True).
_SHUFFLING_SPLITS = frozenset({"sklearn.model_selection.train_test_split",
                               "sklearn.model_selection._split.train_test_split"})
_IN_PLACE_SHUFFLES = frozenset({"numpy.random.shuffle", "random.shuffle"})
MAX_ORDER_DEPTH = 12  # steps from a dataset back to the shuffle that ordered its rows
# Datasets and tensors made from an array, in the array's order.
_FROM_ARRAYS = frozenset({"torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset", "torch.tensor",
                          "torch.from_numpy", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor", "numpy.array",
                          "numpy.asarray", "numpy.expand_dims", "numpy.float32", "torch.unsqueeze", "list", "tuple"})


_ROW_KEEPING_METHODS = frozenset({"tolist", "astype", "reshape", "float", "double", "long", "to", "cuda", "copy",
                                  "squeeze", "unsqueeze", "view", "numpy", "values"})


def _row_keeping_method(expr) -> bool:
    return isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
        and expr.func.attr.value in _ROW_KEEPING_METHODS


def _is_self_attr(expr, self_name) -> bool:
    return isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == self_name


def is_dataloader(value: Value) -> bool:
    return isinstance(value, ExtCall) and value.qualname in DATALOADERS


def loaders_in(values: List[Value]) -> List[ExtCall]:
    return [v for v in values if is_dataloader(v)]


class LoaderAnalysis:
    def __init__(self, resolver: Resolver):
        self.r = resolver

    def argument(self, loader: ExtCall, name: str) -> Optional[tuple]:
        """(expr, ctx) passed for ``name``, looking through ``**kwargs`` dict literals.

        Returns ``None`` when the argument is certainly absent and ``("?", None)``
        when a ``**kwargs`` we cannot read might contain it.
        """
        call, ctx = loader.call, loader.ctx
        expr = call_arg(call, _POSITION.get(name, -1), name)
        if expr is not None:
            return expr, ctx
        for arg in call.args:
            if arg.star == "*":
                return ("?", None)
            if arg.star == "**":
                found = self._kwargs_entry(arg.value, name, ctx)
                if found is not None:
                    return found
        return None

    def _kwargs_entry(self, expr, name: str, ctx: Ctx):
        dicts = []
        if isinstance(expr, cst.Dict):
            dicts.append((expr, ctx))
        elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "dict":
            for a in expr.args:
                if a.star:
                    return ("?", None)
                if a.keyword is not None and a.keyword.value == name:
                    return a.value, ctx
            return None
        else:
            if isinstance(expr, cst.Name) and expr.value in ctx.module.mutated \
                    and not self._mutations_spare(expr.value, name, ctx):
                return ("?", None)
            calls = self._dict_call_bindings(expr, ctx)
            if calls:  # ``loader_args = dict(batch_size=..., num_workers=...)``
                found = {self._kwargs_entry(call, name, cctx) for call, cctx in calls}
                return found.pop() if len(found) == 1 else ("?", None)
            dicts = self.r._dict_sources(expr, ctx)
            if not dicts:
                return ("?", None)
        for node, dctx in dicts:
            if not isinstance(node, cst.Dict):
                return ("?", None)
            for element in node.elements:
                if not isinstance(element, cst.DictElement):
                    return ("?", None)
                key = self.r.const(element.key, dctx)
                if key is None:
                    return ("?", None)
                if key == name:
                    return element.value, dctx
        return None

    def _mutations_spare(self, var: str, name: str, ctx: Ctx) -> bool:
        """Every in-place change of the dict ``var`` in the module leaves the key ``name`` alone:
        ``opts.update(num_workers=4, persistent_workers=True)`` (keywords, or a dict literal of
        constant keys) and ``opts["pin_memory"] = True``, none of them ``name``."""
        module = ctx.module
        for node, parent in module.parents.items():
            if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and node.value.value == var:
                stored = isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.Del)) or (
                    isinstance(parent, (cst.Element, cst.Tuple, cst.List)))  # (a target inside an unpacking)
                if stored and not self._other_key(node, name, ctx):
                    return False
            elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                    and isinstance(node.func.value, cst.Name) and node.func.value.value == var:
                method = node.func.attr.value
                if method == "update" and not self._update_spares(node, name, ctx):
                    return False
                if method in ("setdefault", "pop", "__setitem__") and (
                        not node.args or self.r.const(node.args[0].value, ctx) in (None, name)):
                    return False
        return True

    def _other_key(self, subscript: cst.Subscript, name: str, ctx: Ctx) -> bool:
        if len(subscript.slice) != 1 or not isinstance(subscript.slice[0].slice, cst.Index):
            return False
        key = self.r.const(subscript.slice[0].slice.value, ctx)
        return isinstance(key, str) and key != name

    def _update_spares(self, call: cst.Call, name: str, ctx: Ctx) -> bool:
        for arg in call.args:
            if arg.star or (arg.keyword is None and not isinstance(arg.value, cst.Dict)):
                return False  # (another dict's keys, or ``**more``: unknown)
            if arg.keyword is not None:
                if arg.keyword.value == name:
                    return False
                continue
            for element in arg.value.elements:
                if not isinstance(element, cst.DictElement):
                    return False
                key = self.r.const(element.key, ctx)
                if not isinstance(key, str) or key == name:
                    return False
        return True

    def _dict_call_bindings(self, expr, ctx: Ctx):
        """The ``dict(...)`` calls a name is bound to, when every binding that reaches it is one."""
        if not isinstance(expr, cst.Name):
            return []
        scope = binding_scope(ctx.scope, expr.value)
        if scope is None:
            return []
        bindings = self.r.visible_bindings(scope, expr.value, expr)
        bctx = ctx if scope is ctx.scope else Ctx(scope)
        if bindings and all(b.kind == "assign" and not b.path and isinstance(b.expr, cst.Call)
                            and isinstance(b.expr.func, cst.Name) and b.expr.func.value == "dict" for b in bindings):
            return [(b.expr, bctx) for b in bindings]
        return []

    def sampler(self, loader: ExtCall, name: str = "sampler") -> Optional[bool]:
        """Whether ``name`` (``sampler``/``batch_sampler``) is given a sampler: False when it is absent or
        certainly ``None`` (``sampler=sampler`` with a parameter defaulting to None and not passed),
        None when a ``**kwargs`` we cannot read might hold one, True otherwise (unknown values included:
        an unresolved sampler decides the order itself)."""
        arg = self.argument(loader, name)
        if arg is None:
            return False
        if arg[0] == "?":
            return None
        if _is_none(arg[0]):
            return False
        values = self.r.resolve(arg[0], arg[1])
        if values and all(isinstance(v, Const) and v.value is None for v in values):
            return False  # resolved to None on every path (a Maybe(None) stays "a sampler")
        if self.r.const(arg[0], arg[1]) is not None:
            return False  # a constant that is not a sampler object
        return True

    def shuffle_state(self, loader: ExtCall) -> str:
        sequential = False
        for name in ("sampler", "batch_sampler"):
            given = self.sampler(loader, name)
            if given is None:
                return UNKNOWN
            if given:
                if not self._sequential_sampler(loader, name):
                    return SHUFFLED  # any other sampler decides the order itself
                sequential = True
        if self._iterable_dataset(loader):
            return SHUFFLED  # order is the dataset's business; shuffle is not allowed
        dataset = self.argument(loader, "dataset")
        if dataset is not None and dataset[0] != "?" and self._randomly_ordered(dataset[0], dataset[1]):
            return SHUFFLED  # permuted once: every batch is still a random sample (for BN, enough)
        if sequential:
            return UNSHUFFLED  # ``SequentialSampler(ds)``: the stored order, as with no sampler
        arg = self.argument(loader, "shuffle")
        if arg is None:
            return UNSHUFFLED
        if arg[0] == "?":
            return UNKNOWN
        value = self.r.const(arg[0], arg[1])
        if value is None:
            # Undecidable, or a literal ``None`` (const cannot tell them apart): stay silent.
            return UNKNOWN
        return SHUFFLED if value else UNSHUFFLED

    def _sequential_sampler(self, loader: ExtCall, name: str) -> bool:
        """``sampler=SequentialSampler(ds)`` or ``batch_sampler=BatchSampler(SequentialSampler(ds), ...)``
        on every path: the loader keeps the dataset's order."""
        arg = self.argument(loader, name)
        if arg is None or arg[0] == "?":
            return False
        return self._all_sequential(self.r.resolve(arg[0], arg[1]))

    def _all_sequential(self, values) -> bool:
        if not values:
            return False
        for v in values:
            if not isinstance(v, ExtCall):
                return False
            kind = v.qualname.rsplit(".", 1)[-1]
            if not v.qualname.startswith("torch.utils.data."):
                return False
            if kind == "BatchSampler":
                inner = call_arg(v.call, 0, "sampler")
                if inner is None or not self._all_sequential(self.r.resolve(inner, v.ctx)):
                    return False
            elif kind != "SequentialSampler":
                return False
        return True

    def shuffle_literal(self, loader: ExtCall) -> Optional[cst.CSTNode]:
        """The ``shuffle=`` keyword node when it is written literally on the call, for autofix."""
        for arg in loader.call.args:
            if arg.keyword is not None and arg.keyword.value == "shuffle":
                return arg
        return None

    def _randomly_ordered(self, expr: cst.BaseExpression, ctx: Ctx, depth: int = 0) -> bool:
        """A dataset (or the array it is built from) whose order is a random permutation:
        ``random_split(ds, ...)[i]``, ``Subset(ds, np.random.permutation(n)[:k])``, ``x[perm]`` with a
        random ``perm``, ``TensorDataset(x[perm], ...)`` or a project dataset built from such an array,
        also through names, slices and the return values of project helpers."""
        if depth > MAX_ORDER_DEPTH:
            return False
        while isinstance(expr, cst.Subscript) or _row_keeping_method(expr):
            if isinstance(expr, cst.Subscript):
                index = expr.slice[0].slice if expr.slice else None
                if isinstance(index, cst.Index):
                    if self._randomly_ordered(index.value, ctx, depth + 1):
                        return True  # x[perm]: rows in a random order
                    if self.r.const(index.value, ctx) is None:
                        return False  # x[train_idx, :]: the rows in the index array's order
                expr = expr.value  # x[:k] keeps x's order
            else:
                expr = expr.func.value  # x.astype(...), x.tolist(), x.float(): the same rows
        if isinstance(expr, cst.Name):
            return self._name_randomly_ordered(expr, ctx, depth)
        if not isinstance(expr, cst.Call):
            return False
        callees = self.r.resolve(expr.func, ctx)
        quals = {v.qualname for v in callees if hasattr(v, "qualname")}
        if quals & _RANDOM_SPLITS or quals & _PERMUTATIONS:
            return True
        if quals & _SHUFFLING_SPLITS:
            shuffle = call_arg(expr, None, "shuffle")
            return shuffle is None or self.r.const(shuffle, ctx) is not False
        classes = [v for v in callees if isinstance(v, ClassRef)]
        if classes and len(classes) == len(callees) and all(self._shuffles_itself(c) for c in classes):
            return True
        if quals & _SUBSETS:
            indices = call_arg(expr, 1, "indices")
            return indices is not None and self._randomly_ordered(indices, ctx, depth + 1)
        if (classes and len(classes) == len(callees)) or quals & _FROM_ARRAYS:
            first = call_arg(expr, 0)  # the data a dataset (or tensor) is made of keeps its order
            return first is not None and self._randomly_ordered(first, ctx, depth + 1)
        if "zip" in quals and len(expr.args) == 1 and expr.args[0].star == "*":
            # ``list(zip(*rows))`` after ``random.shuffle(rows)``: columns in the rows' random order
            return self._randomly_ordered(expr.args[0].value, ctx, depth + 1)
        return False

    def _name_randomly_ordered(self, expr: cst.Name, ctx: Ctx, depth: int) -> bool:
        scope = binding_scope(ctx.scope, expr.value)
        if scope is None:
            return False
        inner = ctx if scope is ctx.scope else Ctx(scope)
        if self._shuffled_in_place(expr.value, scope) or self._appended_in_random_order(expr.value, scope, inner, depth):
            return True
        bindings = self.r.visible_bindings(scope, expr.value, expr)
        return bool(bindings) and all(self._bound_randomly_ordered(b, expr.value, scope, inner, depth)
                                      for b in bindings)

    def _bound_randomly_ordered(self, b, name: Optional[str], scope: Scope, ctx: Ctx, depth: int) -> bool:
        """The value binding ``b`` gives (a name's or a dict item's) is in a random order; a dict
        made empty and filled item by item (``train = {}; train["x"], val["x"] = train_test_split(x)``)
        is when every array stored into it is. ``name``: the name ``b`` binds (None for an item)."""
        if b.kind != "assign" or b.expr is None:
            return False
        expr, path = b.expr, b.path
        while path and isinstance(expr, (cst.Tuple, cst.List)) and isinstance(path[0], int) \
                and 0 <= path[0] < len(expr.elements):
            expr, path = expr.elements[path[0]].value, path[1:]  # ``train, val = {}, {}``
        if path:
            return self._returned_randomly_ordered(expr, path, ctx, depth)
        if isinstance(expr, cst.Dict) and not expr.elements and name is not None:
            stores = scope.item_stores.get(name, [])
            return bool(stores) and all(self._bound_randomly_ordered(s, None, scope, ctx, depth + 1) for _, s in stores)
        return self._randomly_ordered(expr, ctx, depth + 1)

    def _appended_in_random_order(self, name: str, scope: Scope, ctx: Ctx, depth: int) -> bool:
        """``X_train.append(x)`` in ``for x, y in zip(spectra, labels)`` over rows in a random order
        (every append of the list runs in such a loop): the list holds them in that order."""
        appends = [site for site in scope.calls
                   if isinstance(site.call.func, cst.Attribute) and site.call.func.attr.value == "append"
                   and isinstance(site.call.func.value, cst.Name) and site.call.func.value.value == name]
        if not appends:
            return False
        for site in appends:
            loop = site.loops[-1] if site.loops else None
            if not isinstance(loop, cst.For) or not self._randomly_ordered_iterable(loop.iter, ctx, depth + 1):
                return False
        return True

    def _randomly_ordered_iterable(self, expr: cst.BaseExpression, ctx: Ctx, depth: int) -> bool:
        """Iterating ``expr`` yields rows in a random order: a randomly ordered array, or ``zip``/
        ``enumerate`` over one."""
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in ("zip", "enumerate"):
            return any(not a.star and self._randomly_ordered(a.value, ctx, depth + 1) for a in expr.args[:1]) \
                or (expr.func.value == "zip" and any(not a.star and self._randomly_ordered(a.value, ctx, depth + 1)
                                                     for a in expr.args))
        return self._randomly_ordered(expr, ctx, depth + 1)

    def _returned_randomly_ordered(self, call, path, ctx: Ctx, depth: int) -> bool:
        """``x_train, x_test = load_data()``: every return of the helper puts a random-order array there."""
        if not isinstance(call, cst.Call):
            return False
        callees = self.r.resolve(call.func, ctx)
        funcs = [v for v in callees if isinstance(v, FuncRef)]
        if not funcs:
            return self._randomly_ordered(call, ctx, depth + 1)  # ``train, val = random_split(...)``
        if len(funcs) != 1 or len(callees) != 1 or not funcs[0].scope.returns:
            return False
        scope = funcs[0].scope
        inner = Ctx(scope, self.r.bind_args(scope, call, ctx, funcs[0].bound_self is not None))
        for ret in scope.returns:
            for i in path:
                if not isinstance(ret, (cst.Tuple, cst.List)):
                    break  # ``return list(zip(*rows))``: every part is in the order of the whole
                if not isinstance(i, int) or not -len(ret.elements) <= i < len(ret.elements):
                    return False
                ret = ret.elements[i].value
            if not self._randomly_ordered(ret, inner, depth + 1):
                return False
        return True

    def _shuffles_itself(self, cls: ClassRef) -> bool:
        """A project dataset that shuffles its own list (``random.shuffle(self.files)``) in ``__init__``,
        or in ``__getitem__`` or a helper (the ADE20K trainer shuffles on the first item it serves)."""
        return any(_is_self_attr(shuffled, method.self_name)
                   for c, _module in self.r.mro(cls.cls, cls.module)
                   for method in c.methods.values() if method.self_name
                   for shuffled in self._shuffled_in(method))

    def _shuffled_in_place(self, name: str, scope: Scope) -> bool:
        """``np.random.shuffle(indices)`` / ``random.shuffle(indices)`` somewhere in ``scope``."""
        return any(isinstance(shuffled, cst.Name) and shuffled.value == name for shuffled in self._shuffled_in(scope))

    def _shuffled_in(self, scope: Scope):
        """The expressions ``scope`` shuffles in place (the argument of ``np.random.shuffle(x)``)."""
        ctx = self.r.ctx_for(scope)
        for site in scope.calls:
            first = call_arg(site.call, 0)
            if first is not None and any(getattr(v, "qualname", None) in _IN_PLACE_SHUFFLES
                                         for v in self.r.resolve(site.call.func, ctx)):
                yield first

    def _iterable_dataset(self, loader: ExtCall) -> bool:
        arg = self.argument(loader, "dataset")
        if arg is None or arg[0] == "?":
            return False
        for v in unwrap(self.r.resolve(arg[0], arg[1])):
            if isinstance(v, Instance):
                if any(q in ITERABLE_DATASETS for q in self.r.external_bases(v.cls, v.module)):
                    return True
            if isinstance(v, ExtCall) and ("IterableDataset" in v.qualname or "datapipes" in v.qualname
                                            or v.qualname.startswith("webdataset")):
                return True
        return False


def iterated_loaders(values: List[Value]) -> List[ExtCall]:
    """DataLoaders among the values an iterable can be, looking through zip/enumerate.

    Values on an undecidable branch (``Maybe``) are skipped: precision over recall.
    """
    out = []
    for v in values:
        if isinstance(v, Maybe):
            continue
        if is_dataloader(v):
            out.append(v)
        elif isinstance(v, Seq) and v.kind in ("zip", "enumerate"):
            for item in v.items:
                out.extend(iterated_loaders(list(item)))
    return out


class LoaderSizes:
    """Batch size, drop_last and dataset length of a DataLoader, when they are static."""

    def __init__(self, loaders: LoaderAnalysis):
        self.loaders = loaders
        self.r = loaders.r

    def batch_size(self, loader: ExtCall) -> Optional[int]:
        """The batch size, 1 when not passed (DataLoader's default); None when unknown or sampler-made."""
        if self.loaders.sampler(loader, "batch_sampler") is not False:
            return None
        arg = self.loaders.argument(loader, "batch_size")
        if arg is None:
            return 1
        if arg[0] == "?":
            return None
        value = self.r.const(arg[0], arg[1])
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def drop_last(self, loader: ExtCall) -> Optional[bool]:
        arg = self.loaders.argument(loader, "drop_last")
        if arg is None:
            return False
        if arg[0] == "?":
            return None
        value = self.r.const(arg[0], arg[1])
        return value if isinstance(value, bool) else None

    def dataset_length(self, loader: ExtCall) -> Optional[int]:
        """len(dataset) when it is written in the code: ``TensorDataset(torch.randn(N, ...))``,
        ``Subset(ds, range(N))``, a Dataset class whose ``__len__`` returns a constant."""
        if self.loaders.sampler(loader, "sampler") is not False:
            return None  # the sampler decides how many samples an epoch has
        arg = self.loaders.argument(loader, "dataset")
        if arg is None or arg[0] == "?":
            return None
        lengths = {self._length(v) for v in self.r.resolve(arg[0], arg[1])}
        if len(lengths) != 1:
            return None
        return lengths.pop()

    def _length(self, value: Value) -> Optional[int]:
        if isinstance(value, ExtCall):
            name = value.qualname.rsplit(".", 1)[-1]
            if value.qualname.startswith("torch.utils.data.") and name == "TensorDataset":
                first = call_arg(value.call, 0)
                return self._tensor_rows(first, value.ctx) if first is not None else None
            if value.qualname.startswith("torch.utils.data.") and name == "Subset":
                indices = call_arg(value.call, 1, "indices")
                return self._range_length(indices, value.ctx) if indices is not None else None
            return None
        if isinstance(value, Instance) and value.call is not None:
            method = self.r.find_method(value.cls, value.module, "__len__")
            if method is None or len(method.returns) != 1:
                return None
            ctx = Ctx(method, None, value)
            n = self.r.const(method.returns[0], ctx)
            return n if isinstance(n, int) and not isinstance(n, bool) else None
        return None

    def _tensor_rows(self, expr, ctx: Ctx) -> Optional[int]:
        rows = set()
        for v in self.r.resolve(expr, ctx):
            if not isinstance(v, ExtCall):
                return None
            if v.qualname in _FACTORIES and v.qualname != "torch.tensor":
                size = call_arg(v.call, 0, "size")
            elif v.qualname in _RANDINT:
                size = call_arg(v.call, 2, "size")
            else:
                return None
            if size is None:
                return None
            dims = self.r.const(size, v.ctx)
            if isinstance(dims, tuple) and dims:
                dims = dims[0]
            if not isinstance(dims, int) or isinstance(dims, bool):
                return None
            rows.add(dims)
        return rows.pop() if len(rows) == 1 else None

    def _range_length(self, expr, ctx: Ctx) -> Optional[int]:
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "list":
            inner = call_arg(expr, 0)
            return self._range_length(inner, ctx) if inner is not None else None
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "range":
            bounds = [self.r.const(a.value, ctx) for a in expr.args if a.keyword is None and not a.star]
            if len(bounds) != len(expr.args) or not all(isinstance(b, int) for b in bounds):
                return None
            if len(bounds) == 1:
                return max(bounds[0], 0)
            if len(bounds) == 2:
                return max(bounds[1] - bounds[0], 0)
        return None


def _is_none(expr) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"
