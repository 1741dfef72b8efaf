"""BN103 unshuffled-train-loader: a BN model trained on a DataLoader that keeps the data's order."""
from __future__ import annotations

from typing import List, Optional

import libcst as cst

from ..analysis.describe import describe_model
from ..analysis.loaders import UNSHUFFLED, is_dataloader
from ..analysis.module import ModuleInfo, Scope
from ..analysis.syntax import slices_by_iteration
from ..analysis.values import Ctx, ExtCall, Maybe, Seq, Value, call_arg
from ..findings import Autofix, Edit
from .base import Rule, RuleContext
from .triggers import any_of, text

WHY = (
    "its batches keep the dataset's order, so each mini-batch holds neighbouring samples (one class, "
    "one source, one period) and BatchNorm normalizes it with statistics that are not the data's; "
    "the running averages used in eval mode then differ from what every training batch saw"
)
MAX_CONSUMERS = 25  # bound the cross-module search on huge projects
FIX = "pass `shuffle=True` to this DataLoader (or a random sampler such as `RandomSampler`/`DistributedSampler`)"
FIX_PAIRED = ("make the dataset return what the training loop slices by position (labels, conditions) with each "
              "sample, then pass `shuffle=True` to this DataLoader; shuffling it alone would mismatch the pairs")


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


class Use:
    """A DataLoader found feeding a training loop of a BN model."""

    __slots__ = ("loader", "model", "loop_module", "loop_node")

    def __init__(self, loader: ExtCall, model: Value, loop_module: ModuleInfo, loop_node: cst.CSTNode):
        self.loader = loader
        self.model = model
        self.loop_module = loop_module
        self.loop_node = loop_node


class UnshuffledTrainLoader(Rule):
    code = "BN103"
    name = "unshuffled-train-loader"
    summary = "DataLoader without shuffling feeds the training loop of a model with BatchNorm"
    triggers = (any_of(text("DataLoader", "train_dataloader")),)

    def check(self, ctx: RuleContext):
        # The finding goes where the fix goes: the ``DataLoader(`` call. The loop that
        # trains on it may live in another module (a train.py calling data.get_loaders(),
        # an engine.fit(model, loader) helper), so the consumers are searched too.
        seen = set()
        for module in _consumer_modules(ctx):
            for use in _training_uses(ctx, module):
                if use.loader.ctx.module is not ctx.module or id(use.loader.call) in seen:
                    continue
                if ctx.loaders.shuffle_state(use.loader) != UNSHUFFLED:
                    continue
                seen.add(id(use.loader.call))
                self._report(ctx, use)
        return ctx.findings

    def _report(self, ctx: RuleContext, use: Use) -> None:
        loop_line = use.loop_module.line(use.loop_node)
        if use.loop_module is ctx.module:
            where, related = f"line {loop_line}", ()
        else:
            where = f"{ctx.short_path(use.loop_module)}:{loop_line}"
            related = (ctx.related(use.loop_module, use.loop_node, "the training loop using this DataLoader"),)
        message = (
            f"DataLoader without shuffling feeds the training loop of {describe_model(use.model)} "
            f"(BatchNorm) at {where}"
        )
        scope = next((s for s in use.loop_module.scopes if use.loop_node in s.loops), None)
        paired = scope is not None and slices_by_iteration(use.loop_module, scope, use.loop_node)
        # A loop that pairs each batch with rows of another array by position (``labels[i*bs:...]``)
        # would silently train on mismatched pairs once shuffled: reported, but never fixed.
        ctx.report(use.loader.call, message, FIX_PAIRED if paired else FIX, why=WHY, related=related,
                   autofix=None if paired else _shuffle_autofix(ctx, use.loader.call))


def _consumer_modules(ctx: RuleContext) -> List[ModuleInfo]:
    """This module, modules calling its loader-building functions, and project modules they import."""
    out: List[ModuleInfo] = [ctx.module]
    builders = set()
    for scope in ctx.module.scopes:
        if scope.parent is not None and any(_builds_loader(ctx, site) for site in scope.calls):
            builders.add(scope)
    for scope in builders:
        for site in ctx.resolver.callers(scope):
            if site.scope.module not in out:
                out.append(site.scope.module)
    for module in list(out):
        for imported in ctx.resolver.imported_modules(module):
            if imported not in out and len(out) < MAX_CONSUMERS:
                out.append(imported)
    return out[:MAX_CONSUMERS]


def _builds_loader(ctx: RuleContext, site) -> bool:
    """The call site constructs a ``torch.utils.data.DataLoader`` (resolved, not guessed from its name)."""
    return any(is_dataloader(v) for v in ctx.resolver.resolve(site.call, ctx.resolver.ctx_for(site.scope)))


def _training_uses(ctx: RuleContext, module: ModuleInfo) -> List[Use]:
    """Every (loader, BN model) pair of the module's training loops; memoised per module."""
    key = ("bn103_uses", id(module))
    memo = ctx.analysis.index.memo
    if key not in memo:
        uses: List[Use] = []
        for scope in module.scopes:
            for loop in ctx.training.training_loops(scope):
                uses.extend(_loop_uses(ctx, scope, loop))
        for cls in module.classes.values():
            uses.extend(_lightning_uses(ctx, module, cls))
        memo[key] = uses
    return memo[key]


def _loop_uses(ctx: RuleContext, scope: Scope, loop: cst.CSTNode) -> List[Use]:
    rctx = ctx.resolver.ctx_for(scope)
    loaders = _loop_loaders(ctx, scope, loop, rctx)
    if not loaders:
        return []
    model_call = ctx.training.trains_bn_model(ctx.training.loop_forward_calls(loop, scope, rctx))
    if model_call is None:
        return []
    training = _training_callers_loaders(ctx, scope, loop)
    if training is not None:
        loaders = [loader for loader in loaders if id(loader.call) in training]
    model = next(m for m in model_call.models if ctx.bn.has_bn(m))
    return [Use(loader, model, scope.module, loop) for loader in loaders]


def _loop_loaders(ctx: RuleContext, scope: Scope, loop: cst.CSTNode, rctx) -> List[ExtCall]:
    values: List[Value] = []
    if isinstance(loop, cst.For):
        values.extend(ctx.resolver.resolve(loop.iter, rctx))
    for site in scope.calls:
        func = site.call.func
        if loop in site.loops and isinstance(func, cst.Name) and func.value == "next":
            arg = call_arg(site.call, 0)
            if arg is not None:
                values.extend(ctx.resolver.resolve(arg, rctx))
    return _loaders(values)


def _training_callers_loaders(ctx: RuleContext, scope: Scope, loop: cst.CSTNode) -> Optional[set]:
    """``train_val(net, loader, optimizer)`` with ``if is_train: loss.backward()`` inside: the ids of
    the loaders passed by the calls whose arguments let the update run (``train_val(net, test_loader,
    None)`` evaluates). None when every update in the loop runs unconditionally, or no caller is known."""
    rctx = ctx.resolver.ctx_for(scope)
    updates = [s for s in scope.calls if loop in s.loops and ctx.training.is_update_call(s, rctx)]
    if not updates or any(not s.guards for s in updates):
        return None
    callers = ctx.resolver.callers(scope) if scope.parent is not None else []
    if not callers:
        return None
    method = scope.cls is not None and scope.self_name is not None
    out = set()
    for site in callers:
        env = ctx.resolver.bind_args(scope, site.call, ctx.resolver.ctx_for(site.scope), skip_self=method)
        inner = Ctx(scope, env, rctx.self_value)
        if any(not _known_not_taken(ctx, s.guards, inner) for s in updates):
            out.update(id(loader.call) for loader in _loop_loaders(ctx, scope, loop, inner))
    return out


def _known_not_taken(ctx: RuleContext, guards, inner) -> bool:
    """Some enclosing condition is known to take the other branch with these arguments."""
    for test, branch in guards:
        value = ctx.resolver.truth(test, inner)
        if value is not None and value != branch:
            return True
    return False


def _lightning_uses(ctx: RuleContext, module: ModuleInfo, cls) -> List[Use]:
    """``train_dataloader()`` of a LightningModule with BN feeds its ``training_step``."""
    method = cls.methods.get("train_dataloader")
    if method is None or "training_step" not in cls.methods:
        return []
    if not ctx.training.is_lightning_module(cls, module) or not ctx.bn.class_has_bn(cls, module, None, None):
        return []
    rctx = ctx.resolver.ctx_for(method)
    step = cls.methods["training_step"].node
    return [Use(loader, rctx.self_value, module, step)
            for ret in method.returns for loader in _loaders(ctx.resolver.resolve(ret, rctx))]


def _shuffle_autofix(ctx: RuleContext, call: cst.Call) -> Optional[Autofix]:
    """Flip a literal ``shuffle=False`` or add ``shuffle=True``, when the call's arguments are all visible."""
    if any(arg.star for arg in call.args) or not call.args:
        return None  # ``**kwargs`` may hold shuffle or a sampler
    if any(arg.keyword is not None and arg.keyword.value in ("sampler", "batch_sampler") for arg in call.args):
        return None  # shuffle=True next to a sampler is an error in DataLoader
    if sum(1 for arg in call.args if arg.keyword is None) > 3:
        return None  # a positional sampler
    module = ctx.module
    shuffle = call_arg(call, 2, "shuffle")
    if shuffle is not None:
        if not (isinstance(shuffle, cst.Name) and shuffle.value == "False"):
            return None  # only a literal is ours to change
        line, col, end_line, end_col = module.position(shuffle)
        edit = Edit(module.source.offset(line, col), module.source.offset(end_line, end_col), "True")
        return Autofix("replace `shuffle=False` by `shuffle=True`", (edit,), safe=True)
    _, _, end_line, end_col = module.position(call.args[-1].value)
    at = module.source.offset(end_line, end_col)
    return Autofix("add `shuffle=True`", (Edit(at, at, ", shuffle=True"),), safe=True)
