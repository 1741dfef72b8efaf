"""From what the recorder watched to one verdict per place, for the rules beyond
batch composition (BN104/BN901, BN201, BN202, BN203, BN204, BN205, BN301, BN401,
BN402, BN403, BN404, BN405, BN406).

Each site carries its rule, its number (``value``) and per-layer details; the
verdict comes from the rule's thresholds in ``verdict.MEASURES``. The builders
named ``*_site`` make one rule's site from its numbers; script mode (the
``*_sites`` functions here) and the Python API (``api.py``) both use them.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from torch import nn

from .frames import format_site
from .measures import (bias_gradients, biased_layers, effective_momentum, eps_shrink, fed_by, fed_by_dropout,
                       has_bias, is_synced, median, snapshot, stat_drift, updates_per_batch, variance_shift)
from .result import SiteResult, display_path
from .stats import bn_layers
from .verdict import judge, meaning


def _label(site) -> str:
    return f"{display_path(site[0])}:{site[1]}" if site else "<unknown>"


def measured(rule: str, kind: str, site, value: Optional[float], *, inner=(), **extra) -> SiteResult:
    """A site judged by ``rule``'s thresholds on ``value``."""
    verdict = judge(rule, value)
    inner_sites = sorted({format_site(s) for s in inner if s and s != site})
    return SiteResult(
        kind=kind,
        label=extra.pop("label", None) or _label(site),
        verdict=verdict,
        z=0.0,
        meaning=meaning(verdict, kind, rule),
        path=site[0] if site else "",
        line=site[1] if site else 0,
        rule=rule,
        value=_rounded(value),
        inner_sites=inner_sites,
        **extra,
    )


def _rounded(value: Optional[float]) -> Optional[float]:
    """5 decimals; 3 significant digits below 0.001 (BN401's ratios are about 1e-7)."""
    if value is None:
        return None
    value = float(value)
    return float(f"{value:.3g}") if 0 < abs(value) < 1e-3 else round(value, 5)


def layer_name(model: Optional[nn.Module], layer: nn.Module) -> str:
    if model is not None:
        for name, module in model.named_modules():
            if module is layer:
                return name or type(model).__name__
    return type(layer).__name__


# ----- BN203 ------------------------------------------------------------------------


def frozen_sites(watches: Iterable) -> List[SiteResult]:
    """Frozen BN layers (all parameters requires_grad=False) that ran in train mode:
    how far their running statistics moved since they were first seen. One site per
    freeze (the requires_grad_(False) line when seen, else the forward call)."""
    groups: Dict[object, list] = {}
    for w in watches:
        if w.frozen_at is None:
            continue
        key = w.frozen_site or min(w.sites, default=None)
        groups.setdefault(key, []).append(w)
    out = []
    for site, group in groups.items():
        drift = {layer_name(w.model, w.layer): stat_drift(w.frozen_at, snapshot(w.layer)) for w in group}
        worst = max(drift, key=drift.get)
        calls = set().union(*(w.sites for w in group))
        out.append(measured(
            "BN203", "frozen", site, drift[worst], inner=calls,
            worst_layer=worst, layer_z={k: round(v, 4) for k, v in drift.items()},
            calls=sum(w.calls for w in group),
            model=type(group[0].model).__name__ if group[0].model is not None else "",
            reference="running statistics when each frozen layer first ran in train mode",
            details={"frozen_layers": len(group), "train_mode_calls": sum(w.calls for w in group)},
        ))
    return out


# ----- BN104 / BN901 ------------------------------------------------------------------


def batch_size_sites(watches: Iterable, call_sites: List[SiteResult], loader_of: Dict[int, tuple]
                     ) -> List[SiteResult]:
    """Per model: the smallest batch (and N·H·W) each BN layer saw in train mode, judged
    as BN104 when a batch of one sample was seen and BN901 otherwise; the train/eval
    gap is the worst of the model's call sites. Placed at the loader that fed the
    model when one is linked, else at its forward call site."""
    by_model: Dict[int, list] = {}
    for w in watches:
        if w.min_n is not None:
            by_model.setdefault(id(w.model), []).append(w)
    out = []
    for model_id, group in by_model.items():
        model = group[0].model
        per_layer = {layer_name(model, w.layer): {"n": w.min_n, "nhw": w.min_nhw} for w in group}
        smallest = min(w.min_n for w in group)
        worst = min(per_layer, key=lambda k: (per_layer[k]["n"], per_layer[k]["nhw"]))
        calls = set().union(*(w.sites for w in group))
        loader = loader_of.get(model_id)
        site = loader or min(calls, default=None)
        mine = [s for s in call_sites if (s.path, s.line) in calls and s.relative_l2 is not None]
        gap = max(mine, key=lambda s: s.relative_l2, default=None)
        rule = "BN104" if smallest <= 1 else "BN901"
        out.append(measured(
            rule, "batch-size", site, smallest, inner=calls,
            worst_layer=f"{worst}: N={per_layer[worst]['n']}, N·H·W={per_layer[worst]['nhw']}",
            samples=smallest,
            calls=sum(w.calls for w in group),
            relative_l2=gap.relative_l2 if gap else None,
            flipped=gap.flipped if gap else None,
            model=type(model).__name__ if model is not None else "",
            reference="batches seen by each BN layer in train mode during the traced steps",
            details={"layers": per_layer, "loader": format_site(loader) if loader else ""},
        ))
    return out


# ----- BN402 / BN406 ------------------------------------------------------------------


def setting_sites(watches: Iterable) -> List[SiteResult]:
    """Per line that built BN layers: the momentum (BN402) and eps (BN406) in effect,
    with the output scale the eps takes away at the variances the layers saw."""
    groups: Dict[object, list] = {}
    for w in watches:
        groups.setdefault(w.created or min(w.sites, default=None), []).append(w)
    out = []
    for site, group in groups.items():
        if site is None:
            continue  # a copy's layers (deepcopy builds no layer), never run in train mode
        names = {id(w): layer_name(w.model, w.layer) for w in group}
        model = next((w.model for w in group if w.model is not None), None)
        common = dict(model=type(model).__name__ if model is not None else "", calls=sum(w.calls for w in group))
        momenta = {names[id(w)]: w.layer.momentum for w in group}
        numeric = {k: v for k, v in momenta.items() if v is not None}
        worst_m = max(numeric, key=numeric.get) if numeric else next(iter(momenta))
        out.append(measured(
            "BN402", "momentum", site, numeric.get(worst_m, 0.0), worst_layer=worst_m,
            reference="momentum of the BN layers built here, as they ran (None: cumulative average)",
            details={"momentum": momenta}, **common,
        ))
        shrink, eps = {}, {}
        for w in group:
            name = names[id(w)]
            eps[name] = float(w.layer.eps)
            if w.variances:
                var = sum(w.variances) / len(w.variances)
            else:
                var = w.layer.running_var
            shrink[name] = round(eps_shrink(var, w.layer.eps), 5)
        worst_e = max(shrink, key=shrink.get)
        out.append(measured(
            "BN406", "eps", site, shrink[worst_e], worst_layer=f"{worst_e}: eps={eps[worst_e]:g}",
            reference="1 - sqrt(var / (var + eps)) at the input variances the layers saw",
            details={"eps": eps, "scale_lost": shrink}, **common,
        ))
    return out


# ----- BN201 --------------------------------------------------------------------------


def eval_call_sites(eval_calls: Iterable) -> List[SiteResult]:
    """No-grad calls of a model with BN: the gap between the output as run and with BN in
    eval mode (0 for calls that ran in eval mode)."""
    groups: Dict[Tuple[int, object], list] = {}
    for call in eval_calls:
        groups.setdefault((id(call.model), call.site), []).append(call)
    out = []
    for (_, site), group in groups.items():
        train = [c for c in group if c.bn_training]
        gap = median([c.gap for c in group])
        out.append(measured(
            "BN201", "eval-call", site, gap,
            calls=len(group),
            relative_l2=gap,
            flipped=median([c.flipped for c in group]),
            model=type(group[0].model).__name__,
            reference="the same call with BN in eval mode (running statistics)",
            details={"bn_train_mode_calls": len(train)},
            note="" if train else "BN ran in eval mode at this no-grad call",
        ))
    return out


# ----- BN202 --------------------------------------------------------------------------


def eval_training_sites(eval_training: Dict[object, set], models: Dict[object, str], completed: int
                        ) -> List[SiteResult]:
    return [
        measured(
            "BN202", "eval-training", site, len(steps), steps=len(steps), model=models.get(site, ""),
            reference=f"training steps whose backward reached BN layers in eval mode, of {completed}",
            details={"steps": sorted(steps), "of_steps": completed},
        )
        for site, steps in eval_training.items()
    ]


# ----- BN204 --------------------------------------------------------------------------


def averaged_sites(averaged: Iterable) -> List[SiteResult]:
    out = []
    for watch in averaged:
        if not watch.gaps:
            continue
        gap = median([g for _, g, _ in watch.gaps])
        out.append(measured(
            "BN204", "averaged", watch.created, gap,
            inner=[s for s, _, _ in watch.gaps],
            relative_l2=gap,
            flipped=median([f for _, _, f in watch.gaps]),
            calls=len(watch.gaps),
            model=type(getattr(watch.averaged, "module", watch.averaged)).__name__,
            reference="eval outputs after re-estimating BN buffers on the source model's recorded batches",
            details={"use_buffers": watch.use_buffers, "update_bn_called": watch.updated},
        ))
    return out


# ----- BN301 --------------------------------------------------------------------------


def ddp_site(site, sizes: Dict[str, Tuple[int, int]], world: Optional[int], source: str, *,
             inner=(), label: Optional[str] = None, model: str = "", calls: int = 0,
             synced: Sequence[str] = ()) -> Optional[SiteResult]:
    """BN301: ``sizes`` maps each plain (not Sync) BN layer of a DDP model to the smallest
    (N, N·H·W) it saw per process in train mode; ``world`` processes would share a
    SyncBatchNorm's statistics (None: unknown). None when no plain layer ran."""
    if not sizes:
        return None
    worst = min(sizes, key=lambda k: sizes[k])
    smallest = sizes[worst][0]
    layers = {name: {"n": n, "nhw": nhw, "sync_n": n * world if world else None}
              for name, (n, nhw) in sizes.items()}
    if world is None:
        would = "N × the number of processes"
        note = ("world size unknown (torch.distributed not initialised, no WORLD_SIZE): N is each "
                "process's batch; SyncBatchNorm would see N × the number of processes")
    elif world == 1:
        would = "the same N in this one-process run, N × W with W processes"
        note = ("world size 1 in this run: N is what each process's BN sees at any world size; "
                "SyncBatchNorm would see N × W with W processes")
    else:
        would = f"N × {world} = {smallest * world}"
        note = ""
    return measured(
        "BN301", "ddp-batch", site, smallest, inner=inner, label=label,
        worst_layer=f"{worst}: N={smallest}, N·H·W={sizes[worst][1]}", samples=smallest,
        model=model, calls=calls, note=note,
        reference=f"per-process batches at the plain BN layers in train mode; SyncBatchNorm would see {would}",
        details={"layers": layers, "world_size": world, "world_size_from": source,
                 "sync_bn_would_see": smallest * world if world else None, "sync_bn_layers": list(synced)},
    )


def ddp_sites(ddp_watches: Iterable, layer_watches: Dict[nn.Module, Any]) -> List[SiteResult]:
    """Per ``DistributedDataParallel(...)`` line: the per-process batch sizes its model's plain
    BN layers saw in train mode (from the layer watches)."""
    out = []
    for watch in ddp_watches:
        sizes, synced, calls, inner = {}, [], 0, set()
        for name, bn in watch.module.named_modules():
            if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or not bn.track_running_stats:
                continue
            if is_synced(bn):
                synced.append(name)
                continue
            layer = layer_watches.get(bn)
            if layer is None or layer.min_n is None:
                continue
            sizes[name or type(watch.module).__name__] = (layer.min_n, layer.min_nhw)
            calls = max(calls, layer.calls)
            inner |= layer.sites
        site = ddp_site(watch.created, sizes, watch.world, watch.world_from, inner=inner, calls=calls,
                        model=type(watch.module).__name__, synced=synced)
        if site is not None:
            out.append(site)
    return out


# ----- BN403 --------------------------------------------------------------------------


def batch_dependence_site(site, gaps: Sequence[Tuple[Optional[float], Optional[float]]], *,
                          layers: Sequence[str], samples: int, inner=(), label: Optional[str] = None,
                          model: str = "") -> SiteResult:
    """BN403: eval outputs on the batch vs on its two halves, median over the measured calls."""
    gap = median([g for g, _ in gaps])
    return measured(
        "BN403", "batch-dependence", site, gap, inner=inner, label=label,
        worst_layer=", ".join(layers[:3]) + (f" (+{len(layers) - 3})" if len(layers) > 3 else ""),
        samples=samples, calls=len(gaps), model=model,
        reference="eval outputs of the same samples evaluated in two half-size batches",
        details={"flipped": median([f for _, f in gaps]), "untracked_layers": list(layers),
                 "gaps": [None if g is None else round(g, 5) for g, _ in gaps]},
        note="" if layers else "no BN layer without running statistics",
    )


def batch_dependence_sites(calls: Iterable) -> List[SiteResult]:
    """Eval-mode calls of models with BN layers without running statistics, grouped per
    model and ``eval()`` line (the evaluation calls are inner sites)."""
    groups: Dict[Tuple[int, object], list] = {}
    for call in calls:
        groups.setdefault((id(call.model), call.switched or call.site), []).append(call)
    out = []
    for (_, site), group in groups.items():
        model = group[0].model
        out.append(batch_dependence_site(
            site, [(c.gap, c.flipped) for c in group], inner={c.site for c in group},
            layers=[layer_name(model, bn) for bn in group[0].layers],
            samples=int(median([c.samples for c in group]) or 0), model=type(model).__name__,
        ))
    return out


# ----- BN404 --------------------------------------------------------------------------


def penalty_site(site, measures: Sequence[Tuple[Optional[float], Dict[str, Any]]], *,
                 train_bn: int, bn: int, label: Optional[str] = None, model: str = "") -> SiteResult:
    """BN404: the cross-sample share of the penalty's per-sample gradients, median over the
    measured penalty calls."""
    share = median([m for m, _ in measures])
    last = measures[-1][1] if measures else {}
    return measured(
        "BN404", "penalty", site, share, label=label, samples=int(last.get("samples", 0)),
        calls=len(measures), model=model,
        reference="each sample's gradient of its own critic output (what a per-sample penalty assumes)",
        details={**last, "bn_layers": bn, "train_mode_bn_layers": train_bn,
                 "shares": [None if m is None else round(m, 5) for m, _ in measures]},
        note="" if train_bn else ("the critic's BN layers were in eval mode" if bn else "the critic has no BN layer"),
    )


def penalty_sites(watches: Iterable) -> List[SiteResult]:
    groups: Dict[Tuple[int, object], list] = {}
    for watch in watches:
        groups.setdefault((id(watch.model), watch.site), []).append(watch)
    return [
        penalty_site(site, [(w.share, w.details) for w in group], train_bn=max(w.train_bn for w in group),
                     bn=len(bn_layers(group[0].model)), model=type(group[0].model).__name__)
        for (_, site), group in groups.items()
    ]


# ----- BN405 --------------------------------------------------------------------------


def variance_shift_site(site, shifts: Dict[str, Dict[str, Any]], *, inner=(), label: Optional[str] = None,
                        model: str = "", calls: int = 0) -> SiteResult:
    """BN405: ``shifts`` maps each BN layer fed directly by dropout to its variance ratio
    (dropout off / on), running ratio and the dropout's name. The worst layer's ratio;
    1 (no shift) when no BN layer takes a dropout's output directly."""
    if not shifts:
        return measured("BN405", "variance-shift", site, 1.0, inner=inner, label=label, model=model, calls=calls,
                        reference="no BN layer takes a dropout's output directly", details={"layers": {}},
                        note="no BN layer takes a dropout's output directly")
    worst = min(shifts, key=lambda k: shifts[k]["ratio"])
    return measured(
        "BN405", "variance-shift", site, shifts[worst]["ratio"], inner=inner, label=label,
        worst_layer=f"{worst} (after {shifts[worst].get('dropout') or 'dropout'})", model=model, calls=calls,
        reference="per-channel BN input variance with dropout on (as trained), median over channels",
        details={"layers": shifts},
    )


def measure_variance_shift(model: nn.Module, runs: Sequence[Callable[[nn.Module], Any]]
                           ) -> Dict[str, Dict[str, Any]]:
    """BN405's measure on a copy of ``model``: which BN layers dropout feeds, and their shift."""
    from torch.nn.modules.dropout import _DropoutNd

    from .replay import replica

    if not any(isinstance(m, _DropoutNd) for m in model.modules()):
        return {}  # nothing to find: no copy of the model
    with replica(model) as net:
        fed = fed_by_dropout(net, runs[:1])
        if not fed:
            return {}
        shifts = variance_shift(net, runs, sorted(fed))
    return {name: {**numbers, "dropout": fed[name]} for name, numbers in shifts.items()}


def variance_shift_sites(calls: Sequence, dropout_created: Any, probe_calls: int = 4) -> List[SiteResult]:
    """Per model with recorded training calls: replay up to ``probe_calls`` of them on a copy
    and measure the variance shift of the BN layers fed directly by dropout. One site per
    line that built the dropout (else the model's call site)."""
    def build(model, shifts, call_sites, calls):
        by_site = _by_line(model, shifts, lambda numbers: numbers["dropout"], dropout_created, call_sites)
        return [variance_shift_site(site, layers, inner=call_sites, model=type(model).__name__, calls=calls)
                for site, layers in by_site.items()]

    return _replayed_sites(calls, probe_calls, measure_variance_shift, build)


def _replayed_sites(calls: Sequence, probe_calls: int, measure: Callable, build: Callable) -> List[SiteResult]:
    """Per model with recorded training calls: ``measure(model, runs)`` on up to
    ``probe_calls`` of them (a replay on a copy, after the stop), then
    ``build(model, numbers, call_sites, calls)`` makes its sites. A model the replay fails
    on gets none: the other verdicts still stand."""
    by_model: Dict[int, list] = {}
    for call in calls:
        by_model.setdefault(id(call.model), []).append(call)
    out = []
    for group in by_model.values():
        model = group[0].model
        try:
            numbers = measure(model, [c.run for c in group[:probe_calls]])
        except Exception:  # a replay this measure cannot make
            continue
        if numbers:
            out += build(model, numbers, {c.site for c in group if c.site is not None},
                         min(len(group), probe_calls))
    return out


def _by_line(model: nn.Module, layers: Dict[str, Dict[str, Any]], module_of: Callable[[Dict[str, Any]], Any],
             created: Any, call_sites: set) -> Dict[object, Dict[str, Dict[str, Any]]]:
    """``layers`` (name -> numbers) grouped by the line that built a module: the one named
    by ``module_of(numbers)``, else the layer itself; the model's first call site when that
    line is unknown."""
    modules = dict(model.named_modules())
    by_site: Dict[object, Dict[str, Dict[str, Any]]] = {}
    for name, numbers in layers.items():
        module = modules.get(module_of(numbers) or name)
        site = created.get(module) if module is not None else None
        by_site.setdefault(site or min(call_sites, default=None), {})[name] = numbers
    return by_site


# ----- BN205 --------------------------------------------------------------------------


def checkpoint_layers(counts: Dict[str, Sequence[int]], momenta: Dict[str, Optional[float]]
                      ) -> Dict[str, Dict[str, Any]]:
    """Per BN layer: running-stat updates per batch (from [forward-pass updates, all
    updates]), its momentum and the momentum that acts (1 - (1 - m) ** updates)."""
    out = {}
    for name, k in updates_per_batch(counts).items():
        momentum = momenta.get(name)
        eff = effective_momentum(momentum, k)
        out[name] = {"updates_per_batch": round(k, 3), "momentum": momentum,
                     "effective_momentum": None if eff is None else round(eff, 4)}
    return out


def checkpoint_site(site, layers: Dict[str, Dict[str, Any]], *, inner=(), label: Optional[str] = None,
                    model: str = "", calls: int = 0, reference: str = "", note: str = "") -> SiteResult:
    """BN205: ``layers`` (see :func:`checkpoint_layers`) are the BN layers that updated their
    running statistics in checkpointed code. The most updates per batch of any of them;
    0 when none did (no BN layer there, or only in eval mode)."""
    if not layers:
        return measured("BN205", "checkpoint", site, 0.0, inner=inner, label=label, model=model, calls=calls,
                        reference=reference or "running-stat updates of BN layers in checkpointed code",
                        details={"layers": {}},
                        note=note or "no BN layer updated running statistics in the checkpointed code")
    worst = max(layers, key=lambda k: layers[k]["updates_per_batch"])
    numbers = layers[worst]
    momentum = numbers["momentum"]
    if momentum is None:
        acts = "momentum=None (cumulative average: each batch counted as often weighs the same)"
    else:
        acts = f"momentum {momentum:g} acts as {numbers['effective_momentum']:.3g}"
    return measured(
        "BN205", "checkpoint", site, numbers["updates_per_batch"], inner=inner, label=label,
        worst_layer=f"{worst}: {numbers['updates_per_batch']:g} updates per batch, {acts}", model=model,
        calls=calls, note=note,
        reference=reference or "one running-stat update per batch, as without checkpointing",
        details={"layers": layers},
    )


def checkpoint_sites(watches: Iterable, layer_watches: Dict[nn.Module, Any]) -> List[SiteResult]:
    """Per checkpoint call line (``torch.utils.checkpoint.checkpoint``, also inside
    ``checkpoint_sequential``) whose checkpointed code ran BN layers: their running-stat
    updates per batch, forward pass and backward's recomputation together."""
    out = []
    for watch in watches:
        if not watch.seen:
            continue  # no BN layer in this checkpointed code: nothing for BN205
        counts, momenta, inner = {}, {}, set()
        for bn, entry in watch.counts.items():
            layer = layer_watches.get(bn)
            owner = next((m for m in (watch.owner, layer.model if layer else None)
                          if m is not None and any(bn is x for x in m.modules())), None)
            name = layer_name(owner, bn)
            if owner is None and layer is not None and layer.created:
                name += f" ({display_path(layer.created[0])}:{layer.created[1]})"
            while name in counts:  # layers named by their class alone
                name += "'"
            counts[name] = entry
            momenta[name] = bn.momentum
            if layer is not None:
                inner |= layer.sites
        model = watch.owner or next(
            (w.model for w in (layer_watches.get(bn) for bn in watch.seen) if w and w.model is not None), None)
        out.append(checkpoint_site(
            watch.site, checkpoint_layers(counts, momenta), inner=inner, calls=watch.calls,
            model=type(model).__name__ if model is not None else "",
            note="" if watch.counts else "the BN layers in the checkpointed code ran in eval mode",
        ))
    return out


# ----- BN401 --------------------------------------------------------------------------


def dead_bias_site(site, layers: Dict[str, Dict[str, Any]], *, inner=(), label: Optional[str] = None,
                   model: str = "", calls: int = 0, note: str = "") -> Optional[SiteResult]:
    """BN401: ``layers`` maps conv/linear layers with a bias to their bias gradient relative
    to their weight gradient (``relative_grad``) and the BN layer their output goes into
    (``bn``, "" for none). The smallest relative gradient; None when no layer got one."""
    ratios = {k: v for k, v in layers.items() if v["relative_grad"] is not None}
    if not ratios:
        return None
    worst = min(ratios, key=lambda k: ratios[k]["relative_grad"])
    into = ratios[worst]["bn"]
    return measured(
        "BN401", "dead-bias", site, ratios[worst]["relative_grad"], inner=inner, label=label,
        worst_layer=f"{worst}" + (f" (into {into})" if into else ""), model=model, calls=calls, note=note,
        reference="the layer's weight gradient, over a forward and backward of the recorded batches",
        details={"layers": layers},
    )


def measure_dead_bias(model: nn.Module, runs: Sequence[Callable[[nn.Module], Any]], every_layer: bool = False
                      ) -> Dict[str, Dict[str, Any]]:
    """BN401's measure on a copy of ``model`` in its own modes: the conv/linear layers with
    a trainable bias whose output goes straight into a BN layer, and their relative bias
    gradient. ``every_layer``: when no such layer ran, every layer with a bias instead."""
    from .replay import replica

    if not biased_layers(model):
        return {}  # nothing to find: no copy of the model
    with replica(model) as net:
        fed = fed_by(net, runs[:1], has_bias)
        into = {source: bn for bn, source in fed.items()}
        names = sorted(into) or ([name for name, _ in biased_layers(net)] if every_layer else [])
        if not names:
            return {}
        ratios = bias_gradients(net, runs, names)
    return {name: {"relative_grad": None if ratios[name] is None else float(f"{ratios[name]:.3g}"),
                   "bn": into.get(name, "")} for name in names}


def dead_bias_sites(calls: Sequence, layer_created: Any, probe_calls: int = 4) -> List[SiteResult]:
    """Per model with recorded training calls: replay up to ``probe_calls`` of them on a copy,
    with a backward pass each, and measure the relative bias gradient of the conv/linear
    layers that feed a BN layer directly. One site per line that built such layers."""
    def build(model, layers, call_sites, calls):
        by_site = _by_line(model, layers, lambda numbers: None, layer_created, call_sites)
        sites = [dead_bias_site(site, group, inner=call_sites, model=type(model).__name__, calls=calls)
                 for site, group in by_site.items()]
        return [s for s in sites if s is not None]

    return _replayed_sites(calls, probe_calls, measure_dead_bias, build)
