"""Settings files a training script loads: ``yaml.safe_load(open(args.config))``, ``json.load(f)``.

Many projects choose their networks in a YAML or JSON file (``config["MODEL"]["D"]["NAME"]``); the
code alone cannot say whether the discriminator has BatchNorm. When the file's path is a constant
(a literal or an argparse default) and the file lies inside the project, its data is read here, as
data only: YAML through the safe loader, which builds plain dicts, lists and scalars and never
constructs Python objects or runs code. The file becomes a dependency of the linted file's cached
result, so editing the settings re-checks the script.
"""
from __future__ import annotations

import json
import os
from typing import Optional

# A settings file is small; anything larger is data, not configuration.
MAX_CONFIG_BYTES = 256 * 1024

YAML_LOADERS = frozenset({"yaml.load", "yaml.safe_load", "yaml.full_load", "yaml.unsafe_load"})
JSON_LOADERS = frozenset({"json.load"})
LOADERS = YAML_LOADERS | JSON_LOADERS

_MISSING = object()


def candidate_paths(root: str, script_dir: str, written: str):
    """Where a relative path written in a script may point: the project root (where scripts are
    usually run from) and the script's own folder. Absolute paths and paths leaving the project
    (by ``..`` or by a symbolic link) are not read."""
    if os.path.isabs(written) or "\0" in written:
        return []
    real_root = os.path.realpath(root)
    out = []
    for base in (root, script_dir):
        path = os.path.normpath(os.path.join(base, written))
        # (also through symbolic links: a link in the project to a file elsewhere is not followed)
        if _inside(path, root) and _inside(os.path.realpath(path), real_root) and path not in out:
            out.append(path)
    return out


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def load_data(path: str, as_yaml: bool, memo: dict):
    """The parsed content of ``path`` (None when absent, too large or not parseable); memoised."""
    key = ("config_file", path, as_yaml)
    found = memo.get(key, _MISSING)
    if found is not _MISSING:
        return found
    data = None
    try:
        if os.path.isfile(path) and os.path.getsize(path) <= MAX_CONFIG_BYTES:
            with open(path, "rb") as fh:
                text = fh.read().decode("utf-8")
            data = _parse(text, as_yaml)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        data = None
    memo[key] = data
    return data


def _parse(text: str, as_yaml: bool) -> Optional[object]:
    if not as_yaml:
        return json.loads(text)
    try:
        import yaml  # PyYAML, a dependency of libcst
    except ImportError:  # (a libcst without it: the settings stay unknown)
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - the safe loader: plain data only
    except yaml.YAMLError:
        return None
