"""Python API for notebooks and tests: measure a model on batches you hand over,
no script to run.

    compare(model, {"mnist": xa, "svhn": xb})   # per-source forward calls (BN101/BN102)
    compare_loader(model, loader)               # a loader vs its own dataset (BN103)
"""
from __future__ import annotations

import time
from typing import Any, Callable, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from .aggregate import group_by_site, summarize
from .loaders import NotSampleable, default_input, random_batches
from .replay import Call, measure, model_device
from .result import ConfirmResult

Batches = Union[torch.Tensor, Sequence[torch.Tensor]]


def _default_forward(model: nn.Module, source: str, batch: Any) -> Any:
    return model(batch)


def _split(value: Batches, batch_size: Optional[int], steps: int) -> List[Any]:
    """One source's batches, one per step."""
    if isinstance(value, torch.Tensor):
        if batch_size is None or len(value) <= batch_size:
            return [value]
        count = min(steps, len(value) // batch_size)
        return [value[i * batch_size : (i + 1) * batch_size] for i in range(count)]
    return list(value)[:steps]


def _to(batch: Any, device: torch.device) -> Any:
    return batch.to(device) if isinstance(batch, torch.Tensor) else batch


def compare(
    model: nn.Module,
    batches: Mapping[str, Batches],
    *,
    batch_size: Optional[int] = None,
    steps: int = 8,
    forward: Optional[Callable[[nn.Module, str, Any], Any]] = None,
) -> ConfirmResult:
    """Do the batches of each source, fed as separate forward calls the way the
    training loop feeds them, have BN statistics that disagree with the running
    statistics of all of them together?

    ``batches`` maps a source name to a tensor (one batch, or several when
    ``batch_size`` is given) or to a list of batches, one per training step.
    Each step calls the model once per source, in mapping order.
    ``forward(model, source, batch)`` makes one call (default ``model(batch)``);
    pass it for models that take more than one input or a domain argument.
    The model itself is not modified.
    """
    start = time.perf_counter()
    forward = forward or _default_forward
    device = model_device(model)
    per_source = {name: [_to(b, device) for b in _split(v, batch_size, steps)] for name, v in batches.items()}
    if not per_source or not any(per_source.values()):
        raise ValueError("compare() needs at least one batch")
    calls = []
    for step in range(max(len(b) for b in per_source.values())):
        for name, source_batches in per_source.items():
            if step < len(source_batches):
                batch = source_batches[step]
                calls.append(
                    Call(
                        run=lambda m, name=name, batch=batch: forward(m, name, batch),
                        site=name,
                        step=step,
                        samples=len(batch) if hasattr(batch, "__len__") else 0,
                    )
                )
    stats = measure(model, calls)
    reference = f"running statistics re-estimated over all {len(calls)} calls"
    sites = [
        summarize("source", name, group, reference=reference, model=type(model).__name__)
        for name, group in group_by_site(stats).items()
    ]
    steps_done = max(len(b) for b in per_source.values())
    return ConfirmResult(
        status="ok",
        sites=sites,
        steps=steps_done,
        probe_steps=steps_done,
        seconds=time.perf_counter() - start,
        device=str(device),
    )


def compare_loader(
    model: nn.Module,
    loader,
    *,
    steps: int = 8,
    input_fn: Optional[Callable[[Any], Any]] = None,
    forward: Optional[Callable[[nn.Module, Any], Any]] = None,
    seed: int = 0,
) -> ConfirmResult:
    """Are the loader's own batches fair samples of its dataset, as far as BN can tell?

    The first ``steps`` batches the loader yields are compared with as many
    random batches of the same size drawn from ``loader.dataset``.
    ``input_fn(batch)`` picks the model input from a batch (default: the batch's
    first element); ``forward(model, x)`` makes the call (default ``model(x)``).
    """
    start = time.perf_counter()
    input_fn = input_fn or default_input
    forward = forward or (lambda m, x: m(x))
    device = model_device(model)

    def run(x):
        return lambda m: forward(m, x)

    own = []
    for step, batch in enumerate(loader):
        if step >= steps:
            break
        x = _to(input_fn(batch), device)
        own.append(Call(run=run(x), site="loader", step=step, samples=len(x)))
    if not own:
        raise ValueError("the loader yielded no batch")
    size = int(max(c.samples for c in own))
    try:
        reference = [run(_to(input_fn(b), device)) for b in random_batches(loader, max(steps, len(own)), size, seed)]
    except NotSampleable as exc:
        return ConfirmResult.failure(f"cannot draw random batches: {exc}")
    stats = measure(model, own, reference)
    site = summarize(
        "loader",
        "loader",
        stats,
        reference=f"{len(reference)} random batches of {size} samples from loader.dataset",
        model=type(model).__name__,
    )
    return ConfirmResult(
        status="ok",
        sites=[site],
        steps=len(own),
        probe_steps=len(own),
        seconds=time.perf_counter() - start,
        device=str(device),
    )
