"""The measurement itself: how far one BN call's batch statistics sit from a
reference, in units of that call's own sampling error.

For a BN input ``x`` of shape (n, C, ...), take the per-sample channel means
``m`` (n, C). The batch mean of channel c is ``mean(m[:, c])`` and its sampling
error is ``sd(m[:, c]) / sqrt(n)``. The call's z is the median over channels of

    |batch_mean_c - reference_mean_c| / (sd_c / sqrt(n))

which is about 0.7 when the batch is an i.i.d. sample of the reference
distribution, whatever the layer's scale. The batch variance is measured the
same way (see ``batch_moments``); a call scores the larger of the two.
A systematic shift grows like sqrt(n), so calls with more than ``COMMON_N``
samples are scaled down to ``COMMON_N``: the thresholds then stand for a fixed
effect size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

COMMON_N = 64


def bn_layers(model: nn.Module) -> List[Tuple[str, _BatchNorm]]:
    """BN layers whose eval mode uses running statistics (the ones that can disagree).

    FrozenBatchNorm and BN built with ``track_running_stats=False`` are left out:
    they compute the same thing in training and in eval mode.
    """
    return [
        (name or type(model).__name__, module)
        for name, module in model.named_modules()
        if isinstance(module, _BatchNorm) and module.track_running_stats
    ]


def _channels_last_flat(x: torch.Tensor) -> torch.Tensor:
    """(n, C, *spatial) -> (n, C, m) in float32, m = spatial size (1 for (n, C))."""
    x = x.detach().float()
    return x.unsqueeze(2) if x.dim() == 2 else x.flatten(2)


@dataclass
class Moments:
    """One BN call's batch statistics with their sampling errors, per channel."""

    n: int
    mean: torch.Tensor  # batch mean
    mean_sd: torch.Tensor  # sd over samples of the per-sample channel means
    var: torch.Tensor  # batch variance (unbiased, as BN's running_var)
    var_sd: torch.Tensor  # sd over samples of the per-sample contributions to it


def batch_moments(x: torch.Tensor) -> Optional[Moments]:
    """The statistics BN computes on input ``x`` (n, C, *spatial); None if n < 2.

    The batch variance is the average over samples of each sample's mean squared
    deviation from the batch mean, so those per-sample terms give its sampling
    error, as the per-sample means give the mean's.
    """
    flat = _channels_last_flat(x)
    n, _, m = flat.shape
    if n < 2:
        return None
    means = flat.mean(2)
    squares = ((flat - means.mean(0)[None, :, None]) ** 2).mean(2)
    elements = n * m
    squares = squares * (elements / max(elements - 1, 1))  # unbiased, like running_var
    return Moments(n, means.mean(0), means.std(0), squares.mean(0), squares.std(0))


def _median_z(value: torch.Tensor, sd: torch.Tensor, n: int, reference: torch.Tensor) -> Optional[float]:
    """Median over channels of |value - reference| / (sd / sqrt(n)), scaled to COMMON_N."""
    deviation = (value - reference.detach().float().to(value.device)).abs()
    # Channels constant over the batch (dead units) carry no information.
    live = sd > 1e-6 * (1.0 + value.abs())
    if not bool(live.any()):
        return None
    z = deviation[live] / (sd[live] / math.sqrt(n))
    return float(z.median()) * math.sqrt(min(n, COMMON_N) / n)


def moments_z(moments: Moments, running_mean: torch.Tensor, running_var: torch.Tensor
              ) -> Tuple[Optional[float], Optional[float]]:
    """(z of the mean, z of the variance) of one call against reference statistics.

    Eval mode swaps both statistics, and a domain of lower contrast differs
    mostly in variance, so both are measured.
    """
    return (
        _median_z(moments.mean, moments.mean_sd, moments.n, running_mean),
        _median_z(moments.var, moments.var_sd, moments.n, running_var),
    )


def call_z(x: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor
           ) -> Tuple[Optional[float], Optional[float]]:
    """:func:`moments_z` of input ``x``; (None, None) when n < 2."""
    moments = batch_moments(x)
    return (None, None) if moments is None else moments_z(moments, running_mean, running_var)


def first_tensor(obj: Any) -> Optional[torch.Tensor]:
    """The first floating tensor in a model output (tensor, tuple/list, dict)."""
    if isinstance(obj, torch.Tensor):
        return obj if obj.is_floating_point() else None
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        for item in obj:
            found = first_tensor(item)
            if found is not None:
                return found
    return None


def output_gap(train_out: Any, eval_out: Any) -> Tuple[Optional[float], Optional[float]]:
    """Effect size: relative L2 distance of eval-mode from train-mode output, and the
    fraction of argmax predictions that flip (only for (n, classes>=2) outputs)."""
    a, b = first_tensor(train_out), first_tensor(eval_out)
    if a is None or b is None or a.shape != b.shape:
        return None, None
    a, b = a.detach().float(), b.detach().float()
    norm = float(a.norm())
    relative = float((a - b).norm()) / norm if norm > 0 else None
    flipped = None
    if a.dim() == 2 and a.shape[1] >= 2 and a.shape[0] > 0:
        flipped = float((a.argmax(1) != b.argmax(1)).float().mean())
    return relative, flipped
