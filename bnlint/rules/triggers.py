"""Pre-filter patterns: text a file must contain for a rule to have anything to find there.

A rule declares ``triggers``, a tuple of compiled patterns that must *all* match the
file's text (each one usually an alternation). They are cheap necessary conditions
read off what the rule's analysis looks for syntactically, e.g. BN403 only inspects
``x.eval()`` / ``x.train(...)`` calls, so a file without such a call is skipped
without being parsed. Where a pattern is a scope decision rather than a pure
necessary condition, the rule also applies it inside ``check`` (so the findings
are the same with the pre-filter off; the test suite compares both).
"""
from __future__ import annotations

import re

from ..patterns import BACKWARD_HELPER, GAP, LOOP, PLAIN_CLASS, any_of, attribute_assignment, call, identifier_part, method_call, text, words

__all__ = ["BACKWARD_HELPER", "GAP", "LOOP", "NORM_NAMED", "PLAIN_CLASS", "STEP_OR_FORWARD", "TRAINING_STEP", "TRAINING_STEP_PATTERNS", "any_of", "step_visible", "attribute_assignment", "call", "identifier_part", "method_call", "text",
           "words"]

# A BatchNorm layer named in the file: BatchNorm2d, SyncBatchNorm, norm_layer, BN, bn1, ...
NORM_NAMED = re.compile(r"(?i:norm|bn)")

# The training step visible in the file: an update call or a Lightning ``training_step``.
TRAINING_STEP_PATTERNS = (call("backward", "manual_backward"), method_call("step"), words("training_step"),
                          BACKWARD_HELPER)
TRAINING_STEP = any_of(*TRAINING_STEP_PATTERNS)

# BN101/BN102: the training step, or a model ``forward`` that a training step in another file may
# run (the calls inside it are reported in the model's file; see ``StepAnalysis.step_modules``).
STEP_OR_FORWARD = any_of(*TRAINING_STEP_PATTERNS, r"def(?<!\wdef)[ \t]+forward\b")


def step_visible(module) -> bool:
    """The training step shows in ``module``'s code (a step is analysed only in such a file)."""
    return bool(TRAINING_STEP.search(module.source.code))


def finding_hosts(rule, steps, step_module):
    """The files that can report ``rule``'s finding about calls inside a helper or ``forward`` that
    a step of ``step_module`` reaches: the rule wants the file, and linting it reaches that step
    (``steps.step_modules``). A file whose own run never sees the step (a loss module constructed
    through an alias, ``self.loss_cls = DiscLoss; self.loss_cls(G, D)``) would lose the finding:
    it then stays at the step's call."""
    return lambda m: rule.wants(m.source) and (
        m is step_module or step_module in steps.step_modules(m, step_visible))
