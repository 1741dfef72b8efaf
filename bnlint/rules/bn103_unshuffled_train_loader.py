"""BN103 unshuffled-train-loader: a BN model trained on a DataLoader that keeps the data's order."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from ..analysis.describe import describe_model
from ..analysis.loader_uses import LoaderUse
from ..analysis.loaders import UNSHUFFLED
from ..analysis.names import dotted_name
from ..analysis.syntax import slices_by_iteration
from ..analysis.values import ExtCall, call_arg
from ..findings import Autofix, Edit
from .base import Rule, RuleContext
from .loader_report import training_loop_place
from .triggers import any_of, text

WHY = (
    "its batches keep the dataset's order, so each mini-batch holds neighbouring samples (one class, "
    "one source, one period) and BatchNorm normalizes it with statistics that are not the data's; "
    "the running averages used in eval mode then differ from what every training batch saw"
)
FIX = "pass `shuffle=True` to this DataLoader (or a random sampler such as `RandomSampler`/`DistributedSampler`)"
FIX_PAIRED = ("make the dataset return what the training loop slices by position (labels, conditions) with each "
              "sample, then pass `shuffle=True` to this DataLoader; shuffling it alone would mismatch the pairs")


class UnshuffledTrainLoader(Rule):
    code = "BN103"
    name = "unshuffled-train-loader"
    summary = "DataLoader without shuffling feeds the training loop of a model with BatchNorm"
    triggers = (any_of(text("DataLoader", "train_dataloader")),)

    def check(self, ctx: RuleContext):
        # The finding goes where the fix goes: the ``DataLoader(`` call, wherever the loop that
        # trains on it is written (see loader_uses).
        def unshuffled(loader: ExtCall) -> bool:
            return ctx.loaders.shuffle_state(loader) == UNSHUFFLED and not _whole_dataset_batch(loader)

        for use in ctx.analysis.loader_uses.written_in(ctx.module, unshuffled):
            self._report(ctx, use)
        return ctx.findings

    def _report(self, ctx: RuleContext, use: LoaderUse) -> None:
        where, related = training_loop_place(ctx, use)
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


def _whole_dataset_batch(loader: ExtCall) -> bool:
    """``DataLoader(ds, batch_size=len(ds))``, or ``batch_size=train_list.shape[0]`` with
    ``ds = Dataset(train_list, labels)``: one batch holds the whole dataset, whatever its order."""
    call, ctx = loader.call, loader.ctx
    size, dataset = call_arg(call, 1, "batch_size"), call_arg(call, 0, "dataset")
    counted = _length_of(size) if size is not None else None
    if counted is None or dataset is None:
        return False
    if dotted_name(dataset) == counted:
        return True
    bindings = ctx.scope.bindings.get(dataset.value, []) if isinstance(dataset, cst.Name) else []
    return len(bindings) == 1 and bindings[0].kind == "assign" and not bindings[0].path \
        and isinstance(bindings[0].expr, cst.Call) and bool(bindings[0].expr.args) \
        and dotted_name(bindings[0].expr.args[0].value) == counted


def _length_of(size: cst.BaseExpression) -> Optional[str]:
    """``x`` for ``len(x)``, ``x.shape[0]`` and ``x.size(0)``."""
    if isinstance(size, cst.Call) and isinstance(size.func, cst.Name) and size.func.value == "len" \
            and len(size.args) == 1:
        return dotted_name(size.args[0].value)
    if isinstance(size, cst.Subscript) and isinstance(size.value, cst.Attribute) and size.value.attr.value == "shape" \
            and len(size.slice) == 1 and isinstance(size.slice[0].slice, cst.Index) \
            and isinstance(size.slice[0].slice.value, cst.Integer) and size.slice[0].slice.value.value == "0":
        return dotted_name(size.value.value)
    if isinstance(size, cst.Call) and isinstance(size.func, cst.Attribute) and size.func.attr.value == "size" \
            and len(size.args) == 1 and isinstance(size.args[0].value, cst.Integer) and size.args[0].value.value == "0":
        return dotted_name(size.func.value)
    return None


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
