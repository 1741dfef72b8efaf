"""Which DataLoaders feed the training loop of a BatchNorm model, wherever that loop is written.

The loader rules (BN103 shuffling, BN104/BN901 batch sizes) report at the ``DataLoader(`` call,
where the fix goes, but the loop that trains on it often lives elsewhere: a train.py calling
``data.get_loader(...)``, a trainer class iterating ``self.train_loader``, an
``engine.fit(model, loader)`` helper, a Lightning ``train_dataloader()``. This module finds those
(loader, model, loop) triples once per module, for every loader rule.
"""
from __future__ import annotations

from typing import Callable, List, Optional

import libcst as cst

from .bn import BNAnalysis
from .loaders import is_dataloader, iterated_loaders
from .loops import ForwardCall, TrainingAnalysis
from .module import ModuleInfo, Scope
from .provenance import model_key
from .reaching import reaching
from .syntax import descendants
from .values import Ctx, ExtCall, Instance, Ref, Resolver, Value, call_arg

MAX_CONSUMERS = 25  # bound the cross-module search on huge projects
_MAX_REGROUP_DEPTH = 4  # assignments followed back from a model's input
_CONCATS = frozenset({"cat", "concat", "concatenate", "stack"})
_CONCAT_FUNCS = frozenset("torch." + name for name in _CONCATS)
# Lightning's Trainer under its import paths (the package was renamed; both are in use).
LIGHTNING_TRAINERS = frozenset({
    "pytorch_lightning.Trainer", "pytorch_lightning.trainer.Trainer", "pytorch_lightning.trainer.trainer.Trainer",
    "lightning.Trainer", "lightning.pytorch.Trainer", "lightning.pytorch.trainer.Trainer",
    "lightning.pytorch.trainer.trainer.Trainer",
})


class LoaderUse:
    """A DataLoader found feeding a training loop of a BN model."""

    __slots__ = ("loader", "model", "loop_module", "loop_node", "forward")

    def __init__(self, loader: ExtCall, model: Value, loop_module: ModuleInfo, loop_node: cst.CSTNode,
                 forward: Optional[ForwardCall] = None):
        self.loader = loader
        self.model = model
        self.loop_module = loop_module
        self.loop_node = loop_node
        self.forward = forward  # the loop's forward call on the model, where the analysis found it


def drawn_iterator(call: cst.Call) -> Optional[cst.BaseExpression]:
    """The iterator a call draws the next element of: ``next(it)``, or ``it.next()`` /
    ``it.__next__()`` (PyTorch before 1.0 named the loader iterator's method ``next``)."""
    func = call.func
    if isinstance(func, cst.Name) and func.value == "next":
        return call_arg(call, 0)
    if isinstance(func, cst.Attribute) and func.attr.value in ("next", "__next__") and not call.args:
        return func.value
    return None


class LoaderUses:
    def __init__(self, resolver: Resolver, training: TrainingAnalysis, bn: BNAnalysis):
        self.r = resolver
        self.training = training
        self.bn = bn

    def written_in(self, module: ModuleInfo, keep: Callable[[ExtCall], bool]) -> List[LoaderUse]:
        """The training uses of the DataLoaders written in ``module`` that ``keep`` accepts, one per
        loader call (the first found): loops of this module, of modules calling its loader-building
        functions, and of the project modules those import. ``keep`` sees each use's loader with the
        arguments of its own call chain (``get_loader(shuffle=False)`` in one caller only)."""
        seen = set()
        out = []
        for consumer in self._consumer_modules(module):
            for use in self.of_module(consumer):
                if use.loader.ctx.module is module and id(use.loader.call) not in seen and keep(use.loader):
                    seen.add(id(use.loader.call))
                    out.append(use)
        return out

    def of_module(self, module: ModuleInfo) -> List[LoaderUse]:
        """Every (loader, BN model) pair of the module's training loops; memoised per module."""
        key = ("loader_uses", id(module))
        memo = self.r.index.memo
        if key not in memo:
            uses: List[LoaderUse] = []
            for scope in module.scopes:
                for loop in self.training.training_loops(scope):
                    uses.extend(self._loop_uses(scope, loop))
            for cls in module.classes.values():
                uses.extend(self._lightning_uses(module, cls))
            for scope in module.scopes:
                for site in scope.calls:
                    uses.extend(self._fit_uses(site))
            memo[key] = uses
        return memo[key]

    def _consumer_modules(self, module: ModuleInfo) -> List[ModuleInfo]:
        out: List[ModuleInfo] = [module]
        builders = [scope for scope in module.scopes
                    if scope.parent is not None and any(self._builds_loader(site) for site in scope.calls)]
        for scope in builders:
            for site in self.r.callers(scope):
                if site.scope.module not in out:
                    out.append(site.scope.module)
        # A loader built at module level (``train_loader = DataLoader(...)`` in dataPre.py) is trained
        # on by the modules importing it, by name or with ``from dataPre import *``.
        for name in self._module_level_loaders(module):
            for path in self.r.importing(module, name):
                importer = self.r.index.module(path)
                if importer is not None and importer not in out:
                    out.append(importer)
        for consumer in list(out):
            for imported in self.r.imported_modules(consumer):
                if imported not in out and len(out) < MAX_CONSUMERS:
                    out.append(imported)
        return out[:MAX_CONSUMERS]

    def _module_level_loaders(self, module: ModuleInfo) -> List[str]:
        """The module-level names bound to a DataLoader built right there."""
        calls = {id(site.call) for site in module.scope.calls if self._builds_loader(site)}
        if not calls:
            return []
        return [name for name, bindings in module.scope.bindings.items()
                if any(b.kind == "assign" and id(b.expr) in calls for b in bindings)]

    def _builds_loader(self, site) -> bool:
        """The call site constructs a ``torch.utils.data.DataLoader`` (resolved, not guessed from its name)."""
        return any(is_dataloader(v) for v in self.r.resolve(site.call, self.r.ctx_for(site.scope)))

    def _loop_uses(self, scope: Scope, loop: cst.CSTNode) -> List[LoaderUse]:
        rctx = self.r.ctx_for(scope)
        loaders = self.loop_loaders(scope, loop, rctx)
        if not loaders:
            return []
        model_call = self.training.trains_bn_model(self.training.loop_forward_calls(loop, scope, rctx))
        if model_call is None or self.training.set_up_in_eval(model_call, model_key(model_call.models)):
            return []  # (a network put in eval mode where it is built, never back: running statistics only)
        training = self._training_callers_loaders(scope, loop)
        if training is not None:
            loaders = [loader for loader in loaders if id(loader.call) in training]
        trained = self._trained_objects_loaders(scope, loop)
        if trained is not None:
            loaders = [loader for loader in loaders if id(loader.call) in trained]
        model = next(m for m in model_call.models if self.bn.has_bn(m))
        return [LoaderUse(loader, model, scope.module, loop, model_call) for loader in loaders]

    def loop_loaders(self, scope: Scope, loop: cst.CSTNode, rctx: Ctx) -> List[ExtCall]:
        """The loaders a loop iterates or calls ``next`` on."""
        values: List[Value] = []
        if isinstance(loop, cst.For):
            values.extend(self.r.resolve(loop.iter, rctx))
        for site in scope.calls:
            if loop in site.loops:
                drawn = drawn_iterator(site.call)
                if drawn is not None:
                    values.extend(self.r.resolve(drawn, rctx))
        return iterated_loaders(values)

    def _training_callers_loaders(self, scope: Scope, loop: cst.CSTNode) -> Optional[set]:
        """``train_val(net, loader, optimizer)`` with ``if is_train: loss.backward()`` inside: the ids of
        the loaders passed by the calls whose arguments let the update run (``train_val(net, test_loader,
        None)`` evaluates). None when every update in the loop runs unconditionally, or no caller is known."""
        rctx = self.r.ctx_for(scope)
        updates = [s for s in scope.calls if loop in s.loops and self.training.is_update_call(s, rctx)]
        if not updates or any(not s.guards for s in updates):
            return None
        callers = self.r.callers(scope) if scope.parent is not None else []
        if not callers:
            return None
        method = scope.cls is not None and scope.self_name is not None
        out = set()
        for site in callers:
            env = self.r.bind_args(scope, site.call, self.r.ctx_for(site.scope), skip_self=method)
            inner = Ctx(scope, env, rctx.self_value)
            if any(not self.training.known_not_taken(s.guards, inner) for s in updates):
                out.update(id(loader.call) for loader in self.loop_loaders(scope, loop, inner))
        return out

    def _trained_objects_loaders(self, scope: Scope, loop: cst.CSTNode) -> Optional[set]:
        """A method's loop over ``self.dataloaders["train"]`` trains the objects it is called on: the
        ids of the loaders those objects were built with (a trainer class also built by an evaluation
        script that never calls ``train()`` there). None when a caller's object is not a known build."""
        if scope.cls is None or scope.self_name is None or scope.short_name.startswith("__"):
            return None
        callers = self.r.callers(scope)
        if not callers:
            return None
        out = set()
        for site in callers:
            func = site.call.func
            if not isinstance(func, cst.Attribute):
                return None  # ``self.train()`` from another method, ``super()...``: the object is not named
            objects = [v for v in self.r.resolve(func.value, self.r.ctx_for(site.scope)) if isinstance(v, Instance)]
            if not objects or any(v.call is None for v in objects):
                return None
            for obj in objects:
                out.update(id(loader.call) for loader in self.loop_loaders(scope, loop, Ctx(scope, None, obj)))
        return out

    def regroups_rows(self, use: LoaderUse) -> bool:
        """The loop rebuilds the batch axis between the loader and the model: ``torch.cat(chunks)`` of a
        dataset whose items are lists of patches, ``bag.squeeze(0)`` of a multiple-instance bag,
        ``crops.flatten(0, 1)``. The loader's batch size then does not count the samples BN sees."""
        fc = use.forward
        if fc is None:
            return False
        todo = [(arg.value, 0) for arg in fc.site.call.args]
        seen = set()
        while todo:
            expr, depth = todo.pop()
            for node in descendants(expr):
                if isinstance(node, cst.Call) and self._regroups(node, fc.ctx):
                    return True
                if isinstance(node, cst.Name) and depth < _MAX_REGROUP_DEPTH:
                    for b in reaching(fc.site.scope, node.value, node) or ():
                        if b.kind == "assign" and b.expr is not None and id(b) not in seen:
                            seen.add(id(b))
                            todo.append((b.expr, depth + 1))
        return False

    def _regroups(self, call: cst.Call, ctx: Ctx) -> bool:
        func = call.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        if method in ("squeeze", "squeeze_"):
            dim = call_arg(call, 0, "dim")
            return dim is not None and self.r.const(dim, ctx) == 0
        if method == "flatten":
            start, end = call_arg(call, 0, "start_dim"), call_arg(call, 1, "end_dim")
            return start is not None and self.r.const(start, ctx) == 0 and end is not None \
                and self.r.const(end, ctx) == 1
        if method not in _CONCATS:
            return False
        if not any(isinstance(v, Ref) and v.qualname in _CONCAT_FUNCS for v in self.r.resolve(func, ctx)):
            return False
        seq, dim = call_arg(call, 0, "tensors"), call_arg(call, 1, "dim")
        if isinstance(seq, (cst.List, cst.Tuple)) and not any(isinstance(e, cst.StarredElement) for e in seq.elements):
            return False  # ``torch.cat([src_img, trg_img])``: a few loaded batches, a few samples
        return dim is None or self.r.const(dim, ctx) == 0

    def _fit_uses(self, site) -> List[LoaderUse]:
        """``trainer.fit(model, train_loader)`` (``train_dataloaders=``): Lightning's Trainer runs the
        BN LightningModule's ``training_step`` on each batch of the loader."""
        call, func = site.call, site.call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "fit") or any(a.star for a in call.args):
            return []
        rctx = self.r.ctx_for(site.scope)
        if not any(isinstance(v, ExtCall) and v.qualname in LIGHTNING_TRAINERS
                   for v in self.r.resolve(func.value, rctx)):
            return []
        model = call_arg(call, 0, "model")
        # (``train_dataloader=``: the keyword before Lightning 1.4)
        loaders = call_arg(call, 1, "train_dataloaders") or call_arg(call, None, "train_dataloader")
        if model is None or loaders is None:
            return []
        out = []
        for value in self.r.resolve(model, rctx):
            step = value.cls.methods.get("training_step") if isinstance(value, Instance) else None
            if step is None or not self.training.is_lightning_module(value.cls, value.module) \
                    or not self.bn.has_bn(value):
                continue
            out.extend(LoaderUse(loader, value, value.module, step.node)
                       for loader in iterated_loaders(self.r.resolve(loaders, rctx)))
        return out

    def _lightning_uses(self, module: ModuleInfo, cls) -> List[LoaderUse]:
        """``train_dataloader()`` of a LightningModule with BN feeds its ``training_step``."""
        method = cls.methods.get("train_dataloader")
        if method is None or "training_step" not in cls.methods:
            return []
        if not self.training.is_lightning_module(cls, module) or not self.bn.class_has_bn(cls, module, None, None):
            return []
        rctx = self.r.ctx_for(method)
        step = cls.methods["training_step"].node
        return [LoaderUse(loader, rctx.self_value, module, step)
                for ret in method.returns for loader in iterated_loaders(self.r.resolve(ret, rctx))]

