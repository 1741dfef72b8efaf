"""Attach confirm verdicts to static findings (``bnlint check --confirm``).

A static finding points at source lines; confirm measured forward call sites
and loaders at source lines. They are matched by file and line proximity:
BN101/BN102 (towers, GAN pure batches) take the nearest forward call site,
BN103 (unshuffled loader) the nearest loader and, failing that, the nearest
call site, since an unfair loader also shows at the call it feeds.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Tuple

from .result import ConfirmResult, SiteResult
from .verdict import SEVERITY

MATCHED_CODES = ("BN101", "BN102", "BN103")
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
    """Map each BN101/BN102/BN103 finding that confirm measured to the matching site.

    ``findings``: objects with ``code``, ``path``, ``line`` (and optionally
    ``related``), e.g. :class:`bnlint.findings.Finding`. Relative paths are
    taken relative to the working directory. The value's ``verdict``, ``z``,
    ``meaning`` (and the rest of :class:`SiteResult`) say what was measured.
    Findings with no site within ``max_distance`` lines of the same file are
    left out: confirm did not see that code run.
    """
    calls = [s for s in confirm_result.sites if s.kind == "call"]
    loaders = [s for s in confirm_result.sites if s.kind == "loader"]
    attached: Dict[FindingKey, SiteResult] = {}
    for finding in findings:
        if finding.code not in MATCHED_CODES:
            continue
        site = None
        if finding.code == "BN103":
            site = _nearest(finding, loaders, max_distance)
        if site is None:
            site = _nearest(finding, calls, max_distance)
        if site is not None:
            attached[finding_key(finding)] = site
    return attached
