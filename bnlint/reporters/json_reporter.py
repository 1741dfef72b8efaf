"""The stable JSON format (documented in README)."""
from __future__ import annotations

import json

from .. import __version__


def render_json(result, **_options) -> str:
    payload = {
        "version": __version__,
        "findings": [f.to_json() for f in result.findings],
        "errors": [e.to_json() for e in result.errors],
        "files_checked": result.files_checked,
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
