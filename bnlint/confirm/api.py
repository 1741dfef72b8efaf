"""Python API for notebooks and tests: measure a model on batches you hand over,
no script to run.

    compare(model, {"mnist": xa, "svhn": xb})   # per-source forward calls (BN101/BN102)
    compare_loader(model, loader)               # a loader vs its own dataset (BN103)
    batch_sizes(model, loader)                  # smallest batch at each BN layer (BN104/BN901)
    compare_modes(model, batch)                 # output as the model is now vs eval mode (BN201)
    frozen_bn_drift(model, loader, steps=8)     # frozen BN layers' running statistics (BN203)
    averaged_bn_gap(swa_model, loader)          # stored vs re-estimated BN buffers (BN204)
    bn_settings(model, batch)                   # momentum and eps in effect (BN402/BN406)
    ddp_batch_sizes(model, loader, world_size=8)  # per-process batch at BN vs SyncBN's (BN301)
    batch_dependence(model, batch)              # eval outputs: whole batch vs its halves (BN403)
    critic_cross_sample(critic, batch)          # penalty gradients from other samples (BN404)
    dropout_variance_shift(model, loader)       # BN input variance, dropout off / on (BN405)
    checkpoint_updates(model, loader)           # running-stat updates per batch under checkpointing (BN205)
    dead_bias(model, loader)                    # bias gradient / weight gradient before BN (BN401)

Every function measures on a deep copy of the model (or restores what it
changed) and returns a :class:`ConfirmResult` whose sites carry the rule, its
number (``value``) and the verdict.
"""
from __future__ import annotations

import copy
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from .aggregate import group_by_site, summarize
from .loaders import NotSampleable, default_input, random_batches
from .measures import (batch_slice, channel_var, cross_sample_share, eps_shrink, frozen_layers, halves_gap,
                       is_synced, leading_size, mode_gap, recomputed_updates, refreshed_gap, smallest_batches,
                       snapshot, stat_drift, untracked_layers)
from .measures import world_size as distributed_world_size
from .replay import Call, measure, model_device, replica
from .result import ConfirmResult, SiteResult
from .sites import (batch_dependence_site, checkpoint_layers, checkpoint_site, ddp_site, dead_bias_site,
                    measure_dead_bias, measure_variance_shift, measured, penalty_site, variance_shift_site)
from .stats import bn_layers

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
    rule: Optional[str] = None,
) -> ConfirmResult:
    """Do the batches of each source, fed as separate forward calls the way the
    training loop feeds them, have BN statistics that disagree with the running
    statistics of all of them together?

    The verdicts are worded for ``rule``: "BN101" (towers), or "BN102" (a GAN
    discriminator fed real and fake batches); by default BN102 when the model
    outputs one logit per sample and there are several sources, else BN101.

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
    if rule is None:
        shapes = {s.out_shape for s in stats}
        one_logit = bool(shapes) and all(
            shape is not None and (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) for shape in shapes)
        rule = "BN102" if one_logit and len(per_source) > 1 else "BN101"
    sites = [
        summarize("source", name, group, reference=reference, model=type(model).__name__, rule=rule)
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


# --- the rules beyond batch composition ------------------------------------------------


def _inputs(data: Any, *, steps: int, batch_size: Optional[int] = None,
            input_fn: Optional[Callable[[Any], Any]] = None) -> List[Any]:
    """Up to ``steps`` model inputs from a tensor (split by ``batch_size``), a list of
    batches, or a loader / any iterable of batches (``input_fn`` picks the input,
    default: the batch itself if a tensor, else its first tensor)."""
    if isinstance(data, torch.Tensor):
        batches = _split(data, batch_size, steps)
    else:
        batches = []
        for batch in data:
            if len(batches) >= steps:
                break
            batches.append(batch)
    pick = input_fn or (lambda b: b if isinstance(b, torch.Tensor) else default_input(b))
    out = [pick(b) for b in batches]
    if not out:
        raise ValueError("no batch to measure")
    return out


def _result(sites: List[SiteResult], start: float, device, steps: int = 0) -> ConfirmResult:
    return ConfirmResult(status="ok", sites=sites, steps=steps, probe_steps=steps,
                         seconds=time.perf_counter() - start, device=str(device))


def _call(forward: Optional[Callable[[nn.Module, Any], Any]], x: Any) -> Callable[[nn.Module], Any]:
    forward = forward or (lambda m, batch: m(batch))
    return lambda m: forward(m, x)


def compare_modes(model: nn.Module, batch: Any, *,
                  forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN201: the model's output on ``batch`` in the mode it is in now vs with BN in eval
    mode (running statistics). Run it where the code evaluates: a model left in train
    mode shows the gap its evaluation has; one in eval mode shows 0. Measured on a copy
    (the running statistics are not touched), with the same dropout masks in both runs."""
    start = time.perf_counter()
    device = model_device(model)
    run = _call(forward, _to(batch, device))
    gap, flipped, details = mode_gap(model, run)
    site = measured(
        "BN201", "eval-call", None, gap, label="model", relative_l2=gap, flipped=flipped,
        model=type(model).__name__, calls=1, details=details,
        reference="the same batch with BN in eval mode (running statistics)",
        note="" if details.get("train_mode_bn_layers") else "BN is in eval mode already",
    )
    return _result([site], start, device, 1)


def frozen_bn_drift(model: nn.Module, batches: Any, steps: int = 8, *,
                    batch_size: Optional[int] = None,
                    input_fn: Optional[Callable[[Any], Any]] = None,
                    forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN203: run ``steps`` forward passes on a copy of the model, each module in the
    mode it is in now (as the training loop would, without backward), and measure how
    far the running statistics of the frozen BN layers (all parameters
    requires_grad=False) move. Layers kept in eval mode do not move."""
    start = time.perf_counter()
    device = model_device(model)
    net = copy.deepcopy(model)
    layers = frozen_layers(net)
    if not layers:
        return ConfirmResult.failure("the model has no frozen BN layer (all parameters requires_grad=False)")
    before = {name: snapshot(bn) for name, bn in layers}
    inputs = _inputs(batches, steps=steps, batch_size=batch_size, input_fn=input_fn)
    with torch.no_grad():
        for x in inputs:
            _call(forward, _to(x, device))(net)
    drift = {name: round(stat_drift(before[name], snapshot(bn)), 5) for name, bn in layers}
    worst = max(drift, key=drift.get)
    site = measured(
        "BN203", "frozen", None, drift[worst], label="model", worst_layer=worst, layer_z=drift,
        model=type(model).__name__, calls=len(inputs),
        reference=f"running statistics before {len(inputs)} forward passes in the model's own modes",
        details={"frozen_layers": len(layers), "train_mode": sum(bn.training for _, bn in layers)},
    )
    return _result([site], start, device, len(inputs))


def batch_sizes(model: nn.Module, batches: Any, steps: int = 8, *,
                batch_size: Optional[int] = None,
                input_fn: Optional[Callable[[Any], Any]] = None,
                forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN104/BN901: the smallest batch (N, and N·H·W) each BN layer sees in train mode
    over these batches (a loader's first ``steps``, say), and the train/eval output
    gap they cause once the running statistics are estimated over them. Judged as
    BN104 when a batch of one sample reaches a BN layer, BN901 otherwise."""
    start = time.perf_counter()
    device = model_device(model)
    inputs = [_to(x, device) for x in _inputs(batches, steps=steps, batch_size=batch_size, input_fn=input_fn)]
    seen = smallest_batches(copy.deepcopy(model), [_call(forward, x) for x in inputs])
    if not seen:
        return ConfirmResult.failure("no BN layer ran in train mode on these batches")
    calls = [Call(run=_call(forward, x), site="model", step=i, samples=len(x) if hasattr(x, "__len__") else 0)
             for i, x in enumerate(inputs)]
    try:
        stats = measure(model, calls)
    except ValueError:  # BN after Linear refuses one sample in train mode: measure the others
        stats = measure(model, [c for c in calls if c.samples != 1]) if any(c.samples != 1 for c in calls) else []
    gaps = [s.relative_l2 for s in stats if s.relative_l2 is not None]
    flips = [s.flipped for s in stats if s.flipped is not None]
    smallest = min(n for n, _ in seen.values())
    worst = min(seen, key=lambda k: seen[k])
    site = measured(
        "BN104" if smallest <= 1 else "BN901", "batch-size", None, smallest, label="model",
        worst_layer=f"{worst}: N={seen[worst][0]}, N·H·W={seen[worst][1]}", samples=smallest,
        relative_l2=round(sum(gaps) / len(gaps), 4) if gaps else None,
        flipped=round(sum(flips) / len(flips), 4) if flips else None,
        model=type(model).__name__, calls=len(inputs),
        reference="batches seen by each BN layer in train mode",
        details={"layers": {k: {"n": v[0], "nhw": v[1]} for k, v in seen.items()}},
    )
    return _result([site], start, device, len(inputs))


def averaged_bn_gap(averaged_model: nn.Module, batches: Any, steps: int = 8, *,
                    batch_size: Optional[int] = None,
                    input_fn: Optional[Callable[[Any], Any]] = None,
                    forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN204: eval outputs of an averaged model (``AveragedModel``, or any model) with
    its stored BN buffers vs after re-estimating them on these training batches, as
    ``torch.optim.swa_utils.update_bn`` does. Measured on a copy."""
    start = time.perf_counter()
    inner = getattr(averaged_model, "module", averaged_model)
    device = model_device(inner)
    inputs = [_to(x, device) for x in _inputs(batches, steps=steps, batch_size=batch_size, input_fn=input_fn)]
    runs = [_call(forward, x) for x in inputs]
    gap, flipped = refreshed_gap(inner, runs, runs)
    site = measured(
        "BN204", "averaged", None, gap, label="model", relative_l2=gap, flipped=flipped,
        model=type(inner).__name__, calls=len(inputs),
        reference=f"eval outputs after re-estimating BN buffers on {len(inputs)} batches",
        details={"use_buffers": bool(getattr(averaged_model, "use_buffers", False))},
    )
    return _result([site], start, device, len(inputs))


def bn_settings(model: nn.Module, batch: Any = None, *,
                forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN402/BN406: the momentum and eps in effect in each BN layer, two sites per layer
    (label = the layer's name). The eps is judged by the output scale it takes away,
    1 - sqrt(var / (var + eps)), at the variance of the layer's input on ``batch``
    (one train-mode pass on a copy) or, without a batch, at its running variance."""
    start = time.perf_counter()
    device = model_device(model)
    variances: Dict[str, torch.Tensor] = {}
    if batch is not None:
        net = copy.deepcopy(model)
        layers = dict(bn_layers(net))

        def hook(name):
            def record(bn, args):
                if args[0].dim() >= 2 and args[0].numel() > args[0].shape[1]:
                    variances[name] = channel_var(args[0])
            return record

        handles = [bn.register_forward_pre_hook(hook(name)) for name, bn in layers.items()]
        try:
            with torch.no_grad():
                _call(forward, _to(batch, device))(net)
        finally:
            for handle in handles:
                handle.remove()
    sites = []
    for name, bn in bn_layers(model):
        momentum = bn.momentum
        sites.append(measured(
            "BN402", "momentum", None, momentum if momentum is not None else 0.0, label=name,
            worst_layer=name, model=type(model).__name__,
            reference="the layer's momentum (None: cumulative average)", details={"momentum": momentum},
        ))
        var = variances.get(name, bn.running_var)
        shrink = eps_shrink(var, bn.eps)
        sites.append(measured(
            "BN406", "eps", None, shrink, label=name, worst_layer=f"{name}: eps={bn.eps:g}",
            model=type(model).__name__,
            reference="1 - sqrt(var / (var + eps)) at the " + ("input variance on the batch" if name in variances
                                                               else "running variance"),
            details={"eps": bn.eps},
        ))
    return _result(sites, start, device)


def ddp_batch_sizes(model: nn.Module, batches: Any, steps: int = 8, *,
                    world_size: Optional[int] = None,
                    batch_size: Optional[int] = None,
                    input_fn: Optional[Callable[[Any], Any]] = None,
                    forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN301: the per-process batch each plain (not Sync) BN layer normalizes over in train
    mode, over these batches (one process's loader, say), and what SyncBatchNorm would see:
    N × ``world_size`` (default: torch.distributed's world size when it is initialised,
    else the WORLD_SIZE variable; unknown otherwise, and N is then per process).
    ``model`` may be the ``DistributedDataParallel`` wrapper or the model itself.
    Judged on the smallest N: 8 or fewer confirms, 32 or more does not."""
    start = time.perf_counter()
    inner = getattr(model, "module", model)
    device = model_device(inner)
    inputs = [_to(x, device) for x in _inputs(batches, steps=steps, batch_size=batch_size, input_fn=input_fn)]
    net = copy.deepcopy(inner)
    synced = [name for name, bn in bn_layers(net) if is_synced(bn)]
    seen = smallest_batches(net, [_call(forward, x) for x in inputs])
    plain = {name: sizes for name, sizes in seen.items() if name not in synced}
    if not plain:
        why = "every BN layer is SyncBatchNorm" if synced and seen else "no BN layer ran in train mode"
        return ConfirmResult.failure(f"nothing for BN301 to measure: {why} on these batches")
    source = "argument"
    if world_size is None:
        world_size, source = distributed_world_size(getattr(model, "process_group", None))
    site = ddp_site(None, plain, world_size, source, label="model", model=type(inner).__name__,
                    calls=len(inputs), synced=synced)
    return _result([site], start, device, len(inputs))


def batch_dependence(model: nn.Module, batch: Any, *,
                     forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN403: the model's eval-mode outputs on ``batch`` (4 samples or more) vs on its two
    halves, evaluated separately: the same samples, half the batch size. BN layers with
    running statistics give 0; those built with track_running_stats=False normalize each
    batch by its own statistics and give a gap. Measured on a copy in eval mode."""
    start = time.perf_counter()
    device = model_device(model)
    x = _to(batch, device) if isinstance(batch, torch.Tensor) else batch
    n = leading_size(x)
    net = copy.deepcopy(model).eval()
    run = forward or (lambda m, b: m(b))
    gaps = [halves_gap(lambda s, e: run(net, batch_slice(x, n, s, e)), n)]
    if gaps[0][0] is None:
        return ConfirmResult.failure(f"batch_dependence() needs a batch of at least 4 samples (got {n})")
    layers = [name for name, _ in untracked_layers(net)]
    site = batch_dependence_site(None, gaps, layers=layers, samples=n, label="model", model=type(model).__name__)
    return _result([site], start, device, 1)


def critic_cross_sample(critic: nn.Module, batch: Any, *,
                        forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN404: how much of the gradient a per-sample gradient penalty takes for each sample
    comes from the other samples' critic outputs, on ``batch`` (the interpolates, say).
    Measured on a copy of the critic in its current modes (train mode, as when the
    penalty is computed): 0 for a critic without BN in train mode."""
    start = time.perf_counter()
    device = model_device(critic)
    run = forward or (lambda m, b: m(b))
    with replica(critic) as net:
        share, details = cross_sample_share(lambda x: run(net, x), _to(batch, device))
        layers = bn_layers(net)
        train_bn = sum(bn.training for _, bn in layers)
    if share is None:
        return ConfirmResult.failure("critic_cross_sample() needs a batch of 2 or more samples whose "
                                     "critic output depends on them")
    site = penalty_site(None, [(share, details)], train_bn=train_bn, bn=len(layers), label="model",
                        model=type(critic).__name__)
    return _result([site], start, device, 1)


def dropout_variance_shift(model: nn.Module, batches: Any, steps: int = 4, *,
                           batch_size: Optional[int] = None,
                           input_fn: Optional[Callable[[Any], Any]] = None,
                           forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN405: for each BN layer whose input is a dropout module's output, the per-channel
    variance of that input with dropout off (as in eval mode) over with dropout on (as BN's
    statistics were computed in training), everything else as in training; median over
    channels, worst layer. 1 means no shift; plain dropout before BN gives about 1 - p.
    Measured on a copy, over the first ``steps`` batches."""
    start = time.perf_counter()
    device = model_device(model)
    inputs = [_to(x, device) for x in _inputs(batches, steps=steps, batch_size=batch_size, input_fn=input_fn)]
    shifts = measure_variance_shift(model, [_call(forward, x) for x in inputs])
    site = variance_shift_site(None, shifts, label="model", model=type(model).__name__, calls=len(inputs))
    return _result([site], start, device, len(inputs))


def checkpoint_updates(model: nn.Module, batches: Any, steps: int = 2, *,
                       batch_size: Optional[int] = None,
                       input_fn: Optional[Callable[[Any], Any]] = None,
                       forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN205: how many times each BN layer updates its running statistics per batch, in a
    training step of a copy of the model (its own modes): a forward pass, then a backward
    pass (of a fixed random projection of the output; no optimizer step). Activation
    checkpointing (``torch.utils.checkpoint``, whatever the import) reruns the
    checkpointed code's forward during backward, so its BN layers update twice; 1 without
    checkpointing. The worst layer is judged, with the momentum that acts,
    1 - (1 - m) ** updates. Over the first ``steps`` batches."""
    start = time.perf_counter()
    device = model_device(model)
    inputs = [_to(x, device) for x in _inputs(batches, steps=steps, batch_size=batch_size, input_fn=input_fn)]
    with replica(model) as net:
        momenta = {name: bn.momentum for name, bn in bn_layers(net)}
        counts = recomputed_updates(net, [_call(forward, x) for x in inputs])
    site = checkpoint_site(
        None, checkpoint_layers(counts, momenta), label="model", model=type(model).__name__, calls=len(inputs),
        reference="one running-stat update per batch, as without checkpointing",
        note="" if counts else "no BN layer updated running statistics (none in train mode)",
    )
    return _result([site], start, device, len(inputs))


def dead_bias(model: nn.Module, batches: Any, steps: int = 2, *,
              batch_size: Optional[int] = None,
              input_fn: Optional[Callable[[Any], Any]] = None,
              forward: Optional[Callable[[nn.Module, Any], Any]] = None) -> ConfirmResult:
    """BN401: for each conv/linear layer with a trainable bias whose output goes straight
    into a BN layer, |bias gradient| / |weight gradient| over a forward and backward pass
    (of a fixed random projection of the output) on each of the first ``steps`` batches,
    on a copy of the model in its own modes. BN in train mode subtracts such a bias right
    back: 0 up to float rounding, for any loss. When no biased layer feeds BN directly,
    every layer with a bias is measured instead (and the note says so). The smallest
    ratio is judged: 1e-4 or less confirms."""
    start = time.perf_counter()
    device = model_device(model)
    inputs = [_to(x, device) for x in _inputs(batches, steps=steps, batch_size=batch_size, input_fn=input_fn)]
    layers = measure_dead_bias(model, [_call(forward, x) for x in inputs], every_layer=True)
    into_bn = any(numbers["bn"] for numbers in layers.values())
    site = dead_bias_site(None, layers, label="model", model=type(model).__name__, calls=len(inputs),
                          note="" if into_bn else "no layer with a bias feeds a BN layer directly; "
                                                  "every layer with a bias measured")
    if site is None:
        return ConfirmResult.failure("nothing for BN401 to measure: no conv/linear layer with a trainable bias "
                                     "got a weight gradient on these batches")
    return _result([site], start, device, len(inputs))
