"""GitHub Actions workflow commands: one ``::error`` annotation per finding.

Escaping follows the Actions toolkit (``@actions/core`` command.ts): in the
message ``%``, CR and LF are percent-encoded; in properties ``:`` and ``,`` are
too, since they separate the command's fields.
"""
from __future__ import annotations

from typing import List, Tuple

from ..baseline import project_path
from ..paths import escape_path, repository_root


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, properties: List[Tuple[str, object]], message: str) -> str:
    props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties)
    return f"::{name} {props}::{escape_data(message)}" if props else f"::{name}::{escape_data(message)}"


def render_github(result, **_options) -> str:
    # Annotations name files relative to the repository root (the workflow's checkout).
    root = repository_root(result.root or ".")
    out = []
    for f in result.findings:
        props: List[Tuple[str, object]] = [("file", project_path(f.path, root))]
        body = f"{f.message}\n{f.url}"  # the short line; the why and the fix are on the rule's page
        if f.cell is None:
            props += [("line", f.line), ("endLine", f.end_line), ("col", f.column)]
            if f.end_line == f.line:
                props.append(("endColumn", f.end_column))
        else:
            # Annotation lines refer to the raw .ipynb JSON: the line of the file that holds the
            # cell's line, and the cell and line within it in the text.
            if f.ipynb_line:
                props.append(("line", f.ipynb_line))
            body = f"cell {f.cell}, line {f.line}: {body}"
        props.append(("title", f"{f.code} [{f.name}]"))
        out.append(command("error", props, body))
    for e in result.errors:
        out.append(command("error", [("file", project_path(e.path, root)), ("title", f"bnlint: {e.kind} error")],
                           e.message))
    return escape_path("".join(line + "\n" for line in out))  # paths (and messages naming them)
