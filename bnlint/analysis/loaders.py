"""DataLoader calls: is this a ``torch.utils.data.DataLoader``, does it shuffle?"""
from __future__ import annotations

from typing import List, Optional

import libcst as cst

from .values import ClassRef, Ctx, ExtCall, Instance, Resolver, Value, call_arg, unwrap

DATALOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
ITERABLE_DATASETS = frozenset({"torch.utils.data.IterableDataset", "torch.utils.data.dataset.IterableDataset",
                               "torch.utils.data.datapipes.datapipe.IterDataPipe"})
# DataLoader(dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, ...)
_POSITION = {"dataset": 0, "batch_size": 1, "shuffle": 2, "sampler": 3, "batch_sampler": 4}

SHUFFLED, UNSHUFFLED, UNKNOWN = "shuffled", "unshuffled", "unknown"


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
            if isinstance(expr, cst.Name) and expr.value in ctx.module.mutated:
                return ("?", None)
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

    def shuffle_state(self, loader: ExtCall) -> str:
        for name in ("sampler", "batch_sampler"):
            arg = self.argument(loader, name)
            if arg is None:
                continue
            if arg[0] == "?":
                return UNKNOWN
            if self.r.const(arg[0], arg[1]) is None and not _is_none(arg[0]):
                return SHUFFLED  # any sampler decides the order itself
        if self._iterable_dataset(loader):
            return SHUFFLED  # order is the dataset's business; shuffle is not allowed
        arg = self.argument(loader, "shuffle")
        if arg is None:
            return UNSHUFFLED
        if arg[0] == "?":
            return UNKNOWN
        value = self.r.const(arg[0], arg[1])
        if value is None:
            values = self.r.resolve(arg[0], arg[1])
            # ``shuffle=None`` from an unset default is still unshuffled
            return UNKNOWN if not values else UNKNOWN
        return SHUFFLED if value else UNSHUFFLED

    def shuffle_literal(self, loader: ExtCall) -> Optional[cst.CSTNode]:
        """The ``shuffle=`` keyword node when it is written literally on the call, for autofix."""
        for arg in loader.call.args:
            if arg.keyword is not None and arg.keyword.value == "shuffle":
                return arg
        return None

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


def _is_none(expr) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"
