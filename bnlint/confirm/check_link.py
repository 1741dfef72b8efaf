"""``bnlint check --confirm SCRIPT``: run the script under confirm and attach verdicts
to the static findings (no torch import here: the script runs in a child process)."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from .matching import attach_verdicts, finding_key
from .runner import run_script


def confirm_findings(script: str, args: Sequence[str], findings) -> Tuple[Dict, str]:
    """(finding key -> SiteResult, a one-line status) for the findings confirm measured."""
    outcome = run_script(script, list(args))
    result = outcome.result
    if result.status != "ok":
        return {}, f"bnlint confirm could not measure {script}: {result.message}"
    verdicts = attach_verdicts(findings, result)
    measured = len(verdicts)
    return verdicts, f"bnlint confirm ran {script}: {measured} finding{'s' if measured != 1 else ''} measured."


def verdict_json(site) -> dict:
    return {"verdict": site.verdict, "z": round(site.z, 2), "meaning": site.meaning, "site": site.label,
            "rule": site.rule, "value": site.value, "measured": site.number_text()}


def verdict_lines(findings, verdicts) -> List[str]:
    out = []
    for f in findings:
        site = verdicts.get(finding_key(f))
        if site is not None:
            out.append(f"{f.location if hasattr(f, 'location') else f'{f.path}:{f.line}'}: {f.code} "
                       f"{site.verdict} by bnlint confirm ({site.number_text()}): {site.meaning}")
    return out


__all__ = ["confirm_findings", "verdict_json", "verdict_lines", "finding_key"]
