"""Attach confirm verdicts to static findings (``bnlint check --confirm``).

A static finding points at source lines; confirm measured places at source
lines (forward calls, loaders, the lines that built BN layers or froze them).
They are matched by file and line proximity, each rule to the kinds of site
that measure it (``RULE_KINDS``):

- BN101/BN102 (towers, GAN pure batches): the nearest forward call site;
- BN103 (unshuffled loader): the nearest loader and, failing that, the nearest
  call site, since an unfair loader also shows at the call it feeds;
- BN104/BN901: the batch-size site of the model (at its loader, or its call);
- BN201: the no-grad call; BN202: the training call that ran in eval mode;
- BN203: the freeze (``requires_grad_(False)``) or the frozen layers' call;
- BN204: the ``AveragedModel(...)`` line; BN402/BN406: the line that built the layer;
- BN301: the ``DistributedDataParallel(...)`` line;
- BN403: the ``eval()`` line that put the layers in eval mode, else the evaluation call;
- BN404: the ``autograd.grad(..., create_graph=True)`` line;
- BN405: the line that built the dropout (else the model's call);
- BN205: the ``checkpoint(...)`` line; BN401: the line that built the conv/linear layer.

A site's own places are its line and its nested lines (``inner_sites``).
Sites of the rules whose finding may sit far from the measured line (a
freeze, a loader, a mode switch) fall back to the nearest site in the same
file. The site handed back is re-judged and reworded for the finding's rule
(a call site attached to BN102 gets the discriminator's advice; a batch-size
site is a BN104 verdict for a BN104 finding and a BN901 one for BN901).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterable, List, Optional, Tuple

from .result import ConfirmResult, SiteResult
from .verdict import MEASURES, SEVERITY, judge, meaning

# Rule -> the kinds of site that measure it, in order of preference.
RULE_KINDS = {
    "BN101": ("call",),
    "BN102": ("call",),
    "BN103": ("loader", "call"),
    "BN104": ("batch-size",),
    "BN901": ("batch-size",),
    "BN201": ("eval-call",),
    "BN202": ("eval-training",),
    "BN203": ("frozen",),
    "BN204": ("averaged",),
    "BN402": ("momentum",),
    "BN406": ("eps",),
    "BN301": ("ddp-batch",),
    "BN403": ("batch-dependence",),
    "BN404": ("penalty",),
    "BN405": ("variance-shift",),
    "BN205": ("checkpoint",),
    "BN401": ("dead-bias",),
}
MATCHED_CODES = tuple(RULE_KINDS)
# Rules whose finding can sit far from the measured line: nearest site in the same file.
FILE_WIDE = ("BN104", "BN901", "BN202", "BN203", "BN204", "BN403")
MAX_DISTANCE = 40  # lines; beyond this a site is about some other code

FindingKey = Tuple[str, str, int]


def finding_key(finding) -> FindingKey:
    """How :func:`attach_verdicts` keys its answer: (code, path, line) of the finding."""
    return (finding.code, finding.path, finding.line)


def _same_file(a: str, b: str) -> bool:
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def _finding_lines(finding) -> List[Tuple[str, int]]:
    places = [(finding.path, finding.line)]
    places += [(r.path, r.line) for r in getattr(finding, "related", ())]
    return places


def _nearest(finding, sites: Iterable[SiteResult], max_distance: int) -> Optional[SiteResult]:
    """The site closest to the finding or its related places; ties go to the most
    severe verdict (a towers finding spans both calls, and one of them may look fair)."""
    best, best_rank = None, None
    for site in sites:
        for site_path, site_line in site.places():
            for path, line in _finding_lines(finding):
                distance = abs(site_line - line)
                if distance > max_distance or not _same_file(path, site_path):
                    continue
                rank = (distance, -SEVERITY.get(site.verdict, 0))
                if best_rank is None or rank < best_rank:
                    best, best_rank = site, rank
    return best


def attach_verdicts(
    findings: Iterable, confirm_result: ConfirmResult, *, max_distance: int = MAX_DISTANCE
) -> Dict[FindingKey, SiteResult]:
    """Map each finding of a rule confirm measures (``RULE_KINDS``) to the matching site.

    ``findings``: objects with ``code``, ``path``, ``line`` (and optionally
    ``related``), e.g. :class:`bnlint.findings.Finding`. Relative paths are
    taken relative to the working directory. The value's ``verdict``, ``z``,
    ``meaning`` (and the rest of :class:`SiteResult`) say what was measured.
    Findings with no site within ``max_distance`` lines of the same file are
    left out: confirm did not see that code run.
    """
    by_kind: Dict[str, List[SiteResult]] = {}
    for site in confirm_result.sites:
        by_kind.setdefault(site.kind, []).append(site)
    attached: Dict[FindingKey, SiteResult] = {}
    for finding in findings:
        kinds = RULE_KINDS.get(finding.code)
        if not kinds:
            continue
        site = None
        for kind in kinds:
            site = _nearest(finding, by_kind.get(kind, ()), max_distance)
            if site is not None:
                break
        if site is None and finding.code in FILE_WIDE:
            for kind in kinds:
                site = _nearest(finding, by_kind.get(kind, ()), 10**9)
                if site is not None:
                    break
        if site is not None:
            attached[finding_key(finding)] = for_rule(site, finding.code)
    return attached


def for_rule(site: SiteResult, rule: str) -> SiteResult:
    """``site`` judged and worded for ``rule`` (a copy when that changes anything)."""
    if site.rule == rule:
        return site
    verdict = site.verdict
    if MEASURES.get(rule) is not None and MEASURES[rule].name != "z" and site.value is not None:
        verdict = judge(rule, site.value)
    return dataclasses.replace(site, rule=rule, verdict=verdict, meaning=meaning(verdict, site.kind, rule))
