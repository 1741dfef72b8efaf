"""Dynamic confirmation: run the real model on the real batches and measure whether
BN's training statistics (per batch) disagree with its eval statistics (running).

This is the only part of bnlint that imports torch and the only part that runs
user code. ``import bnlint.confirm`` stays cheap: torch is loaded on first use of
:func:`compare`, :func:`compare_loader` and the other measures (:func:`batch_sizes`,
:func:`compare_modes`, :func:`frozen_bn_drift`, :func:`averaged_bn_gap`,
:func:`bn_settings`, :func:`ddp_batch_sizes`, :func:`batch_dependence`,
:func:`critic_cross_sample`, :func:`dropout_variance_shift`, :func:`checkpoint_updates`,
:func:`dead_bias`); without torch they raise
:class:`TorchMissing` saying ``pip install 'bnlint[confirm]'``.
"""
from __future__ import annotations

from ._torch import INSTALL_HINT, TorchMissing, require_torch
from .matching import attach_verdicts, finding_key
from .result import ConfirmResult, SiteResult
from .verdict import CONFIRM_AT, CONFIRMED, INCONCLUSIVE, INCONCLUSIVE_AT, NOT_CONFIRMED

_LAZY = {"compare", "compare_loader", "compare_modes", "frozen_bn_drift", "batch_sizes",
         "averaged_bn_gap", "bn_settings", "ddp_batch_sizes", "batch_dependence", "critic_cross_sample",
         "dropout_variance_shift", "checkpoint_updates", "dead_bias"}


def __getattr__(name):
    if name in _LAZY:
        require_torch()
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CONFIRM_AT",
    "CONFIRMED",
    "ConfirmResult",
    "INCONCLUSIVE",
    "INCONCLUSIVE_AT",
    "INSTALL_HINT",
    "NOT_CONFIRMED",
    "SiteResult",
    "TorchMissing",
    "attach_verdicts",
    "averaged_bn_gap",
    "batch_dependence",
    "batch_sizes",
    "bn_settings",
    "checkpoint_updates",
    "compare",
    "compare_loader",
    "compare_modes",
    "critic_cross_sample",
    "ddp_batch_sizes",
    "dead_bias",
    "dropout_variance_shift",
    "frozen_bn_drift",
    "finding_key",
]
