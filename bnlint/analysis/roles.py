"""Domain roles named in code: ``data["S"]``, ``img_t``, ``(source, target)``.

A paired dataset yields one sample of each domain per item (MCD's
``UnalignedDataLoader`` gives ``{"S": ..., "T": ...}``, a ``ConcatDataset`` of
two datasets gives ``(source, target)``). One loader then carries two
distributions, and only the names tell them apart. Only the source/target
vocabulary counts: ``view1``/``view2``, ``A``/``B`` or ``inputs``/``targets``
name parts of one sample, not domains.
"""
from __future__ import annotations

import re
from typing import Optional

_SOURCE = frozenset({"s", "src", "source", "sources"})
_TARGET = frozenset({"t", "tgt", "trg", "target", "targets"})
_EVALUATION = frozenset({"val", "valid", "validate", "validation", "test", "testing", "eval", "evaluation"})
_UNLABELLED = frozenset({"unsup", "unsupervised", "unlabeled", "unlabelled", "ulb", "unl"})
_TOKEN = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def domain_role(text: str) -> Optional[str]:
    """"source", "target" or None (no role word, or both) for a key or variable name."""
    tokens = {t.lower() for t in _TOKEN.findall(text)}
    src, tgt = bool(tokens & _SOURCE), bool(tokens & _TARGET)
    if src == tgt:
        return None
    return "source" if src else "target"


def unlabelled(text: str) -> bool:
    """A name for the unlabelled split of semi-supervised training (``x_unsup``, ``inputs_ulb``)."""
    return bool({t.lower() for t in _TOKEN.findall(text)} & _UNLABELLED)


def evaluation_only(text: str) -> bool:
    """A name for held-out data and no domain (``dataloader_val``, ``test_loader``; not
    ``target_test_loader``, the unlabelled target split some adaptation methods train on)."""
    tokens = {t.lower() for t in _TOKEN.findall(text)}
    return bool(tokens & _EVALUATION) and domain_role(text) is None
