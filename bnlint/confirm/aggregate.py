"""From per-call measurements to one verdict per site (call site, loader, source).

Decision rule: each call scores the max over its BN layers, and over the
mean and variance statistics (a mismatch anywhere in the network matters); the site scores the median over its probe calls, so
one unlucky batch cannot confirm and one lucky batch cannot clear.
"""
from __future__ import annotations

from statistics import median
from typing import Dict, Iterable, List, Optional, Sequence

from .result import SiteResult
from .verdict import classify, meaning


def _weighted_mean(pairs: Iterable) -> Optional[float]:
    pairs = [(value, weight) for value, weight in pairs if value is not None]
    total = sum(weight for _, weight in pairs)
    if not pairs or total <= 0:
        return None
    return sum(value * weight for value, weight in pairs) / total


def summarize(kind: str, label: str, stats: Sequence, **details) -> SiteResult:
    """``stats``: the CallStats of every probe call at this site, in call order."""
    z_calls = [s.z for s in stats if s.z is not None]
    layer_z = _layer_medians(stats, "layer_z")
    mean_z, var_z = _layer_medians(stats, "mean_z"), _layer_medians(stats, "var_z")
    worst = max(layer_z, key=layer_z.get) if layer_z else ""
    if worst:
        worst += ": mean" if mean_z.get(worst, 0.0) >= var_z.get(worst, 0.0) else ": variance"
    z = median(z_calls) if z_calls else 0.0
    verdict = classify(z)
    rule = details.pop("rule", "") or {"loader": "BN103"}.get(kind, "BN101")
    note = details.pop("note", "")
    if not z_calls:
        note = note or "no BN layer could be measured here (batches of fewer than 2 samples?)"
    return SiteResult(
        kind=kind,
        label=label,
        verdict=verdict,
        z=round(z, 3),
        meaning=meaning(verdict, kind, rule),
        rule=rule,
        value=round(z, 3),
        z_calls=[round(v, 3) for v in z_calls],
        worst_layer=worst,
        layer_z=layer_z,
        samples=int(median(s.call.samples for s in stats)) if stats else 0,
        calls=len(stats),
        steps=len({s.call.step for s in stats}),
        relative_l2=_rounded(_weighted_mean((s.relative_l2, s.call.samples) for s in stats)),
        flipped=_rounded(_weighted_mean((s.flipped, s.call.samples) for s in stats)),
        note=note,
        **details,
    )


def _layer_medians(stats: Sequence, attribute: str) -> Dict[str, float]:
    per_layer: Dict[str, List[float]] = {}
    for s in stats:
        for name, z in getattr(s, attribute).items():
            per_layer.setdefault(name, []).append(z)
    return {name: round(median(values), 3) for name, values in per_layer.items()}


def _rounded(value, digits: int = 4):
    return None if value is None else round(value, digits)


def group_by_site(stats: Iterable) -> Dict[object, list]:
    groups: Dict[object, list] = {}
    for s in stats:
        groups.setdefault(s.call.site, []).append(s)
    return groups
