"""What the rules are, without importing them: code, name, on by default, and where each lives.

Selecting rules (``--select``, ``[tool.bnlint]``), validating codes and keying the cache need
only this table, so a run whose results all come from the cache never imports the rule
implementations, the analysis or LibCST. The registry (``bnlint.rules``) builds ``ALL_RULES``
from it and checks, when it imports the rules, that every class declares exactly the code,
name and default listed here (so does the test suite): the table cannot drift from the rules.
A code is never reused; add a new rule here, in code order.
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Tuple


class RuleInfo(NamedTuple):
    code: str
    name: str
    default_enabled: bool
    module: str  # inside bnlint.rules
    cls: str


CATALOG: Tuple[RuleInfo, ...] = (
    RuleInfo("BN101", "shared-tower-per-domain-batches", True, "bn101_shared_tower", "SharedTowerPerDomainBatches"),
    RuleInfo("BN102", "gan-discriminator-pure-batches", True, "bn102_gan_pure_batches", "GanDiscriminatorPureBatches"),
    RuleInfo("BN103", "unshuffled-train-loader", True, "bn103_unshuffled_train_loader", "UnshuffledTrainLoader"),
    RuleInfo("BN104", "single-sample-train-batch", True, "bn104_single_sample_train_batch",
             "SingleSampleTrainBatch"),
    RuleInfo("BN201", "eval-without-eval-mode", True, "bn201_eval_without_eval_mode", "EvalWithoutEvalMode"),
    RuleInfo("BN202", "train-mode-not-restored", True, "bn202_train_mode_not_restored", "TrainModeNotRestored"),
    RuleInfo("BN203", "frozen-batchnorm-stats-updating", True, "bn203_frozen_batchnorm_stats_updating",
             "FrozenBatchNormStatsUpdating"),
    RuleInfo("BN204", "averaged-model-without-bn-update", True, "bn204_averaged_model_without_bn_update",
             "AveragedModelWithoutBnUpdate"),
    RuleInfo("BN205", "checkpointed-batchnorm", False, "bn205_checkpointed_batchnorm", "CheckpointedBatchNorm"),
    RuleInfo("BN301", "ddp-without-syncbatchnorm", False, "bn301_ddp_without_syncbatchnorm",
             "DdpWithoutSyncBatchNorm"),
    RuleInfo("BN401", "bias-before-batchnorm", False, "bn401_bias_before_batchnorm", "BiasBeforeBatchNorm"),
    RuleInfo("BN402", "keras-style-momentum", True, "bn402_keras_style_momentum", "KerasStyleMomentum"),
    RuleInfo("BN403", "eval-uses-batch-statistics", True, "bn403_eval_uses_batch_statistics",
             "EvalUsesBatchStatistics"),
    RuleInfo("BN404", "batchnorm-in-gradient-penalty-critic", True, "bn404_batchnorm_in_gradient_penalty_critic",
             "BatchNormInGradientPenaltyCritic"),
    RuleInfo("BN405", "dropout-before-batchnorm", True, "bn405_dropout_before_batchnorm", "DropoutBeforeBatchNorm"),
    RuleInfo("BN406", "large-batchnorm-eps", True, "bn406_large_batchnorm_eps", "LargeBatchNormEps"),
    RuleInfo("BN901", "tiny-batch-batchnorm", False, "bn901_tiny_batch_batchnorm", "TinyBatchBatchNorm"),
)

CATALOG_BY_CODE: Dict[str, RuleInfo] = {r.code: r for r in CATALOG}
assert len(CATALOG_BY_CODE) == len(CATALOG), "duplicate rule code"

RETIRED: Dict[str, str] = {}  # code -> why it was retired (a code is never reused)


def declared(rule: type) -> Tuple[str, str, bool]:
    """What a rule class declares, in the catalog's terms."""
    return rule.code, rule.name, bool(rule.default_enabled)


def check_matches(rule: type, info: RuleInfo) -> None:
    """Raise if ``rule`` does not declare what its catalog row says (a rule edited, the table not)."""
    if declared(rule) != (info.code, info.name, info.default_enabled):
        raise RuntimeError(f"bnlint.rules.catalog lists {info.code} as {info[:3]} but {rule.__name__} declares "
                           f"{declared(rule)}: update the catalog")
