"""Which models an optimizer steps: the ``.parameters()`` its constructor is given.

``torch.optim.Adam(itertools.chain(G.parameters(), P.parameters()), lr)`` steps ``G`` and ``P``;
so does ``Adam(params)`` after ``params = list(G.parameters()) + list(P.parameters())`` or
``[{"params": G.parameters()}, ...]``. A network that the generators' optimizer steps belongs to
the generator side (Recycle-GAN's frame predictor), not to a discriminator, whatever it is fed.
"""
from __future__ import annotations

from typing import FrozenSet, List, NamedTuple, Optional

import libcst as cst

from .module import ModuleInfo
from .names import dotted_name
from .provenance import model_key
from .values import Ctx, ExtCall, Resolver, call_arg, unwrap

_PARAM_CALLS = frozenset({"parameters", "named_parameters"})
_MAX_NAME_HOPS = 2  # ``params = ...; opt = Adam(params)``: names followed back to their bindings


# Builtins in a parameter list that only wrap the parameters (``list(G.parameters()) + ...``).
_HARMLESS = frozenset({"list", "tuple", "set", "filter", "sorted", "True", "False", "None"})


class Stepped(NamedTuple):
    keys: FrozenSet[tuple]  # the models whose parameters resolve
    complete: bool  # every parameter source resolved to a model


def is_optimizer(qualname: str) -> bool:
    """A ``torch.optim`` optimizer class (not a learning-rate scheduler or an SWA helper)."""
    return qualname.startswith("torch.optim.") and ".lr_scheduler." not in qualname and ".swa_utils." not in qualname


def stepped_models(r: Resolver, receiver: cst.BaseExpression, ctx: Ctx) -> Optional[Stepped]:
    """The models whose ``.parameters()`` the optimizer ``receiver`` was built with, or None when
    ``receiver`` is not certainly one ``torch.optim`` optimizer."""
    values = unwrap(r.resolve(receiver, ctx))
    if len(values) != 1 or not isinstance(values[0], ExtCall):
        return None
    opt = values[0]
    if not is_optimizer(opt.qualname):
        return None
    params = call_arg(opt.call, 0, "params")
    if params is None:
        return None
    keys, complete = set(), True
    for call, where in _parameter_calls(r, params, opt.ctx, 0):
        if call is None:
            complete = False
            continue
        key = model_key(r.resolve(call.func.value, where))
        if key is None:
            complete = False
        else:
            keys.add(key)
    return Stepped(frozenset(keys), complete and bool(keys))


def built_optimizers(r: Resolver, module: ModuleInfo) -> List[Stepped]:
    """What each ``torch.optim`` optimizer constructed in ``module`` steps."""
    memo_key = ("built_optimizers", id(module))
    memo = r.index.memo
    if memo_key not in memo:
        out = []
        for scope in module.scopes:
            for site in scope.calls:
                name = dotted_name(site.call.func)
                qual = module.imports.qualify(name) if name else None
                if qual and is_optimizer(qual):
                    models = stepped_models(r, site.call, r.ctx_for(scope))
                    if models is not None:
                        out.append(models)
        memo[memo_key] = (module, out)  # the module keeps the id in the key alive
    return memo[memo_key][1]


def _parameter_calls(r: Resolver, expr: cst.BaseExpression, ctx: Ctx, hops: int) -> List[tuple]:
    """The ``X.parameters()`` calls in ``expr``, and in the bindings of the names it reads; a
    ``(None, ctx)`` item for a name whose parameters cannot be read (a function parameter)."""
    out = []
    for node in _walk(expr):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) \
                and node.func.attr.value in _PARAM_CALLS:
            out.append((node, ctx))
        elif isinstance(node, cst.Name) and node.value not in _HARMLESS:
            bindings = r.live_bindings(ctx.scope, node.value, node, ctx) if hops < _MAX_NAME_HOPS else []
            if not bindings:
                out.append((None, ctx))
            for b in bindings:
                if b.kind in ("assign", "augassign") and isinstance(b.expr, cst.BaseExpression):
                    here = ctx if ctx.scope is b.scope else Ctx(b.scope)
                    out.extend(_parameter_calls(r, b.expr, here, hops + 1))
                elif b.kind != "import":
                    out.append((None, ctx))
    return out


def _walk(node: cst.CSTNode):
    """``node`` and its descendants, not entering a receiver of ``.parameters()`` (its names are
    the model, not a parameter list) nor a function (``filter(lambda p: p.requires_grad, ...)``)."""
    stack = [node]
    while stack:
        cur = stack.pop()
        yield cur
        if isinstance(cur, cst.Call) and isinstance(cur.func, cst.Attribute) and cur.func.attr.value in _PARAM_CALLS:
            continue
        if isinstance(cur, cst.Attribute):
            stack.append(cur.value)  # not the attribute's name
        elif isinstance(cur, cst.Arg):
            stack.append(cur.value)  # not the keyword
        elif isinstance(cur, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            stack.append(cur.for_in)  # ``[p for p in m.parameters() if ...]``: what it iterates
        elif isinstance(cur, cst.CompFor):
            stack.extend(x for x in (cur.iter, cur.inner_for_in) if x is not None)
        elif isinstance(cur, cst.Dict):  # a parameter group: only its parameters, not its ``lr``
            stack.extend(e.value for e in cur.elements if isinstance(e, cst.DictElement)
                         and isinstance(e.key, cst.SimpleString) and e.key.evaluated_value == "params")
        elif not isinstance(cur, (cst.Lambda, cst.FunctionDef)):
            stack.extend(cur.children)
