"""The decision rule: from a z statistic to a verdict and a one-sentence meaning.

z is a call's deviation from the reference statistics in units of its own
sampling error (see ``stats.py``). Fair batches give z around 0.7. On the
examples in ``examples/two_domains`` (5 seeds each) the legitimate regimes
scored 0.4-0.95 and the pitfalls 4.8-55; a 12-BN-layer CNN on i.i.d. batches
of 16 stayed under 1.4. The thresholds leave room on both sides; see
docs/confirm.md for the figures.
"""
from __future__ import annotations

CONFIRMED = "confirmed"
INCONCLUSIVE = "inconclusive"
NOT_CONFIRMED = "not confirmed"
ERROR = "error"

CONFIRM_AT = 4.0  # z >= this: confirmed
INCONCLUSIVE_AT = 3.0  # INCONCLUSIVE_AT <= z < CONFIRM_AT: inconclusive

# Worst first: the overall verdict of a run is the worst of its sites.
SEVERITY = {ERROR: 3, CONFIRMED: 2, INCONCLUSIVE: 1, NOT_CONFIRMED: 0}


def classify(z: float) -> str:
    if z >= CONFIRM_AT:
        return CONFIRMED
    if z >= INCONCLUSIVE_AT:
        return INCONCLUSIVE
    return NOT_CONFIRMED


def meaning(verdict: str, kind: str) -> str:
    """What the verdict means for the user, in one sentence."""
    if verdict == CONFIRMED and kind == "loader":
        return (
            "This loader's batches are not fair samples of its dataset: BN trains on "
            "per-batch statistics that the running averages used in eval mode do not "
            "reproduce; shuffle the loader (shuffle=True or a random sampler)."
        )
    if verdict == CONFIRMED:
        return (
            "Batches at this forward call differ systematically from the mixture the "
            "running statistics average over, so BN normalizes differently in training "
            "than in eval mode; concatenate the batches into one forward call or use "
            "domain-specific BN layers."
        )
    if verdict == INCONCLUSIVE:
        return (
            "The deviation is above sampling noise but below the confirmation threshold; "
            "rerun with more --steps or look at the worst layer."
        )
    if kind == "loader":
        return (
            "The loader's batches match random batches of its dataset within sampling "
            "noise; BN sees fair samples here."
        )
    return (
        "Batch statistics at this call agree with the running statistics within "
        "sampling noise; BN sees fair batches here."
    )
