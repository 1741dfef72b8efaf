"""Turning what the recorder saw in the user's script into per-site verdicts.

Two checks:

- forward call sites (BN101 towers, BN102 GAN pure batches): every recorded
  call of a model is replayed on a copy; the reference is the running
  statistics re-estimated over all of them, in the user's own call grouping.
- loaders (BN103): calls whose input came straight from a DataLoader are
  measured against random batches drawn from that loader's dataset.

And the measures of ``sites.py`` from what the recorder watched: BN104/BN901
batch sizes, BN201 no-grad calls, BN202 training in eval mode, BN203 frozen
layers' drift, BN204 averaged models, BN301 per-process batches under DDP,
BN402/BN406 momentum and eps in effect, BN403 eval outputs that depend on the
batch, BN404 gradient penalties, BN205 BN layers that checkpointing reruns in
backward, and BN405 and BN401 (measured here, after the stop, by replaying
recorded training calls: with dropout on and off; with a backward pass).

A call site's verdict is worded for the rule it most likely stands for: BN102
for a discriminator (one logit per sample, several calls per step), BN103 for
a call fed straight by a loader, BN101 otherwise. ``attach_verdicts`` rewords
it for the finding it is attached to.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from .aggregate import group_by_site, summarize
from .frames import format_site
from .loaders import NotSampleable, random_batches, tensor_leaves
from .replay import Call, measure, model_device
from .result import ConfirmResult, SiteResult, display_path
from .sites import (averaged_sites, batch_dependence_sites, batch_size_sites, checkpoint_sites, ddp_sites,
                    dead_bias_sites, eval_call_sites, eval_training_sites, frozen_sites, penalty_sites,
                    setting_sites, variance_shift_sites)
from .tracer import RecordedCall, Recorder


def _label(site) -> str:
    return f"{display_path(site[0])}:{site[1]}" if site else "<unknown>"


def _as_call(recorded: RecordedCall, recorder: Recorder, site) -> Call:
    return Call(run=recorded.run, site=site, step=recorder.step_of(recorded.seq), samples=recorded.samples)


def _call_sites(model, calls: List[RecordedCall], recorder: Recorder) -> List[SiteResult]:
    probes = [_as_call(c, recorder, c.site) for c in calls]
    stats = measure(model, probes)
    inner = {}
    for c in calls:
        inner.setdefault(c.site, set()).update(c.inner)
    reference = f"running statistics re-estimated over the {len(calls)} recorded calls of this model"
    by_site: Dict[object, List[RecordedCall]] = {}
    for c in calls:
        by_site.setdefault(c.site, []).append(c)
    steps = max(1, len({recorder.step_of(c.seq) for c in calls}))
    return [
        summarize(
            "call",
            _label(site),
            group,
            path=site[0] if site else "",
            line=site[1] if site else 0,
            reference=reference,
            model=type(model).__name__,
            inner_sites=sorted(format_site(s) for s in inner[site] if s != site),
            rule=_call_rule(by_site[site], len(calls) / steps, len(by_site), recorder),
        )
        for site, group in group_by_site(stats).items()
    ]


def _call_rule(calls: List[RecordedCall], calls_per_step: float, model_sites: int, recorder) -> str:
    """The rule a call site's verdict is worded for: BN102 for a discriminator (one
    logit per sample, called more than once per step), BN103 for the only call site of
    a model fed straight by a loader, BN101 (towers) otherwise."""
    shapes = {c.out_shape for c in calls}
    one_logit = bool(shapes) and all(s is not None and (len(s) == 1 or (len(s) == 2 and s[1] == 1))
                                     for s in shapes)
    if one_logit and calls_per_step >= 2:
        return "BN102"
    site_steps = max(1, len({recorder.step_of(c.seq) for c in calls}))
    if model_sites == 1 and all(c.loader is not None for c in calls) and len(calls) / site_steps <= 1:
        return "BN103"
    return "BN101"


def _loader_site(model, calls: List[RecordedCall], recorder: Recorder, seed: int = 0) -> SiteResult:
    info, index = calls[0].loader
    template = calls[0]
    x = template.args[0]
    rest, kwargs = template.args[1:], template.kwargs
    site = info.created or info.iterated
    details = dict(
        path=site[0] if site else "",
        line=site[1] if site else 0,
        model=type(model).__name__,
        inner_sites=[format_site(info.iterated)] if info.iterated and info.iterated != site else [],
    )
    probes = [_as_call(c, recorder, "loader") for c in calls]
    count = max(8, len(calls))
    try:
        batches = list(random_batches(info.loader, count, template.samples, seed))
    except NotSampleable as exc:
        return SiteResult(
            kind="loader", label=_label(site), verdict="inconclusive", z=0.0,
            meaning=f"Could not draw random batches to compare with: {exc}.", **details,
        )

    def reference_run(batch):
        leaf = tensor_leaves(batch)[index][: template.samples].to(device=x.device, dtype=x.dtype)
        return lambda m: m(leaf, *rest, **kwargs)

    stats = measure(model, probes, [reference_run(b) for b in batches])
    return summarize(
        "loader",
        _label(site),
        stats,
        reference=f"{count} random batches of {template.samples} samples from the loader's dataset",
        **details,
    )


def analyse(recorder: Recorder) -> Tuple[List[SiteResult], Optional[str]]:
    """Sites measured from the recorder's probe steps, and the device used."""
    calls = recorder.probe_calls()
    by_model: Dict[int, List[RecordedCall]] = {}
    for call in calls:
        by_model.setdefault(id(call.model), []).append(call)
    sites: List[SiteResult] = []
    device = None
    loader_of: Dict[int, tuple] = {}
    for model_calls in by_model.values():
        model = model_calls[0].model
        device = device or str(model_device(model))
        sites += _call_sites(model, model_calls, recorder)
        by_loader: Dict[int, List[RecordedCall]] = {}
        for call in model_calls:
            if call.loader is not None:
                by_loader.setdefault(id(call.loader[0]), []).append(call)
                info = call.loader[0]
                if info.created or info.iterated:
                    loader_of.setdefault(id(model), info.created or info.iterated)
        sites += [_loader_site(model, group, recorder) for group in by_loader.values()]
    sites += measured_sites(recorder, sites, loader_of, probe_calls=calls)
    if device is None and early_model(recorder) is not None:
        device = str(model_device(early_model(recorder)))
    sites.sort(key=lambda s: (s.path, s.line, s.kind))
    return sites, device


def _loaders_of(calls: List[RecordedCall]) -> Dict[int, tuple]:
    """id(model) -> the line that built (or iterated) the loader feeding it."""
    out: Dict[int, tuple] = {}
    for call in calls:
        if call.loader is not None:
            info = call.loader[0]
            if info.created or info.iterated:
                out.setdefault(id(call.model), info.created or info.iterated)
    return out


def measured_sites(recorder: Recorder, call_sites: List[SiteResult], loader_of: Dict[int, tuple],
                   completed: Optional[int] = None, probe_calls: Optional[List[RecordedCall]] = None
                   ) -> List[SiteResult]:
    """The sites of the rules beyond batch composition (see ``sites.py``). BN405 and BN401
    replay ``probe_calls`` (the recorded training calls; none: not measured)."""
    if completed is None:
        limit = recorder.seq if recorder.limit_seq is None else recorder.limit_seq
        completed = recorder.completed_steps(limit)
    watches = list(recorder.layers.values())
    return (
        frozen_sites(watches)
        + batch_size_sites(watches, [s for s in call_sites if s.kind == "call"], loader_of)
        + setting_sites(watches)
        + eval_call_sites(recorder.eval_calls)
        + eval_training_sites(recorder.eval_training, recorder.eval_training_models, completed)
        + averaged_sites(recorder.averaged)
        + ddp_sites(recorder.ddp, recorder.layers)
        + batch_dependence_sites(recorder.batch_calls)
        + penalty_sites(recorder.penalties)
        + checkpoint_sites(recorder.checkpoints.values(), recorder.layers)
        # Replays after the stop: left out with the batch recording only (benchmarks compare).
        + (variance_shift_sites(probe_calls or [], recorder.dropouts) if recorder.measures else [])
        + (dead_bias_sites(probe_calls or [], recorder.biased) if recorder.measures else [])
    )


def early_model(recorder: Recorder):
    """A module the run measured, to tell the device by."""
    for watched in (recorder.eval_calls, recorder.batch_calls, recorder.penalties):
        for call in watched:
            return call.model
    for watch in recorder.layers.values():
        return watch.layer
    return None


def result_from(recorder: Recorder, how: str, reason: str, seconds: float, script: str) -> ConfirmResult:
    """The run's result, or a failure that says why nothing could be measured."""
    limit = recorder.seq if recorder.limit_seq is None else recorder.limit_seq
    completed = recorder.completed_steps(limit)
    common = dict(seconds=seconds, script=script, steps=completed)
    if completed == 0:
        # No training step, but an inference script's no-grad and eval-mode calls (BN201,
        # BN403) or a batch of one sample that crashed BN (BN104) were measured: report those.
        early = [
            site for site in measured_sites(recorder, [], _loaders_of(recorder.calls), 0)
            if site.kind in ("eval-call", "batch-dependence") or (site.kind == "batch-size" and site.rule == "BN104")
        ]
        if early:
            ended = f"with an error ({reason})" if reason else "normally"
            return ConfirmResult(
                status="ok",
                message=f"the script ended {ended} before a training step; measured its "
                        "evaluation calls and batch sizes only",
                sites=sorted(early, key=lambda s: (s.path, s.line, s.kind)),
                device=str(model_device(early_model(recorder))) if early_model(recorder) is not None else "",
                **common,
            )
        if how == "deadline":
            return ConfirmResult.failure(
                "the script did not complete an optimizer step within --max-seconds", **common
            )
        if reason:
            return ConfirmResult.failure(f"script exited before the first optimizer step: {reason}", **common)
        return ConfirmResult.failure(
            "the script finished without calling optimizer.step(); confirm needs a training loop",
            **common,
        )
    sites, device = analyse(recorder)
    if not sites:
        return ConfirmResult.failure(
            f"no BatchNorm layer ran in training mode during the {completed} training steps "
            "recorded; nothing to confirm",
            **common,
        )
    note = ""
    if how == "deadline":
        note = f"--max-seconds reached after {completed} training steps; measured those"
    elif how == "end" and completed < recorder.steps:
        ended = f"with an error ({reason})" if reason else "normally"
        note = f"the script ended {ended} after {completed} training steps; measured those"
    return ConfirmResult(
        status="ok",
        message=note,
        sites=sites,
        probe_steps=min(completed, recorder.probe),
        device=device or "",
        **common,
    )
