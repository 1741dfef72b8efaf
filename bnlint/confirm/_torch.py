"""The one gate through which bnlint.confirm reaches PyTorch.

torch is an optional extra: everything outside ``bnlint.confirm`` must import
without it, and inside it the message for a missing torch must say what to do.
"""
from __future__ import annotations

INSTALL_HINT = "pip install 'bnlint[confirm]'"


class TorchMissing(ImportError):
    """Raised when a confirm feature is used without PyTorch installed."""


def require_torch():
    """Return the ``torch`` module, or raise :class:`TorchMissing` with the install hint."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise TorchMissing(
            f"bnlint confirm needs PyTorch, which is not installed here: {INSTALL_HINT}"
        ) from exc
    return torch
