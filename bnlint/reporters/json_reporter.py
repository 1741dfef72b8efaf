"""The stable JSON format (documented in README)."""
from __future__ import annotations

import json
from collections import Counter

from .. import __version__
from ..paths import escape_all


def render_json(result, **_options) -> str:
    payload = {
        "version": __version__,
        "findings": [_with_verdict(f, getattr(result, "verdicts", None)) for f in result.findings],
        "errors": [e.to_json() for e in result.errors],
        "files_checked": result.files_checked,
    }
    if _options.get("statistics"):  # --statistics: the per-rule counts of the text table
        payload["statistics"] = statistics(result.findings)
    return json.dumps(escape_all(payload), indent=2, ensure_ascii=False) + "\n"


def statistics(findings) -> list:
    """One entry per rule code: ``code``, ``name``, ``count``, ``fixable``; most frequent first."""
    counts = Counter((f.code, f.name) for f in findings)
    fixable = Counter(f.code for f in findings if f.autofix is not None)
    return [{"code": code, "name": name, "count": n, "fixable": fixable[code]}
            for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _with_verdict(finding, verdicts) -> dict:
    data = finding.to_json()
    if verdicts:
        verdict = verdicts.get((finding.code, finding.path, finding.line))
        if verdict is not None:
            data["confirm"] = verdict  # added only by `check --confirm SCRIPT`
    return data
