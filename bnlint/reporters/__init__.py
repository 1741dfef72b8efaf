"""Output formats. Each reporter turns a LintResult into text for one consumer."""
from __future__ import annotations

from typing import Callable, Dict

from .github import render_github
from .gitlab import render_gitlab
from .json_reporter import render_json
from .junit import render_junit
from .sarif import render_sarif

# name -> function(result, **options) -> str (machine formats); text is streamed by TextReporter.
MACHINE_FORMATS: Dict[str, Callable] = {
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
    "junit": render_junit,
    "gitlab": render_gitlab,
}
FORMATS = ("text",) + tuple(MACHINE_FORMATS)
