"""BN202 train-mode-not-restored: eval mode set inside a training loop is still on at the next training step."""
from __future__ import annotations

from typing import Optional, Set

import libcst as cst

from ..analysis.loops import ForwardCall
from ..analysis.modes import EVAL, S_EVAL, S_FRESH, S_UNKNOWN, relation
from ..analysis.module import Scope
from ..analysis.optimizers import built_optimizers, stepped_models
from ..analysis.syntax import ancestors, conditional_within, within
from .base import Rule, RuleContext
from .triggers import LOOP, any_of, identifier_part

WHY = (
    "from the next iteration on the model trains in eval mode: BatchNorm normalizes the training "
    "batches with the frozen running statistics instead of batch statistics and stops updating them, "
    "so the running averages no longer follow the weights that training changes (and Dropout is off)"
)


class TrainModeNotRestored(Rule):
    code = "BN202"
    name = "train-mode-not-restored"
    summary = "Model switched to eval inside the training loop and not switched back before the next training step"
    # The mode switch is reported where this file makes it (directly or through a helper call), in a
    # file that speaks of eval/train (``model.eval()``, ``train_loader``, ``Trainer``: not ``constraint``).
    triggers = (any_of(identifier_part("eval", "train")), any_of(LOOP))
    scoped_by_triggers = True

    def check(self, ctx: RuleContext):
        reported: Set[int] = set()
        for scope in ctx.module.scopes:
            if scope.cls is not None and ctx.training.is_lightning_module(scope.cls, ctx.module):
                continue  # Lightning restores train mode after validation itself
            for loop in scope.loops:
                self._check_loop(ctx, scope, loop, reported)
        return ctx.findings

    def _check_loop(self, ctx: RuleContext, scope: Scope, loop: cst.CSTNode, reported: Set[int]) -> None:
        modes = ctx.analysis.modes
        if not modes.may_switch(scope, loop, ctx.resolver.ctx_for(scope)):
            return  # nothing in this loop can switch a model to eval mode
        for fc in ctx.training.loop_forward_calls(loop, scope):
            # BN first: it rules out most calls for the price of a memoised class lookup.
            models = [m for m in fc.models if ctx.bn.has_bn(m)]
            if not models or not self._trains(ctx, fc, loop):
                continue
            target = modes.target_of_call(fc, models)
            if not target or self._frozen(ctx, target) or self._never_optimized(ctx, target) \
                    or _not_stepped_in(ctx, scope, loop, target):
                continue
            anchor = fc.chain[0] if fc.chain else fc.site
            if _built_each_iteration(ctx, scope, loop, anchor.call, target):
                continue  # ``model = CNN()`` at the top of a grid search's loop: each iteration trains a new one
            switch = modes.iteration_states(scope, anchor.call, loop, ctx.resolver.ctx_for(scope), target)[1]
            on_exit = switch is anchor.call
            if on_exit:
                # The training helper itself ends in eval mode (``fit_one_epoch`` testing after its batch
                # loop), and the loop calls it again: reported at that switch.
                switch = self._exit_switch(ctx, fc, target)
            if switch is None or id(switch) in reported:
                continue
            states = modes.forward_states(fc, target, loop=loop)
            if S_EVAL not in states or S_UNKNOWN in states:
                continue
            if fc.chain and S_EVAL in modes.forward_states(fc, target, start=frozenset({S_FRESH})):
                continue  # the training helper itself runs it in eval mode (a linear probe): not this switch
            reported.add(id(switch))
            name = ctx.analysis.steps.callee_text(fc)
            line = ctx.module.line(anchor.call)
            how = "this call" if _is_mode_call(switch) else "this helper call"
            message = f"{how} leaves `{name}` (BatchNorm) in eval mode for training at line {line}"
            if on_exit:
                name = ctx.module.code(switch.func.value)
                message = (f"this call leaves `{name}` (BatchNorm) in eval mode on return, and the loop at "
                           f"line {line} trains it again")
            fix = (f"call `{name}.train()` at the start of each training epoch/step (or right after "
                   "validation); an evaluation helper can save `model.training` and restore it on exit")
            ctx.report(switch, message, fix, why=WHY)

    @staticmethod
    def _exit_switch(ctx: RuleContext, fc: ForwardCall, target) -> Optional[cst.CSTNode]:
        """The unconditional ``.eval()`` that a training helper called directly from the loop ends with,
        written in this module (where the finding goes); None otherwise."""
        helper = fc.site.scope
        if len(fc.chain) != 1 or helper.module is not ctx.module:
            return None
        events = ctx.analysis.modes.events(helper, fc.ctx, target)
        last = events[-1] if events else None
        if last is None or last.kind != EVAL or last.guards or last.cond or not _is_mode_call(last.node):
            return None
        return last.node

    @staticmethod
    def _frozen(ctx: RuleContext, target) -> bool:
        """The whole model is frozen with ``requires_grad=False`` in this file: it does not train, so
        keeping it in eval mode in the loop is the right thing (a frozen feature extractor)."""
        modes = ctx.analysis.modes
        return any(f.option is None and not f.param_guards and modes.receiver_relation(f.expr, ctx.resolver.ctx_for(f.scope), target) == "covers"
                   for f in ctx.analysis.freezes.freezes(ctx.module))

    @staticmethod
    def _never_optimized(ctx: RuleContext, target) -> bool:
        """Every optimizer this file builds is read in full and none steps the model, a part of it or
        a module holding it: a fixed network the training step only consults (a pretrained evaluator
        scoring generated images), kept in eval mode on purpose."""
        optimizers = built_optimizers(ctx.resolver, ctx.module)
        if not optimizers or not all(o.complete for o in optimizers):
            return False
        return not _steps_target(optimizers, target)

    @staticmethod
    def _trains(ctx: RuleContext, fc: ForwardCall, loop: cst.CSTNode) -> bool:
        """A forward call of a training step: in a training loop, or in a helper that trains."""
        if not ctx.analysis.modes.is_forward(fc) or ctx.analysis.modes.grad_disabled(fc):
            return False
        if fc.chain:
            return ctx.training.scope_trains(fc.site.scope)
        loops = ctx.training.training_loops(fc.site.scope)
        inner = fc.site.loops[fc.site.loops.index(loop):] if loop in fc.site.loops else ()
        return any(l in loops for l in inner)


def _not_stepped_in(ctx: RuleContext, scope: Scope, loop: cst.CSTNode, target) -> bool:
    """Every update of ``loop`` is an optimizer step written in it, each optimizer read in full, and
    none steps the model: a fixed network this loop only consults (ADDA's source encoder scored by
    an evaluation helper each step, then feeding the discriminator), right to keep in eval mode."""
    rctx = ctx.resolver.ctx_for(scope)
    stepped = []
    for site in scope.calls:
        if loop not in site.loops:
            continue
        func = site.call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "step" and ctx.training.is_update_call(site, rctx):
            models = stepped_models(ctx.resolver, func.value, rctx)
            if models is None or not models.complete:
                return False  # (a gradient scaler's step, an optimizer built elsewhere: unknown)
            stepped.append(models)
        elif isinstance(func, cst.Attribute) and func.attr.value in ("backward", "manual_backward"):
            continue  # (gradients alone change no weights)
        elif any(ctx.training.scope_trains(f.scope) for f in ctx.training.called_functions(site, rctx)):
            return False  # a helper that may step some optimizer itself
    return bool(stepped) and not _steps_target(stepped, target)


def _built_each_iteration(ctx: RuleContext, scope: Scope, loop: cst.CSTNode, node: cst.CSTNode, target) -> bool:
    """Every iteration of ``loop`` builds the model anew before ``node``, on no condition: an eval
    switch in one iteration leaves behind a model that the next iteration no longer trains."""
    made = target.origin[0] if target.origin else None
    module = scope.module
    return made is not None and made.__class__ is cst.Call and within(module, made, loop) \
        and module.order(made) < module.order(node) and not conditional_within(module, made, loop) \
        and loop is next((a for a in ancestors(module, made) if isinstance(a, (cst.For, cst.While))), None)


def _steps_target(optimizers, target) -> bool:
    """Some of these optimizers (each read in full) steps the model, a part of it or a module holding it."""
    return any(relation(k, t) is not None for o in optimizers for model in o.keys for k in model for t in target.keys)


def _is_mode_call(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
        and node.func.attr.value in ("eval", "train")
