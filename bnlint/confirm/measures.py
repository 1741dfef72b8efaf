"""The measures beyond batch composition, as plain functions on a model.

Each returns numbers; ``sites.py`` turns them into verdicts (script mode and
the Python API share them). Every function leaves the user's model as it was:
it measures on a deep copy, or restores modes and BN buffers.

- :func:`mode_gap`: output with BN as the code runs it vs with BN in eval mode (BN201);
- :func:`stat_drift`: how far running statistics moved from a snapshot (BN203);
- :func:`eps_shrink`: output scale an eps takes away at a given variance (BN406);
- :func:`frozen_layers` / :func:`trainable_eval_layers`: which BN layers are
  frozen (BN203) or trainable but in eval mode (BN202);
- :func:`refreshed_gap`: eval outputs with stored buffers vs after re-estimating
  them on training batches, as ``update_bn`` does (BN204).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .stats import bn_layers, output_gap

Snapshot = Tuple[torch.Tensor, torch.Tensor]  # (running_mean, running_var)


def is_frozen(bn: _BatchNorm) -> bool:
    """All of the layer's own parameters have requires_grad=False (affine-less layers: no)."""
    params = list(bn.parameters(recurse=False))
    return bool(params) and not any(p.requires_grad for p in params)


def frozen_layers(model: nn.Module) -> List[Tuple[str, _BatchNorm]]:
    return [(name, bn) for name, bn in bn_layers(model) if is_frozen(bn)]


def trainable_eval_layers(model: nn.Module) -> List[Tuple[str, _BatchNorm]]:
    """BN layers in eval mode whose parameters the optimizer trains (BN202's pitfall)."""
    return [
        (name, bn) for name, bn in bn_layers(model)
        if not bn.training and any(p.requires_grad for p in bn.parameters(recurse=False))
    ]


def snapshot(bn: _BatchNorm) -> Snapshot:
    return bn.running_mean.detach().clone(), bn.running_var.detach().clone()


def stat_drift(before: Snapshot, after: Snapshot) -> float:
    """How far running statistics moved: the median over channels of the larger of
    |Δ mean| / sd and |Δ var| / var, both at the snapshot. 0 when nothing moved."""
    mean0, var0 = (t.detach().float() for t in before)
    mean1, var1 = (t.detach().float().to(mean0.device) for t in after)
    scale = var0.clamp_min(1e-12)
    d_mean = (mean1 - mean0).abs() / scale.sqrt()
    d_var = (var1 - var0).abs() / scale
    return float(torch.maximum(d_mean, d_var).median())


def eps_shrink(var: torch.Tensor, eps: float) -> float:
    """Output scale lost to eps at variance ``var``: median over channels of
    1 - sqrt(var / (var + eps)). 0.29 when var equals eps; 0 for eps << var."""
    var = var.detach().float().clamp_min(0)
    return float((1 - (var / (var + eps)).sqrt()).median())


def channel_var(x: torch.Tensor) -> torch.Tensor:
    """Per-channel variance of a BN input (n, C, *spatial), as BN computes it."""
    x = x.detach().float()
    flat = x.transpose(0, 1).reshape(x.shape[1], -1)
    return flat.var(1, unbiased=False)


def set_bn_training(layers: Sequence[Tuple[str, _BatchNorm]], training: bool) -> None:
    for _, bn in layers:
        bn.training = training


class rng_kept:
    """Run a block and put torch's random state back afterwards, so an extra forward
    pass sees the same dropout masks as the next one and the user's stream is unchanged."""

    def __enter__(self):
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        return self

    def __exit__(self, *exc):
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)
        return False


def eval_pass(run: Callable[[], Any], layers: Sequence[Tuple[str, _BatchNorm]]) -> Any:
    """``run()`` with the given BN layers in eval mode (buffers untouched), the random
    state restored afterwards; the layers go back to train mode."""
    set_bn_training(layers, False)
    try:
        with rng_kept(), torch.no_grad():
            return run()
    finally:
        set_bn_training(layers, True)


def mode_gap(model: nn.Module, run: Callable[[nn.Module], Any]
             ) -> Tuple[Optional[float], Optional[float], Dict[str, Any]]:
    """(relative L2 gap, fraction of flipped argmax, details) between ``run(model)`` as
    the model is now (BN in train mode: batch statistics) and with BN in eval mode
    (running statistics), on a deep copy so the running statistics are not touched."""
    import copy

    net = copy.deepcopy(model)
    layers = [(n, bn) for n, bn in bn_layers(net) if bn.training]
    if not layers:
        return 0.0, 0.0, {"train_mode_bn_layers": 0}
    evaluated = eval_pass(lambda: run(net), layers)
    with rng_kept(), torch.no_grad():
        as_run = run(net)
    gap, flipped = output_gap(as_run, evaluated)
    return gap, flipped, {"train_mode_bn_layers": len(layers)}


def refreshed_gap(model: nn.Module, train_runs: Sequence[Callable[[nn.Module], Any]],
                  eval_runs: Sequence[Callable[[nn.Module], Any]]) -> Tuple[Optional[float], Optional[float]]:
    """Eval outputs of ``model`` with its stored BN buffers vs after re-estimating them
    (reset, cumulative average over ``train_runs`` in train mode, as ``update_bn``
    does). Measured on a deep copy. Returns (relative L2 gap, flipped fraction)."""
    import copy

    net = copy.deepcopy(model)
    net.eval()
    with torch.no_grad():
        stored = [run(net) for run in eval_runs]
        layers = bn_layers(net)
        for _, bn in layers:
            bn.reset_running_stats()
            bn.momentum = None
        set_bn_training(layers, True)
        for run in train_runs:
            run(net)
        set_bn_training(layers, False)
        fresh = [run(net) for run in eval_runs]
    gaps = [output_gap(f, s) for f, s in zip(fresh, stored)]
    rel = [g for g, _ in gaps if g is not None]
    flips = [f for _, f in gaps if f is not None]
    return (sum(rel) / len(rel) if rel else None, sum(flips) / len(flips) if flips else None)


def median(values: Sequence[float]) -> Optional[float]:
    values = sorted(v for v in values if v is not None and not math.isnan(v))
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
