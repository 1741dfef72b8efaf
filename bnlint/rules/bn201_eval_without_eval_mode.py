"""BN201 eval-without-eval-mode: a BN model evaluated under no_grad while still in train mode."""
from __future__ import annotations

from typing import List, Set

import libcst as cst

from ..analysis.loops import ForwardCall
from ..analysis.modes import S_DEFAULT, S_UNKNOWN, S_USED
from ..analysis.syntax import loop_data_names, mentions, param_data_names
from ..analysis.module import Scope
from .base import Rule, RuleContext
from .triggers import LOOP, PLAIN_CLASS, any_of, text

WHY = (
    "`torch.no_grad()`/`torch.inference_mode()` only turn off gradients and do not change module "
    "behaviour, so in train mode BatchNorm normalizes each evaluation batch with that batch's own "
    "statistics instead of the running statistics learned in training, and overwrites the running "
    "statistics with evaluation data: metrics depend on batch size and composition, and evaluating "
    "changes the saved model"
)


def _object(base: cst.BaseExpression) -> bool:
    return isinstance(base, cst.Name) and base.value == "object"


class EvalWithoutEvalMode(Rule):
    code = "BN201"
    name = "eval-without-eval-mode"
    summary = "BN model evaluated under no_grad/inference_mode without .eval(): batch statistics are used"
    # The evaluation loop, or the inference method of a plain class (its users loop), must run under
    # a no-grad context named in this file.
    triggers = (any_of(text("no_grad", "inference_mode", "set_grad_enabled")), any_of(LOOP, PLAIN_CLASS))
    scoped_by_triggers = True  # a no-grad context aliased in another module is out of scope

    def check(self, ctx: RuleContext):
        reported: Set[int] = set()
        for scope in ctx.module.scopes:
            if scope.cls is not None and ctx.training.is_lightning_module(scope.cls, ctx.module):
                continue  # Lightning switches train/eval mode around its hooks itself
            self._check_scope(ctx, scope, reported)
        return ctx.findings

    def _check_scope(self, ctx: RuleContext, scope: Scope, reported: Set[int]) -> None:
        self._check_flagged_epochs(ctx, scope, reported)
        if not scope.loops:
            if self._inference_method(ctx, scope):
                data = param_data_names(ctx.module, scope)
                sites = [s for s in scope.calls if not s.loops]
                for fc in ctx.training.forward_calls(sites, ctx.resolver.ctx_for(scope)):
                    # (a helper on the way is judged, and reported, at its own forward call)
                    if not fc.chain and id(fc.site.call) not in reported \
                            and self._evaluates(ctx, fc, fc.site, data):
                        reported.add(id(fc.site.call))
                        break
            return
        training = ctx.training.training_loops(scope)
        steps = self._step_loops(ctx, scope, training)
        for loop in scope.loops:
            if loop in training or not isinstance(loop, (cst.For, cst.While)):
                continue
            # (``self.set_input(data)`` of a base class storing the batch: inherited methods count)
            methods = ctx.resolver.methods_of(scope.cls, scope.module) if scope.cls is not None else None
            data = loop_data_names(ctx.module, scope, loop, methods)
            if not data:
                continue
            for fc in ctx.training.loop_forward_calls(loop, scope):
                anchor = (fc.chain[0] if fc.chain else fc.site)
                if id(anchor.call) in reported or any(l in steps for l in anchor.loops):
                    continue
                if self._evaluates(ctx, fc, anchor, data):
                    reported.add(id(anchor.call))
                    break
        if training:
            self._check_after_training(ctx, scope, training, reported)

    def _check_after_training(self, ctx: RuleContext, scope: Scope, training: List[cst.CSTNode],
                              reported: Set[int]) -> None:
        """A no-grad forward pass on the function's own data after its training loop, outside any loop
        (``with torch.no_grad(): features = net(x_source)`` to embed the data once trained): an
        evaluation of a model that training left in train mode."""
        data = param_data_names(ctx.module, scope)
        first = min(ctx.module.order(loop) for loop in training)  # (a call in no loop after it is after its end)
        sites = [s for s in scope.calls if not s.loops and ctx.module.order(s.call) > first]
        for fc in ctx.training.forward_calls(sites, ctx.resolver.ctx_for(scope)):
            if not fc.chain and id(fc.site.call) not in reported \
                    and self._evaluates(ctx, fc, fc.site, data, trained_only=True):
                reported.add(id(fc.site.call))
                return

    def _check_flagged_epochs(self, ctx: RuleContext, scope: Scope, reported: Set[int]) -> None:
        """``with torch.no_grad(): self.run_epoch(val_loader, train=False)``: the helper's loop trains only
        under a flag that this call turns off (``if train: loss.backward()``), so here it evaluates; the
        finding is reported at this call."""
        rctx = ctx.resolver.ctx_for(scope)
        for site in scope.calls:
            if id(site.call) in reported or not ctx.training.site_without_grad(site):
                continue
            for fc in ctx.training.forward_calls([site], rctx):
                inner = fc.site.scope
                if len(fc.chain) != 1 or not fc.site.loops:
                    continue
                loop = fc.site.loops[-1]
                if not ctx.training.updates_skipped(inner, loop, fc.ctx):
                    continue  # (a loop without updates is checked where it is written)
                data = loop_data_names(inner.module, inner, loop)
                if data and mentions(fc.site.call, data) and self._evaluates(ctx, fc, site, None, flagged=True):
                    reported.add(id(site.call))
                    break

    def _evaluates(self, ctx: RuleContext, fc: ForwardCall, anchor, data, trained_only: bool = False,
                   flagged: bool = False) -> bool:
        """``data``: the names the anchor's call must use (None: checked by the caller). ``flagged``: the
        call's own function trains, but not with the arguments it is reached with."""
        if not ctx.analysis.modes.is_forward(fc) or data is not None and not mentions(anchor.call, data) \
                or not ctx.analysis.modes.grad_disabled(fc):
            return False
        helpers = list(fc.chain[1:]) + ([] if flagged else [fc.site]) if fc.chain else []
        if any(ctx.training.scope_trains(s.scope) for s in helpers):
            return False  # reached through a helper that trains: not an evaluation pass
        models = [m for m in fc.models if ctx.bn.has_bn(m)]
        if not models:
            return False
        modes = ctx.analysis.modes
        target = modes.target_of_call(fc, models)
        if not target:
            return False
        states = modes.forward_states(fc, target)
        related = ()
        if S_UNKNOWN in states:
            # One caller's model may be in any mode: another caller that certainly hands over a model
            # in train mode is enough (``test()`` right after training, and from a function we cannot
            # order).
            site, states = next(((site, st) for site, st in modes.forward_states_by_caller(fc, target)
                                 if st and st <= {S_USED, S_DEFAULT}), (None, states))
            if site is not None:
                related = (ctx.related(site.scope.module, site.call,
                                       "the call that runs it with the model in train mode"),)
        if not states or not states <= ({S_USED} if trained_only else {S_USED, S_DEFAULT}):
            return False
        name = ctx.analysis.steps.callee_text(fc)
        state = ("is still in train mode after training" if S_DEFAULT not in states
                 else "was never put in eval mode" if S_USED not in states
                 else "is in train mode here (after training, or never switched)")
        message = f"`{name}` (BatchNorm) is evaluated under no_grad but {state}"
        fix = (f"call `{name}.eval()` before this evaluation loop (and `{name}.train()` before training "
               "resumes); `no_grad`/`inference_mode` are still useful, but only together with eval mode")
        ctx.report(anchor.call, message, fix, related, why=WHY)
        return True

    @staticmethod
    def _inference_method(ctx: RuleContext, scope: Scope) -> bool:
        """A method (not ``__init__``) of a class with no base but ``object``, that does not train: an
        inference API (``Extractor.__call__(self, crops)``) that its users call once per input, the
        loop being theirs. (The bases are read as written, as the pre-filter's ``PLAIN_CLASS`` does.)"""
        cls = scope.cls
        return cls is not None and scope.name == f"{cls.name}.{scope.short_name}" \
            and scope.short_name != "__init__" and all(_object(b) for b in cls.bases) \
            and not ctx.training.scope_trains(scope)  # (a teacher's no-grad forward in a training step)

    @staticmethod
    def _step_loops(ctx: RuleContext, scope: Scope, training: List[cst.CSTNode]) -> Set[cst.CSTNode]:
        """Training loops that run one step per iteration (a no-grad loop inside is not an evaluation)."""
        rctx = ctx.resolver.ctx_for(scope)
        out = set()
        for site in scope.calls:
            if not site.loops or site.loops[-1] not in training:
                continue
            if ctx.training.is_update_call(site, rctx):
                out.add(site.loops[-1])
                continue
            for fref in ctx.training.called_functions(site, rctx):
                if ctx.training.scope_trains(fref.scope) and not ctx.training.training_loops(fref.scope):
                    out.add(site.loops[-1])
        return out
