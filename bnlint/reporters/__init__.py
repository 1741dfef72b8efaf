"""Output formats. Each reporter turns a LintResult into text for one consumer."""
from __future__ import annotations

import importlib
from typing import Callable, Dict

# name -> (module, function(result, **options) -> str); text is streamed by TextReporter. Each module
# is imported when its format is used: SARIF describes every rule (it imports them all), JSON
# does not, and a run served from the cache should not pay for the formats it does not print.
_RENDERERS = {
    "json": (".json_reporter", "render_json"),
    "sarif": (".sarif", "render_sarif"),
    "github": (".github", "render_github"),
    "junit": (".junit", "render_junit"),
    "gitlab": (".gitlab", "render_gitlab"),
}


def _lazy(module: str, name: str) -> Callable:
    def render(result, **options) -> str:
        return getattr(importlib.import_module(module, __name__), name)(result, **options)

    render.__name__ = render.__qualname__ = name
    return render


MACHINE_FORMATS: Dict[str, Callable] = {fmt: _lazy(*where) for fmt, where in _RENDERERS.items()}
FORMATS = ("text",) + tuple(MACHINE_FORMATS)
