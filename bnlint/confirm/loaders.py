"""Fair reference batches for a DataLoader: random samples of its own dataset,
collated the way the loader collates them."""
from __future__ import annotations

from typing import Any, Callable, Iterator, List

import torch
from torch.utils.data import DataLoader, IterableDataset


class NotSampleable(Exception):
    """The loader's dataset cannot be sampled at random; the message says why."""


def tensor_leaves(batch: Any) -> List[torch.Tensor]:
    """The tensors in a collated batch, depth first (tuple/list/dict), in a stable order."""
    if isinstance(batch, torch.Tensor):
        return [batch]
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        return [leaf for item in batch for leaf in tensor_leaves(item)]
    return []


def default_input(batch: Any) -> torch.Tensor:
    """The model input in a batch: the batch itself, its first element, or its first tensor."""
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    leaves = tensor_leaves(batch)
    if not leaves:
        raise TypeError(f"no tensor in the loader's batch ({type(batch).__name__})")
    return leaves[0]


def random_batches(loader: DataLoader, count: int, size: int, seed: int = 0) -> Iterator[Any]:
    """``count`` batches of ``size`` samples drawn without replacement from
    ``loader.dataset``, collated with ``loader.collate_fn``."""
    dataset = loader.dataset
    if isinstance(dataset, IterableDataset):
        raise NotSampleable("the loader reads an IterableDataset, which has no random access")
    if loader.batch_size is None and loader.batch_sampler is None:
        raise NotSampleable("the loader has automatic batching turned off (batch_size=None)")
    try:
        length = len(dataset)
    except TypeError:
        raise NotSampleable("the loader's dataset has no len()") from None
    if length < 2:
        raise NotSampleable("the loader's dataset has fewer than 2 samples")
    collate: Callable = loader.collate_fn
    generator = torch.Generator().manual_seed(seed)
    size = min(size, length)
    for _ in range(count):
        indices = torch.randperm(length, generator=generator)[:size].tolist()
        yield collate([dataset[i] for i in indices])
