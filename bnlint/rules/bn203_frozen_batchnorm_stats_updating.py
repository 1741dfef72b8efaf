"""BN203 frozen-batchnorm-stats-updating: a BN module frozen with requires_grad=False but trained in train mode."""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

import libcst as cst

from ..analysis.freezes import (PARAM_ITERS, Freeze, calls_imported_freezing_factory, freezing_statements, param_loop,
                                self_attribute)
from ..analysis.loops import ForwardCall
from ..analysis.modes import S_DEFAULT, S_FRESH, S_UNKNOWN, S_USED, Target, relation
from ..analysis.module import CallSite, Scope
from ..analysis.syntax import conditional_within, descendants, in_own_body, periodic_within, within
from ..analysis.values import MAX_CALLER_FILES, Ctx, Instance
from .base import Rule, RuleContext
from .triggers import TRAINING_STEP_PATTERNS, any_of, attribute_assignment, method_call, step_visible, text


WHY = (
    "`requires_grad=False` only stops gradient updates of the weights: in train mode BatchNorm still "
    "normalizes with each batch's statistics and overwrites its running mean/variance on every forward "
    "pass, so the \"frozen\" statistics drift towards the new data and eval mode later uses them "
    "(pytorch/pytorch#86590)"
)


WHY_NO_GRAD = (
    "`torch.no_grad()` only stops gradients: in train mode BatchNorm still normalizes with each batch's "
    "statistics and overwrites its running mean/variance on every forward pass, so the frozen "
    "backbone's statistics drift towards the training data and eval mode later uses them"
)


FREEZING_WORDS = r"(?i:freeze|fine_?tune)"  # ``freeze_backbone()``, captioning encoders' ``fine_tune(False)``
FREEZE_METHOD_CALL = r"\.[ \t]*\w*" + FREEZING_WORDS + r"\w*[ \t]*\("
FREEZE_WRITES = (method_call("requires_grad_"), attribute_assignment("requires_grad"))  # a freeze written here
_WRITES_FREEZE = any_of(*FREEZE_WRITES)


class FrozenBatchNormStatsUpdating(Rule):
    code = "BN203"
    name = "frozen-batchnorm-stats-updating"
    summary = "Module with BatchNorm frozen with requires_grad=False but run in train mode: running stats still change"
    # ``x.requires_grad_(False)`` / ``p.requires_grad = False`` in the file, a training step that may
    # call a project method freezing its model (``encoder.fine_tune(False)``), or a ``no_grad`` block
    # (a model's forward that runs its backbone without gradients), or a call of a project method
    # named for freezing (``model.freeze_backbone()``, ``encoder.fine_tune(False)``) in a script whose
    # training step is in a helper or a trainer class.
    triggers = (any_of(*FREEZE_WRITES, *TRAINING_STEP_PATTERNS,
                       text("no_grad"), FREEZE_METHOD_CALL),)

    def wants_in_project(self, source, fs_path: str, index) -> bool:
        # (a script building its network with a freezing factory of another file, trained elsewhere)
        return calls_imported_freezing_factory(index, source.code, fs_path)

    def check(self, ctx: RuleContext):
        forwards = None
        in_constructors = []  # ``self.stem`` frozen in ``__init__`` and not trained in this file
        step_here = step_visible(ctx.module)
        # The file writes a freeze itself (``requires_grad = False``), or imports a function of a file
        # that does: any helper or factory freezing for it counts.
        wanted = bool(_WRITES_FREEZE.search(ctx.module.source.code)) or self.wants_in_project(
            ctx.module.source, ctx.module.fs_path, ctx.resolver.index)
        for freeze in ctx.analysis.freezes.freezes(ctx.module):
            scope, node, expr = freeze.scope, freeze.node, freeze.expr
            if freeze.method and not (step_here or re.search(FREEZING_WORDS, freeze.method) or wanted):
                continue  # (the pre-filter's scope: a file without a step calls a method named for freezing)
            rctx = ctx.resolver.ctx_for(scope)
            models = [v for v in ctx.resolver.resolve(expr, rctx) if ctx.bn.has_bn(v)]
            if not models:
                continue
            modes = ctx.analysis.modes
            target = modes.target_of_expr(expr, rctx, models)
            if not target or target.copied or self._ema_updated(ctx, target):
                continue  # a momentum/EMA teacher: its BN in train mode is usually intended (MoCo, DINO)
            held = _held_as(ctx, scope, target) if scope.short_name == "__init__" and scope.cls is not None \
                and self_attribute(expr, scope.self_name) is None and freeze.option is None else None
            if held is not None:
                # Frozen under a local name and kept as ``self.<held>``: the class's own freeze.
                in_constructors.append((freeze, held))
                continue
            if freeze.param_guards:
                # ``if pretrained: <freeze self.model>``: only the objects built that way are frozen
                # (in another function, each call decides: see the calls that freeze, above).
                attr = self_attribute(expr, scope.self_name) \
                    if scope.short_name == "__init__" or _run_by_own_init(scope) else None
                if attr is not None:
                    in_constructors.append((freeze, attr))
                continue
            if forwards is None:
                forwards = self._training_forwards(ctx) + _trainer_calls(ctx, ctx.module)
            hit = self._runs_in_train_mode(ctx, [fc for fc in forwards if _may_run_after(ctx, fc, scope, node)],
                                           target, node)
            if hit is None and scope.parent is None and isinstance(expr, cst.Name):
                # Frozen when its module is imported (``pretrained_model`` of ``model.py``): the
                # scripts importing it train it.
                hit = self._runs_in_train_mode(ctx, _importers_forwards(ctx, expr.value), target, node)
            if hit is None:
                attr = self_attribute(expr, scope.self_name)
                if attr is not None and (scope.short_name == "__init__" or _run_by_own_init(scope)) and not (
                        freeze.option is not None and _mode_switched_under(ctx, freeze.option)):
                    in_constructors.append((freeze, attr))  # (an option's own mode handling: see below)
                continue
            option = freeze.option
            if option is not None and _mode_switched_under(ctx, option):
                continue  # ``if args.freeze: ... backbone.eval()``: the option's own mode handling
            name = _shown(ctx, expr)
            selected = ctx.analysis.freezes.selected_by(freeze)
            by = (f" by `{freeze.method}()`" if freeze.method else "") + (f" when `{option}` is set" if option else "") \
                + (f" where names match {ctx.clip(f'`{selected}`', 20)}" if selected else "")
            message = (
                f"{ctx.clip(f'`{name}`')} (BatchNorm) is frozen with requires_grad=False{by} but runs in "
                f"train mode at {_at(ctx, _entry(hit, scope))}"
            )
            fix = (f"call `{name}.eval()` after every `model.train()` (or override the model's `train()` to "
                   "keep it in eval mode), or build it with `torchvision.ops.FrozenBatchNorm2d` "
                   "(`norm_layer=FrozenBatchNorm2d`)")
            ctx.report(node, message, fix, why=WHY)
        for freeze, attr in in_constructors:
            when = " and ".join(f"`{'' if branch else 'not '}{' '.join(ctx.module.code(test).split())}`"
                                for test, branch in freeze.param_guards)
            method = freeze.scope.short_name
            where = "in `__init__`" if method == "__init__" else f"by `{method}()` in `__init__`"
            how = f"{where} if {when}" if when else (
                "with requires_grad=False in `__init__`" if method == "__init__" else where)
            if freeze.option is not None:
                how = f"when `{freeze.option}` is set"  # (the finding sits in `__init__`)
            self._check_class_freeze(ctx, freeze.scope.cls, freeze.scope, freeze.node, freeze.expr, attr, how, WHY,
                                     freeze)
        for cls, site, attr in ctx.analysis.freezes.no_grad_submodules(ctx.module):
            self._check_class_freeze(ctx, cls, site.scope, site.call, site.call.func, attr, "by torch.no_grad()",
                                     WHY_NO_GRAD)
        return ctx.findings

    # -- a submodule a class freezes itself, trained where the class is built -----------------
    def _check_class_freeze(self, ctx: RuleContext, cls, scope: Scope, node: cst.CSTNode, expr: cst.BaseExpression,
                            attr: str, how: str, why: str, freeze: Optional[Freeze] = None) -> None:
        """A class freezes its own submodule ``self.<attr>``: ``requires_grad = False`` on its parameters
        in ``__init__`` (a detector freezing its stem, a wrapper freezing its backbone ``if pretrained``),
        or ``with torch.no_grad(): self.resnet(images)`` in ``forward`` (the captioning encoders'
        freeze). A training loop, here or in a file that builds the model, runs an object built frozen
        in train mode, so the submodule's BN statistics still update."""
        modes = ctx.analysis.modes
        rctx = ctx.resolver.ctx_for(scope)
        built = modes.target_of_expr(expr, rctx, ctx.resolver.resolve(expr, rctx))
        if ctx.training.is_lightning_module(cls, ctx.module):
            step = _lightning_step_running(ctx, cls, attr)
            if step is not None and not self._ema_updated(ctx, built):
                _report_lightning_step(ctx, node, attr, how, why, step)
            return
        init = next((c.methods["__init__"] for c, _m in ctx.resolver.mro(cls, ctx.module)
                     if "__init__" in c.methods), None)
        if init is not None and self._held_by_lightning(ctx, cls, init, node, attr, how, why):
            return
        modules = [ctx.module] + (_builders(ctx, init) if init else [])
        seen = set()
        for module in modules:
            if id(module) in seen:
                continue
            seen.add(id(module))
            for fc in self._training_forwards(ctx, module) + _trainer_calls(ctx, module):
                # (one training function may run several project models: those of this class built frozen count)
                if not fc.models or not all(isinstance(v, Instance) for v in fc.models):
                    continue
                instances = [v for v in fc.models if v.cls is cls and (freeze is None or ctx.analysis.freezes.built_frozen(freeze, v))]
                # The submodule as the class builds it (``self.resnet.eval()`` in a ``train()``
                # override) and as an attribute of this instance (``encoder.resnet.eval()``).
                keys = built.keys | frozenset(("sub", k, attr) for k in modes.target(instances).keys)
                if not instances:
                    # An object holding one built frozen (``self.cnn = CNNResnetEncoder()`` in the
                    # captioning model the loop trains): ``model.train()`` reaches ``model.cnn.resnet``.
                    held = [(outer, part, inner) for outer in fc.models
                            for part, inner in _parts_of_class(ctx, outer, cls, freeze)]
                    if not held:
                        continue
                    keys = built.keys | frozenset(
                        ("sub", sub, attr) for outer, part, inner in held
                        for sub in {("sub", k, part) for k in modes.target([outer]).keys}
                        | set(modes.target([inner]).keys))
                # (``self.encoder.train()`` switches what ``self.encoder(img)`` runs, even when the
                # resolver also sees a model loaded from a checkpoint there)
                target = Target(keys, named_as=modes.named_as(fc.site.call.func, fc.ctx))
                if self._ema_updated(ctx, target):
                    return  # MoCo's key encoder: an EMA copy, meant to run so
                states = modes.forward_states(fc, target)
                if not (states & {S_FRESH, S_USED, S_DEFAULT}) or S_UNKNOWN in states:
                    continue
                anchor = fc.chain[0] if fc.chain else fc.site
                where = ctx.related(anchor.scope.module, anchor.call, "the training loop runs the model in train mode")
                message = f"`self.{attr}` (BatchNorm) is frozen {how} but runs in train mode at {_at(ctx, anchor)}"
                fix = (f"call `self.{attr}.eval()` in an override of `train()` (after `super().train(mode)`), "
                       "or build it with `torchvision.ops.FrozenBatchNorm2d`")
                ctx.report(node, message, fix, why=why, related=(where,))
                return

    @staticmethod
    def _held_by_lightning(ctx: RuleContext, cls, init: Scope, node: cst.CSTNode, attr: str, how: str,
                           why: str) -> bool:
        """A LightningModule's constructor stores an object of this class (``self.encoder =
        EncoderCNN(...)``) and its ``training_step`` runs it: ``fit`` puts the whole module, the frozen
        ``self.encoder.<attr>`` included, in train mode. Reported unless the class itself keeps that
        submodule's mode (``_keeps_mode_of``)."""
        if _keeps_mode_of(ctx.resolver.methods_of(cls, ctx.module), attr):
            return False
        for site in ctx.resolver.callers(init):
            holder = site.scope
            if holder.short_name != "__init__" or holder.cls is None \
                    or not ctx.training.is_lightning_module(holder.cls, holder.module):
                continue
            part = next((name for name, bindings in holder.cls.attrs.items()
                         if any(b.scope is holder and b.expr is not None and site.call in descendants(b.expr)
                                for b in bindings)), None)
            step = _lightning_step_running(ctx, holder.cls, part, holder.module) if part else None
            if step is not None:
                _report_lightning_step(ctx, node, attr, how, why, step)
                return True
        return False

    # -- a momentum / EMA copy ------------------------------------------------------------------
    def _ema_updated(self, ctx: RuleContext, target: Target) -> bool:
        """``zip(teacher.parameters(), student.parameters())``: weights written by an EMA, not frozen."""
        modes = ctx.analysis.modes
        for scope in ctx.module.scopes:
            rctx = ctx.resolver.ctx_for(scope)
            for site in scope.calls:
                func = site.call.func
                if not (isinstance(func, cst.Name) and func.value == "zip"):
                    continue
                written = _written_positions(ctx, site.call)
                for i, arg in enumerate(site.call.args):
                    if written is not None and i not in written:
                        continue  # the side the average is read from (the model trained), not written
                    for v, vctx in _zipped_lists(ctx, arg.value, scope, rctx):
                        if isinstance(v, cst.Call) and isinstance(v.func, cst.Attribute) \
                                and v.func.attr.value in PARAM_ITERS + ("state_dict", "buffers") \
                                and modes.receiver_relation(v.func.value, vctx, target) in ("covers", "inside"):
                            return True
        return False

    # -- runs in train mode --------------------------------------------------------------------
    @staticmethod
    def _training_forwards(ctx: RuleContext, module=None) -> List[ForwardCall]:
        """Forward calls of training loops, and of step functions whose loop is elsewhere (a
        trainer's ``gen_update()`` that runs backward and the optimizer step, called per batch)."""
        out = []
        module = module or ctx.module
        looped = set()  # functions called in a training loop of this module: reached through it
        for scope in module.scopes:
            loops = ctx.training.training_loops(scope)
            for loop in loops:
                found = [fc for fc in ctx.training.loop_forward_calls(loop, scope) if ctx.analysis.modes.is_forward(fc)]
                looped.update(id(site.scope) for fc in found for site in fc.chain[1:] + (fc.site,))
                out.extend(found)
        for scope in module.scopes:
            if id(scope) not in looped and scope.parent is not None and not ctx.training.training_loops(scope) \
                    and ctx.analysis.steps.is_step_function(scope):
                out.extend(fc for fc in ctx.training.forward_calls(scope.calls, ctx.resolver.ctx_for(scope))
                           if ctx.analysis.modes.is_forward(fc))
        return out

    @staticmethod
    def _runs_in_train_mode(ctx: RuleContext, forwards: List[ForwardCall], target: Target, freeze: cst.CSTNode,
                            wrappers: bool = True) -> Optional[ForwardCall]:
        modes = ctx.analysis.modes
        # Calls that some path reaches in a mode we cannot tell: none of that path's ways counts. A
        # path is the call with the chain of helper calls leading to it: ``train(model)`` called once
        # before an unfreeze and once after decides each call on its own.
        undecided = set()
        candidates = []
        for fc in forwards:
            if _off_by_default(ctx, fc):
                continue
            runs = modes.target(fc.models)
            if not any(relation(k, t) == "covers" for k in runs.keys for t in target.keys):
                # A module that holds the frozen one (a loss wrapper built around the model) runs
                # it from its ``forward``: look at the calls made there.
                inner = _inside_wrapper(ctx, fc) if wrappers else []
                hit = FrozenBatchNormStatsUpdating._runs_in_train_mode(ctx, inner, target, freeze, False) \
                    if inner else None
                if hit is not None:
                    return hit
                continue
            if _unfrozen_each_iteration(ctx, fc, target, freeze) or _toggled_around(ctx, fc, target, freeze) \
                    or _toggled_by_step_helpers(ctx, fc, target, freeze) \
                    or _unfrozen_on_the_way(ctx, fc, target, freeze):
                continue  # every training iteration unfreezes it (after a validation, or a GAN's toggle)
            if _unfrozen_before(ctx, fc, target, freeze):
                continue  # the second phase of a two-phase fine-tuning: it trains the unfrozen model
            states = modes.forward_states(fc, target)
            if S_UNKNOWN in states:
                undecided.add(_path_key(fc))
            elif states & {S_FRESH, S_USED, S_DEFAULT}:
                candidates.append(fc)
        return next((fc for fc in candidates if _path_key(fc) not in undecided), None)


def _off_by_default(ctx: RuleContext, fc: ForwardCall) -> bool:
    """A call on the way to the forward pass lies on a branch the default configuration never takes
    (``if robust: attack_pgd(encoder, ...)`` with ``robust=False``)."""
    return any(site.guards and not ctx.resolver.branch_possible(site.call, ctx.resolver.ctx_for(site.scope), 0)
               for site in tuple(fc.chain) + (fc.site,))


def _path_key(fc: ForwardCall) -> Tuple[int, ...]:
    return tuple(id(site.call) for site in fc.chain) + (id(fc.site.call),)


def _shown(ctx: RuleContext, expr: cst.BaseExpression) -> str:
    """How the message names the frozen module: its text, or for a factory call that returns it
    frozen (``model_ft = initialize_model(...)``), the name it is bound to."""
    stmt = ctx.module.parents.get(expr)
    if isinstance(expr, cst.Call) and isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0].target, cst.Name):
        return stmt.targets[0].target.value
    return " ".join(ctx.module.code(expr).split())


def _trainer_calls(ctx: RuleContext, module) -> List[ForwardCall]:
    """The forward calls of a training function, followed from each call of it outside a loop
    (``train(model_with_pretrained, ...)`` in a script that trains two models with one function):
    its model parameter is then the object that call passes, not every model any caller passes."""
    out = []
    training = ctx.training
    for scope in module.scopes:
        rctx = ctx.resolver.ctx_for(scope)
        for site in scope.calls:
            if site.loops or not any(training.scope_trains(f.scope) for f in training.called_functions(site, rctx)):
                continue
            out.extend(fc for fc in training.forward_calls([site], rctx) if fc.chain
                       and ctx.analysis.modes.is_forward(fc))
    return out


def _held_as(ctx: RuleContext, scope: Scope, target: Target) -> Optional[str]:
    """The attribute ``self.<attr>`` through which the class holds a module its ``__init__`` froze
    under a local name: ``resnet`` frozen, then ``self.resnet = nn.Sequential(*list(resnet.children())[:-1])``."""
    self_value = ctx.resolver.ctx_for(scope).self_value
    if self_value is None:
        return None
    for attr, bindings in scope.cls.attrs.items():
        if not any(b.scope is scope for b in bindings):
            continue
        held = ctx.analysis.modes.target(ctx.resolver.instance_attr(self_value, attr, 0))
        if any(relation(k, t) == "covers" for k in held.keys for t in target.keys):
            return attr
    return None


def _inside_wrapper(ctx: RuleContext, fc: ForwardCall) -> List[ForwardCall]:
    """``train_util.forward(imgs, ...)`` or ``train_util(imgs, ...)`` of a project module that wraps
    the model (a detector's loss wrapper built as ``Trainer(net, optimizer)``): the forward calls its
    ``forward`` makes (``self.faster_rcnn.extractor(imgs)``), reached through the wrapper's call."""
    if not fc.models or not all(isinstance(m, Instance) for m in fc.models):
        return []
    out = []
    for scope, self_value in ctx.analysis.modes.forward_methods(fc.site, fc.ctx):
        if not ctx.training.may_run_network(scope, self_value):
            continue  # (a loss of tensor arithmetic runs no model: not one holding the frozen one)
        inner = Ctx(scope, ctx.resolver.bind_args(scope, fc.site.call, fc.ctx, True), self_value)
        out.extend(f for f in ctx.training.forward_calls(scope.calls, inner, fc.chain + (fc.site,), 1)
                   if ctx.analysis.modes.is_forward(f))
    return out


def _report_lightning_step(ctx: RuleContext, node: cst.CSTNode, attr: str, how: str, why: str,
                           step: CallSite) -> None:
    where = ctx.related(step.scope.module, step.call,
                        "Lightning's fit puts the whole module in train mode before `training_step`")
    message = f"`self.{attr}` (BatchNorm) is frozen {how} but runs in train mode at {_at(ctx, step)}"
    fix = (f"call `self.{attr}.eval()` in an override of `train()` (after `super().train(mode)`) or in "
           "`on_train_epoch_start`, or build it with `torchvision.ops.FrozenBatchNorm2d`")
    ctx.report(node, message, fix, why=why, related=(where,))


def _lightning_step_running(ctx: RuleContext, cls, attr: str, module=None) -> Optional[CallSite]:
    """The call of ``self.<attr>`` that a LightningModule's ``training_step`` makes (also through
    ``self(...)``/``self.forward(...)``), when nothing in the class puts it back in eval mode: ``fit``
    switches the whole module to train mode before training, undoing an ``eval()`` in ``__init__``.
    ``module``: the class's module, when not the one being checked."""
    methods = ctx.resolver.methods_of(cls, module or ctx.module)
    step = methods.get("training_step")
    if step is None or _keeps_mode_of(methods, attr):
        return None
    scopes = [step]
    if "forward" in methods and any(_calls_self(site, step.self_name) for site in step.calls):
        scopes.append(methods["forward"])
    for scope in scopes:
        for site in scope.calls:
            if _calls_self_attr(site, scope.self_name, attr, ("forward",)) or _calls_self_attr(site, scope.self_name, attr):
                return site
    return None


def _keeps_mode_of(methods, attr: str) -> bool:
    """The class decides the mode of ``self.<attr>`` itself: it overrides ``train()``, or a method other
    than ``__init__`` (whose ``eval()`` a later ``train()`` undoes) switches it."""
    return "train" in methods or any(
        name != "__init__" and any(_calls_self_attr(site, method.self_name, attr, ("eval", "train"))
                                   for site in method.calls)
        for name, method in methods.items())


def _calls_self_attr(site: CallSite, self_name: Optional[str], attr: str, methods=()) -> bool:
    """``self.<attr>(...)``, or with ``methods`` ``self.<attr>.<method>(...)``."""
    func = site.call.func
    if methods:
        if not (isinstance(func, cst.Attribute) and func.attr.value in methods):
            return False
        func = func.value
    return self_attribute(func, self_name) == attr


def _calls_self(site: CallSite, self_name: Optional[str]) -> bool:
    """``self(...)`` or ``self.forward(...)``: the module's own forward."""
    func = site.call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "forward":
        func = func.value
    return isinstance(func, cst.Name) and func.value == self_name


def _mode_switched_under(ctx: RuleContext, option: str) -> bool:
    """A mode call of the module sits under a test of the same option (read as ``args.freeze``
    or, in a model's ``train()`` override, ``self.args.freeze``)."""
    freezes = ctx.analysis.freezes
    name = option.rsplit(".", 1)[-1]
    for scope in ctx.module.scopes:
        rctx = ctx.resolver.ctx_for(scope)
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Attribute) and func.attr.value in ("eval", "train") and any(
                    (freezes.option_name(test, rctx) or "").rsplit(".", 1)[-1] == name for test, _branch in site.guards):
                return True
    return False


def _parts_of_class(ctx: RuleContext, outer: Instance, cls, freeze: Optional[Freeze]) -> List[Tuple[str, Instance]]:
    """(attribute, part) for each instance of ``cls`` (built frozen) that ``outer``'s constructor stores
    as ``self.<attribute>``."""
    parts = {part for holder, _module in ctx.resolver.mro(outer.cls, outer.module)
             for part, bindings in holder.attrs.items()
             if any(b.scope.short_name == "__init__" or _run_by_own_init(b.scope) for b in bindings)}
    return [(part, inner) for part in sorted(parts) for inner in ctx.resolver.instance_attr(outer, part, 0)
            if isinstance(inner, Instance) and inner.cls is cls
            and (freeze is None or ctx.analysis.freezes.built_frozen(freeze, inner))]


def _builders(ctx: RuleContext, init: Scope, factories: int = 2) -> list:
    """Modules that build the class: its constructor's callers, the callers of the factories
    that return what they build (``model = resnet18()`` in ``setup()``, called by the training script),
    those of the classes whose constructors build it as a part (``self.encoder = EncoderCNN(...)``
    in a captioning model the script builds), and the callers of functions returning the class
    itself (``encoder = FactoryEncoder(Encoder.CResNet50)``, the class then built by a model taking it)."""
    out = []
    scopes = [init] + (ctx.resolver.class_returners(init.cls, init.module) if init.cls is not None else [])
    for _ in range(factories + 1):
        returned = []
        for scope in scopes:
            for site in ctx.resolver.callers(scope):
                out.append(site.scope.module)
                builder = site.scope
                if builder is not scope and builder.parent is not None and _run_by_own_init(builder):
                    builder = builder.cls.methods["__init__"]  # ``self.init_submodules()`` in ``__init__``
                if builder is not scope and builder.parent is not None and (
                        builder.returns or (builder.short_name == "__init__" and builder.cls is not None)):
                    returned.append(builder)
        scopes = returned
    return out


def _entry(fc: ForwardCall, scope) -> CallSite:
    """The call that leads to the train-mode forward pass: the one in the freezing function
    (``train_model(...)`` after ``model.freeze_backbone()`` in ``main``), not ``main()`` itself."""
    sites = list(fc.chain) + [fc.site]
    return next((site for site in sites if site.scope is scope), sites[0])


def _at(ctx: RuleContext, site: CallSite) -> str:
    """``line 12`` in the linted file, ``train.py:12`` in another."""
    module = site.scope.module
    line = module.line(site.call)
    return f"line {line}" if module is ctx.module else f"{ctx.short_path(module)}:{line}"


def _importers_forwards(ctx: RuleContext, name: str) -> List[ForwardCall]:
    """The training forward calls of the files that import ``name`` from the linted module."""
    out = []
    for path in ctx.resolver.importing(ctx.module, name)[:MAX_CALLER_FILES]:
        module = ctx.analysis.index.module(path)
        if module is not None:
            out.extend(FrozenBatchNormStatsUpdating._training_forwards(ctx, module) + _trainer_calls(ctx, module))
    return out


_IN_PLACE = frozenset({"mul_", "add_", "copy_", "sub_", "lerp_", "set_", "addcmul_"})


def _written_positions(ctx: RuleContext, call: cst.Call) -> Optional[set]:
    """``for ema_p, p in zip(ema.parameters(), model.parameters()): ema_p.mul_(d).add_(p)``: the
    positions of ``zip``'s arguments whose element the loop writes (in place, or through ``.data =``);
    None when ``zip`` is not a ``for`` loop's iterable over plain names, or no write is seen."""
    loop = ctx.module.parents.get(call)
    if not (isinstance(loop, cst.For) and loop.iter is call and isinstance(loop.target, cst.Tuple)
            and all(isinstance(e.value, cst.Name) for e in loop.target.elements)
            and len(loop.target.elements) == len(call.args)):
        return None
    names = [e.value.value for e in loop.target.elements]
    written = set()
    for node in descendants(loop.body):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in _IN_PLACE:
            root = node.func.value
        elif isinstance(node, (cst.Assign, cst.AugAssign)):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            root = next((t for t in targets if isinstance(t, cst.Attribute)), None)
        else:
            continue
        while isinstance(root, (cst.Attribute, cst.Call)):
            root = root.func if isinstance(root, cst.Call) else root.value
        if isinstance(root, cst.Name) and root.value in names:
            written.add(names.index(root.value))
    return written or None


def _zipped_lists(ctx: RuleContext, expr: cst.BaseExpression, scope: Scope, rctx: Ctx):
    """(expression, its ctx) for what ``zip`` is handed: the expression itself, or what the name or
    ``self.<attr>`` holds (an EMA helper keeping ``self.teacher_params = list(teacher.parameters())``),
    with ``list(...)`` around it read through."""
    found = [(expr, rctx)]
    if isinstance(expr, cst.Name):
        found += [(b.expr, ctx.resolver.ctx_for(b.scope))
                  for b in ctx.resolver.visible_bindings(scope, expr.value, expr) if b.kind == "assign" and not b.path]
    attr = self_attribute(expr, scope.self_name)
    if attr is not None and scope.cls is not None:
        found += [(b.expr, ctx.resolver.ctx_for(b.scope)) for b in scope.cls.attrs.get(attr, ())
                  if b.kind == "assign" and not b.path]
    return [(e.args[0].value, c) if isinstance(e, cst.Call) and isinstance(e.func, cst.Name)
            and e.func.value in ("list", "tuple") and len(e.args) == 1 else (e, c) for e, c in found]


def _may_run_after(ctx: RuleContext, fc: ForwardCall, scope: Scope, freeze: cst.CSTNode) -> bool:
    """The forward call can run after the freeze: later in the same function, or in a loop around both
    (a pre-training loop that ends before the freeze never sees a frozen model). In another function
    the order is unknown: assume it can, unless the function freezing calls that one itself (its
    calls, followed from there, tell the order)."""
    anchor = fc.chain[0] if fc.chain else fc.site
    if anchor.scope is not scope:
        if _runs_before_freezing_call(ctx, fc, scope):
            return False
        rctx = ctx.resolver.ctx_for(scope)
        return bool(fc.chain) or not any(f.scope is anchor.scope for site in scope.calls
                                         for f in ctx.training.called_functions(site, rctx))
    module = scope.module
    if module.order(anchor.call) > module.order(freeze):
        return True
    return any(within(module, freeze, loop) for loop in anchor.loops)


def _runs_before_freezing_call(ctx: RuleContext, fc: ForwardCall, scope: Scope) -> bool:
    """A function on the way to the forward call also calls the freezing function ``scope``, later
    and outside any loop around both: ``main()`` runs ``get_feature_dim(encoder)`` and then
    ``linear_eval(encoder)``, which freezes it. That forward pass is over before the freeze."""
    for site in tuple(fc.chain) + (fc.site,):
        module, rctx = site.scope.module, ctx.resolver.ctx_for(site.scope)
        for other in site.scope.calls:
            if other is site or not any(f.scope is scope for f in ctx.training.called_functions(other, rctx)):
                continue
            if module.order(site.call) < module.order(other.call) and not set(site.loops) & set(other.loops):
                return True
    return False


def _toggled_around(ctx: RuleContext, fc: ForwardCall, target: Target, freeze: cst.CSTNode) -> bool:
    """Frozen before the call and unfrozen later in the same iteration of the batch loop around the
    call (after the call, or before it: then the call sees it unfrozen): a toggle for one update of
    another network (a GAN's discriminator frozen while the generator learns through it, then trained
    in the same iteration, or every k-th one: ``if i % d_interval == 0:``), not a frozen model."""
    site = fc.site
    scope, module = site.scope, site.scope.module
    here = module.order(site.call)
    if not site.loops:
        # A step method run once per batch (ESRGAN's ``optimize_parameters``): freeze the
        # discriminator, update the generator through it, unfreeze it and train it, in one call.
        rctx = ctx.resolver.ctx_for(scope)
        return within(module, freeze, scope.node) and module.order(freeze) < here and any(
            isinstance(loop, cst.For) and module.order(loop) > module.order(freeze)
            and not conditional_within(module, loop, scope.node) and _unfreezes(ctx, loop, rctx, target)
            for loop in scope.loops)
    # The innermost loop around both (the call may sit in a loop over loss terms inside it).
    batch_loop = next((loop for loop in reversed(site.loops) if within(module, freeze, loop)), None)
    if batch_loop is None or module.order(freeze) > here:
        return False
    rctx = ctx.resolver.ctx_for(scope)
    return any(isinstance(loop, cst.For) and module.order(loop) > module.order(freeze)
               and within(module, loop, batch_loop) and periodic_within(module, loop, batch_loop)
               and _unfreezes(ctx, loop, rctx, target) for loop in scope.loops)


def _toggled_by_step_helpers(ctx: RuleContext, fc: ForwardCall, target: Target, freeze: cst.CSTNode) -> bool:
    """A loop on the way to the call freezes the model every iteration (itself, or in a helper it
    calls) and unfreezes it every iteration, and the call runs once per iteration (no loop of its own
    between): WDGRL's ``train_critic()``, called per batch, freezes the encoder for the critic's
    steps and unfreezes it on return, then freezes the critic, which its next call unfreezes. A
    toggle, not a frozen model (two-phase fine-tuning runs a whole training loop while frozen)."""
    path = tuple(fc.chain) + (fc.site,)
    for k, site in enumerate(path):
        if not site.loops or any(later.loops for later in path[k + 1:]):
            continue
        scope, loop = site.scope, site.loops[-1]
        rctx = ctx.resolver.ctx_for(scope)
        frozen_here = within(scope.module, freeze, loop) or any(
            loop in other.loops and any(in_own_body(f.scope.module, freeze, f.scope.node)
                                        for f in ctx.training.called_functions(other, rctx))
            for other in scope.calls)
        return frozen_here and _unfreezes_within(ctx, scope, loop, rctx, target)
    return False


def _unfrozen_on_the_way(ctx: RuleContext, fc: ForwardCall, target: Target, freeze: cst.CSTNode) -> bool:
    """A function on the way to the call unfreezes the model before it every time, and the freeze
    does not come between: WDGRL's critic helper starts with ``set_requires_grad(critic, True)``, so
    the freeze at its end holds only until its next call."""
    for site in tuple(fc.chain) + (fc.site,):
        scope, module = site.scope, site.scope.module
        rctx = ctx.resolver.ctx_for(scope)
        here = module.order(site.call)
        frozen_at = module.order(freeze) if in_own_body(module, freeze, scope.node) else -1
        for other in scope.calls:
            at = module.order(other.call)
            if not at < here or at < frozen_at < here or not set(other.loops) <= set(site.loops) \
                    or other.guards and not ctx.resolver.guards_hold(other.guards, rctx, 0):
                continue
            unfrozen = ctx.analysis.freezes.unfrozen_by(other, rctx)
            if unfrozen is not None and ctx.analysis.modes.receiver_relation(unfrozen, rctx, target) == "covers":
                return True
    return False


def _unfreezes_within(ctx: RuleContext, scope: Scope, region: cst.CSTNode, rctx, target: Target,
                      depth: int = 0) -> bool:
    """``region`` (a loop, a function body) unfreezes the target every time it runs, on no condition
    but a periodic one or one the default configuration takes: a parameter loop setting
    ``requires_grad = True``, ``x.requires_grad_(True)``, an unfreezing helper, or a project function
    called there doing one of these (one level down)."""
    module = scope.module
    for loop in scope.loops:
        if within(module, loop, region) and not _conditional_in(module, loop, region) \
                and _unfreezes(ctx, loop, rctx, target):
            return True
    for site in scope.calls:
        if not within(module, site.call, region) or _conditional_in(module, site.call, region) \
                and not ctx.resolver.guards_hold(site.guards, rctx, 0):
            continue  # (a branch the defaults take counts: ``if robust: ... else: train_critic(...)``)
        unfrozen = ctx.analysis.freezes.unfrozen_by(site, rctx)
        if unfrozen is not None and ctx.analysis.modes.receiver_relation(unfrozen, rctx, target) == "covers":
            return True
        if unfrozen is None and depth == 0:
            for f in ctx.training.called_functions(site, rctx):
                inner = Ctx(f.scope, ctx.resolver.bind_args(f.scope, site.call, rctx, f.bound_self is not None),
                            f.bound_self)
                if _unfreezes_within(ctx, f.scope, f.scope.node, inner, target, 1):
                    return True
    return False


def _conditional_in(module, node: cst.CSTNode, region: cst.CSTNode) -> bool:
    return conditional_within(module, node, region) and not periodic_within(module, node, region)


def _unfreezes(ctx: RuleContext, loop: cst.For, rctx, target: Target) -> bool:
    """``for p in <x>.parameters(): p.requires_grad = True`` with ``<x>`` covering the frozen target."""
    found = param_loop(loop)
    if found is None:
        return False
    call, param = found
    return bool(freezing_statements(loop.body, param, "True")) \
        and ctx.analysis.modes.receiver_relation(call.func.value, rctx, target) == "covers"


def _unfrozen_each_iteration(ctx: RuleContext, fc: ForwardCall, target: Target, freeze: cst.CSTNode) -> bool:
    """``for p in model.parameters(): p.requires_grad = True`` in the training loop around ``fc``, on
    every iteration: not under an ``if`` inside that loop (``if epoch >= freeze_epochs:`` unfreezes
    once, for the second phase of a two-phase fine-tuning), and not only after ``fc`` when the
    freeze comes before it in the same iteration (freeze, train the head, unfreeze, train it all)."""
    anchor = fc.chain[0] if fc.chain else fc.site
    scope, module = anchor.scope, anchor.scope.module
    rctx = ctx.resolver.ctx_for(scope)
    here = module.order(anchor.call)
    for loop in scope.loops:
        outer = next((o for o in anchor.loops if within(module, loop, o)), None)
        if not isinstance(loop, cst.For) or outer is None or conditional_within(module, loop, outer):
            continue
        if within(module, freeze, outer) and module.order(freeze) < here < module.order(loop):
            continue
        if _unfreezes(ctx, loop, rctx, target):
            return True
    return False


def _unfrozen_before(ctx: RuleContext, fc: ForwardCall, target: Target, freeze: cst.CSTNode) -> bool:
    """Between the freeze and the call that leads to ``fc``, the same function unfreezes the target
    on every path (``for p in model.parameters(): p.requires_grad = True``, under no ``if`` and in no
    loop that does not also hold the call): that call trains it unfrozen (the second phase of
    a fine-tuning that first trained only the head)."""
    anchor = next((site for site in tuple(fc.chain) + (fc.site,) if in_own_body(site.scope.module, freeze, site.scope.node)), None)
    if anchor is None:
        return False
    scope, module = anchor.scope, anchor.scope.module
    start, here = module.order(freeze), module.order(anchor.call)
    rctx = ctx.resolver.ctx_for(scope)
    # (what the call runs may be a copy of the frozen model, frozen too: ``best = deepcopy(model)``)
    runs = ctx.analysis.modes.target(fc.models)
    for loop in scope.loops:
        if not isinstance(loop, cst.For) or not start < module.order(loop) < here \
                or conditional_within(module, loop, scope.node):
            continue
        around = [outer for outer in scope.loops if outer is not loop and within(module, loop, outer)]
        if all(outer in anchor.loops for outer in around) and any(
                t and _unfreezes(ctx, loop, rctx, t) for t in (target, runs)):
            return True
    return False


def _run_by_own_init(scope: Scope) -> bool:
    """A method its class's ``__init__`` always calls (``self.fine_tune(fine_tune)`` in a captioning
    encoder): what it freezes is frozen in every object built, as if ``__init__`` froze it."""
    cls, name = scope.cls, scope.short_name
    init = cls.methods.get("__init__") if cls is not None and scope.self_name is not None else None
    if init is None or init.self_name is None:
        return False
    return any(not site.guards and not site.loops and self_attribute(site.call.func, init.self_name) == name
               for site in init.calls)
