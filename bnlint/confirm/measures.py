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
  them on training batches, as ``update_bn`` does (BN204);
- :func:`smallest_batches`: the smallest batch (N, N·H·W) each BN layer sees in
  train mode (BN104/BN901, and per process under DDP: BN301), with
  :func:`world_size` for what SyncBatchNorm would see;
- :func:`halves_gap`: eval outputs on a batch vs on its two halves, the same
  samples: batch dependence of BN without running statistics (BN403);
- :func:`cross_sample_share`: the part of each sample's input gradient (what a
  gradient penalty takes) that comes from the other samples' outputs (BN404);
- :func:`fed_by_dropout` / :func:`variance_shift`: BN layers whose input is a
  dropout's output, and their input variance with dropout off vs on (BN405);
- :func:`recomputed_updates` / :func:`updates_per_batch` / :func:`effective_momentum`:
  running-stat updates per batch of each BN layer when backward recomputes
  checkpointed code (BN205);
- :func:`fed_by` / :func:`bias_gradients`: conv/linear layers whose output goes
  straight into a BN layer, and their bias gradient relative to their weight
  gradient (BN401).
"""
from __future__ import annotations

import math
import os
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

from .stats import bn_layers, first_tensor, output_gap

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


# ----- batches: slicing a call's inputs ----------------------------------------------


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``obj`` with ``fn`` applied to every tensor in it (tuples, lists, dicts, namedtuples)."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(map_tensors(v, fn) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(v, fn) for v in obj)
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    return obj


def batch_slice(obj: Any, n: int, start: int, stop: int) -> Any:
    """Samples ``start:stop`` of every tensor in ``obj`` whose first dimension is the batch (``n``)."""
    return map_tensors(obj, lambda t: t[start:stop] if t.dim() > 0 and t.shape[0] == n else t)


def leading_size(obj: Any) -> int:
    """The first dimension of the first tensor in ``obj`` (0 when there is none)."""
    found = []
    map_tensors(obj, lambda t: found.append(t) or t)
    return int(found[0].shape[0]) if found and found[0].dim() > 0 else 0


# ----- BN104 / BN901 / BN301: batch sizes ------------------------------------------------


def smallest_batches(net: nn.Module, runs: Sequence[Callable[[nn.Module], Any]]
                     ) -> Dict[str, Tuple[int, int]]:
    """Per BN layer of ``net`` (a copy: its modes are changed), the smallest (N, N·H·W)
    it sees over ``runs`` with BN in train mode and everything else in eval mode.
    A run that BN refuses (one sample after Linear) still counts: the size is taken
    before the layer runs."""
    layers = bn_layers(net)
    seen: Dict[str, Tuple[int, int]] = {}

    def hook(name):
        def record(bn, args):
            x = args[0]
            n, nhw = int(x.shape[0]), x.numel() // max(1, int(x.shape[1]))
            old = seen.get(name, (n, nhw))
            seen[name] = (min(old[0], n), min(old[1], nhw))
        return record

    handles = [bn.register_forward_pre_hook(hook(name)) for name, bn in layers]
    net.eval()
    set_bn_training(layers, True)
    try:
        with torch.no_grad():
            for run in runs:
                try:
                    run(net)
                except ValueError:  # "Expected more than 1 value per channel when training"
                    pass
    finally:
        for handle in handles:
            handle.remove()
    return seen


def is_synced(bn: nn.Module) -> bool:
    return isinstance(bn, nn.SyncBatchNorm)


def world_size(process_group: Any = None) -> Tuple[Optional[int], str]:
    """(processes that share a SyncBatchNorm's statistics, where that number came from):
    torch.distributed's world size when it is initialised, else the WORLD_SIZE variable
    that torchrun sets, else (None, "")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            return int(dist.get_world_size(process_group)), "torch.distributed"
        except Exception:  # a group this process is not part of
            pass
    value = os.environ.get("WORLD_SIZE", "")
    if value.isdigit() and int(value) > 0:
        return int(value), "WORLD_SIZE"
    return None, ""


# ----- BN403: eval outputs that depend on the batch ----------------------------------


def untracked_layers(model: nn.Module) -> List[Tuple[str, _BatchNorm]]:
    """BN layers without running statistics (track_running_stats=False): batch statistics
    in eval mode too. InstanceNorm (not a batch normalization) is left out."""
    return [(name or type(model).__name__, m) for name, m in model.named_modules()
            if isinstance(m, _BatchNorm) and not m.track_running_stats]


HALVES_MIN_SAMPLES = 4  # two halves of at least 2 samples: BatchNorm1d refuses one


def halves_gap(run_part: Callable[[int, int], Any], n: int) -> Tuple[Optional[float], Optional[float]]:
    """(relative L2 gap, fraction of flipped argmax) between the outputs of one call on
    its whole batch (``run_part(0, n)``) and on its two halves (``run_part(0, n // 2)``,
    ``run_part(n // 2, n)``), the same samples. 0 when each sample's output depends on
    that sample only. Under no_grad, with torch's random state restored afterwards."""
    if n < HALVES_MIN_SAMPLES:
        return None, None
    half = n // 2
    with rng_kept(), torch.no_grad():
        whole = run_part(0, n)
        parts = [first_tensor(run_part(0, half)), first_tensor(run_part(half, n))]
    if any(p is None or p.dim() == 0 for p in parts):
        return None, None
    return output_gap(whole, torch.cat(parts))


# ----- BN404: a gradient penalty that is not per sample --------------------------------

PENALTY_PROBES = 4  # samples whose own-output gradient is taken (one backward each)


def cross_sample_share(run: Callable[[torch.Tensor], Any], x: torch.Tensor, probes: int = PENALTY_PROBES
                       ) -> Tuple[Optional[float], Dict[str, Any]]:
    """How much of the gradient a per-sample gradient penalty takes comes from other samples.

    The penalty differentiates the summed outputs: for sample j it takes
    g_j = d(sum_i D(x_i)) / dx_j; the method assumes d D(x_j) / dx_j. For the first
    ``probes`` samples: sqrt(sum_j |g_j - own_j|^2 / sum_j |own_j|^2), 0 when the critic
    treats each sample on its own. ``run(x)`` calls the critic (in its current modes)
    on a batch ``x``. Details: per-sample shares, and how much D(x_j) itself depends
    on the other inputs (|d D(x_j) / dx_others| / |own_j|)."""
    n = int(x.shape[0]) if x.dim() > 0 else 0
    if n < 2:
        return None, {}
    x = x.detach().clone().requires_grad_(True)
    with rng_kept(), torch.enable_grad():
        out = first_tensor(run(x))
        if out is None or out.dim() == 0 or out.shape[0] != n or not out.requires_grad:
            return None, {}
        per_sample = out.reshape(n, -1).sum(1)
        total = torch.autograd.grad(per_sample.sum(), x, retain_graph=True)[0]
        cross2 = own2 = 0.0
        shares, output_cross = [], []
        for j in range(min(probes, n)):
            row = torch.autograd.grad(per_sample[j], x, retain_graph=True)[0]
            own = row[j]
            cross = float((total[j] - own).norm())
            own_norm = float(own.norm())
            others = max(0.0, float(row.norm() ** 2 - own.norm() ** 2)) ** 0.5
            cross2 += cross ** 2
            own2 += own_norm ** 2
            if own_norm > 0:
                shares.append(round(cross / own_norm, 4))
                output_cross.append(round(others / own_norm, 4))
    if own2 <= 0:
        return None, {}
    return math.sqrt(cross2 / own2), {"per_sample": shares, "output_dependence": output_cross,
                                      "samples": n, "probed": min(probes, n)}


# ----- BN405: dropout feeding BN ----------------------------------------------------


def fed_by(net: nn.Module, runs: Sequence[Callable[[nn.Module], Any]], source: Callable[[nn.Module], bool],
           train: bool = False) -> Dict[str, str]:
    """BN layers of ``net`` (by name) whose input is the very output of a module for which
    ``source(module)`` holds, with that module's name. ``train``: run the whole model in
    train mode (else in its own modes). ``net`` is run: pass a copy."""
    names = {m: name for name, m in net.named_modules()}
    last: List[Any] = [None]  # (weak reference to the last source output, its module's name)
    found: Dict[str, str] = {}

    def after_source(module, args, output):
        if isinstance(output, torch.Tensor):
            last[0] = (weakref.ref(output), names.get(module, ""))

    def before_bn(name):
        def check(bn, args):
            if last[0] is not None and args and last[0][0]() is args[0]:
                found[name] = last[0][1]
        return check

    handles = [m.register_forward_hook(after_source) for m in net.modules() if source(m)]
    if not handles:
        return found
    handles += [bn.register_forward_pre_hook(before_bn(name)) for name, bn in bn_layers(net)]
    if train:
        net.train()
    try:
        with rng_kept(), torch.no_grad():
            for run in runs:
                run(net)
    finally:
        for handle in handles:
            handle.remove()
    return found


def fed_by_dropout(net: nn.Module, runs: Sequence[Callable[[nn.Module], Any]]) -> Dict[str, str]:
    """BN layers of ``net`` (by name) whose input is the very output of a dropout module
    (``nn.Dropout``, ``Dropout1d/2d/3d``, ``AlphaDropout``...), with that module's name.
    ``net`` is run in train mode (dropout on): pass a copy."""
    return fed_by(net, runs, lambda m: isinstance(m, _DropoutNd), train=True)


def variance_shift(net: nn.Module, runs: Sequence[Callable[[nn.Module], Any]], layers: Sequence[str]
                   ) -> Dict[str, Dict[str, float]]:
    """Per BN layer named in ``layers``: the per-channel variance of its input with dropout
    off vs on, everything else as in training (BN on batch statistics, so only dropout
    changes). ``ratio``: median over channels of var(off) / var(on), the variance shift
    (1: none; about 1 - p for dropout before BN); ``running_ratio``: var(off) / the
    layer's running variance, which eval mode divides by. ``net`` is changed: pass a copy."""
    modules = dict(net.named_modules())
    running = {name: modules[name].running_var.detach().float().clone() for name in layers}
    seen: Dict[str, Dict[bool, List[torch.Tensor]]] = {name: {True: [], False: []} for name in layers}
    dropout_on = [True]

    def hook(name):
        def record(bn, args):
            x = args[0]
            if x.dim() >= 2 and x.numel() > x.shape[1]:
                seen[name][dropout_on[0]].append(channel_var(x))
        return record

    handles = [modules[name].register_forward_pre_hook(hook(name)) for name in layers]
    dropouts = [m for m in net.modules() if isinstance(m, _DropoutNd)]
    net.train()
    try:
        with rng_kept(), torch.no_grad():
            for on in (True, False):
                dropout_on[0] = on
                for module in dropouts:
                    module.training = on
                for run in runs:
                    run(net)
    finally:
        for handle in handles:
            handle.remove()
    out: Dict[str, Dict[str, Optional[float]]] = {}
    for name in layers:
        if not seen[name][True] or not seen[name][False]:
            continue
        on = torch.stack(seen[name][True]).mean(0)
        off = torch.stack(seen[name][False]).mean(0)
        live = on > 1e-12
        if not bool(live.any()):
            continue
        ref = running[name].to(off.device)
        ref_live = ref > 1e-12
        out[name] = {
            "ratio": round(float((off[live] / on[live]).median()), 4),
            "running_ratio": round(float((off[ref_live] / ref[ref_live]).median()), 4)
            if bool(ref_live.any()) else None,
        }
    return out


# ----- BN205 / BN401: a backward pass on a copy -------------------------------------


def probe_loss(output: Any, seed: int = 0) -> Optional[torch.Tensor]:
    """A scalar to backpropagate from ``output`` when the script's own loss is not at
    hand: a fixed random projection of its first floating tensor (a plain sum or mean
    would send BN layers a constant gradient per channel, which BN's backward zeroes).
    None when the output does not require grad."""
    out = first_tensor(output)
    if out is None or not out.requires_grad:
        return None
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(out.device, out.dtype)
    return (out * weights).sum()


def backward_runs(net: nn.Module, runs: Sequence[Callable[[nn.Module], Any]],
                  during_forward: Optional[List[bool]] = None) -> Dict[nn.Parameter, Optional[torch.Tensor]]:
    """Each run's forward, then a backward of :func:`probe_loss` (no optimizer step), in
    ``net``'s own modes, with torch's random state restored. ``during_forward[0]`` is True
    while a forward pass runs. Returns each parameter's gradient summed over the runs;
    the parameters' own ``.grad`` are put back as they were. (``backward()``, not
    ``autograd.grad``: reentrant checkpointing supports only the former.)"""
    params = list(net.parameters())
    saved = [p.grad for p in params]
    try:
        for p in params:
            p.grad = None
        with rng_kept(), torch.enable_grad():
            for i, run in enumerate(runs):
                if during_forward is not None:
                    during_forward[0] = True
                try:
                    out = run(net)
                finally:
                    if during_forward is not None:
                        during_forward[0] = False
                loss = probe_loss(out, seed=i)
                if loss is not None:
                    loss.backward()
        return {p: p.grad for p in params}
    finally:
        for p, grad in zip(params, saved):
            p.grad = grad


# ----- BN205: BN layers recomputed by activation checkpointing ------------------------


def effective_momentum(momentum: Optional[float], updates: float) -> Optional[float]:
    """The weight the newest batch gets in the running statistics when a layer with
    ``momentum`` updates them ``updates`` times on it: 1 - (1 - momentum) ** updates
    (0.1 twice: 0.19). None for momentum=None (cumulative average: every batch counted
    the same number of times weighs the same)."""
    if momentum is None:
        return None
    return 1 - (1 - float(momentum)) ** updates


def updates_per_batch(counts: Dict[str, Sequence[int]]) -> Dict[str, float]:
    """Per BN layer, from (batches it normalized in forward passes, running-stat updates
    in all, recomputations included): updates per batch. 1 without checkpointing."""
    return {name: updates / batches for name, (batches, updates) in counts.items() if batches}


def recomputed_updates(net: nn.Module, runs: Sequence[Callable[[nn.Module], Any]]) -> Dict[str, List[int]]:
    """Per BN layer of ``net`` that updates running statistics (train mode): [forward-pass
    updates, all updates] over ``runs``, each a forward then a backward (see
    :func:`backward_runs`). Activation checkpointing reruns the checkpointed code's
    forward during backward: its BN layers update their statistics there too. ``net``
    is run (its BN statistics change): pass a copy."""
    counts: Dict[str, List[int]] = {}
    during_forward = [False]

    def hook(name):
        def count(bn, args):
            if bn.training and bn.track_running_stats:
                entry = counts.setdefault(name, [0, 0])
                entry[0] += during_forward[0]
                entry[1] += 1
        return count

    handles = [bn.register_forward_pre_hook(hook(name)) for name, bn in bn_layers(net)]
    try:
        backward_runs(net, runs, during_forward)
    finally:
        for handle in handles:
            handle.remove()
    return counts


# ----- BN401: a bias that BN cancels ------------------------------------------------

BIASED = (nn.modules.conv._ConvNd, nn.Linear)  # conv, transposed conv, linear (and Lazy variants)


def has_bias(module: nn.Module) -> bool:
    """A conv/linear layer with a trainable bias."""
    bias = getattr(module, "bias", None)
    return isinstance(module, BIASED) and isinstance(bias, torch.Tensor) and bias.requires_grad


def biased_layers(model: nn.Module) -> List[Tuple[str, nn.Module]]:
    return [(name or type(model).__name__, m) for name, m in model.named_modules() if has_bias(m)]


def bias_gradients(net: nn.Module, runs: Sequence[Callable[[nn.Module], Any]], layers: Sequence[str]
                   ) -> Dict[str, Optional[float]]:
    """Per layer named in ``layers``: |bias gradient| / |weight gradient|, accumulated over
    ``runs`` (a forward and a backward each, see :func:`backward_runs`, in ``net``'s own
    modes). 0 up to float rounding when a BN layer in train mode subtracts the bias right
    back (for any loss); None when the weight got no gradient either. ``net``'s BN
    statistics change: pass a copy."""
    modules = dict(net.named_modules())
    grads = backward_runs(net, runs)
    out: Dict[str, Optional[float]] = {}
    for name in layers:
        layer = modules[name]
        weight, bias = grads.get(getattr(layer, "weight", None)), grads.get(layer.bias)
        w = float(weight.detach().float().norm()) if weight is not None else 0.0
        out[name] = float(bias.detach().float().norm()) / w if w > 0 and bias is not None else None
    return out
