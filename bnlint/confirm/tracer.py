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

Besides the calls it keeps for the batch checks, it watches, cheaply:

- every BN layer that runs in train mode (``LayerWatch``): the smallest batch and
  N·H·W it sees (BN104/BN901), a snapshot of its running statistics the first
  time it runs while frozen (BN203), a few input variances when its eps is
  large (BN406), and the line that built it (BN402/BN406);
- no-grad calls of a model with BN (BN201): with BN in train mode, the output
  is compared with the same call with BN in eval mode (buffers untouched, the
  random state restored, so dropout masks match and the script's stream is
  unchanged), for the first few calls of each site;
- grad-enabled calls of a model in eval mode with trainable BN layers (BN202):
  a hook on the output marks the training step when backward reaches it;
- ``AveragedModel`` (BN204): its source model and, at its first eval-mode
  calls, the gap between its stored BN buffers and re-estimated ones;
- ``DistributedDataParallel(...)`` (BN301): the line, the wrapped model and the
  world size; the per-process batch sizes come from the layer watches;
- eval-mode calls of a model with BN layers without running statistics (BN403):
  the same call on the two halves of its batch first (no_grad, random state
  restored), for the first few calls of each site, and the ``eval()`` line;
- ``torch.autograd.grad(..., create_graph=True)`` (BN404): when its input is the
  input of a recent call of a model with BN, the cross-sample share of the
  penalty's gradients, measured on a copy of that model;
- the lines that build dropout modules (BN405, measured after the stop by
  replaying recorded calls: see ``sites.variance_shift_sites``);
- ``torch.utils.checkpoint.checkpoint`` (BN205, also as called by
  ``checkpoint_sequential``): the line, and per BN layer that runs in the
  checkpointed code in train mode, its running-stat updates in the forward pass
  (one per batch) and in all, backward's recomputation included. A recomputation
  is not the script's own forward call: nothing in it is recorded;
- the lines that build conv/linear layers (BN401, measured after the stop by
  replaying recorded calls with a backward pass: see ``sites.dead_bias_sites``).
"""
from __future__ import annotations

import bisect
import collections
import functools
import os
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.parallel import DataParallel, DistributedDataParallel
from torch.optim.optimizer import register_optimizer_step_pre_hook

from .frames import Site, direct_site, user_site
from .loader_watch import LoaderInfo, LoaderWatch
from .measures import (BIASED, HALVES_MIN_SAMPLES, batch_slice, channel_var, cross_sample_share, eval_pass, halves_gap,
                       is_frozen, map_tensors, refreshed_gap, snapshot, world_size)
from .replay import replica
from .stats import first_tensor, output_gap

try:  # torch >= 1.6
    from torch.optim.swa_utils import AveragedModel
except ImportError:  # pragma: no cover
    AveragedModel = None

EVAL_CALLS_PER_SITE = 8  # no-grad calls measured per site (BN201)
BATCH_CALLS_PER_SITE = 4  # eval-mode calls measured per site (BN403)
PENALTY_CALLS_PER_SITE = 2  # gradient penalties measured per site (BN404)
GRAD_INPUTS_KEPT = 4  # recent calls whose input requires grad (BN404 links a penalty to them)
VAR_SAMPLES = 4  # input variances kept per large-eps layer (BN406)
LARGE_EPS = 0.01

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

    out_shape: Optional[Tuple[int, ...]] = None  # shape of the first floating output

    def run(self, model: nn.Module) -> Any:
        return model(*self.args, **self.kwargs)


@dataclass(eq=False)
class LayerWatch:
    """One BN layer seen running (sizes and sites: in train mode only)."""

    layer: nn.Module
    created: Optional[Site] = None
    calls: int = 0  # train-mode calls
    min_n: Optional[int] = None
    min_nhw: Optional[int] = None
    sites: Set[Site] = field(default_factory=set)  # top-level call sites it ran under
    model: Optional[nn.Module] = None  # the first top-level model it ran under
    frozen_at: Optional[tuple] = None  # running stats when first seen in train mode while frozen
    frozen_site: Optional[Site] = None  # the user's requires_grad_(False) on it or a parent
    variances: List[torch.Tensor] = field(default_factory=list)


@dataclass(eq=False)
class EvalCall:
    """A no-grad call of a model with BN (BN201)."""

    model: nn.Module
    site: Optional[Site]
    bn_training: bool
    gap: Optional[float] = None
    flipped: Optional[float] = None
    output: Any = None  # the eval-mode output, until the real call's output is there


@dataclass(eq=False)
class AveragedWatch:
    averaged: nn.Module
    source: nn.Module
    created: Optional[Site]
    use_buffers: bool
    updated: bool = False  # update_bn() ran on it
    gaps: List[Tuple[Optional[Site], Optional[float], Optional[float]]] = field(default_factory=list)


@dataclass(eq=False)
class DDPWatch:
    """A ``DistributedDataParallel`` wrapper built by the script (BN301)."""

    module: nn.Module  # the wrapped model
    created: Optional[Site]
    world: Optional[int]  # processes a SyncBatchNorm would share statistics with
    world_from: str


@dataclass(eq=False)
class BatchCall:
    """An eval-mode call of a model with BN layers without running statistics (BN403)."""

    model: nn.Module
    site: Optional[Site]
    switched: Optional[Site]  # the eval() / train(False) line that put those layers in eval mode
    layers: List[nn.Module]
    samples: int
    gap: Optional[float] = None
    flipped: Optional[float] = None


@dataclass(eq=False)
class PenaltyWatch:
    """A gradient penalty (autograd.grad with create_graph=True) on a BN model's input (BN404)."""

    model: nn.Module
    site: Optional[Site]
    train_bn: int  # BN layers in train mode when it ran
    share: Optional[float] = None
    details: Dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class CheckpointWatch:
    """A line that calls ``torch.utils.checkpoint.checkpoint`` (BN205)."""

    site: Optional[Site]
    owner: Optional[nn.Module] = None  # the model running, else the checkpointed module (names the layers)
    calls: int = 0  # checkpoint() calls made there
    seen: Set[nn.Module] = field(default_factory=set)  # BN layers run in the checkpointed code
    counts: Dict[nn.Module, List[int]] = field(default_factory=dict)  # [forward-pass, all] updates


def _tracks_stats(module: nn.Module) -> bool:
    return isinstance(module, _BatchNorm) and module.track_running_stats


def _untracked(module: nn.Module) -> bool:
    return isinstance(module, _BatchNorm) and not module.track_running_stats


def _first_float(obj: Any) -> Optional[torch.Tensor]:
    return first_tensor(obj)


def _trainable(bn: nn.Module) -> bool:
    return any(p.requires_grad for p in bn.parameters(recurse=False))


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

    return map_tensors(args, copy), map_tensors(kwargs, copy), min(n, keep)


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
        measures: bool = True,
    ):
        self.steps = steps
        self.probe = probe
        self.deadline = time.monotonic() + max_seconds
        self.cap_samples = cap_samples
        self.cap_bytes = cap_bytes
        self.on_stop = on_stop
        self.measures = measures  # False: only the batch-composition recording (benchmarks compare)
        self.loaders = LoaderWatch()
        self.calls: List[RecordedCall] = []
        self.seq = 0  # optimizer steps so far (any optimizer)
        self.group_starts = [0]  # seq at which each training step began
        self.group_optimizers: Set[int] = set()
        self.limit_seq: Optional[int] = None  # calls at or after this seq are not complete
        self.depth = 0
        self.current: Optional[RecordedCall] = None
        self.current_top: Optional[Tuple[nn.Module, Optional[Site]]] = None
        self.active = True
        self.pid = os.getpid()
        self._has_bn: "weakref.WeakKeyDictionary[nn.Module, bool]" = weakref.WeakKeyDictionary()
        self._bns: "weakref.WeakKeyDictionary[nn.Module, list]" = weakref.WeakKeyDictionary()
        self.layers: Dict[nn.Module, LayerWatch] = {}
        self.created: "weakref.WeakKeyDictionary[nn.Module, Site]" = weakref.WeakKeyDictionary()
        self.freezes: "weakref.WeakKeyDictionary[nn.Module, Site]" = weakref.WeakKeyDictionary()
        self.eval_calls: List[EvalCall] = []
        self._eval_counts: Dict[Tuple[int, Optional[Site]], int] = {}
        self.eval_training: Dict[Optional[Site], Set[int]] = {}  # site -> training steps (BN202)
        self.eval_training_models: Dict[Optional[Site], str] = {}
        self.averaged: List[AveragedWatch] = []
        self._untracked_bns: "weakref.WeakKeyDictionary[nn.Module, list]" = weakref.WeakKeyDictionary()
        self.ddp: List[DDPWatch] = []  # BN301
        self.batch_calls: List[BatchCall] = []  # BN403
        self._batch_counts: Dict[Tuple[int, Optional[Site]], int] = {}
        self.eval_switches: "weakref.WeakKeyDictionary[nn.Module, Site]" = weakref.WeakKeyDictionary()
        self._switching = False  # inside Module.train: children's calls are not the user's
        self.grad_inputs: collections.deque = collections.deque(maxlen=GRAD_INPUTS_KEPT)  # BN404
        self.penalties: List[PenaltyWatch] = []
        self._penalty_counts: Dict[Optional[Site], int] = {}
        self.dropouts: "weakref.WeakKeyDictionary[nn.Module, Site]" = weakref.WeakKeyDictionary()  # BN405
        self.checkpoints: Dict[Optional[Site], CheckpointWatch] = {}  # BN205
        self.segments: List[Tuple[CheckpointWatch, bool]] = []  # checkpointed code running: (watch, forward pass)
        self.biased: "weakref.WeakKeyDictionary[nn.Module, Site]" = weakref.WeakKeyDictionary()  # BN401

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
        self._patched = []
        if not self.measures:
            return
        self._patch(_BatchNorm, "__init__", self._bn_init)
        self._patch(nn.Module, "requires_grad_", self._requires_grad)
        if AveragedModel is not None:
            self._patch(AveragedModel, "__init__", self._averaged_init)
            import torch.optim.swa_utils as swa_utils

            self._patch(swa_utils, "update_bn", self._update_bn)
        self._patch(DistributedDataParallel, "__init__", self._ddp_init)
        self._patch(nn.Module, "train", self._train)
        self._patch(_DropoutNd, "__init__", self._dropout_init)
        for owner in BIASED:
            self._patch(owner, "__init__", lambda original: self._record_site(original, self.biased))
        import torch.utils.checkpoint as checkpointing

        self._patch(checkpointing, "checkpoint", self._checkpoint)
        self._patch(torch.autograd, "grad", self._grad)

    def _patch(self, owner, name: str, make) -> None:
        original = getattr(owner, name)
        replacement = functools.wraps(original)(make(original))
        self._patched.append((owner, name, original))
        setattr(owner, name, replacement)

    def uninstall(self) -> None:
        """Undo :meth:`install` (the child never needs to; benchmarks and tools do)."""
        nn.Module.__call__ = self._restore
        self._step_hook.remove()
        self.loaders.uninstall()
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)

    # ----- construction-time watches (cheap: once per object) -------------

    def _bn_init(self, original):
        return self._record_site(original, self.created)

    def _record_site(self, original, table):
        """A constructor that also records, in ``table``, the user's line that built the module."""
        recorder = self

        def __init__(module, *args, **kwargs):
            original(module, *args, **kwargs)
            if recorder._live():
                site = user_site()
                if site is not None:
                    table[module] = site

        return __init__

    def _requires_grad(self, original):
        recorder = self

        def requires_grad_(module, requires_grad=True):
            result = original(module, requires_grad)
            if recorder._live() and not requires_grad:
                site = user_site()
                if site is not None:
                    for bn in module.modules():
                        if isinstance(bn, _BatchNorm):
                            recorder.freezes[bn] = site
            return result

        return requires_grad_

    def _averaged_init(self, original):
        recorder = self

        def __init__(averaged, model, *args, **kwargs):
            original(averaged, model, *args, **kwargs)
            if recorder._live():
                recorder.averaged.append(AveragedWatch(
                    averaged, model, user_site(), bool(getattr(averaged, "use_buffers", False))))

        return __init__

    def _update_bn(self, original):
        recorder = self

        def update_bn(loader, model, *args, **kwargs):
            was, recorder.active = recorder.active, False  # a deliberate re-estimation pass
            try:
                result = original(loader, model, *args, **kwargs)
            finally:
                recorder.active = was
            for watch in recorder.averaged:
                if watch.averaged is model or getattr(watch.averaged, "module", None) is model:
                    watch.updated = True
            return result

        return update_bn

    def _ddp_init(self, original):
        recorder = self

        def __init__(ddp, module, *args, **kwargs):
            original(ddp, module, *args, **kwargs)
            if recorder._live():
                world, source = world_size(getattr(ddp, "process_group", None))
                recorder.ddp.append(DDPWatch(module, user_site(), world, source))

        return __init__

    def _train(self, original):
        recorder = self

        def train(module, mode=True):
            if not recorder._switching and not mode and recorder._live():
                layers = recorder.untracked(module)
                if layers:
                    site = user_site()
                    if site is not None:
                        for bn in layers:
                            recorder.eval_switches[bn] = site
            was, recorder._switching = recorder._switching, True
            try:
                return original(module, mode)
            finally:
                recorder._switching = was

        return train

    def _dropout_init(self, original):
        return self._record_site(original, self.dropouts)

    def _checkpoint(self, original):
        recorder = self

        def checkpoint(function, *args, **kwargs):
            if not recorder._live():
                return original(function, *args, **kwargs)
            site = user_site()
            watch = recorder.checkpoints.get(site)
            if watch is None:
                owner = recorder.current_top[0] if recorder.current_top else getattr(function, "__self__", function)
                watch = recorder.checkpoints[site] = CheckpointWatch(
                    site, owner if isinstance(owner, nn.Module) else None)
            watch.calls += 1
            forward = [True]  # False once checkpoint() returned: later runs are backward's recomputation

            def segment(*inner_args, **inner_kwargs):
                recorder.segments.append((watch, forward[0]))
                recompute = not forward[0]
                recorder.depth += recompute  # not a forward call of the script's: not recorded
                try:
                    return function(*inner_args, **inner_kwargs)
                finally:
                    recorder.depth -= recompute
                    recorder.segments.pop()

            try:
                return original(segment, *args, **kwargs)
            finally:
                forward[0] = False

        return checkpoint

    def _grad(self, original):
        recorder = self

        def grad(outputs, inputs, *args, **kwargs):
            create = kwargs["create_graph"] if "create_graph" in kwargs else len(args) > 2 and args[2]
            if create and recorder.grad_inputs and recorder._live():
                recorder._penalty(inputs, user_site())
            return original(outputs, inputs, *args, **kwargs)

        return grad

    def _live(self) -> bool:
        # DataLoader workers are forks of this process: they must not record or stop.
        return self.active and os.getpid() == self.pid

    def has_bn(self, module: nn.Module) -> bool:
        """Does ``module`` hold a BN layer with running statistics? (cached: every call asks)"""
        found = self._has_bn.get(module)
        if found is None:
            found = self._has_bn[module] = any(_tracks_stats(m) for m in module.modules())
        return found

    def bns(self, module: nn.Module) -> list:
        """The BN layers with running statistics in ``module`` (cached; modules rarely change)."""
        found = self._bns.get(module)
        if found is None:
            found = self._bns[module] = [m for m in module.modules() if _tracks_stats(m)]
        return found

    def untracked(self, module: nn.Module) -> list:
        """The BN layers without running statistics in ``module`` (cached, like :meth:`bns`)."""
        found = self._untracked_bns.get(module)
        if found is None:
            found = self._untracked_bns[module] = [m for m in module.modules() if _untracked(m)]
        return found

    # ----- per-layer watch (BN104/BN901, BN203, BN402/BN406) ----------------

    def _watch_bn(self, bn: nn.Module, args: tuple) -> None:
        if self.segments:  # BN205: a BN layer in checkpointed code
            segment, forward = self.segments[-1]
            segment.seen.add(bn)
            if bn.training:
                counts = segment.counts.setdefault(bn, [0, 0])
                counts[0] += forward
                counts[1] += 1
        watch = self.layers.get(bn)
        if watch is None:
            watch = self.layers[bn] = LayerWatch(bn, created=self.created.get(bn))
        if watch.frozen_at is None:
            weight = bn.weight  # cheap pre-check: this runs at every BN call
            if (weight is None or not weight.requires_grad) and is_frozen(bn):
                watch.frozen_at = snapshot(bn)
                # The freeze's line when requires_grad_(False) made it, else the innermost user
                # line running the layer now (a `p.requires_grad = False` loop leaves no trace).
                watch.frozen_site = self.freezes.get(bn) or user_site()
        top = self.current_top
        if top is not None and watch.model is None:
            watch.model = top[0]
        if not bn.training:
            return
        if top is not None and top[1] is not None:
            watch.sites.add(top[1])
        x = args[0] if args and isinstance(args[0], torch.Tensor) else None
        watch.calls += 1
        if x is not None and x.dim() >= 2 and torch.is_grad_enabled():
            n = int(x.shape[0])
            nhw = x.numel() // max(1, int(x.shape[1]))
            watch.min_n = n if watch.min_n is None else min(watch.min_n, n)
            watch.min_nhw = nhw if watch.min_nhw is None else min(watch.min_nhw, nhw)
            if bn.eps >= LARGE_EPS and len(watch.variances) < VAR_SAMPLES and nhw > 1:
                watch.variances.append(channel_var(x).cpu())

    # ----- hooks --------------------------------------------------------

    def module_call(self, original, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        if not self._live():
            return original(module, *args, **kwargs)
        if self.measures and isinstance(module, _BatchNorm) and module.track_running_stats:
            self._watch_bn(module, args)
        if not self.has_bn(module) or isinstance(module, _TRANSPARENT):
            if (self.depth == 0 and not module.training and self.measures
                    and not isinstance(module, _TRANSPARENT) and self.untracked(module)):
                return self._untracked_eval_call(original, module, args, kwargs)
            return original(module, *args, **kwargs)
        top = self.depth == 0
        if not top:
            if self.current is not None and not isinstance(module, _BatchNorm):
                inner = direct_site(2)  # frames: module_call <- __call__ <- caller
                if inner is not None:
                    self.current.inner.add(inner)
            self.depth += 1
            try:
                return original(module, *args, **kwargs)
            finally:
                self.depth -= 1
        return self._top_call(original, module, args, kwargs)

    def _top_call(self, original, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        self._check_deadline()
        bns = self.bns(module)
        training = any(m.training for m in bns)
        grad = torch.is_grad_enabled()
        # frames: _top_call <- module_call <- __call__ <- caller
        measures = self.measures
        site = user_site(3) if (training or (measures and (not grad or self.averaged))) else None
        # A reentrant checkpoint's forward pass runs under no_grad: training, not an evaluation.
        evaluated = (self._eval_pass(original, module, args, kwargs, bns, site)
                     if measures and not grad and not self.segments else None)
        averaged = None if training or not measures else self._averaged_eval(module, site, args, kwargs)
        if measures and not module.training and not training and self.untracked(module):
            self._batch_dependence(original, module, args, kwargs, site or user_site(3))
        if measures and grad:
            self._note_grad_input(module, args, kwargs)
        # No-grad calls are not training batches (BN201 measures them): not replayed.
        recorded = self.current = self._record(module, args, kwargs, site) if training and grad else None
        self.current_top = (module, site)
        self.depth += 1
        try:
            output = original(module, *args, **kwargs)
        finally:
            self.depth -= 1
            self.current = self.current_top = None
        first = _first_float(output)
        if recorded is not None and first is not None:
            recorded.out_shape = tuple(first.shape)
        if evaluated is not None:
            evaluated.gap, evaluated.flipped = output_gap(output, evaluated.output)
            evaluated.output = None
        # BN202: the whole model left in eval mode while it trains. A model in train mode whose
        # BN layers alone were put in eval mode (freezing statistics on purpose) does not count.
        if measures and grad and not module.training and first is not None and first.requires_grad:
            if any(not m.training and _trainable(m) for m in bns):
                self._watch_eval_training(first, module, site or user_site(2))
        if averaged is not None:
            averaged()
        return output

    # ----- BN201: no-grad calls ---------------------------------------------

    def _eval_pass(self, original, module, args, kwargs, bns, site) -> Optional["EvalCall"]:
        """Note a no-grad call; with BN in train mode, also run it with BN in eval mode
        first (the first few calls of each site). Returns the call to complete."""
        key = (id(module), site)
        count = self._eval_counts.get(key, 0)
        if count >= EVAL_CALLS_PER_SITE:
            return None
        self._eval_counts[key] = count + 1
        training = [(None, m) for m in bns if m.training]
        if training and all(m.momentum is None for _, m in training):
            return None  # re-estimating running statistics (cumulative average), on purpose
        call = EvalCall(module, site, bool(training))
        self.eval_calls.append(call)
        if not training:
            call.gap, call.flipped = 0.0, 0.0
            return None
        self.active = False  # the extra pass is not the script's: nothing in it is recorded
        try:
            call.output = eval_pass(lambda: original(module, *args, **kwargs), training)
        except Exception:
            return None  # the real call raises the same error, where the script expects it
        finally:
            self.active = True
        return call

    # ----- BN403: eval-mode outputs that depend on the batch -------------------

    def _untracked_eval_call(self, original, module, args, kwargs) -> Any:
        """An eval-mode call of a model whose only BN layers keep no running statistics."""
        # frames: _untracked_eval_call <- module_call <- __call__ <- caller
        self._batch_dependence(original, module, args, kwargs, user_site(3))
        self.depth += 1  # its submodules' calls are not top-level calls
        try:
            return original(module, *args, **kwargs)
        finally:
            self.depth -= 1

    def _batch_dependence(self, original, module, args, kwargs, site) -> None:
        """Before the real call: the same call on the two halves of its batch (first few
        calls of each site), outside the recording and with the random state restored."""
        key = (id(module), site)
        count = self._batch_counts.get(key, 0)
        x = _first_tensor_arg(args)
        n = int(x.shape[0]) if x is not None and x.dim() > 0 else 0
        if count >= BATCH_CALLS_PER_SITE or n < HALVES_MIN_SAMPLES:
            return
        self._batch_counts[key] = count + 1
        layers = self.untracked(module)
        switched = next((self.eval_switches[bn] for bn in layers if bn in self.eval_switches), None)
        call = BatchCall(module, site, switched, layers, n)
        self.batch_calls.append(call)

        def run_part(start: int, stop: int) -> Any:
            return original(module, *batch_slice(args, n, start, stop), **batch_slice(kwargs, n, start, stop))

        self.active = False  # the extra passes are not the script's
        try:
            call.gap, call.flipped = halves_gap(run_part, n)
        except Exception:
            pass  # the real call raises the same error, where the script expects it
        finally:
            self.active = True

    # ----- BN404: gradient penalties ------------------------------------------

    def _note_grad_input(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        """Keep the last few calls whose first input requires grad, so that a penalty on
        that input (autograd.grad(..., inputs=x)) finds the model it went through. The
        input itself is held weakly and the rest detached: no graph is kept alive."""
        x = _first_tensor_arg(args)
        if x is None or not x.requires_grad:
            return
        index = next(i for i, a in enumerate(args) if a is x)
        rest = map_tensors((args[:index], args[index + 1:], kwargs), lambda t: t.detach())
        self.grad_inputs.append((weakref.ref(x), module, rest))

    def _penalty(self, inputs, site) -> None:
        """Before autograd.grad(..., create_graph=True) runs: if one of its inputs went into a
        recent call of a model with BN, measure that model's cross-sample share on a copy."""
        tensors = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        for ref, module, (before, after, kwargs) in reversed(self.grad_inputs):
            x = ref()
            if x is None or not any(t is x for t in tensors):
                continue
            count = self._penalty_counts.get(site, 0)
            if count >= PENALTY_CALLS_PER_SITE:
                return
            self._penalty_counts[site] = count + 1
            watch = PenaltyWatch(module, site, sum(m.training for m in self.bns(module)))
            self.penalties.append(watch)
            self.active = False  # the copy's calls are not the script's
            try:
                with replica(module) as net:
                    watch.share, watch.details = cross_sample_share(
                        lambda t: net(*before, t, *after, **kwargs), x)
            except Exception:
                pass
            finally:
                self.active = True
            return

    # ----- BN202: training through BN layers in eval mode -------------------

    def _watch_eval_training(self, output: torch.Tensor, module: nn.Module, site) -> None:
        step = self.step_of(self.seq)
        recorder = self

        def hook(grad):
            if recorder._live():
                recorder.eval_training.setdefault(site, set()).add(step)
                recorder.eval_training_models[site] = type(module).__name__
            return None

        output.register_hook(hook)

    # ----- BN204: AveragedModel evaluated ------------------------------------

    def _averaged_eval(self, module, site, args, kwargs):
        """For an eval-mode call of an AveragedModel: a function that measures its stored
        vs re-estimated BN buffers on the source model's recorded inputs and this call's."""
        watch = next((w for w in self.averaged if w.averaged is module), None)
        if watch is None or len(watch.gaps) >= 2:
            return None
        inputs = [c for c in self.calls if c.model is watch.source][-16:]
        if not inputs:
            return None
        inner = getattr(module, "module", module)

        def measure() -> None:
            self.active = False  # the copy's calls are not the script's
            try:
                gap, flipped = refreshed_gap(inner, [c.run for c in inputs], [lambda m: m(*args, **kwargs)])
            except Exception:
                gap, flipped = None, None
            finally:
                self.active = True
            watch.gaps.append((site, gap, flipped))

        return measure

    def _record(self, module: nn.Module, args: tuple, kwargs: dict, site: Optional[Site]) -> RecordedCall:
        x = _first_tensor_arg(args)
        loader = self.loaders.link(x) if x is not None else None
        copied_args, copied_kwargs, samples = capped_copy(args, kwargs, self.cap_samples, self.cap_bytes)
        call = RecordedCall(
            model=module,
            args=copied_args,
            kwargs=copied_kwargs,
            site=site,
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
