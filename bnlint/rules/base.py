"""The rule interface: a rule inspects one module with the shared analyses at hand."""
from __future__ import annotations

import dataclasses
import os
import re
from typing import ClassVar, Dict, Iterable, List, Optional, Tuple

import libcst as cst

from ..analysis.context import Analysis
from ..analysis.module import ModuleInfo
from ..findings import Autofix, Finding, Related, rule_url
from ..patterns import Trigger, found_in
from ..source import Source


class RuleContext:
    """What a rule sees: the module, the shared analyses, and a way to report."""

    def __init__(self, module: ModuleInfo, analysis: Analysis, rule: "Rule"):
        self.module = module
        self.analysis = analysis
        self.resolver = analysis.resolver
        self.bn = analysis.bn
        self.training = analysis.training
        self.loaders = analysis.loaders
        self.rule = rule
        self.findings: List[Finding] = []

    def display_path(self, module: ModuleInfo) -> str:
        """Path of another module relative to this one's display path style."""
        if module is self.module:
            return self.module.path
        here = os.path.dirname(self.module.fs_path)
        rel = os.path.relpath(module.fs_path, here)
        base = os.path.dirname(self.module.path)
        return os.path.normpath(os.path.join(base, rel)) if base else rel

    def related(self, module: ModuleInfo, node: cst.CSTNode, message: str) -> Related:
        return Related(self.display_path(module), module.line(node), message)

    def short_path(self, module: ModuleInfo) -> str:
        """How a message names another module: its file name (the related location has the full path)."""
        return os.path.basename(self.display_path(module))

    @staticmethod
    def clip(label: str, limit: int = 24) -> str:
        """A quoted name or expression shortened for a message (see ``clip``)."""
        return clip(label, limit)

    @staticmethod
    def clip_apart(a: str, b: str, limit: int = 24) -> Tuple[str, str]:
        """Two labels clipped, each just long enough to tell them apart (``random_batches(train_a…``)."""
        while limit < max(len(a), len(b)) and clip(a, limit) == clip(b, limit):
            limit += 1
        return clip(a, limit), clip(b, limit)

    def report(self, node: cst.CSTNode, message: str, fix: str, related: Tuple[Related, ...] = (),
               autofix: Optional[Autofix] = None, why: str = "") -> None:
        """Report a finding at ``node``.

        ``message`` is one short line (what is wrong here, and where the other half is: aim at
        100 characters, see ``findings.MAX_MESSAGE``); ``why`` the explanation in terms of batch
        vs running statistics; ``fix`` the remedy. They stay separate: reporters show the message
        on the finding's line and the why and the fix below it, or in their own fields.
        """
        message, why, fix = _one_line(message), _one_line(why), _one_line(fix)
        line, col, end_line, end_col = self.module.position(node)
        stmt = self.module.statement_of(node)
        snippet = " ".join(self.module.code(_header(stmt)).split()) if stmt is not None else ""
        if autofix is not None and not self.module.compiles():
            autofix = None  # the fixed file could not be checked by compiling it: no fix offered
        if autofix is not None and not autofix.digest:  # the offsets are into this module's text
            autofix = dataclasses.replace(autofix, digest=self.module.source.digest)
        self.findings.append(Finding(
            code=self.rule.code, name=self.rule.name, path=self.module.path,
            line=line, column=col + 1, end_line=end_line, end_column=end_col + 1,
            message=message, fix=fix, url=rule_url(self.rule.code), related=tuple(related),
            autofix=autofix, snippet=snippet, explanation=why,
        ))


def _one_line(text: str) -> str:
    return " ".join(text.split())


_OF = re.compile(r"^the (`[^`]+`) of `[^`]+`$")


def clip(label: str, limit: int = 24) -> str:
    """A quoted name or expression (```DataLoader(src_set, batch_size=32)```) cut to ``limit``
    characters for a message; "the `batch` of `training_step`" becomes "`batch`"; other phrases
    are left whole (the related locations name things in full)."""
    m = _OF.match(label)
    if m:
        label = m.group(1)
    if len(label) <= limit or not (label.startswith("`") and label.endswith("`")) or label.count("`") != 2:
        return label
    inner = label[1:-1].rstrip("…")
    return "`" + inner[:limit - 3].rstrip() + "…`"


def _header(stmt: cst.CSTNode) -> cst.CSTNode:
    """The statement without the comments above and after it and, if compound, without its body.

    Baseline and SARIF fingerprints key on this text: a comment added above a finding, a
    changed trailing comment, or an edit inside the loop it heads, must not make it a new finding.
    """
    changes = {}
    if hasattr(stmt, "leading_lines"):
        changes["leading_lines"] = ()
    if isinstance(stmt, cst.SimpleStatementLine):
        changes["trailing_whitespace"] = cst.TrailingWhitespace()  # nor its trailing comment
    if isinstance(stmt, cst.BaseCompoundStatement) and hasattr(stmt, "body"):
        changes["body"] = cst.IndentedBlock(body=[])
        if hasattr(stmt, "orelse"):
            changes["orelse"] = None
    return stmt.with_changes(**changes) if changes else stmt


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]  # kebab-case, names the bad pattern
    summary: ClassVar[str]  # one line for `bnlint rules`
    default_enabled: ClassVar[bool] = True
    # Pre-filter: the rule can only fire on a file whose text matches every one of these
    # (see triggers.py); a file no selected rule wants is only syntax-checked.
    triggers: ClassVar[Tuple[Trigger, ...]] = ()
    # True when the triggers also draw the rule's scope (e.g. "the training step is visible
    # in this file") rather than only restate what its analysis needs: the engine then
    # applies them even with the pre-filter off, so findings never depend on it.
    scoped_by_triggers: ClassVar[bool] = False

    def wants(self, source: Source, seen: Optional[Dict[str, bool]] = None) -> bool:
        """Whether the code of ``source`` (comments and strings left out: a docstring's
        ``optimizer.step()`` is no training step) matches every trigger; ``seen`` memoises
        patterns that rules share."""
        memo: Dict[str, bool] = {} if seen is None else seen
        return all(found_in(trigger, source.code, memo) for trigger in self.triggers)

    def wants_in_project(self, source: Source, fs_path: str, index) -> bool:
        """For a file whose code lacks the triggers: whether what the modules it imports hold gives
        the rule something to find here anyway (read from their text, never by parsing). Rules
        whose triggers are the whole story keep this False."""
        return False

    def check(self, ctx: RuleContext) -> Iterable[None]:  # pragma: no cover - interface
        raise NotImplementedError


_CODE = re.compile(r"^BN\d{3}$")
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def validate_rule(rule: type) -> None:
    assert _CODE.match(rule.code), rule.code
    assert _NAME.match(rule.name), rule.name
