"""BN102 gan-discriminator-pure-batches: a BN discriminator called on all-real and all-fake batches."""
from __future__ import annotations

from typing import Optional, Tuple

from ..analysis.steps import ModelUses, Use, exclusive
from .base import Rule, RuleContext
from .triggers import TRAINING_STEP

WHY = (
    "each batch is normalized with the statistics of only real or only generated samples, so BatchNorm's "
    "batch statistics leak which kind a batch is, and the running averages used in eval mode match neither"
)
FIX = (
    "concatenate real and generated samples (about 50/50) into one discriminator call "
    "(`D(torch.cat([real, fake.detach()]))`) and split the output; or use a normalization without batch "
    "statistics in the discriminator (spectral norm, LayerNorm/GroupNorm/InstanceNorm)"
)


def _real(use: Use) -> bool:
    part = use.batch.parts[0]
    return use.batch.pure and not part.via and part.origin is not None and part.origin.kind == "data"


def _fake(use: Use, key) -> bool:
    """Generated samples cut from the generator's graph: the discriminator's own update."""
    part = use.batch.parts[0]
    return use.batch.pure and bool(part.via) and key not in part.via and part.detached


class GanDiscriminatorPureBatches(Rule):
    code = "BN102"
    name = "gan-discriminator-pure-batches"
    summary = "a GAN discriminator with BatchNorm is called on separate all-real and all-fake batches"
    # The training step must be visible here: an update call or a Lightning training_step.
    triggers = (TRAINING_STEP,)
    scoped_by_triggers = True  # the step is out of scope when only a helper in another file trains

    def check(self, ctx: RuleContext):
        steps = ctx.analysis.steps
        seen = set()
        for _scope, forwards in steps.steps(ctx.module):
            for group in steps.bn_model_uses(forwards):
                pair = self._pair(ctx, group)
                if pair is None:
                    continue
                if steps.calls_method_on(ctx.module, group.key, lambda m: m == "eval"):
                    continue  # a frozen network in eval mode (a perceptual loss), not a discriminator
                self._report(ctx, group, pair, seen)
        return ctx.findings

    def _line(self, ctx: RuleContext, use: Use) -> int:
        return ctx.module.line(use.anchor.call)

    def _pair(self, ctx: RuleContext, group: ModelUses) -> Optional[Tuple[Use, Use]]:
        uses = [u for u in group.uses if u.anchor.scope.module is ctx.module]
        reals = sorted((u for u in uses if _real(u)), key=lambda u: self._line(ctx, u))
        fakes = sorted((u for u in uses if _fake(u, group.key)), key=lambda u: self._line(ctx, u))
        for real in reals:
            for fake in fakes:
                if not exclusive(real, fake):
                    return real, fake
        return None

    def _report(self, ctx: RuleContext, group: ModelUses, pair: Tuple[Use, Use], seen) -> None:
        real, fake = pair
        line_r, line_f = self._line(ctx, real), self._line(ctx, fake)
        if line_r in seen:
            return
        seen.add(line_r)
        source = real.batch.parts[0].origin.label
        generator = fake.batch.parts[0].via_labels[-1]
        message = (
            f"discriminator `{group.callee}` contains BatchNorm and is called separately on a batch of only real "
            f"samples from {source} (line {line_r}) and a batch of only generated samples from {generator} "
            f"(line {line_f}): {WHY}"
        )
        related = (ctx.related(ctx.module, fake.anchor.call, f"the call on generated samples from {generator}"),)
        ctx.report(real.anchor.call, message, FIX, related=related)
