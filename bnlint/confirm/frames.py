"""Finding the user's line in the call stack (the line that made a forward call,
built a DataLoader, or iterated one), skipping torch and bnlint frames."""
from __future__ import annotations

import os
import sys
from typing import Optional, Tuple

import torch

import bnlint

Site = Tuple[str, int]  # (absolute path, 1-based line)

_SKIPPED = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep for module in (torch, bnlint)
)


def is_user_file(filename: str) -> bool:
    return not filename.startswith("<") and not os.path.abspath(filename).startswith(_SKIPPED)


def user_site(depth: int = 1) -> Optional[Site]:
    """The innermost user frame at or above ``depth`` frames up from the caller."""
    frame = sys._getframe(depth + 1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if is_user_file(filename):
            return os.path.abspath(filename), frame.f_lineno
        frame = frame.f_back
    return None


def direct_site(depth: int = 1) -> Optional[Site]:
    """The frame exactly ``depth`` up from the caller, if it is user code."""
    frame = sys._getframe(depth + 1)
    filename = frame.f_code.co_filename
    if is_user_file(filename):
        return os.path.abspath(filename), frame.f_lineno
    return None


def format_site(site: Optional[Site]) -> str:
    return f"{site[0]}:{site[1]}" if site else ""
