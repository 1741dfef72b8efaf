"""Short human names for values and nodes, for finding messages."""
from __future__ import annotations

import libcst as cst

from .names import dotted_name
from .values import ExtCall, Instance, Output, SubModule, Value


def describe_model(value: Value) -> str:
    if isinstance(value, Instance):
        return f"`{value.cls.name}`"
    if isinstance(value, ExtCall):
        return f"`{value.qualname.rsplit('.', 1)[-1]}`"
    if isinstance(value, SubModule):
        return f"{describe_model(value.parent)[:-1]}.{value.attr}`"
    if isinstance(value, Output):
        return describe_model(value.model)
    return "the model"


def describe_expr(expr: cst.CSTNode, limit: int = 40) -> str:
    name = dotted_name(expr) if isinstance(expr, cst.BaseExpression) else None
    if name:
        return f"`{name}`"
    code = cst.Module(body=[]).code_for_node(expr).strip().replace("\n", " ")
    if len(code) > limit:
        code = code[: limit - 1] + "…"
    return f"`{code}`"
