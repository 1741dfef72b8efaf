"""Watching DataLoaders inside the traced script: where each was built and
iterated, and which batch it yielded last, so a forward call can be linked to
the loader that fed it (the BN103 check needs the loader's dataset)."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch.utils.data import DataLoader

from .frames import Site, user_site
from .loaders import tensor_leaves


@dataclass(eq=False)
class LoaderInfo:
    loader: DataLoader
    created: Optional[Site] = None
    iterated: Optional[Site] = None
    last: List[torch.Tensor] = field(default_factory=list)  # tensors of the last batch


class _WatchedIterator:
    """Proxy of the loader's iterator that remembers the last batch."""

    def __init__(self, iterator, info: LoaderInfo):
        self._iterator = iterator
        self._info = info

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        self._info.last = tensor_leaves(batch)
        return batch

    def __len__(self):
        return len(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


def _same_tensor(leaf: torch.Tensor, x: torch.Tensor) -> bool:
    if leaf is x:
        return True
    if leaf.shape != x.shape:
        return False
    if leaf.device == x.device and leaf.dtype == x.dtype and leaf.data_ptr() == x.data_ptr():
        return True
    try:  # moved to the model's device or cast, but not otherwise transformed
        return torch.equal(leaf.to(device=x.device, dtype=x.dtype), x)
    except (RuntimeError, TypeError):
        return False


class LoaderWatch:
    def __init__(self):
        self.loaders: Dict[int, LoaderInfo] = {}

    def _info(self, loader: DataLoader) -> LoaderInfo:
        info = self.loaders.get(id(loader))
        if info is None or info.loader is not loader:
            info = self.loaders[id(loader)] = LoaderInfo(loader)
        return info

    def install(self) -> None:
        original_init, original_iter = DataLoader.__init__, DataLoader.__iter__
        watch = self

        @functools.wraps(original_init)
        def __init__(loader, *args, **kwargs):
            original_init(loader, *args, **kwargs)
            watch._info(loader).created = user_site()

        @functools.wraps(original_iter)
        def __iter__(loader):
            info = watch._info(loader)
            info.iterated = user_site()
            return _WatchedIterator(original_iter(loader), info)

        self._originals = (original_init, original_iter)
        DataLoader.__init__ = __init__
        DataLoader.__iter__ = __iter__

    def uninstall(self) -> None:
        DataLoader.__init__, DataLoader.__iter__ = self._originals

    def link(self, x: torch.Tensor) -> Optional[Tuple[LoaderInfo, int]]:
        """The loader (and tensor position in its batch) whose last batch is ``x``."""
        for info in self.loaders.values():
            for index, leaf in enumerate(info.last):
                if _same_tensor(leaf, x):
                    return info, index
        return None
