"""Result types of a confirm run. Plain data, no torch: the parent process and the
reporters read them back from the child's JSON."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .verdict import ADVISORY, CONFIRM_AT, CONFIRMED, ERROR, INCONCLUSIVE_AT, MEASURES, NOT_CONFIRMED, SEVERITY

SCHEMA_VERSION = 2  # 2: sites of every rule measured, with rule, value and details
_Z_RULES = ("", "BN101", "BN102", "BN103")


@dataclass
class SiteResult:
    """The verdict for one place: a forward call site, a loader, a named source, or
    (for the rules beyond batch composition) the place a measure was taken."""

    # "call" (forward call site) | "loader" | "source" (compare() input): batch composition;
    # "eval-call" (BN201), "eval-training" (BN202), "frozen" (BN203), "averaged" (BN204),
    # "batch-size" (BN104/BN901), "momentum" (BN402), "eps" (BN406), "ddp-batch" (BN301),
    # "batch-dependence" (BN403), "penalty" (BN404), "variance-shift" (BN405),
    # "checkpoint" (BN205), "dead-bias" (BN401).
    kind: str
    label: str  # "train.py:42", or the source name given to compare()
    verdict: str
    z: float  # batch composition: median over probe calls of the max over BN layers; else 0
    meaning: str
    path: str = ""  # absolute path of the file, "" for API sources
    line: int = 0
    z_calls: List[float] = field(default_factory=list)  # per probe call, in order
    worst_layer: str = ""
    layer_z: Dict[str, float] = field(default_factory=dict)  # median per layer
    samples: int = 0  # median samples per call (after the memory cap)
    calls: int = 0
    steps: int = 0
    relative_l2: Optional[float] = None  # train-mode vs eval-mode output, relative L2
    flipped: Optional[float] = None  # fraction of argmax predictions that flip
    reference: str = ""  # what the statistics were compared with
    model: str = ""  # class name of the model called here
    inner_sites: List[str] = field(default_factory=list)  # nested BN-bearing calls, "path:line"
    note: str = ""
    rule: str = ""  # the rule whose verdict this is ("BN101" ...); matching may re-judge for another
    value: Optional[float] = None  # the rule's number (z for batch composition)
    details: Dict[str, Any] = field(default_factory=dict)  # per-layer numbers and the like

    def to_json(self) -> dict:
        return asdict(self)

    def number_text(self) -> str:
        """The rule's number, for people: ``z = 7.3``, ``running-stat drift = 0.210``, ..."""
        measure = MEASURES.get(self.rule)
        if measure is None or measure.name == "z":
            return f"z = {self.z:.1f}"
        return measure.show(self.value)

    def number_cell(self) -> str:
        """The rule's number, short, for the report table: ``z 7.3``, ``drift 0.210``, ..."""
        measure = MEASURES.get(self.rule)
        if measure is None or measure.name == "z":
            return f"z {self.z:.1f}"
        return measure.cell(self.value)

    @classmethod
    def from_json(cls, data: dict) -> "SiteResult":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def places(self) -> List[Tuple[str, int]]:
        """Every (path, line) this site stands for: its own and its nested call sites."""
        out = [(self.path, self.line)] if self.path else []
        for site in self.inner_sites:
            path, _, line = site.rpartition(":")
            if path and line.isdigit():
                out.append((path, int(line)))
        return out


@dataclass
class ConfirmResult:
    """Everything one confirm run (script or API) measured."""

    status: str  # "ok" | "error"
    message: str = ""  # why there is no measurement, or a note on how the run ended
    sites: List[SiteResult] = field(default_factory=list)
    steps: int = 0  # training steps (optimizer-step groups) the script completed
    probe_steps: int = 0  # of which measured
    seconds: float = 0.0
    device: str = ""
    script: str = ""

    @property
    def verdict(self) -> str:
        if self.status != "ok":
            return ERROR
        if not self.sites:
            return NOT_CONFIRMED
        # Rows of advisory rules (a construction fault, no accuracy cost) are reported and
        # attached to findings but decide the run only when nothing else was measured.
        deciding = [s for s in self.sites if s.rule not in ADVISORY] or self.sites
        return max((s.verdict for s in deciding), key=SEVERITY.__getitem__)

    @property
    def exit_code(self) -> int:
        """0: nothing confirmed, 1: a pitfall confirmed, 2: could not measure."""
        verdict = self.verdict
        if verdict == ERROR:
            return 2
        return 1 if verdict == CONFIRMED else 0

    def site(self, label: str) -> SiteResult:
        for site in self.sites:
            if site.label == label:
                return site
        raise KeyError(label)

    def __getitem__(self, label: str) -> SiteResult:
        return self.site(label)

    def summary(self) -> str:
        """A short plain-text report, one line per site."""
        if self.status != "ok":
            return f"bnlint confirm: {self.message}"
        head = f"bnlint confirm: {self.verdict}"
        if self.steps:
            head += f" ({self.probe_steps} of {self.steps} training steps measured)"
        rows = [head]
        for site in self.sites:
            effect = ""
            if site.relative_l2 is not None:
                effect = f", train/eval output gap {site.relative_l2:.1%}"
                if site.flipped is not None:
                    effect += f", {site.flipped:.0%} predictions flip"
            rule = f" ({site.rule})" if site.rule else ""
            number = site.number_text()
            if site.rule in _Z_RULES:
                number = number.replace(" = ", "=", 1)
            rows.append(
                f"  {display_label(site)} [{site.kind}] {site.verdict}{rule}: {number}"
                f" (worst layer {site.worst_layer or '-'}){effect}"
            )
        if self.message:
            rows.append(f"  note: {self.message}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.summary()

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "status": self.status,
            "verdict": self.verdict,
            "message": self.message,
            "script": self.script,
            "steps": self.steps,
            "probe_steps": self.probe_steps,
            "seconds": round(self.seconds, 3),
            "device": self.device,
            "thresholds": {"confirmed": CONFIRM_AT, "inconclusive": INCONCLUSIVE_AT},
            "sites": [s.to_json() for s in self.sites],
        }

    @classmethod
    def from_json(cls, data: dict) -> "ConfirmResult":
        return cls(
            status=data["status"],
            message=data.get("message", ""),
            sites=[SiteResult.from_json(s) for s in data.get("sites", [])],
            steps=data.get("steps", 0),
            probe_steps=data.get("probe_steps", 0),
            seconds=data.get("seconds", 0.0),
            device=data.get("device", ""),
            script=data.get("script", ""),
        )

    @classmethod
    def failure(cls, message: str, **extra) -> "ConfirmResult":
        return cls(status="error", message=message, **extra)


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    if not path:
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def display_label(site: SiteResult) -> str:
    if site.path:
        return f"{display_path(site.path)}:{site.line}"
    return site.label

