"""Output formats. Each reporter turns a LintResult into text for one consumer."""
from __future__ import annotations

from typing import Callable, Dict

from .json_reporter import render_json

# name -> function(result, **options) -> str (machine formats); text is streamed by TextReporter.
MACHINE_FORMATS: Dict[str, Callable] = {
    "json": render_json,
}
FORMATS = ("text",) + tuple(MACHINE_FORMATS)
