"""Import alias table and dotted names: resolve what a local name refers to.

Names are resolved by qualified name (``nn.BatchNorm2d`` -> ``torch.nn.BatchNorm2d``),
never by suffix or text match. This table is far cheaper than libcst's
QualifiedNameProvider, which costs ~10x the parse on real code.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import libcst as cst


def dotted_name(node: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def callee_name(func: cst.BaseExpression) -> Optional[str]:
    """The last name of a callee: ``MethodType`` for ``types.MethodType`` and for ``MethodType``."""
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return func.value if isinstance(func, cst.Name) else None


def _module_dotted(node) -> str:
    if node is None:
        return ""
    name = dotted_name(node)
    return name or ""


def resolve_relative(package: str, level: int, module: str) -> str:
    """``from ..x import y`` inside package ``a.b.c`` -> ``a.x`` (best effort)."""
    parts = package.split(".") if package else []
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if module:
        return f"{base}.{module}" if base else module
    return base


class ImportTable:
    """Maps a locally bound name to the qualified name it was imported as."""

    def __init__(self, package: str = "") -> None:
        self.package = package  # the importing module's package, for relative imports
        self.aliases: Dict[str, str] = {}
        self.star_modules: List[str] = []  # `from models import *`, common in research code

    def add(self, node) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = _module_dotted(alias.name)
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases.setdefault(alias.asname.name.value, full)
                else:
                    # `import a.b.c` binds `a`, and `a.b.c` resolves through it.
                    top = full.split(".")[0]
                    self.aliases.setdefault(top, top)
        elif isinstance(node, cst.ImportFrom):
            level = len(node.relative)
            module = _module_dotted(node.module)
            if level:
                module = resolve_relative(self.package, level, module)
            if isinstance(node.names, cst.ImportStar):
                if module not in self.star_modules:
                    self.star_modules.append(module)
                return
            for alias in node.names:
                name = _module_dotted(alias.name)
                local = name
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                self.aliases.setdefault(local, f"{module}.{name}" if module else name)

    def qualify(self, dotted: str) -> Optional[str]:
        """Qualified name of a dotted reference whose head is an imported name."""
        head, _, rest = dotted.partition(".")
        target = self.aliases.get(head)
        if target is None:
            return None
        return f"{target}.{rest}" if rest else target
