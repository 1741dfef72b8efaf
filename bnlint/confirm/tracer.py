"""The recorder installed in the child process before the user's script runs.

It patches ``nn.Module.__call__`` (a global forward pre-hook cannot see keyword
arguments, and the replay needs them) and registers a global optimizer
step pre-hook. It records every *top-level* forward call of a module that holds
a BN layer in training mode: the user's line, a capped copy of the inputs, the
training step it belongs to, and the loader that produced its input.

Training steps: calls are grouped per optimizer step; a step ends when an
optimizer steps a second time, so a GAN's D and G steps form one training step.
After ``steps`` complete training steps (or ``max_seconds``) the recorder stops
the script from inside the hook: nothing in the user's code runs after that,
so no ``try/except`` can swallow the stop.
"""
from __future__ import annotations

import bisect
import functools
import os
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Set, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DataParallel, DistributedDataParallel
from torch.optim.optimizer import register_optimizer_step_pre_hook

from .frames import Site, direct_site, user_site
from .loader_watch import LoaderInfo, LoaderWatch

# Wrappers whose forward just calls the wrapped module: the wrapped call is the one recorded.
_TRANSPARENT = (DataParallel, DistributedDataParallel)


@dataclass(eq=False)
class RecordedCall:
    model: nn.Module
    args: tuple
    kwargs: dict
    site: Optional[Site]
    seq: int  # optimizer steps taken before this call
    samples: int
    inner: Set[Site] = field(default_factory=set)  # nested BN-bearing calls made from user code
    loader: Optional[Tuple[LoaderInfo, int]] = None  # loader and tensor index that fed args[0]

    def run(self, model: nn.Module) -> Any:
        return model(*self.args, **self.kwargs)


def _tracks_stats(module: nn.Module) -> bool:
    return isinstance(module, _BatchNorm) and module.track_running_stats


def _map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(_map_tensors(v, fn) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map_tensors(v, fn) for v in obj)
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    return obj


def _first_tensor_arg(args: tuple) -> Optional[torch.Tensor]:
    return next((a for a in args if isinstance(a, torch.Tensor)), None)


def capped_copy(args: tuple, kwargs: dict, cap_samples: int, cap_bytes: int):
    """Detached copies of the inputs, keeping at most ``cap_samples`` samples and
    about ``cap_bytes`` bytes of the batch dimension. Returns (args, kwargs, samples)."""
    x = _first_tensor_arg(args)
    if x is None:
        x = next((v for v in kwargs.values() if isinstance(v, torch.Tensor)), None)
    n = int(x.shape[0]) if x is not None and x.dim() > 0 else 0
    keep = n
    if n:
        per_sample = max(1, x.element_size() * x.numel() // n)
        keep = max(2, min(n, cap_samples, cap_bytes // per_sample))

    def copy(t: torch.Tensor) -> torch.Tensor:
        t = t.detach()
        if n and t.dim() > 0 and t.shape[0] == n:
            t = t[:keep]
        return t.clone()

    return _map_tensors(args, copy), _map_tensors(kwargs, copy), min(n, keep)


class Recorder:
    def __init__(
        self,
        *,
        steps: int,
        probe: int,
        max_seconds: float,
        cap_samples: int,
        cap_bytes: int,
        on_stop: Callable[["Recorder", str], None],
    ):
        self.steps = steps
        self.probe = probe
        self.deadline = time.monotonic() + max_seconds
        self.cap_samples = cap_samples
        self.cap_bytes = cap_bytes
        self.on_stop = on_stop
        self.loaders = LoaderWatch()
        self.calls: List[RecordedCall] = []
        self.seq = 0  # optimizer steps so far (any optimizer)
        self.group_starts = [0]  # seq at which each training step began
        self.group_optimizers: Set[int] = set()
        self.limit_seq: Optional[int] = None  # calls at or after this seq are not complete
        self.depth = 0
        self.current: Optional[RecordedCall] = None
        self.active = True
        self.pid = os.getpid()
        self._has_bn: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()

    # ----- installation -------------------------------------------------

    def install(self) -> None:
        original = nn.Module.__call__
        recorder = self

        @functools.wraps(original)
        def __call__(module, *args, **kwargs):
            return recorder.module_call(original, module, args, kwargs)

        self._restore = original
        nn.Module.__call__ = __call__
        self._step_hook = register_optimizer_step_pre_hook(self.before_step)
        self.loaders.install()

    def uninstall(self) -> None:
        """Undo :meth:`install` (the child never needs to; benchmarks and tools do)."""
        nn.Module.__call__ = self._restore
        self._step_hook.remove()
        self.loaders.uninstall()

    def _live(self) -> bool:
        # DataLoader workers are forks of this process: they must not record or stop.
        return self.active and os.getpid() == self.pid

    def has_bn(self, module: nn.Module) -> bool:
        """Does ``module`` hold a BN layer with running statistics? (cached: every call asks)"""
        found = self._has_bn.get(module)
        if found is None:
            found = self._has_bn[module] = any(_tracks_stats(m) for m in module.modules())
        return found

    # ----- hooks --------------------------------------------------------

    def module_call(self, original, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        if not self._live():
            return original(module, *args, **kwargs)
        if not self.has_bn(module) or isinstance(module, _TRANSPARENT):
            return original(module, *args, **kwargs)
        top = self.depth == 0
        if top:
            self._check_deadline()
            if any(_tracks_stats(m) and m.training for m in module.modules()):
                self.current = self._record(module, args, kwargs)
        elif self.current is not None and not isinstance(module, _BatchNorm):
            site = direct_site(2)  # frames: module_call <- __call__ <- caller
            if site is not None:
                self.current.inner.add(site)
        self.depth += 1
        try:
            return original(module, *args, **kwargs)
        finally:
            self.depth -= 1
            if top:
                self.current = None

    def _record(self, module: nn.Module, args: tuple, kwargs: dict) -> RecordedCall:
        x = _first_tensor_arg(args)
        loader = self.loaders.link(x) if x is not None else None
        copied_args, copied_kwargs, samples = capped_copy(args, kwargs, self.cap_samples, self.cap_bytes)
        call = RecordedCall(
            model=module,
            args=copied_args,
            kwargs=copied_kwargs,
            site=user_site(3),  # frames: _record <- module_call <- __call__ <- caller
            seq=self.seq,
            samples=samples,
            loader=loader,
        )
        self.calls.append(call)
        return call

    def before_step(self, optimizer, args, kwargs) -> None:
        if not self._live():
            return
        if id(optimizer) in self.group_optimizers:
            # This optimizer already stepped: a new training step begins here.
            self.group_starts.append(self.seq)
            self.group_optimizers = set()
            self._forget_old_steps()
            if self.completed_steps(self.seq) >= self.steps:
                self.stop(limit_seq=self.seq, how="steps")
        self._check_deadline()
        self.group_optimizers.add(id(optimizer))
        self.seq += 1

    # ----- steps and stopping ---------------------------------------------

    def step_of(self, seq: int) -> int:
        return bisect.bisect_right(self.group_starts, seq) - 1

    def completed_steps(self, limit_seq: int) -> int:
        """Training steps whose calls all happened before ``limit_seq``."""
        if limit_seq == 0:
            return 0
        last = self.step_of(limit_seq - 1)
        # The last step is complete only if it has taken its optimizer steps.
        return last + 1 if self.group_starts[last] < limit_seq else last

    def _forget_old_steps(self) -> None:
        """Memory bound: keep the calls of the last ``probe`` steps (and the current one)."""
        oldest = len(self.group_starts) - 1 - self.probe
        if oldest > 0:
            self.calls = [c for c in self.calls if self.step_of(c.seq) >= oldest]

    def probe_calls(self) -> List[RecordedCall]:
        """The recorded calls of the last ``probe`` complete training steps."""
        limit = self.seq if self.limit_seq is None else self.limit_seq
        completed = self.completed_steps(limit)
        first = max(0, completed - self.probe)
        return [c for c in self.calls if c.seq < limit and first <= self.step_of(c.seq) < completed]

    def _check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            self.stop(limit_seq=self.seq, how="deadline")

    def stop(self, limit_seq: Optional[int] = None, how: str = "end") -> None:
        """Stop recording and hand over to ``on_stop`` (which does not return in the child)."""
        if not self.active:
            return
        self.active = False
        self.limit_seq = self.seq if limit_seq is None else limit_seq
        self.on_stop(self, how)
