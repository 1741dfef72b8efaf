"""BN901 tiny-batch-batchnorm: training batches of 2-4 samples for a model with BatchNorm (opinionated)."""
from __future__ import annotations

from typing import Optional, Tuple

from ..analysis.loaders import LoaderSizes
from ..analysis.values import ExtCall
from .bn104_single_sample_train_batch import SingleSampleTrainBatch

TINY = range(2, 5)


class TinyBatchBatchNorm(SingleSampleTrainBatch):
    """Same loaders and loops as BN104; only the batch sizes differ."""

    code = "BN901"
    name = "tiny-batch-batchnorm"
    summary = "training DataLoader of a BatchNorm model yields batches of 2-4 samples (consider GroupNorm)"
    default_enabled = False  # small batches are often forced by memory and handled on purpose
    why = (
        "BatchNorm estimates each channel's mean and variance from only these few samples, so the batch "
        "statistics are noisy and every output in training depends strongly on the other samples, while "
        "eval mode uses smooth running averages: training and eval computations disagree (Wu & He 2018: "
        "ResNet-50's ImageNet error rises from 23.6% at 32 images per GPU to 34.7% at 2)"
    )

    def problem(self, sizes: LoaderSizes, loader: ExtCall) -> Optional[Tuple[str, str]]:
        batch = sizes.batch_size(loader)
        if batch not in TINY or _distributed(sizes, loader):
            return None
        return (f"yields {batch}-sample batches",
                "replace BatchNorm by GroupNorm (Wu & He 2018) or use a larger batch; with several GPUs, "
                "SyncBatchNorm; when fine-tuning a pretrained backbone, freeze BatchNorm (FrozenBatchNorm2d)")


def _distributed(sizes: LoaderSizes, loader: ExtCall) -> bool:
    """A DistributedSampler: the batch size is per GPU, and with SyncBatchNorm the statistics are
    computed over all GPUs' samples (BN301 covers the unsynchronized case)."""
    arg = sizes.loaders.argument(loader, "sampler")
    if arg is None:
        return False
    if arg[0] == "?":
        return True
    return any(getattr(v, "qualname", "").endswith("DistributedSampler")
               for v in sizes.r.resolve(arg[0], arg[1]))
