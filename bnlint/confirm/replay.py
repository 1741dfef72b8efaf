"""Replaying recorded forward calls on a copy of the model.

The model's own running statistics are useless as a reference: early in
training they are biased for hundreds of steps. Instead the BN layers of a
copy are reset and re-estimated with cumulative averaging (``momentum=None``)
over *reference* calls (for the call-site check: the probe calls themselves),
then frozen, and each *probe* call is measured against them. Every call is replayed exactly as the user made it (one call per domain
stays one call per domain), so correct code never looks broken.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Hashable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .stats import Moments, batch_moments, bn_layers, first_tensor, moments_z, output_gap

Forward = Callable[[nn.Module], Any]


@dataclass
class Call:
    """One forward call to replay: ``run(model)`` makes it on any copy of the model."""

    run: Forward
    site: Hashable  # the key results are aggregated under
    step: int  # the training step (or probe step) the call belongs to
    samples: int


@dataclass
class CallStats:
    call: Call
    mean_z: Dict[str, float] = field(default_factory=dict)  # per layer, max over its invocations
    var_z: Dict[str, float] = field(default_factory=dict)
    relative_l2: Optional[float] = None
    flipped: Optional[float] = None
    out_shape: Optional[Tuple[int, ...]] = None  # of the first floating output

    @property
    def layer_z(self) -> Dict[str, float]:
        """Per layer, the larger of the mean and variance z."""
        return {name: max(self.mean_z.get(name, 0.0), self.var_z.get(name, 0.0))
                for name in {**self.mean_z, **self.var_z}}

    @property
    def z(self) -> Optional[float]:
        """The call's score: max over BN layers (a mismatch anywhere matters)."""
        layer_z = self.layer_z
        return max(layer_z.values()) if layer_z else None


@contextlib.contextmanager
def replica(model: nn.Module) -> Iterator[nn.Module]:
    """A copy of ``model`` to replay on; the user's model is left as it was.

    Models that cannot be deep-copied (non-leaf tensors kept as attributes, open
    handles) are replayed in place, with modes and BN state restored afterwards.
    """
    try:
        clone = copy.deepcopy(model)
    except Exception:
        clone = None
    if clone is not None:
        yield clone
        return
    modes = {m: m.training for m in model.modules()}
    saved = {
        bn: (
            bn.momentum,
            {k: v.detach().clone() for k, v in bn.named_buffers(recurse=False) if v is not None},
        )
        for _, bn in bn_layers(model)
    }
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.training = training
        with torch.no_grad():
            for bn, (momentum, buffers) in saved.items():
                bn.momentum = momentum
                for name, value in buffers.items():
                    getattr(bn, name).copy_(value)


def _set_bn_training(layers, training: bool) -> None:
    for _, bn in layers:
        bn.training = training


def measure(
    model: nn.Module, probes: Sequence[Call], reference: Optional[Sequence[Forward]] = None
) -> List[CallStats]:
    """Re-estimate running statistics from ``reference``, freeze them, and measure
    each probe call against them: z per BN layer, and train- vs eval-mode output.

    ``reference=None`` means the probe calls are their own reference (the
    call-site check); one train-mode pass then serves both purposes.
    Everything but BN runs in eval mode (no dropout noise in the effect size).
    """
    with replica(model) as net, torch.no_grad():
        layers = bn_layers(net)
        by_name = dict(layers)
        net.eval()
        for _, bn in layers:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the reference calls
        _set_bn_training(layers, True)

        log: Optional[List[Tuple[str, Moments]]] = None  # BN calls of the probe being run

        def record(name: str):
            def hook(bn, args):
                if log is not None and bn.training:
                    moments = batch_moments(args[0])
                    if moments is not None:
                        log.append((name, moments))

            return hook

        def run_recorded(call: Call):
            nonlocal log
            log = []
            try:
                output = first_tensor(call.run(net))
                return call, log, None if output is None else output.detach()
            finally:
                log = None

        handles = [bn.register_forward_pre_hook(record(name)) for name, bn in layers]
        try:
            if reference is None:
                recorded = [run_recorded(call) for call in probes]
            else:
                for run in reference:
                    run(net)
            # Layers the reference never reached have no statistics to compare with.
            estimated = {name for name, bn in layers if int(bn.num_batches_tracked) > 0}
            for _, bn in layers:
                bn.momentum = 0.0  # freeze: probe calls must not move the reference
            if reference is not None:
                recorded = [run_recorded(call) for call in probes]
        finally:
            for handle in handles:
                handle.remove()

        results: List[CallStats] = []
        for call, call_log, train_out in recorded:
            stats = CallStats(call, out_shape=None if train_out is None else tuple(train_out.shape))
            for name, moments in call_log:
                if name not in estimated:
                    continue
                bn = by_name[name]
                z_mean, z_var = moments_z(moments, bn.running_mean, bn.running_var)
                _keep_max(stats.mean_z, name, z_mean)
                _keep_max(stats.var_z, name, z_var)
            _set_bn_training(layers, False)
            eval_out = call.run(net)
            _set_bn_training(layers, True)
            stats.relative_l2, stats.flipped = output_gap(train_out, eval_out)
            results.append(stats)
    return results


def _keep_max(table: Dict[str, float], name: str, z: Optional[float]) -> None:
    if z is not None:
        table[name] = max(table.get(name, 0.0), z)


def model_device(model: nn.Module) -> torch.device:
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")
