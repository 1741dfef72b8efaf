"""BN103 unshuffled-train-loader: a BN model trained on a DataLoader that keeps the data's order."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import libcst as cst

from ..analysis.describe import describe_model
from ..analysis.loaders import UNSHUFFLED, is_dataloader
from ..analysis.module import Scope
from ..analysis.values import Ctx, ExtCall, Maybe, Seq, Value, call_arg
from .base import Rule, RuleContext

WHY = (
    "its batches keep the dataset's order, so each mini-batch holds neighbouring samples (one class, "
    "one source, one period) and BatchNorm normalizes it with statistics that are not the data's; "
    "the running averages used in eval mode then differ from what every training batch saw"
)
FIX = "pass `shuffle=True` to this DataLoader (or a random sampler such as `RandomSampler`/`DistributedSampler`)"


def _loaders(values: List[Value]) -> List[ExtCall]:
    """DataLoaders among the values an iterable can be, looking through zip/enumerate."""
    out = []
    for v in values:
        if isinstance(v, Maybe):
            continue  # only on a branch we cannot decide: stay silent
        if is_dataloader(v):
            out.append(v)
        elif isinstance(v, Seq) and v.kind in ("zip", "enumerate"):
            for item in v.items:
                out.extend(_loaders(list(item)))
    return out


class UnshuffledTrainLoader(Rule):
    code = "BN103"
    name = "unshuffled-train-loader"
    summary = "DataLoader without shuffling feeds the training loop of a model with BatchNorm"
    trigger_words = ("DataLoader", "train_dataloader")

    def check(self, ctx: RuleContext):
        seen: Dict[Tuple[str, int], bool] = {}
        for scope in ctx.module.scopes:
            for loop in ctx.training.training_loops(scope):
                self._check_loop(ctx, scope, loop, seen)
        for cls in ctx.module.classes.values():
            self._check_lightning(ctx, cls, seen)
        return ctx.findings

    # -- plain training loops ----------------------------------------------------------
    def _check_loop(self, ctx: RuleContext, scope: Scope, loop: cst.CSTNode, seen) -> None:
        rctx = ctx.resolver.ctx_for(scope)
        sources: List[Tuple[cst.CSTNode, List[Value]]] = []
        if isinstance(loop, cst.For):
            sources.append((loop.iter, ctx.resolver.resolve(loop.iter, rctx)))
        for site in scope.calls:
            func = site.call.func
            if loop in site.loops and isinstance(func, cst.Name) and func.value == "next":
                arg = call_arg(site.call, 0)
                if arg is not None:
                    sources.append((site.call, ctx.resolver.resolve(arg, rctx)))
        candidates = [(node, loader) for node, values in sources for loader in _loaders(values)]
        if not candidates:
            return
        model_call = ctx.training.trains_bn_model(ctx.training.loop_forward_calls(loop, scope, rctx))
        if model_call is None:
            return
        model = next(m for m in model_call.models if ctx.bn.has_bn(m))
        for use_node, loader in candidates:
            self._report(ctx, loader, use_node, model, ctx.module.line(loop), seen)

    # -- Lightning: train_dataloader() of a LightningModule with BN --------------------------
    def _check_lightning(self, ctx: RuleContext, cls, seen) -> None:
        method = cls.methods.get("train_dataloader")
        if method is None or "training_step" not in cls.methods:
            return
        if not ctx.training.is_lightning_module(cls, ctx.module):
            return
        if not ctx.bn.class_has_bn(cls, ctx.module, None, None):
            return
        rctx = ctx.resolver.ctx_for(method)
        for ret in method.returns:
            for loader in _loaders(ctx.resolver.resolve(ret, rctx)):
                self._report(ctx, loader, ret, ctx.resolver.ctx_for(method).self_value,
                             ctx.module.line(cls.methods["training_step"].node), seen)

    def _report(self, ctx: RuleContext, loader: ExtCall, use_node, model, loop_line: int, seen) -> None:
        if ctx.loaders.shuffle_state(loader) != UNSHUFFLED:
            return
        here = loader.ctx.module is ctx.module
        node = loader.call if here else use_node
        key = (ctx.module.path, ctx.module.line(node))
        if key in seen:
            return
        seen[key] = True
        where = "" if here else (
            f" (the DataLoader is created at {ctx.display_path(loader.ctx.module)}:"
            f"{loader.ctx.module.line(loader.call)})"
        )
        related = ()
        if not here:
            related = (ctx.related(loader.ctx.module, loader.call, "the unshuffled DataLoader"),)
        message = (
            f"DataLoader without shuffling{where} feeds the training loop at line {loop_line} of "
            f"{describe_model(model)}, which contains BatchNorm: {WHY}"
        )
        ctx.report(node, message, FIX, related=related)
