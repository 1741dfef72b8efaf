"""Rule registry: every rule class, by code. A code is never reused (see RETIRED)."""
from __future__ import annotations

from typing import Dict, List, Type

from .base import Rule, validate_rule
from .bn101_shared_tower import SharedTowerPerDomainBatches
from .bn102_gan_pure_batches import GanDiscriminatorPureBatches
from .bn103_unshuffled_train_loader import UnshuffledTrainLoader
from .bn104_single_sample_train_batch import SingleSampleTrainBatch
from .bn201_eval_without_eval_mode import EvalWithoutEvalMode
from .bn202_train_mode_not_restored import TrainModeNotRestored
from .bn203_frozen_batchnorm_stats_updating import FrozenBatchNormStatsUpdating
from .bn204_averaged_model_without_bn_update import AveragedModelWithoutBnUpdate
from .bn205_checkpointed_batchnorm import CheckpointedBatchNorm
from .bn301_ddp_without_syncbatchnorm import DdpWithoutSyncBatchNorm
from .bn401_bias_before_batchnorm import BiasBeforeBatchNorm
from .bn402_keras_style_momentum import KerasStyleMomentum
from .bn403_eval_uses_batch_statistics import EvalUsesBatchStatistics
from .bn404_batchnorm_in_gradient_penalty_critic import BatchNormInGradientPenaltyCritic
from .bn405_dropout_before_batchnorm import DropoutBeforeBatchNorm
from .bn406_large_batchnorm_eps import LargeBatchNormEps
from .bn901_tiny_batch_batchnorm import TinyBatchBatchNorm

ALL_RULES: List[Type[Rule]] = [
    SharedTowerPerDomainBatches,
    GanDiscriminatorPureBatches,
    UnshuffledTrainLoader,
    SingleSampleTrainBatch,
    EvalWithoutEvalMode,
    TrainModeNotRestored,
    FrozenBatchNormStatsUpdating,
    AveragedModelWithoutBnUpdate,
    CheckpointedBatchNorm,
    DdpWithoutSyncBatchNorm,
    BiasBeforeBatchNorm,
    KerasStyleMomentum,
    EvalUsesBatchStatistics,
    BatchNormInGradientPenaltyCritic,
    DropoutBeforeBatchNorm,
    LargeBatchNormEps,
    TinyBatchBatchNorm,
]
RETIRED: Dict[str, str] = {}  # code -> why it was retired

# Which rules are on by default, in one line (``bnlint rules`` prints it under the table; README says the same).
DEFAULT_POLICY = (
    "default: on = accuracy/correctness bugs (ignoring them changes what the model computes or how well it "
    "does); off = opinionated rules, or ones costly to false-alarm on; enable with --extend-select CODE"
)

for _rule in ALL_RULES:
    validate_rule(_rule)

RULES_BY_CODE: Dict[str, Type[Rule]] = {r.code: r for r in ALL_RULES}
assert len(RULES_BY_CODE) == len(ALL_RULES), "duplicate rule code"
