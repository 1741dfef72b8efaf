"""BN104 single-sample-train-batch: a training batch of one sample reaches a model with BatchNorm."""
from __future__ import annotations

from typing import Optional, Tuple

from ..analysis.describe import describe_model
from ..analysis.layers import named_by_import
from ..analysis.loaders import DATALOADERS, LoaderSizes
from ..analysis.values import ExtCall
from .base import Rule, RuleContext
from .loader_report import training_loop_place
from .triggers import any_of, text

WHY = (
    "BatchNorm's training statistics are computed over the batch, and one sample has no batch "
    "statistics: after a Linear layer BatchNorm1d raises \"Expected more than 1 value per channel when "
    "training\", and BatchNorm2d normalizes the image by its own mean and variance (instance "
    "normalization), which the running averages used in eval mode do not reproduce"
)


class SingleSampleTrainBatch(Rule):
    code = "BN104"
    name = "single-sample-train-batch"
    summary = "training DataLoader of a BatchNorm model yields batches of one sample"
    triggers = (any_of(text("DataLoader")),)

    def check(self, ctx: RuleContext):
        sizes = LoaderSizes(ctx.loaders)

        problems = {}  # id(loader) -> (what, fix)

        def too_small(loader: ExtCall) -> bool:
            # Reported where the DataLoader is written (under its imported name), where the fix goes.
            if not named_by_import(loader.call, ctx.module, DATALOADERS):
                return False
            problems[id(loader)] = self.problem(sizes, loader)
            return problems[id(loader)] is not None

        uses = ctx.analysis.loader_uses
        for use in uses.written_in(ctx.module, too_small):
            if uses.regroups_rows(use):
                continue  # (each item is itself a batch: patches, a bag, crops)
            what, fix = problems[id(use.loader)]
            where, related = training_loop_place(ctx, use)
            message = f"DataLoader {what}; it feeds {describe_model(use.model)} (BatchNorm) at {where}"
            ctx.report(use.loader.call, message, fix, why=self.why, related=related)
        return ctx.findings

    why = WHY

    def problem(self, sizes: LoaderSizes, loader: ExtCall) -> Optional[Tuple[str, str]]:
        """(what the loader does, the fix) when it yields single-sample batches, else None."""
        batch = sizes.batch_size(loader)
        if batch == 1:
            written = sizes.loaders.argument(loader, "batch_size") is not None
            what = "yields 1-sample batches" + ("" if written else " (batch_size defaults to 1)")
            return what, ("use a batch size of at least 2 (BatchNorm needs many samples per batch; 16+ is "
                          "typical), or replace BatchNorm by GroupNorm/LayerNorm for per-sample training")
        if batch is None or batch < 2 or sizes.drop_last(loader) is not False:
            return None
        length = sizes.dataset_length(loader)
        if length is None or length % batch != 1:
            return None
        return (f"with batch_size={batch} on {length} samples leaves a last batch of 1",
                "pass `drop_last=True` to this DataLoader (or choose a batch size that does not leave a "
                "remainder of 1)")
