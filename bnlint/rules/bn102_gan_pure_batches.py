"""BN102 gan-discriminator-pure-batches: a BN discriminator called on all-real and all-fake batches."""
from __future__ import annotations

from typing import Optional, Tuple

from ..analysis.steps import ModelUses, Sites, Use, exclusive, pair_related
from .base import Rule, RuleContext
from .triggers import STEP_OR_FORWARD, finding_hosts, step_visible

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
    return use.batch.pure and not part.via and part.origin is not None and part.origin.real


def _fake(use: Use, key) -> bool:
    """Generated samples (detached, made under ``no_grad``, or still attached to the generator's graph)."""
    part = use.batch.parts[0]
    return use.batch.pure and bool(part.via) and key not in part.via


class GanDiscriminatorPureBatches(Rule):
    code = "BN102"
    name = "gan-discriminator-pure-batches"
    summary = "a GAN discriminator with BatchNorm is called on separate all-real and all-fake batches"
    # The training step must be visible in the file, or the file defines a model ``forward`` that
    # a training step elsewhere reaches (then only findings inside this file are reported here).
    triggers = (STEP_OR_FORWARD,)
    scoped_by_triggers = True  # the step is out of scope when only a helper in another file trains

    def check(self, ctx: RuleContext):
        steps = ctx.analysis.steps
        seen = set()
        for module in steps.step_modules(ctx.module, step_visible):
            for _scope, forwards, across in steps.steps(module):
                if across:
                    continue  # (a critic loop inside the iteration pairs within its own step)
                groups = steps.bn_model_uses(forwards)
                generators = steps.generators(forwards) if groups else set()
                for group in groups:
                    if group.key in generators:
                        continue  # its outputs are another model's batch: a generator (CycleGAN's cycle)
                    found = self._pair(ctx, group)
                    if found is not None:
                        self._report(ctx, group, found, seen)
        return ctx.findings

    def _pair(self, ctx: RuleContext, group: ModelUses) -> Optional[Tuple[Use, Use, Sites]]:
        steps = ctx.analysis.steps
        reals = sorted((u for u in group.uses if _real(u)), key=steps.place)
        # Not a discriminator: a network that the generators' optimizer steps with them (Recycle-GAN's
        # frame predictor fed real and generated frames), or one that no optimizer of the step
        # steps (a pretrained network scoring identity on real and generated faces).
        fakes = sorted((u for u in group.uses if _fake(u, group.key)
                        and not steps.stepped_together(u, group.key, u.batch.parts[0].via)
                        and not steps.stepped_nowhere(u, group.key, group.model)), key=steps.place)
        for real in reals:
            for fake in fakes:
                if exclusive(real, fake) or steps.apart(real, fake) or steps.segment(real) != steps.segment(fake):
                    continue  # one D update: the calls between two optimizer steps
                sites = steps.sites(real, fake, finding_hosts(self, steps, real.anchor.scope.module))
                if sites.module is ctx.module and not (steps.in_eval_mode(real) or steps.in_eval_mode(fake)):
                    return real, fake, sites
        return None

    def _report(self, ctx: RuleContext, group: ModelUses, found: Tuple[Use, Use, Sites], seen) -> None:
        real, fake, sites = found
        line_r, line_f = ctx.module.line(sites.a.call), ctx.module.line(sites.b.call)
        if line_r in seen:
            return
        seen.add(line_r)
        source = real.batch.parts[0].origin.label
        generator = fake.batch.parts[0].via_labels[-1]
        if generator == f"`{group.callee}`":  # a generator trainer's own ``self.model``
            generator = f"{generator} of another object"
        inside = ctx.analysis.steps.where(sites)
        where = "" if inside else ", both inside this call" if sites.a is sites.b else f" (line {line_f})"
        message = (
            f"`{group.callee}` (BatchNorm) gets real ({ctx.clip(source, 20)}) and fake ({ctx.clip(generator, 20)}) "
            f"batches {'separately' if inside else 'in separate calls'}{inside}{where}"
        )
        related = pair_related(ctx, sites, f"the call on generated samples from {generator}",
                               ("the call on real samples", f"the call on generated samples from {generator}"),
                               group)
        ctx.report(sites.a.call, message, FIX, why=WHY, related=related)
