"""BN101 shared-tower-per-domain-batches: one BN model, separate forward calls per data source."""
from __future__ import annotations

from typing import Optional, Tuple

from ..analysis.provenance import spread_of
from ..analysis.roles import evaluation_only
from ..analysis.steps import ModelUses, Sites, Use, exclusive, output_unused, pair_related
from .base import Rule, RuleContext
from .triggers import STEP_OR_FORWARD, finding_hosts, step_visible

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
    """A batch of data: from one source, or concatenated raw batches of several (MME's labelled
    source and target rows in one call, beside the unlabelled target in another)."""
    if use.batch.pure:
        part = use.batch.parts[0]
        return part.origin is not None and part.origin.kind == "data"
    return _mixed(use)


def _mixed(use: Use) -> bool:
    parts = use.batch.parts
    return len(parts) > 1 and all(p.origin is not None and p.origin.kind == "data" and not p.via for p in parts)


def _label(use: Use) -> str:
    labels = []
    for part in use.batch.parts:
        if part.origin.label not in labels:
            labels.append(part.origin.label)
    return " + ".join(labels)


def _both(ctx: RuleContext, la: str, lb: str) -> str:
    """The two sources, their shared loader named once: "`source` and `target` of `train_loader`"."""
    head_a, of, loader = la.partition(" of ")  # the loader may be "the `batch` of `training_step`"
    head_b, of_b, loader_b = lb.partition(" of ")
    if of and of_b and loader == loader_b and head_a != head_b:
        shown_a, shown_b = ctx.clip_apart(head_a, head_b, 20)
        return f"{shown_a} and {shown_b} of {ctx.clip(loader, 24)}"
    shown_a, shown_b = ctx.clip_apart(la, lb, 20)
    return f"{shown_a} and {shown_b}"


class SharedTowerPerDomainBatches(Rule):
    code = "BN101"
    name = "shared-tower-per-domain-batches"
    summary = "a model with BatchNorm is called in separate forward calls on batches from different sources"
    # The training step must be visible in the file, or the file defines a model ``forward`` that
    # a training step elsewhere reaches (then only findings inside this file are reported here).
    triggers = (STEP_OR_FORWARD,)
    scoped_by_triggers = True  # the step is out of scope when only a helper in another file trains

    def check(self, ctx: RuleContext):
        steps = ctx.analysis.steps
        seen = set()
        paired = set()  # (scope, model) pairs found within one step
        for module in steps.step_modules(ctx.module, step_visible):
            for scope, forwards, across in steps.steps(module):
                pairs = []
                for group in steps.bn_model_uses(forwards):
                    if across and (id(scope), group.key) in paired:
                        continue  # (already reported within one of the loop's steps: enough said)
                    found = self._pair(ctx, group, across)
                    if found is None:
                        continue
                    if steps.calls_method_on(module, group.key, lambda m: "domain" in m.lower()):
                        continue  # model.set_domain(...): domain-specific BN switched between calls
                    pairs.append((group, found))
                    paired.add((id(scope), group.key))
                for group, found in steps.outermost(pairs):
                    self._report(ctx, group, found, seen)
        return ctx.findings

    def _pair(self, ctx: RuleContext, group: ModelUses, across: bool = False) -> Optional[Tuple[Use, Use, Sites]]:
        """The pair to report; ``across``: only a pair of calls from two different steps of one loop
        pass (an update, then a nested loop of updates), each step's own pairs being found in it."""
        steps = ctx.analysis.steps
        uses = sorted((u for u in group.uses if _data(u)), key=steps.place)
        found = []
        for i, a in enumerate(uses):
            for b in uses[i + 1:]:
                if across and a.step_sites is b.step_sites:
                    continue
                if not self._separate_sources(steps, a, b) or steps.apart(a, b):
                    continue
                sites = steps.sites(a, b, finding_hosts(self, steps, a.anchor.scope.module))
                if sites.module is ctx.module and not (steps.in_eval_mode(a) or steps.in_eval_mode(b)):
                    if not across and steps.segment(a) == steps.segment(b):
                        return a, b, sites
                    if evaluation_only(_label(a)) == evaluation_only(_label(b)):
                        # (a validation batch run in train mode after the update, to save samples, is
                        # BN201's concern; a target split named ``test_loader`` in the same update is a domain)
                        found.append((a, b, sites))
        # Calls in different updates (a source-only step, then a step on both domains) still feed
        # one set of running statistics; a pair within one update is only the better place to report.
        return found[0] if found else None

    def _separate_sources(self, steps, a: Use, b: Use) -> bool:
        if _mixed(a) or _mixed(b):
            if _mixed(a) and _mixed(b):
                return False  # two concatenated calls (interleaved chunks of one mixed batch)
            mixed, pure = (a, b) if _mixed(a) else (b, a)
            own = pure.batch.parts[0]
            if own.via or own.origin.key in {p.origin.key for p in mixed.batch.parts}:
                return False  # (the source alone again after the mix: another shape, not paired)
        pa, pb = a.batch.parts[0], b.batch.parts[0]
        if pa.origin.key == pb.origin.key:
            return False
        if pa.via != pb.via and (len(pa.via) != len(pb.via) or not pa.via):
            return False  # a raw batch vs features of another: not two towers of one kind of input
        # Same length, other models: per-domain front ends feeding one shared trunk (CoGAN, ADDA's
        # source/target encoders before one BN discriminator): the trunk still sees one domain per call.
        if (a.args != b.args and not steps.flags_gate_bn_free_code(a, b) and not steps.inputs_from_own_batches(a, b)) \
                or (a.looped and steps.varies_per_pass(a)) \
                or (a.args == b.args and steps.args_rebound(a, b)):
            return False  # model(x, domain=0) / model(x, domain=1): a domain-specific path
        if exclusive(a, b):
            return False
        if output_unused(a) or output_unused(b):
            return False  # a forward pass only to adapt the running statistics (AdaBN-style)
        return True

    def _report(self, ctx: RuleContext, group: ModelUses, found: Tuple[Use, Use, Sites], seen) -> None:
        a, b, sites = found
        line_a, line_b = ctx.module.line(sites.a.call), ctx.module.line(sites.b.call)
        if line_a in seen:
            return
        seen.add(line_a)
        la, lb = _label(a), _label(b)
        via = a.batch.parts[0].via_labels
        if len(via) > 2:  # (a layer deep in a forward: the modules just before it are enough)
            via = ("…",) + via[-1:]
        what = "batches from" if not via else f"{' then '.join(ctx.clip(v, 20) for v in via)} outputs of"
        inside = ctx.analysis.steps.where(sites)
        if sites.a is sites.b and a.fc.site is b.fc.site:
            where = ", one per source in a loop"
        elif sites.a is sites.b:
            where = ", both inside this call"
        else:  # the other call: its line, or (reached through a call) a related location
            where = "" if inside else f" (line {line_b})"
        message = (
            f"`{group.callee}` (BatchNorm) gets {what} {_both(ctx, la, lb)} "
            f"{'separately' if inside else 'in separate calls'}{inside}{where}"
        )
        if a.batch.pure and b.batch.pure and spread_of(a.batch.parts[0].origin, b.batch.parts[0].origin) and not via:
            # ``[net(x) for x, y in next(zip(*loaders))]``: one call per loader of the list
            message = (f"`{group.callee}` (BatchNorm) runs once per loader of {ctx.clip(la, 40)}, on that loader's "
                       f"batch alone{inside}")
        related = pair_related(ctx, sites, f"the other forward call, on a batch from {lb}",
                               (f"the call on the batch from {la}", f"the call on the batch from {lb}"), group)
        ctx.report(sites.a.call, message, FIX, why=WHY, related=related)
