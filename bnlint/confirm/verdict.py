"""The decision rules: from a measured number to a verdict and a one-sentence meaning.

One vocabulary for every rule confirm measures: **confirmed**, **inconclusive**,
**not confirmed** (and **error** for a run that could not measure). Each rule
has its own number (see ``MEASURES``) and thresholds; the meaning sentence
fits the rule, not only the kind of place it was measured at.

Batch composition (BN101/BN102/BN103): z is a call's deviation from the
reference statistics in units of its own sampling error (see ``stats.py``).
Fair batches give z around 0.7. On the examples in ``examples/two_domains``
(5 seeds each) the legitimate regimes scored 0.4-0.95 and the pitfalls 4.8-55;
a 12-BN-layer CNN on i.i.d. batches of 16 stayed under 1.4. The thresholds
leave room on both sides; see docs/confirm.md for the figures and for the
other rules' numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

CONFIRMED = "confirmed"
INCONCLUSIVE = "inconclusive"
NOT_CONFIRMED = "not confirmed"
ERROR = "error"

CONFIRM_AT = 4.0  # z >= this: confirmed
INCONCLUSIVE_AT = 3.0  # INCONCLUSIVE_AT <= z < CONFIRM_AT: inconclusive

SMALL_PER_PROCESS = 8  # BN301: at most this many samples per process confirms
ENOUGH_PER_PROCESS = 32  # BN301: this many or more is not confirmed (in between: inconclusive)
TWICE_PER_BATCH = 1.5  # BN205: running-stat updates per batch from this on confirm (2: every batch twice)
SOME_TWICE = 1.1  # BN205: from here to TWICE_PER_BATCH, only some batches were updated twice
DEAD_BIAS = 1e-4  # BN401: bias gradient / weight gradient at or below this confirms (float rounding)
WEAK_BIAS = 1e-3  # BN401: from DEAD_BIAS up to here inconclusive

# Rules whose rows do not decide a run's verdict (and exit status) when other rows were
# measured: BN401's bias is dead weight, not an accuracy or correctness bug (the rule is
# off by default for that reason), and most models have a layer with a bias before BN.
ADVISORY = ("BN401",)

# Worst first: the overall verdict of a run is the worst of its sites.
SEVERITY = {ERROR: 3, CONFIRMED: 2, INCONCLUSIVE: 1, NOT_CONFIRMED: 0}


@dataclass(frozen=True)
class Measure:
    """What confirm measures for one rule: the number, how it is shown, and its thresholds.

    ``higher_is_worse=False`` for numbers where small is the pitfall (batch size).
    ``inconclusive_at=None``: no inconclusive band.
    """

    rule: str
    kind: str  # the SiteResult kind this rule's measure produces
    name: str  # what the number is, for people
    confirm_at: float
    inconclusive_at: Optional[float] = None
    higher_is_worse: bool = True
    fmt: str = "{:.1f}"
    short: str = "z"  # the number's name in the report table

    def classify(self, value: Optional[float]) -> str:
        if value is None:
            return INCONCLUSIVE
        worse = (lambda a, b: a >= b) if self.higher_is_worse else (lambda a, b: a <= b)
        if worse(value, self.confirm_at):
            return CONFIRMED
        if self.inconclusive_at is not None and worse(value, self.inconclusive_at):
            return INCONCLUSIVE
        return NOT_CONFIRMED

    def show(self, value: Optional[float]) -> str:
        return f"{self.name} = " + ("?" if value is None else self.fmt.format(value))

    def cell(self, value: Optional[float]) -> str:
        return f"{self.short} " + ("?" if value is None else self.fmt.format(value))


MEASURES: Dict[str, Measure] = {m.rule: m for m in (
    Measure("BN101", "call", "z", CONFIRM_AT, INCONCLUSIVE_AT),
    Measure("BN102", "call", "z", CONFIRM_AT, INCONCLUSIVE_AT),
    Measure("BN103", "loader", "z", CONFIRM_AT, INCONCLUSIVE_AT),
    # Smallest batch (samples) a BN layer saw in train mode.
    Measure("BN104", "batch-size", "smallest batch", 1, None, higher_is_worse=False, fmt="{:.0f}",
            short="N"),
    Measure("BN901", "batch-size", "smallest batch", 4, None, higher_is_worse=False, fmt="{:.0f}",
            short="N"),
    # Relative L2 gap between the output as run (BN in train mode) and with BN in eval mode.
    Measure("BN201", "eval-call", "train/eval output gap", 0.05, 0.02, fmt="{:.1%}", short="gap"),
    # Training steps whose backward went through BN layers in eval mode.
    Measure("BN202", "eval-training", "steps trained with BN in eval mode", 1, None, fmt="{:.0f}",
            short="steps"),
    # Drift of the running statistics of frozen BN layers, in units of the starting sd / var.
    Measure("BN203", "frozen", "running-stat drift", 0.05, 0.01, fmt="{:.3f}", short="drift"),
    # Relative L2 gap of the averaged model's eval outputs: stored buffers vs after update_bn.
    Measure("BN204", "averaged", "eval output gap without update_bn", 0.05, 0.02, fmt="{:.1%}",
            short="gap"),
    # Momentum in effect (PyTorch convention: weight of the newest batch).
    Measure("BN402", "momentum", "momentum in effect", 0.5, None, fmt="{:g}", short="momentum"),
    # Output scale lost to eps: 1 - sqrt(var / (var + eps)), median channel of the worst layer.
    Measure("BN406", "eps", "output scale lost to eps", 0.05, None, fmt="{:.1%}", short="scale lost"),
    # Smallest per-process batch a plain (not Sync) BN layer of a DDP model saw in train mode.
    # BN's ImageNet error is flat from 32 down to 16 samples per GPU and rises from 8 down
    # (Wu & He, Group Normalization, 2018, Fig. 1); 32 per GPU is the large-batch recipe's.
    Measure("BN301", "ddp-batch", "samples per process at BN", SMALL_PER_PROCESS, ENOUGH_PER_PROCESS - 1,
            higher_is_worse=False, fmt="{:.0f}", short="N/process"),
    # Relative L2 gap of eval outputs: the batch as evaluated vs the same samples in two halves.
    Measure("BN403", "batch-dependence", "eval output change when the batch is halved", 0.05, 0.02,
            fmt="{:.1%}", short="gap"),
    # Share of each sample's penalty gradient that comes from other samples' outputs.
    Measure("BN404", "penalty", "cross-sample share of the penalty gradient", 0.05, 0.02, fmt="{:.1%}",
            short="cross"),
    # BN input variance with dropout off (eval) / on (train): 1 is no shift, 1 - p for plain dropout.
    Measure("BN405", "variance-shift", "BN input variance, dropout off / on", 0.8, 0.9,
            higher_is_worse=False, fmt="{:.2f}", short="var ratio"),
    # Running-stat updates per batch of a BN layer in checkpointed code (1 without checkpointing).
    Measure("BN205", "checkpoint", "running-stat updates per batch", TWICE_PER_BATCH, SOME_TWICE,
            fmt="{:.2f}", short="updates"),
    # |bias gradient| / |weight gradient| of a conv/linear layer whose output goes into BN.
    Measure("BN401", "dead-bias", "bias gradient / weight gradient", DEAD_BIAS, WEAK_BIAS,
            higher_is_worse=False, fmt="{:.1e}", short="bias grad"),
)}


def classify(z: float) -> str:
    """The batch-composition verdict for a z statistic (BN101/BN102/BN103)."""
    if z >= CONFIRM_AT:
        return CONFIRMED
    if z >= INCONCLUSIVE_AT:
        return INCONCLUSIVE
    return NOT_CONFIRMED


def judge(rule: str, value: Optional[float]) -> str:
    measure = MEASURES.get(rule)
    if measure is None:
        return classify(value or 0.0)
    return measure.classify(value)


# Rule for a batch-composition site when no finding says which: call sites give the
# towers advice unless they look like a discriminator or a loader's only consumer.
_KIND_RULE = {"call": "BN101", "source": "BN101", "loader": "BN103"}

_CONFIRMED = {
    "BN101": (
        "Batches at this forward call differ systematically from the mixture the running "
        "statistics average over, so BN normalizes differently in training than in eval mode; "
        "concatenate the batches of all domains into one forward call or use domain-specific BN "
        "layers."
    ),
    "BN102": (
        "The discriminator's batches here are all real or all generated, so BN's batch statistics "
        "tell the two apart and its running statistics match neither; mix real and fake samples in "
        "one batch, or use a normalization without batch statistics (spectral norm, GroupNorm, "
        "LayerNorm, InstanceNorm) in the discriminator."
    ),
    "BN103": (
        "This loader's batches are not fair samples of its dataset: BN trains on per-batch "
        "statistics that the running averages used in eval mode do not reproduce; shuffle the "
        "loader (shuffle=True or a random sampler)."
    ),
    "BN104": (
        "A BN layer ran in train mode on a batch of one sample: its batch statistics are those of "
        "one sample (an error after Linear, instance normalization after a convolution); use "
        "drop_last=True or a batch size whose remainder is not 1."
    ),
    "BN901": (
        "BN layers trained on batches of 4 samples or fewer, whose statistics are noisy and far "
        "from the running averages used in eval mode; use GroupNorm, SyncBatchNorm or frozen BN, "
        "or larger batches."
    ),
    "BN201": (
        "This no-grad evaluation call ran with BN in train mode: its outputs differ from eval "
        "mode's and it updated the running statistics with evaluation data; call model.eval() "
        "before evaluating."
    ),
    "BN202": (
        "Training steps ran with BN layers in eval mode (frozen running statistics, no batch "
        "statistics) after a switch to eval; call model.train() again before the next training "
        "step."
    ),
    "BN203": (
        "The running statistics of BN layers whose parameters are frozen changed during training, "
        "because they ran in train mode; keep the frozen part in eval mode (override train()) or "
        "use FrozenBatchNorm2d."
    ),
    "BN204": (
        "The averaged model's eval outputs with its stored BN buffers differ from those after "
        "recomputing them; call torch.optim.swa_utils.update_bn(loader, averaged_model) or build "
        "it with use_buffers=True."
    ),
    "BN402": (
        "A BN layer runs with a Keras-style momentum: its running statistics are mostly the last "
        "batch's, so eval mode is noisy; use 1 - momentum (PyTorch weights the newest batch by "
        "momentum)."
    ),
    "BN406": (
        "A BN layer runs with an eps that is not small against the variance of its inputs, so it "
        "scales channels instead of normalizing them; use the default eps=1e-5 (a positional "
        "second argument is eps, not momentum)."
    ),
    "BN301": (
        "Under DistributedDataParallel each process's BatchNorm layers normalized batches of 8 "
        "samples or fewer, whose statistics are noisy; SyncBatchNorm would normalize over the "
        "samples of all processes (N × world size): convert the model with "
        "nn.SyncBatchNorm.convert_sync_batchnorm before wrapping it, or use GroupNorm."
    ),
    "BN403": (
        "In eval mode this model's BatchNorm layers without running statistics "
        "(track_running_stats=False) normalize each evaluation batch by its own statistics, so a "
        "sample's output changes with the samples evaluated alongside it; keep running statistics "
        "(the default) or use GroupNorm/LayerNorm."
    ),
    "BN404": (
        "With BatchNorm in train mode the critic's output for one sample depends on the other "
        "samples, so the gradient the penalty takes for each sample mixes in the other samples' "
        "outputs and the penalty is not per sample; use LayerNorm, GroupNorm or no normalization "
        "in the critic."
    ),
    "BN405": (
        "Dropout feeds this BatchNorm directly: with dropout off, as in eval mode, the BN input "
        "variance is 80% or less of the variance BN's statistics were computed on in training, so "
        "eval-mode outputs are mis-scaled (variance shift); move the dropout after the BatchNorm "
        "layers."
    ),
    "BN205": (
        "BatchNorm layers in this checkpointed code updated their running statistics twice per batch "
        "(in the forward pass and again when backward recomputed it), so their momentum acts twice "
        "(0.1 as 0.19) and num_batches_tracked counts double; checkpoint only the layers before the "
        "BatchNorm, or give these layers momentum 1 - sqrt(1 - m)."
    ),
    "BN401": (
        "BatchNorm right after this layer subtracts its bias back out: the bias gradient is zero up "
        "to float rounding (at most 1e-4 of the weight gradient), so the bias never learns and only "
        "costs memory and weight decay; build the layer with bias=False."
    ),
}

_NOT_CONFIRMED = {
    "BN101": (
        "Batch statistics at this call agree with the running statistics within sampling noise; "
        "BN sees fair batches here."
    ),
    "BN103": (
        "The loader's batches match random batches of its dataset within sampling noise; BN sees "
        "fair samples here."
    ),
    "BN104": "No BN layer saw a batch of one sample in train mode during the traced steps.",
    "BN901": "No BN layer saw a batch of 4 samples or fewer in train mode during the traced steps.",
    "BN201": (
        "At this no-grad call BN was in eval mode, or its train-mode outputs agree with eval mode's "
        "within 2%."
    ),
    "BN202": "No training step ran with trainable BN layers in eval mode during the traced steps.",
    "BN203": (
        "The running statistics of the frozen BN layers did not move during the traced steps (they "
        "ran in eval mode, or not at all)."
    ),
    "BN204": (
        "The averaged model's stored BN buffers give the same eval outputs as recomputed ones "
        "(update_bn was called, or use_buffers=True)."
    ),
    "BN402": "The BN layers built here run with a PyTorch-style momentum (below 0.5).",
    "BN406": (
        "The eps in effect is small against the variance of the layer's inputs; BN normalizes "
        "as intended."
    ),
    "BN301": (
        "Each process's BatchNorm layers saw 32 or more samples per batch, enough for per-process "
        "statistics; SyncBatchNorm is not needed for their sake."
    ),
    "BN403": (
        "The model's eval outputs changed by less than 2% when the same samples were evaluated in "
        "half-size batches (running statistics, or large mixed evaluation batches)."
    ),
    "BN404": (
        "Each sample's penalty gradient comes from its own output (BatchNorm in eval mode, or none "
        "in the critic, when the penalty is computed)."
    ),
    "BN405": (
        "Dropout changes the BN input variance by less than 10% here (a small dropout rate); eval "
        "mode sees the variance BN's statistics were computed on."
    ),
    "BN205": (
        "The BatchNorm layers in this checkpointed code updated their running statistics once per "
        "batch, as without checkpointing (they ran in eval mode, or backward did not rerun them)."
    ),
    "BN401": (
        "This layer's bias gets a gradient (at least 0.1% of its weight gradient): nothing right after "
        "it cancels it."
    ),
}
_NOT_CONFIRMED["BN102"] = _NOT_CONFIRMED["BN101"]

_INCONCLUSIVE_BATCH = (
    "The deviation is above sampling noise but below the confirmation threshold; rerun with more "
    "--steps or look at the worst layer."
)
_INCONCLUSIVE = (
    "The measured effect is above noise but below the confirmation threshold; rerun with more "
    "--steps."
)
# Where more steps would not change the number.
_INCONCLUSIVE_RULE = {
    "BN301": (
        "Each process's BatchNorm layers saw 9 to 31 samples per batch: noisier statistics than "
        "SyncBatchNorm's over all processes, which may or may not cost accuracy; compare one run "
        "with SyncBatchNorm."
    ),
    "BN405": (
        "Dropout lowers the BN input variance by 10-20% when it is off: a small variance shift; "
        "moving the dropout after the BatchNorm layers removes it."
    ),
    "BN205": (
        "Some batches' BatchNorm statistics were updated twice in this checkpointed code and others "
        "once (backward ran after only some of its forward passes); rerun with more --steps."
    ),
    "BN401": (
        "This layer's bias gradient is tiny (1e-4 to 1e-3 of its weight gradient) but above float "
        "rounding: check whether its output goes into BatchNorm unchanged."
    ),
}


def meaning(verdict: str, kind: str, rule: str = "") -> str:
    """What the verdict means for the user, in one sentence that fits ``rule``
    (default: the usual rule of a site of ``kind``)."""
    rule = rule or _KIND_RULE.get(kind, "") or next(
        (m.rule for m in MEASURES.values() if m.kind == kind), "BN101")
    if verdict == CONFIRMED:
        return _CONFIRMED.get(rule, _CONFIRMED["BN101"])
    if verdict == INCONCLUSIVE:
        if rule in ("BN101", "BN102", "BN103"):
            return _INCONCLUSIVE_BATCH
        return _INCONCLUSIVE_RULE.get(rule, _INCONCLUSIVE)
    return _NOT_CONFIRMED.get(rule, _NOT_CONFIRMED["BN101"])
