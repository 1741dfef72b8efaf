"""From what the recorder watched to one verdict per place, for the rules beyond
batch composition (BN104/BN901, BN201, BN202, BN203, BN204, BN402, BN406).

Each site carries its rule, its number (``value``) and per-layer details; the
verdict comes from the rule's thresholds in ``verdict.MEASURES``.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from torch import nn

from .frames import format_site
from .measures import eps_shrink, median, snapshot, stat_drift
from .result import SiteResult, display_path
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
        value=None if value is None else round(float(value), 5),
        inner_sites=inner_sites,
        **extra,
    )


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
