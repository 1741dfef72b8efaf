"""Configuration: ``[tool.bnlint]`` in pyproject.toml, then command-line overrides.

Values are data only (never evaluated). Unknown keys, wrong types and unknown
rule codes are errors that name the offending key (exit code 2).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older interpreters
    import tomli as tomllib

from .rules.catalog import CATALOG, CATALOG_BY_CODE
from .source import SourceError, read_bytes

MAX_CONFIG_BYTES = 16 * 1024 * 1024

DEFAULT_EXCLUDES = (".git", ".hg", ".svn", ".venv", "venv", "build", "dist", "__pycache__",
                    "site-packages", "node_modules", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
                    ".bnlint_cache", ".eggs", "*.egg-info", ".ipynb_checkpoints")

_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "extend-ignore")
_KNOWN_KEYS = set(_LIST_KEYS) | {"per-file-ignores", "force-exclude", "respect-gitignore", "cache-dir", "jobs"}


MAX_JOBS = 1024  # `jobs` / `-j` above this is a typo or hostile; the run uses at most the available cores


class ConfigError(Exception):
    """A one-line message naming what is wrong."""


@dataclass
class Config:
    select: Optional[List[str]] = None
    extend_select: List[str] = field(default_factory=list)
    ignore: List[str] = field(default_factory=list)
    exclude: Optional[List[str]] = None  # replaces the defaults when given
    extend_exclude: List[str] = field(default_factory=list)
    per_file_ignores: Dict[str, List[str]] = field(default_factory=dict)
    force_exclude: bool = False
    respect_gitignore: bool = True  # skip what .gitignore / .ignore files ignore (as ruff)
    cache_dir: Optional[str] = None
    jobs: Optional[int] = None
    source: Optional[str] = None  # the file the settings came from
    base_dir: str = field(default_factory=os.getcwd)  # excludes are relative to this

    @property
    def excludes(self) -> List[str]:
        base = list(DEFAULT_EXCLUDES) if self.exclude is None else list(self.exclude)
        return base + list(self.extend_exclude)


def find_pyproject(start: str) -> Optional[str]:
    cur = os.path.abspath(start)
    if not os.path.isdir(cur):
        cur = os.path.dirname(cur)
    while True:
        candidate = os.path.join(cur, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def load_config(path: Optional[str], explicit: bool) -> Config:
    """Read ``[tool.bnlint]`` from ``path``; an explicit ``--config`` may also be a bnlint.toml."""
    if path is None:
        return Config()
    try:
        # Non-blocking and fstat-checked: a FIFO or a device given as --config cannot hang the run.
        raw = read_bytes(path, MAX_CONFIG_BYTES + 1)
    except SourceError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}")
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"cannot read config file {path}: larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"malformed TOML in {path}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {line})")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {path}: {exc}")
    except RecursionError:
        raise ConfigError(f"malformed TOML in {path}: arrays or tables nested too deeply")
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table ([tool.bnlint])")
    table = tool.get("bnlint")
    if table is None:
        if explicit and os.path.basename(path) != "pyproject.toml":
            table = data  # a dedicated bnlint.toml holds the keys at top level
        else:
            table = {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.bnlint] must be a table")
    return _from_table(table, path)


def _from_table(table: dict, path: str) -> Config:
    cfg = Config(source=path, base_dir=os.path.dirname(os.path.abspath(path)))
    for key, value in table.items():
        where = f"{path}: [tool.bnlint] {key}"
        if key not in _KNOWN_KEYS:
            raise ConfigError(f"{path}: unknown key `{key}` in [tool.bnlint] "
                              f"(known: {', '.join(sorted(_KNOWN_KEYS))})")
        if key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where} must be a list of strings")
            if key in ("select", "ignore", "extend-select", "extend-ignore"):
                validate_selectors(value, f"{where}")
            attr = {"extend-ignore": "ignore"}.get(key, key).replace("-", "_")
            if attr == "ignore":
                cfg.ignore = cfg.ignore + list(value)
            else:
                setattr(cfg, attr, list(value))
        elif key == "per-file-ignores":
            if not isinstance(value, dict) or not all(
                isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
            ):
                raise ConfigError(f"{where} must be a table of glob = [codes]")
            for codes in value.values():
                validate_selectors(codes, where)
            cfg.per_file_ignores = {k: list(v) for k, v in value.items()}
        elif key == "force-exclude":
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false")
            cfg.force_exclude = value
        elif key == "respect-gitignore":
            if not isinstance(value, bool):
                raise ConfigError(f"{where} must be true or false")
            cfg.respect_gitignore = value
        elif key == "cache-dir":
            if not isinstance(value, str) or not value.strip() or "\0" in value:
                raise ConfigError(f"{where} must be a folder name (a non-empty string without NUL)")
            cfg.cache_dir = value
        elif key == "jobs":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_JOBS:
                raise ConfigError(f"{where} must be an integer from 0 (available cores) to {MAX_JOBS}")
            cfg.jobs = value
    return cfg


def split_codes(values: Iterable[str], where: str = "") -> List[str]:
    """``["BN101,BN102", "BN2"]`` -> ``["BN101", "BN102", "BN2"]`` (CLI accepts both forms).
    An option given but naming nothing (``--select ""``) is an error, not "no rules"."""
    out = []
    for value in values:
        out.extend(v.strip().upper() for v in value.split(",") if v.strip())
    if values and not out:
        raise ConfigError(f"{where or 'rule selection'}: empty rule code")
    return out


def validate_selectors(selectors: Sequence[str], where: str) -> None:
    for sel in selectors:
        sel_u = sel.strip().upper()
        if not sel_u:  # "" is a prefix of every code: it would select (or ignore) them all
            raise ConfigError(f"{where}: empty rule code")
        if sel_u == "ALL":
            continue
        if not any(code.startswith(sel_u) for code in CATALOG_BY_CODE):
            raise ConfigError(f"{where}: unknown rule code or prefix `{sel}` (see `bnlint rules`)")


def _matches(selector: str, code: str) -> bool:
    return selector == "ALL" or code.startswith(selector)


def selected_codes(cfg: Config) -> Set[str]:
    """The enabled rule codes: (select or defaults) + extend-select - ignore (most specific wins)."""
    # The catalog, not the rule classes: choosing rules imports none of them (nor LibCST).
    codes = [r.code for r in CATALOG]
    if cfg.select is None:
        base = {r.code for r in CATALOG if r.default_enabled}
    else:
        sel = [s.upper() for s in cfg.select]
        base = {c for c in codes if any(_matches(s, c) for s in sel)}
    extend = [s.upper() for s in cfg.extend_select]
    base |= {c for c in codes if any(_matches(s, c) for s in extend)}
    ignores = [s.upper() for s in cfg.ignore]
    result = set()
    for code in base:
        # An explicit code in select beats a prefix in ignore, as in ruff.
        ign = max((len(s) for s in ignores if _matches(s, code)), default=-1)
        sel = max((len(s) for s in (cfg.select or []) + cfg.extend_select if _matches(s.upper(), code)),
                  default=-1)
        if ign < 0 or sel > ign:
            result.add(code)
    return result
