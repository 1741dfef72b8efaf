"""GitLab Code Quality report (a JSON array, uploaded as ``artifacts:reports:codequality``)."""
from __future__ import annotations

import json

from ..baseline import fingerprints, project_path
from ..paths import escape_all


def render_gitlab(result, **_options) -> str:
    root = result.root or "."
    findings = list(result.findings)
    issues = [
        {
            "type": "issue",
            "check_name": f.code,
            "description": f"{f.code} [{f.name}] {f.message}",
            "content": {"body": f"help: {f.fix}\n\n{f.url}"},
            "categories": ["Bug Risk"],
            "severity": "major",
            "fingerprint": fp,
            "location": {"path": project_path(f.path, root),
                         "lines": {"begin": f.line, "end": max(f.line, f.end_line)}},
        }
        for f, fp in zip(findings, fingerprints(findings, root))
    ]
    return json.dumps(escape_all(issues), indent=2, ensure_ascii=False) + "\n"
