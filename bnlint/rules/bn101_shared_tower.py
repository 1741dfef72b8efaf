"""BN101 shared-tower-per-domain-batches: one BN model, separate forward calls per data source."""
from __future__ import annotations

from typing import Optional, Tuple

from ..analysis.steps import ModelUses, Use, exclusive, output_unused
from .base import Rule, RuleContext
from .triggers import TRAINING_STEP

WHY = (
    "each call normalizes its batch with the statistics of one source only, while the shared running "
    "averages converge to the mixture of the sources, so in eval mode the model normalizes with "
    "statistics that no training batch had"
)
FIX = (
    "concatenate the batches into one forward call (`model(torch.cat([x_a, x_b]))`) and split the output; "
    "or keep separate calls but give each source its own BatchNorm layers (domain-specific BN); "
    "or replace BatchNorm with GroupNorm/LayerNorm"
)


def _data(use: Use) -> bool:
    part = use.batch.parts[0]
    return use.batch.pure and part.origin is not None and part.origin.kind == "data"


def _is_gan(group: ModelUses) -> bool:
    """Real and generated batches for one model: a discriminator, BN102's business."""
    kinds = {use.batch.parts[0].generated for use in group.uses if _data(use) or use.batch.pure}
    return kinds == {True, False}


class SharedTowerPerDomainBatches(Rule):
    code = "BN101"
    name = "shared-tower-per-domain-batches"
    summary = "a model with BatchNorm is called in separate forward calls on batches from different sources"
    # The training step must be visible here: an update call or a Lightning training_step.
    triggers = (TRAINING_STEP,)
    scoped_by_triggers = True  # the step is out of scope when only a helper in another file trains

    def check(self, ctx: RuleContext):
        steps = ctx.analysis.steps
        seen = set()
        for _scope, forwards in steps.steps(ctx.module):
            for group in steps.bn_model_uses(forwards):
                if _is_gan(group):
                    continue
                pair = self._pair(ctx, group)
                if pair is None:
                    continue
                if steps.calls_method_on(ctx.module, group.key, lambda m: "domain" in m.lower()):
                    continue  # model.set_domain(...): domain-specific BN switched between calls
                self._report(ctx, group, pair, seen)
        return ctx.findings

    def _pair(self, ctx: RuleContext, group: ModelUses) -> Optional[Tuple[Use, Use]]:
        uses = sorted((u for u in group.uses if _data(u)), key=lambda u: ctx.module.line(u.anchor.call)
                      if u.anchor.scope.module is ctx.module else 0)
        for i, a in enumerate(uses):
            for b in uses[i + 1:]:
                if self._separate_sources(ctx, a, b):
                    return a, b
        return None

    def _separate_sources(self, ctx: RuleContext, a: Use, b: Use) -> bool:
        pa, pb = a.batch.parts[0], b.batch.parts[0]
        if pa.via != pb.via or pa.origin.key == pb.origin.key:
            return False
        if a.args != b.args or (a.looped and a.args):
            return False  # model(x, domain=0) / model(x, domain=1): a domain-specific path
        if exclusive(a, b) or a.anchor.scope.module is not ctx.module:
            return False
        if output_unused(a) or output_unused(b):
            return False  # a forward pass only to adapt the running statistics (AdaBN-style)
        return True

    def _report(self, ctx: RuleContext, group: ModelUses, pair: Tuple[Use, Use], seen) -> None:
        a, b = pair
        line_a, line_b = ctx.module.line(a.anchor.call), ctx.module.line(b.anchor.call)
        if line_a in seen:
            return
        seen.add(line_a)
        la, lb = a.batch.parts[0].origin.label, b.batch.parts[0].origin.label
        via = a.batch.parts[0].via_labels
        what = "batches" if not via else f"features computed by {' then '.join(via)} from batches"
        if a.anchor is b.anchor:
            where = f"{what} from {la} and {lb}, one call per source in a loop at line {line_a}"
        else:
            where = f"{what} from {la} (line {line_a}) and {lb} (line {line_b})"
        message = (
            f"`{group.callee}` contains BatchNorm and is called in separate forward calls of one training "
            f"step on {where}: {WHY}"
        )
        related = () if a.anchor is b.anchor else (
            ctx.related(ctx.module, b.anchor.call, f"the other forward call, on a batch from {lb}"),)
        ctx.report(a.anchor.call, message, FIX, related=related)
