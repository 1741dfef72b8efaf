"""GitLab Code Quality report (a JSON array, uploaded as ``artifacts:reports:codequality``)."""
from __future__ import annotations

import json

from ..baseline import fingerprints, project_path
from ..paths import escape_all, repository_root


def render_gitlab(result, **_options) -> str:
    root = result.root or "."
    repo = repository_root(root)  # GitLab shows locations relative to the repository root
    findings = list(result.findings)
    issues = [
        {
            "type": "issue",
            "check_name": f.code,
            "description": f"{f.code} [{f.name}] "
                           + (f"cell {f.cell}, line {f.line}: " if f.cell is not None else "") + f.message,
            # The short line above; the why and the fix in the details, then the rule's page.
            "content": {"body": f"{f.explanation}\n\nhelp: {f.fix}\n\n{f.url}" if f.explanation
                        else f"help: {f.fix}\n\n{f.url}"},
            "categories": ["Bug Risk"],
            "severity": "major",
            "fingerprint": fp,
            "location": {"path": project_path(f.path, repo),
                         "lines": {"begin": f.line, "end": max(f.line, f.end_line)} if f.cell is None
                         else {"begin": f.ipynb_line or 1}},  # a notebook: the line of the .ipynb file
        }
        for f, fp in zip(findings, fingerprints(findings, root))
    ]
    return json.dumps(escape_all(issues), indent=2, ensure_ascii=False) + "\n"
