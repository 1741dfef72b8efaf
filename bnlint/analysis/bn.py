"""Does this value build (or is it) a module containing BatchNorm?

Answers are True only when the analyzer is sure: a BN layer constructed on a
path whose conditions resolve (literals, parameter defaults, argparse defaults)
or a known constructor with its default BN. Anything uncertain is False, so
rules stay silent rather than guess.
"""
from __future__ import annotations

import re
from typing import Optional

import libcst as cst

from .module import ClassInfo, ModuleInfo, Scope
from .names import dotted_name
from .syntax import ancestors, names_in, rooted_at
from .values import (
    Const, Ctx, ExtCall, FuncRef, Instance, Maybe, Partial, Ref, Resolver, Seq, SubModule, ClassRef,
    Unknown, Value, call_arg,
)

F_BATCH_NORM = "torch.nn.functional.batch_norm"
_BN_NAMES = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
             "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d")
BN_CLASSES = frozenset(
    [f"torch.nn.{n}" for n in _BN_NAMES]
    + [f"torch.nn.modules.batchnorm.{n}" for n in _BN_NAMES]
    + ["torch.nn.functional.batch_norm",
       # the base of every BatchNorm class: the SynchronizedBatchNorm2d that segmentation projects
       # vendor (``class _SynchronizedBatchNorm(_BatchNorm)``) normalizes with batch statistics too
       "torch.nn.modules.batchnorm._BatchNorm"]
)
# BatchNorm classes of other libraries built on torch's (``encoding.nn.SyncBatchNorm``,
# ``apex.parallel.SyncBatchNorm``): same batch statistics, same running averages.
_OTHER_BN = re.compile(r"\.(?:Sync)?BatchNorm(?:[123]d)?$")
# Code that reaches a module's layers other than by attribute name (``nn.Sequential(*self.children())``).
_WALKS_CHILDREN = re.compile(r"children\(|_modules\b|__dict__|getattr\(|named_modules\(")


def is_bn_class(qual: Optional[str]) -> bool:
    return qual is not None and (qual in BN_CLASSES or (not qual.startswith("torch.") and bool(_OTHER_BN.search(qual))))


# Normalisations without batch statistics (what the fixes recommend).
NON_BN_NORMS = frozenset(
    [f"torch.nn.{n}" for n in ("GroupNorm", "LayerNorm", "InstanceNorm1d", "InstanceNorm2d",
                               "InstanceNorm3d", "LocalResponseNorm", "RMSNorm", "Identity")]
    + ["torchvision.ops.FrozenBatchNorm2d", "torchvision.ops.misc.FrozenBatchNorm2d"]
)
CONTAINERS = frozenset({"torch.nn.Sequential", "torch.nn.ModuleList", "torch.nn.ModuleDict",
                        "torch.nn.modules.container.Sequential"})

# torchvision classification/segmentation constructors built with nn.BatchNorm2d by default.
_TV_BN = re.compile(
    r"^(resnet\d+|resnext\d+_\w+|wide_resnet\d+_2|vgg\d+_bn|densenet\d+|mobilenet_v2|"
    r"mobilenet_v3_(small|large)|efficientnet_(b\d|v2_[sml])|regnet_[xy]_\w+|inception_v3|googlenet|"
    r"shufflenet_v2_x\d_\d|mnasnet\d_\d+|maxvit_t|"
    r"deeplabv3_(resnet50|resnet101|mobilenet_v3_large)|fcn_resnet(50|101)|lraspp_mobilenet_v3_large|"
    r"r3d_18|r2plus1d_18|mc3_18|"
    r"ResNet|DenseNet|MobileNetV2|MobileNetV3|EfficientNet|RegNet|Inception3|GoogLeNet|ShuffleNetV2|MNASNet)$"
)
_TV_MODULES = ("torchvision.models", "torchvision.models.segmentation", "torchvision.models.video",
               "torchvision.models.resnet", "torchvision.models.densenet", "torchvision.models.mobilenetv2",
               "torchvision.models.mobilenetv3", "torchvision.models.efficientnet", "torchvision.models.vgg",
               "torchvision.models.regnet", "torchvision.models.inception", "torchvision.models.googlenet",
               "torchvision.models.shufflenetv2", "torchvision.models.mnasnet")
# timm architectures whose default norm is BatchNorm (prefix match on the model name).
_TIMM_BN = re.compile(
    r"^(resnet(?!v2_\w*bit)|resnext|seresnet|seresnext|senet|res2net|resnest|wide_resnet|"
    r"tf_efficientnet|efficientnet|mobilenetv2|mobilenetv3|tf_mobilenetv3|mnasnet|fbnet|spnasnet|"
    r"regnet|densenet|dla|dpn|inception|xception|hrnet|cspresnet|cspdarknet|darknet|rexnet|mixnet|"
    r"tf_mixnet|ghostnet|hardcorenas|repvgg|vgg\d+_bn|selecsls|lcnet|mobileone|ecaresnet|skresnet|gernet)"
)
_TIMM_NOT_BN = re.compile(r"(^nf_|^nfnet|_gn\b|_gn_|bit|^vit|^deit|^swin|^convnext|^beit)")


_MAX_UNROLL = 64  # loop iterations tried when a layer is guarded by the loop counter


class _Substitute(cst.CSTTransformer):
    def __init__(self, name: str, value: int):
        super().__init__()
        self.name, self.value = name, value

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        return _literal(self.value) if original.value == self.name else updated


def _literal(value) -> Optional[cst.BaseExpression]:
    """A literal node for a loop value (non-negative int, or str), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return cst.Integer(str(value))
    if isinstance(value, str):
        return cst.SimpleString(repr(value))
    return None


def _substitute(test: cst.BaseExpression, name: str, value) -> cst.BaseExpression:
    """``test`` with the loop variable ``name`` replaced by the literal ``value``."""
    return test.visit(_Substitute(name, value))


def _self_calls(scope: Scope):
    """Names of the methods ``scope`` calls on its own ``self``."""
    for site in scope.calls:
        func = site.call.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.value.value == scope.self_name:
            yield func.attr.value


def _train_false(call: cst.Call, func: cst.Attribute) -> bool:
    """``m.train(False)``."""
    arg = call_arg(call, 0, "mode")
    return func.attr.value == "train" and isinstance(arg, cst.Name) and arg.value == "False"


def _covers(paths, depth: int = 0) -> bool:
    """The branch choices ``paths`` (each a list of (test, branch)) cover every way through their
    conditions: an empty one covers everything; otherwise split on one test."""
    if any(not p for p in paths):
        return True
    if not paths or depth > 8:
        return False
    test = paths[0][0][0]

    def side(branch):
        out = []
        for p in paths:
            if any(t is test and b != branch for t, b in p):
                continue
            out.append([(t, b) for t, b in p if t is not test])
        return out
    return _covers(side(True), depth + 1) and _covers(side(False), depth + 1)


def _loops_over_modules(loop: cst.CSTNode) -> Optional[str]:
    """"modules" for ``for m in <x>.modules()`` (or ``.named_modules()``), "children" for
    ``.children()`` / ``.named_children()``, else None."""
    it = getattr(loop, "iter", None)
    if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute):
        name = it.func.attr.value
        if name in ("modules", "named_modules"):
            return "modules"
        if name in ("children", "named_children"):
            return "children"
    return None


_NORM_ATTRIBUTE = re.compile(r"^(bn|norm|batch_?norm)\d*$|_(bn|norm)\d*$")


def _is_bn_layer(value: Value) -> bool:
    """A BN layer itself: ``nn.BatchNorm2d(64)``, or ``resnet.bn1`` by its name."""
    if isinstance(value, ExtCall):
        return is_bn_class(value.qualname)
    return isinstance(value, SubModule) and bool(_NORM_ATTRIBUTE.search(value.attr))


CHILD_ITERATORS = ("children", "named_children", "modules", "named_modules")


def _type_filter(test: cst.BaseExpression, name: str) -> bool:
    """``not isinstance(m, nn.Linear) and not isinstance(m, nn.MaxPool2d)``: a test that only drops
    children of some types other than normalization layers (the network's BN blocks pass it)."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _type_filter(test.left, name) and _type_filter(test.right, name)
    if not (isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)):
        return False
    call = test.expression
    return (isinstance(call, cst.Call) and isinstance(call.func, cst.Name) and call.func.value == "isinstance"
            and len(call.args) == 2 and isinstance(call.args[0].value, cst.Name)
            and call.args[0].value.value == name
            and "Norm" not in cst.Module([]).code_for_node(call.args[1].value))


def _after_no_break(node: cst.CSTNode, scope: Scope) -> bool:
    """``node`` is in the ``else:`` of a loop that may ``break``: a fallback that runs only when the
    search finds nothing (``for g in ...: if c % g == 0: norm = GroupNorm(g, c); break`` /
    ``else: norm = BatchNorm2d(c)``), as undecided as an ``if``."""
    parents = scope.module.parents
    return any(isinstance(a, cst.Else) and isinstance(parents.get(a), (cst.For, cst.While)) and _breaks(parents[a].body)
               for a in ancestors(scope.module, node, scope.node))


def _breaks(body: cst.CSTNode) -> bool:
    """A ``break`` of this loop (not of a loop nested in it, nor in a nested function)."""
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Break):
            return True
        if isinstance(node, (cst.For, cst.While, cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            if isinstance(node, (cst.For, cst.While)) and node.orelse is not None:
                stack.append(node.orelse)  # a nested loop's else belongs to the outer loop
            continue
        stack.extend(node.children)
    return False


def _tv_name(qual: str) -> Optional[str]:
    module, _, name = qual.rpartition(".")
    return name if module in _TV_MODULES else None


class BNAnalysis:
    """Memoised BN inference over the project, sharing the resolver's index."""

    def __init__(self, resolver: Resolver):
        self.r = resolver
        self.memo = resolver.index.memo
        self._probes: list = []

    # A value that *is* a module (an instance, a call result).
    def has_bn(self, value: Value, depth: int = 0) -> bool:
        if depth > 8:
            return False
        if isinstance(value, Maybe):
            return False
        if isinstance(value, Instance):
            if value.call is None:
                # (``self(images)`` in a template base class: the subclasses' layers)
                return self.class_has_bn(value.cls, value.module, None, None, depth) or (
                    self.r.is_template(value.cls) and any(
                        self.class_has_bn(sub, sub_module, None, None, depth + 1)
                        for sub, sub_module in self.r.subclasses(value.cls, value.module)))
            return self.class_has_bn(value.cls, value.module, value.call, value.ctx, depth)
        if isinstance(value, ExtCall):
            return self.builds_bn(Ref(value.qualname), value.call, value.ctx, depth)
        if isinstance(value, SubModule):
            if value.attr in ("fc", "classifier", "head", "heads", "linear", "logits", "lm_head"):
                return False
            return self.has_bn(value.parent, depth + 1)
        return False

    # A callee that builds BN when called with ``call`` (in ``ctx``).
    def builds_bn(self, callee: Value, call: Optional[cst.Call], ctx: Optional[Ctx], depth: int = 0) -> bool:
        if depth > 8 or isinstance(callee, Maybe):
            return False
        if isinstance(callee, Ref):
            return self._external_builds_bn(callee.qualname, call, ctx, depth)
        if isinstance(callee, ClassRef):
            return self.class_has_bn(callee.cls, callee.module, call, ctx, depth)
        if isinstance(callee, FuncRef):
            return self.function_builds_bn(callee.scope, call, ctx, callee.bound_self, depth)
        if isinstance(callee, Partial):
            return self.builds_bn(callee.func, callee.call, callee.ctx, depth + 1)
        return False

    def _external_builds_bn(self, qual: str, call, ctx, depth: int) -> bool:
        if is_bn_class(qual):
            return not (qual == F_BATCH_NORM and self._batch_of_one(call, ctx))
        if qual in NON_BN_NORMS:
            return False
        if qual in CONTAINERS:
            return call is not None and ctx is not None and self._args_have_bn(call, ctx, depth)
        name = _tv_name(qual)
        if name and _TV_BN.match(name):
            return not self._norm_layer_overridden(call, ctx, depth)
        if qual in ("torchvision.models.get_model", "timm.create_model", "timm.models.create_model"):
            if call is None or ctx is None:
                return False
            arch = call_arg(call, 0, "model_name" if qual.startswith("timm") else "name")
            arch_name = self.r.const(arch, ctx) if arch is not None else None
            if not isinstance(arch_name, str):
                return False
            if qual.startswith("timm"):
                arch_name = arch_name.split(".")[0]
                return bool(_TIMM_BN.match(arch_name)) and not _TIMM_NOT_BN.search(arch_name) \
                    and not self._norm_layer_overridden(call, ctx, depth)
            return bool(_TV_BN.match(arch_name)) and not self._norm_layer_overridden(call, ctx, depth)
        return False

    def _batch_of_one(self, call, ctx, depth: int = 0) -> bool:
        """``F.batch_norm(x.view(1, b * c, h, w), ...)`` (AdaIN): every (sample, channel) pair is a
        channel of a batch of one, which is instance normalization, not batch statistics. ``call`` is the
        ``batch_norm`` call, or (``depth`` > 0) the expression its input is bound to."""
        if call is None or ctx is None or depth > 3:
            return False
        expr = call_arg(call, 0, "input") if depth == 0 else call
        if isinstance(expr, cst.Name):
            bindings = ctx.scope.bindings.get(expr.value) if ctx.scope is not None else None
            return bool(bindings) and all(b.kind == "assign" and not b.path and b.scope is ctx.scope
                                          and self._batch_of_one(b.expr, ctx, depth + 1) for b in bindings)
        if not (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in ("view", "reshape") and expr.args and not expr.args[0].star
                and expr.args[0].keyword is None):
            return False
        first = expr.args[0].value
        if isinstance(first, (cst.Tuple, cst.List)) and first.elements:  # x.view((1, b * c, h, w))
            first = first.elements[0].value
        value = self.r.const(first, ctx)
        return value == 1 and not isinstance(value, bool)

    def _norm_layer_overridden(self, call, ctx, depth: int) -> bool:
        """True when ``norm_layer=`` is passed and is not (certainly) BN."""
        if call is None or ctx is None:
            return False
        for kw in ("norm_layer", "norm"):
            arg = call_arg(call, -1, kw)
            if arg is not None:
                return not any(self.builds_bn(v, None, None, depth + 1) for v in self.r.resolve(arg, ctx))
        return False

    def _args_have_bn(self, call: cst.Call, ctx: Ctx, depth: int) -> bool:
        for arg in call.args:
            values = self.r.resolve(arg.value, ctx)
            if arg.star:
                if self._children_of_bn(arg.value, ctx, depth):
                    return True
                values = [x for v in values if isinstance(v, Seq) for item in v.items for x in item] + \
                    self._list_contents(arg.value, ctx)
            for v in values:
                if self.has_bn(v, depth + 1):
                    return True
        return False

    def _children_of_bn(self, expr, ctx: Ctx, depth: int, hops: int = 0) -> bool:
        """``list(resnet.children())[:-1]`` (also through a name): the layers of a BN network, which keep
        its BN layers when only the head is cut off."""
        if hops > 3:
            return False
        if isinstance(expr, cst.Name):
            bindings = self.r.visible_bindings(ctx.scope, expr.value, expr) if expr.value in ctx.scope.bindings else []
            return bool(bindings) and all(b.kind == "assign" and not b.path and b.expr is not None
                                          and self._children_of_bn(b.expr, ctx, depth, hops + 1) for b in bindings)
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Slice):
            upper = expr.slice[0].slice.upper
            bound = self.r.const(upper, ctx) if upper is not None else None
            if upper is not None and not (isinstance(bound, int) and bound < 0):
                return False  # [:3] may keep only the stem: not sure it keeps a BN layer
            # [:-1] / [:-2]: the head removed, the trunk kept (``layers = list(resnet.children())``
            # first, then ``layers[:-1]``)
            return self._children_of_bn(expr.value, ctx, depth, hops + 1)
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "list" and expr.args:
            expr = expr.args[0].value
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
                and expr.func.attr.value in ("children", "modules") and not expr.args:
            return any(self.has_bn(v, depth + 1) for v in self.r.resolve(expr.func.value, ctx))
        return False

    def _list_contents(self, expr, ctx: Ctx):
        """Values appended to a list variable (``layers.append(nn.BatchNorm2d(c))``, ``self.f.append(m)``
        in a constructor), also to the list a project helper builds and returns
        (``nn.Sequential(*block(16, 32))`` with ``block.append(BN)``)."""
        if isinstance(expr, cst.Call):
            return self._returned_list_contents(expr, ctx)
        if isinstance(expr, cst.Attribute):
            if not (isinstance(expr.value, cst.Name) and rooted_at(expr, ctx.scope.self_name)):
                return []  # ``self.f``, one attribute deep
        elif not isinstance(expr, cst.Name):
            return []
        out = []
        for b in ctx.scope.bindings.get(expr.value, []) if isinstance(expr, cst.Name) else ():
            if b.kind == "augassign" and self.guards_hold(b.guards, ctx, b.loops, some_caller=True):
                out.extend(x for v in self.r.resolve(b.expr, Ctx(b.scope, ctx.env, ctx.self_value))
                           if isinstance(v, Seq) for item in v.items for x in item)
        for site in ctx.scope.calls:
            func = site.call.func
            if not (isinstance(func, cst.Attribute) and func.attr.value in ("append", "extend", "add_module")
                    and func.value.deep_equals(expr)):
                continue
            arg = call_arg(site.call, 1 if func.attr.value == "add_module" else 0)
            if arg is not None and func.attr.value != "extend":
                network = self._child_appended(site, arg, ctx)
                if network:
                    out.extend(network)
                    continue
            if self.guards_hold(site.guards, ctx, site.loops, some_caller=True):
                if arg is not None:
                    vals = self.r.resolve(arg, ctx)
                    if func.attr.value == "extend":
                        vals = [x for v in vals if isinstance(v, Seq) for item in v.items for x in item]
                    out.extend(vals)
                    if site.loops and isinstance(arg, cst.Call):
                        out.extend(self._per_iteration_variants(arg, ctx, site.loops))
        return out

    def _per_iteration_variants(self, call: cst.Call, ctx: Ctx, loops) -> list:
        """What ``call`` builds in the iterations where an argument decided by the loop variable
        takes each of its values: SRGAN's ``ConvBlock(..., use_bn=False if idx == 0 else True)`` in
        ``for idx, f in enumerate(features)`` builds BN from the second block on."""
        targets = {n.value for loop in loops if isinstance(loop, cst.For) for n in names_in(loop.target)}
        out = []
        for i, arg in enumerate(call.args):
            value = arg.value
            if arg.star or not targets & {n.value for n in names_in(value)}:
                continue
            if isinstance(value, cst.IfExp):
                options = ((value.test, True, value.body), (value.test, False, value.orelse))
            elif isinstance(value, (cst.Comparison, cst.BooleanOperation)) \
                    or isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Not):
                options = ((value, True, cst.Name("True")), (value, False, cst.Name("False")))
            else:
                continue
            for test, branch, taken in options:
                if self._some_iteration_takes(test, branch, ctx, loops) != branch:
                    continue
                key = ("iteration_variant", id(call), i, branch)
                variant = self.memo.get(key)
                if variant is None:  # one node per variant: resolutions are memoised by node
                    variant = self.memo[key] = call.with_changes(
                        args=(*call.args[:i], arg.with_changes(value=taken), *call.args[i + 1:]))
                    self._probes.append((call, variant))  # memo keys hold node ids: keep them alive
                out.extend(self.r.resolve(variant, ctx))
        return out

    def _child_appended(self, site, arg, ctx: Ctx) -> list:
        """``for name, m in resnet50().named_children(): if not isinstance(m, nn.Linear): f.append(m)``:
        the network whose children are appended (its BN layers come along), when the only conditions
        around the append are type filters on the child or hold anyway."""
        if not isinstance(arg, cst.Name):
            return []
        for loop in site.loops:
            it = loop.iter if isinstance(loop, cst.For) else None
            if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and not it.args
                    and it.func.attr.value in CHILD_ITERATORS):
                continue
            target = loop.target
            if it.func.attr.value.startswith("named_"):
                target = target.elements[1].value if isinstance(target, cst.Tuple) and len(target.elements) == 2 \
                    else None
            if not (isinstance(target, cst.Name) and target.value == arg.value):
                continue
            # Not ``guards_hold`` over the loop: a test on the child (``isinstance(m, nn.Conv2d)``)
            # that some iteration takes may keep only the children without BN.
            if all(_type_filter(test, arg.value) or self.guards_hold(((test, branch),), ctx)
                   for test, branch in site.guards):
                return self.r.resolve(it.func.value, ctx)
        return []

    def _returned_list_contents(self, call: cst.Call, ctx: Ctx):
        out = []
        for callee in self.r.resolve(call.func, ctx):
            if not isinstance(callee, FuncRef):
                continue
            scope = callee.scope
            inner = Ctx(scope, self.r.bind_args(scope, call, ctx, skip_self=callee.bound_self is not None),
                        callee.bound_self)
            for ret in scope.returns:
                if isinstance(ret, cst.Name):
                    out.extend(self._list_contents(ret, inner))
        return out

    # -- project classes and functions ------------------------------------------------
    def class_has_bn(self, cls: ClassInfo, module: ModuleInfo, call, ctx, depth: int = 0) -> bool:
        key = ("class_bn", id(cls), id(call), id(ctx.factory_call()) if ctx is not None else None)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False  # cycle guard
        result = self._class_has_bn(cls, module, call, ctx, depth)
        self.memo[key] = result
        return result

    def _class_has_bn(self, cls, module, call, ctx, depth) -> bool:
        if self._train_freezes_bn(cls, module):
            return False  # its BN layers never see train mode: no batch statistics, no updates
        inst = Instance(cls, module, call, ctx)
        for c, _m in self.r.mro(cls, module):
            for name, method in c.methods.items():
                env = None
                if name == "__init__" and call is not None:
                    env = self.r.bind_args(method, call, ctx, skip_self=True)
                if self._scope_builds_bn(method, Ctx(method, env, inst), depth):
                    return True
                if env is not None and self._injected_bn(c, method, Ctx(method, env, inst), depth):
                    return True
        for qual in self.r.external_bases(cls, module):
            name = _tv_name(qual)
            if is_bn_class(qual) or (name and _TV_BN.match(name)):
                return True
        return False

    def _train_freezes_bn(self, cls: ClassInfo, module: ModuleInfo) -> bool:
        """``def train(self, mode=True): super().train(mode); self.freeze_bn()`` with ``freeze_bn``
        calling ``m.eval()`` in a loop over ``self.modules()`` (DomainBed's ResNet): every switch to
        train mode puts the modules back in eval mode."""
        methods = self.r.methods_of(cls, module)
        train = methods.get("train")
        if train is None or train.cls is None:
            return False
        reach = {self._evals_modules(train)} | {
            self._evals_modules(methods[name]) for name in _self_calls(train) if name in methods}
        if "modules" in reach:
            return True
        # ``for m in self.children(): if isinstance(m, nn.BatchNorm2d): m.train(False)`` reaches only
        # the BN layers held directly, not those inside ``self.layer1`` or a whole ResNet.
        return "children" in reach and self._bn_held_directly(cls, module)

    @staticmethod
    def _evals_modules(scope: Scope) -> Optional[str]:
        """How far a loop that calls ``m.eval()`` / ``m.train(False)`` reaches: "modules" (every
        submodule), "children" (the direct ones) or None (no such loop)."""
        found = None
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Attribute) and (func.attr.value == "eval" or _train_false(site.call, func)):
                for loop in site.loops:
                    reach = _loops_over_modules(loop)
                    if reach == "modules":
                        return reach
                    found = found or reach
        return found

    def _bn_held_directly(self, cls: ClassInfo, module: ModuleInfo) -> bool:
        """Every attribute of the class that holds BN is a BN layer itself (``self.bn1 =
        nn.BatchNorm2d(64)``, ``self.bn1 = resnet.bn1``), not a block or a network containing one."""
        inst = Instance(cls, module)
        for holder, _m in self.r.mro(cls, module):
            for attr, bindings in holder.attrs.items():
                for b in bindings:
                    if b.kind != "assign" or b.expr is None:
                        continue
                    for v in self.r.resolve(b.expr, Ctx(b.scope, None, inst)):
                        if self.has_bn(v, 1) and not _is_bn_layer(v):
                            return False
        return True

    def _injected_bn(self, cls: ClassInfo, init: Scope, ctx: Ctx, depth: int) -> bool:
        """``self.backbone = backbone`` in ``__init__``, with a BN module passed by this constructor call.

        Only attributes stored straight from a parameter count: the caller's argument is then the
        submodule (``Wrapper(resnet18())``); anything built inside ``__init__`` is ``_scope_builds_bn``'s.
        """
        for bindings in cls.attrs.values():
            for b in bindings:
                if b.scope is not init or b.kind != "assign" or b.path or not isinstance(b.expr, cst.Name):
                    continue
                if init.param(b.expr.value) is None:
                    continue
                if any(self.has_bn(v, depth + 1) for v in self.r.resolve(b.expr, ctx)):
                    return True
        return False

    def function_builds_bn(self, scope: Scope, call, ctx, bound_self, depth: int = 0) -> bool:
        # The answer depends on the arguments ``call`` passes, which ``ctx`` binds: one
        # ``make_norm(norm_type, c)`` call in ``Block.__init__`` builds BN for the critic's blocks and
        # not for the generator's. Keyed by the objects under construction, as ``class_has_bn`` is.
        builders = tuple(id(c.self_value.call) if isinstance(c.self_value, Instance) else None
                         for c in ctx.builders()) if ctx is not None else ()
        key = ("func_bn", id(scope), id(call), builders, id(ctx.factory_call()) if ctx is not None else None)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = False
        env = self.r.bind_args(scope, call, ctx, skip_self=bound_self is not None) if call is not None else None
        self_value = bound_self
        if self_value is None and scope.cls is not None and scope.self_name:
            self_value = Instance(scope.cls, scope.module)
        result = self._scope_builds_bn(scope, Ctx(scope, env, self_value), depth)
        self.memo[key] = result
        return result

    def _scope_builds_bn(self, scope: Scope, ctx: Ctx, depth: int) -> bool:
        undecided = []  # the guards of BN-building calls on branches that cannot be told
        for site in scope.calls:
            func = site.call.func
            callees = self.r.resolve(func, ctx)
            # Calling a module instance is a forward call, not a construction.
            builds = (all(isinstance(c, Unknown) for c in callees) and self._written_as_bn(func, scope.module)) \
                or any(not isinstance(c, (Instance, ExtCall, SubModule)) and self.builds_bn(c, site.call, ctx, depth + 1)
                       for c in callees)
            if not builds or _after_no_break(site.call, scope) or self._never_used(site, scope):
                continue
            # The guards last: evaluating a condition such as ``if norm_layer is None`` means
            # searching the callers for the argument, and only a call that builds BN needs it.
            if self.guards_hold(site.guards, ctx, site.loops, some_caller=True):
                return True
            if site.guards and not site.loops:
                undecided.append(site.guards)
        return bool(undecided) and self._on_every_path(undecided, scope, ctx)

    def _never_used(self, site, scope: Scope) -> bool:
        """``self.lin1_bn = nn.BatchNorm1d(64)`` in ``__init__`` with ``forward`` rewritten not to use it:
        no other text of the project names the attribute, nothing walks the children, so the layer
        never runs (a module that only declares BN has no batch statistics)."""
        if scope.cls is None or scope.short_name != "__init__" or scope.self_name is None:
            return False
        stmt = scope.module.parents.get(site.call)
        if not (isinstance(stmt, cst.Assign) and stmt.value is site.call and len(stmt.targets) == 1):
            return False
        target = stmt.targets[0].target
        if not (isinstance(target, cst.Attribute) and rooted_at(target, scope.self_name)
                and isinstance(target.value, cst.Name)):
            return False
        attr = target.attr.value
        text = scope.module.source.text
        if len(re.findall(r"\b" + re.escape(attr) + r"\b", text)) != 1 or _WALKS_CHILDREN.search(text):
            return False
        return self.r.index.files_mentioning(attr) == [scope.module.fs_path]

    def _on_every_path(self, building: list, scope: Scope, ctx: Ctx) -> bool:
        """BN is built whichever way the undecided conditions go: ``if model_path:
        resnet50(pretrained=False) ... else: resnet50(pretrained=True)``. A branch that raises
        builds nothing, and needs nothing."""
        def open_guards(guards):
            out = []
            for test, branch in guards:
                value = self.r.truth(test, ctx)
                if value is None:
                    out.append((test, branch))
                elif bool(value) != branch:
                    return None  # a branch this object does not take
            return out
        paths = [p for p in (open_guards(g) for g in building) if p is not None]
        if not paths:
            return False
        paths += [p for p in (open_guards(g) for g in scope.raises) if p is not None]
        return _covers(paths)

    @staticmethod
    def _written_as_bn(func: cst.BaseExpression, module: ModuleInfo) -> bool:
        """``nn.BatchNorm2d`` of a library wrapping torch's layers that the analysis cannot read
        (``import nni.retiarii.nn.pytorch as nn``, a vendored package left out of the tree): the
        imported name says BatchNorm when its module cannot."""
        name = dotted_name(func)
        return name is not None and is_bn_class(module.imports.qualify(name))

    def guards_hold(self, guards, ctx: Ctx, loops=(), some_caller: bool = False) -> bool:
        """Every enclosing condition is known to take the branch the call is on.

        With ``loops`` (the call's enclosing loops), a condition on the counter of a
        ``for i in range(...)`` with known bounds holds when some iteration takes the branch:
        ``if i > 0: layers.append(nn.BatchNorm1d(d))`` builds BN once the loop runs twice.
        With ``some_caller`` (whether a network is built with BN at all), a flag parameter holds
        when some call of the project passes it on (``_some_caller_takes``); not for questions
        about one object, such as whether the model a loop trains was frozen.
        """
        for test, branch in guards:
            value = self.r.truth(test, ctx)
            if value is None and loops:
                value = self._some_iteration_takes(test, branch, ctx, loops)
            if value is None and some_caller:
                value = self._some_caller_takes(test, branch, ctx)
            if value is None or bool(value) != branch:
                return False
        return True

    def _some_caller_takes(self, test, branch: bool, ctx: Ctx) -> Optional[bool]:
        """``branch`` when ``test`` is a flag parameter that the project's calls pass as constants,
        some of which take it: ``if use_bn: layers.append(nn.BatchNorm2d(c))`` in a network that one
        experiment builds with ``use_bn=True`` and another with ``use_bn=False`` (as a table with
        one candidate with BN is reported). Each value is a construction the project writes."""
        wanted = branch  # the value ``test`` itself must take
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            test, wanted = test.expression, not branch
        if not isinstance(test, cst.Name) or ctx.scope.param(test.value) is None:
            return None
        values = self.r.resolve(test, ctx)
        if len(values) < 2 or not all(isinstance(v, Const) for v in values):
            return None
        return branch if any(bool(v.value) == wanted for v in values) else None

    def _some_iteration_takes(self, test, branch: bool, ctx: Ctx, loops) -> Optional[bool]:
        """``branch`` if ``test`` takes it for some value of an enclosing loop's target: tried value by
        value when the loop runs over known values (``range`` with constant bounds, a literal list
        such as VGG's cfg), assumed when they are unknown."""
        mentioned = {n.value for n in names_in(test)}
        for loop in loops:
            if not (isinstance(loop, cst.For) and mentioned & {n.value for n in names_in(loop.target)}):
                continue
            name, values = self._loop_counter(loop, mentioned, ctx)
            if values is None:
                # Items unknown (a config table picked by name): a test on the loop variable is
                # taken to vary over the loop, like VGG's ``if v == "M": ... else: ...``; so is
                # ``if idx == 0`` in ``for idx, dim in enumerate(dims)`` over unknown ``dims``.
                return branch
            for value in values:
                probe = _substitute(test, name, value)
                self._probes.append(probe)  # memo keys hold node ids: keep the probes alive
                if self.r.const(probe, ctx) == branch:
                    return branch
            return not branch
        return None

    def _loop_counter(self, loop: cst.For, mentioned: set, ctx: Ctx):
        """(name, the values it takes) of the loop variable a test reads, values None when unknown:
        ``for i in range(4)``, ``for v in cfg`` over a literal list, or the index of
        ``for idx, f in enumerate(features)`` over a literal tuple when the test reads only the index."""
        target, it = loop.target, loop.iter
        if isinstance(target, cst.Name):
            return target.value, self._iteration_values(it, ctx)
        if isinstance(target, cst.Tuple) and len(target.elements) == 2 \
                and isinstance(target.elements[0].value, cst.Name) \
                and mentioned & {n.value for n in names_in(target)} == {target.elements[0].value.value} \
                and isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "enumerate" \
                and len(it.args) == 1 and not it.args[0].star and not it.args[0].keyword:
            items = self._literal_items(it.args[0].value, ctx)
            return target.elements[0].value.value, (list(range(len(items))) if items else None)
        return None, None

    def _iteration_values(self, iterable, ctx: Ctx) -> Optional[list]:
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) \
                and iterable.func.value == "range" and 1 <= len(iterable.args) <= 3 \
                and not any(a.keyword or a.star for a in iterable.args):
            bounds = [self.r.const(a.value, ctx) for a in iterable.args]
            if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
                return None
            values = list(range(*bounds)) if len(range(*bounds)) <= _MAX_UNROLL else None
        else:
            values = self._literal_items(iterable, ctx)
        if not values or not all(_literal(v) is not None for v in values):
            return None
        return values

    def _literal_items(self, expr, ctx: Ctx) -> Optional[list]:
        """The items of a literal list/tuple ``expr`` is bound to, when each item is one constant."""
        options = self.r.resolve(expr, ctx)
        if len(options) != 1 or not isinstance(options[0], Seq) or options[0].kind != "tuple" \
                or len(options[0].items) > _MAX_UNROLL:
            return None
        items = []
        for item in options[0].items:
            if len(item) != 1 or not isinstance(item[0], Const):
                return None
            items.append(item[0].value)
        return items

    # -- convenience ----------------------------------------------------------------
    def expr_has_bn(self, expr: cst.BaseExpression, ctx: Ctx) -> bool:
        return any(self.has_bn(v) for v in self.r.resolve(expr, ctx))
