"""Bad inputs: every one gets a clear one-line message and the documented exit code,
and the other files of the run are still linted. Runs the real CLI in a child
process, so a crash of the native parser (a segfault) fails the test instead of
killing pytest.
"""
from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from bnlint.rules.base import Rule

BAD = textwrap.dedent('''\
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader, TensorDataset

    model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.Linear(8, 2))
    ds = TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    loader = DataLoader(ds, batch_size=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
''')
BAD_LINE = 7  # the unshuffled DataLoader (BN103)
# One line of code that makes every rule's pre-filter let a file through, so libcst and all rules see it
# (as code: the pre-filter reads no comments or strings). It is linted, never run.
TRIGGERS = ("_ = (DataLoader, x.backward(), training_step, x.step(), x.eval(), x.train(), no_grad, requires_grad, "
            "AveragedModel, checkpoint, DistributedDataParallel, Conv, Linear, BatchNorm, momentum, grad, Dropout)\n")


def bnlint(args, cwd, timeout=300, **kwargs):
    """The real CLI in a child process: (returncode, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "bnlint", "--no-color", "--no-cache", "--select", "ALL",
                           "-j", "1", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, NO_COLOR="1"), **kwargs)
    assert proc.returncode >= 0, f"bnlint died from signal {-proc.returncode}:\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def error_lines(stdout: str) -> dict:
    """``path: error: message`` lines of the text report, by path."""
    out = {}
    for line in stdout.splitlines():
        path, sep, message = line.partition(": error: ")
        if sep:
            out[path] = message
    return out


def _with_endings(text: str, endings) -> bytes:
    lines = text.splitlines()
    return "".join(line + endings[i % len(endings)] for i, line in enumerate(lines)).encode()


def _mixed_indentation(text: str) -> bytes:
    """``text`` inside a function whose loop body is indented with a tab and spaces: CPython
    accepts it (tabs as 8 columns and as 1 give the same blocks), LibCST's tokenizer does not."""
    out = ["def main():"]
    for line in text.splitlines():
        out.append("\t    " + line[4:] if line.startswith("    ") else "    " + line if line else line)
    return ("\n".join(out) + "\nmain()\n").encode()


# name -> (file bytes, expected error substring or None, line of the BN103 finding or None)
CASES = {
    "syntax_error.py": (b"def f(:\n    pass\n", "syntax error at line 1, column 7", None),
    "python2.py": (b'print "hello"\nexec "x = 1"\n', "Missing parentheses in call to 'print'", None),
    "empty.py": (b"", None, None),
    "only_comments.py": (b"# a comment\n# another one\n", None, None),
    "latin1_without_cookie.py": (b"# caf\xe9\n" + BAD.encode(), "not valid UTF-8 (byte 0xe9 at line 1)", None),
    "latin1_with_cookie.py": (b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + BAD.encode("latin-1"), None,
                              BAD_LINE + 2),
    "utf8_bom.py": (b"\xef\xbb\xbf" + BAD.encode(), None, BAD_LINE),
    "binary.py": (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)), "NUL bytes", None),
    "crlf.py": (_with_endings(BAD, ["\r\n"]), None, BAD_LINE),
    "mixed_endings.py": (_with_endings(BAD, ["\r\n", "\n", "\r"]), None, BAD_LINE),
    "tabs.py": (BAD.replace("    ", "\t").encode(), None, BAD_LINE),
    "tabs_and_spaces.py": (_mixed_indentation(BAD), None, BAD_LINE + 1),
    "bad_json.ipynb": (b'{"cells": [', "malformed notebook", None),
    "no_cells.ipynb": (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "no `cells`", None),
}


@pytest.fixture(scope="module")
def bad_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    for name, (data, _, _) in CASES.items():
        (root / name).write_bytes(data)
    (root / "good.py").write_text(BAD, encoding="utf-8")
    (root / "folder.py").mkdir()  # a directory named like a Python file is a directory
    (root / "folder.py" / "inside.py").write_text(BAD, encoding="utf-8")
    os.symlink("does-not-exist.py", root / "broken_link.py")
    os.symlink("loop.py", root / "loop.py")
    os.mkfifo(root / "fifo.py")  # would block a naive open() forever
    os.symlink("/dev/zero", root / "endless.py")  # would never end a naive read()
    text = bnlint(["."], root)
    data = bnlint(["--format", "json", "."], root)
    missing = bnlint(["good.py", "no_such_file.py"], root)
    return root, text, json.loads(data.stdout), missing


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_table(bad_tree, name):
    root, text, data, _ = bad_tree
    _, needle, finding_line = CASES[name]
    errors = {e["path"]: e for e in data["errors"]}
    lines = {f["line"] for f in data["findings"] if f["path"] == name and f["code"] == "BN103"}
    if needle is None:
        assert name not in errors, errors.get(name)
    else:
        assert needle in errors[name]["message"], errors[name]
        assert errors[name]["kind"] in ("read", "parse")
        assert needle in error_lines(text.stdout)[name]  # the same message, on one line of the text report
    if finding_line is not None:
        assert lines == {finding_line}, data["findings"]
    assert not [e for e in data["errors"] if e["kind"] == "internal"]


@pytest.mark.parametrize("name,needle", [
    ("broken_link.py", "broken symlink"),
    ("loop.py", "symlink loop"),
    ("fifo.py", "not a regular file"),
    ("endless.py", "not a regular file"),
])
def test_special_files_are_one_line_errors(bad_tree, name, needle):
    _, text, data, _ = bad_tree
    assert needle in error_lines(text.stdout)[name]
    assert {e["path"]: e["kind"] for e in data["errors"]}[name] == "read"


def test_other_files_are_still_linted_and_exit_code_is_1(bad_tree):
    _, text, data, _ = bad_tree
    assert text.returncode == 1
    found = {(f["path"], f["line"]) for f in data["findings"] if f["code"] == "BN103"}
    assert ("good.py", BAD_LINE) in found
    assert (os.path.join("folder.py", "inside.py"), BAD_LINE) in found  # a folder named x.py is walked
    assert "file errors" in text.stdout.splitlines()[-1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_fifo_named_like_a_notebook_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "x.ipynb")  # a naive open() of the notebook would wait for a writer forever
    (tmp_path / "good.py").write_text(BAD, encoding="utf-8")
    proc = bnlint(["."], tmp_path, timeout=60)  # a regression times out instead of hanging the suite
    assert proc.returncode == 1
    assert "not a regular file" in error_lines(proc.stdout)["x.ipynb"]
    assert len([line for line in proc.stdout.splitlines() if line.startswith("x.ipynb")]) == 1
    assert f"good.py:{BAD_LINE}:" in proc.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_fifo_among_files_of_a_parallel_run_does_not_block(tmp_path):
    """A parallel run first reads every file's imports to group them for the workers: a FIFO named
    ``.py`` must be refused there too, not waited on."""
    for i in range(10):
        (tmp_path / f"m{i}.py").write_text(f"import m{(i + 1) % 10}\n", encoding="utf-8")
    (tmp_path / "good.py").write_text(BAD, encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.py")
    proc = bnlint(["-j", "2", "."], tmp_path, timeout=60)  # (the later -j wins over the helper's -j 1)
    assert proc.returncode == 1
    assert "not a regular file" in error_lines(proc.stdout)["pipe.py"]
    assert f"good.py:{BAD_LINE}:" in proc.stdout


def test_path_that_does_not_exist(bad_tree):
    _, _, _, missing = bad_tree
    assert missing.returncode == 1
    assert error_lines(missing.stdout)["no_such_file.py"] == "no such file or directory"
    assert f"good.py:{BAD_LINE}:" in missing.stdout  # the existing file is still linted


def test_explicit_directory_named_like_a_file(bad_tree):
    root, _, _, _ = bad_tree
    proc = bnlint(["folder.py"], root)
    assert proc.returncode == 1 and f"inside.py:{BAD_LINE}:" in proc.stdout


def _drop_file_permission_override():
    """In the child: give up root's power to read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_unreadable_file(tmp_path):
    (tmp_path / "secret.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "good.py").write_text(BAD, encoding="utf-8")
    os.chmod(tmp_path / "secret.py", 0)
    preexec = None
    if os.geteuid() == 0:  # root reads mode-000 files; the child drops that capability first
        probe = subprocess.run([sys.executable, "-c", "open('secret.py').read()"], cwd=tmp_path,
                               preexec_fn=_drop_file_permission_override, capture_output=True)
        if probe.returncode == 0 or b"PermissionError" not in probe.stderr:
            pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE here, so no file is unreadable")
        preexec = _drop_file_permission_override
    try:
        proc = bnlint(["secret.py", "good.py"], tmp_path, preexec_fn=preexec)
    finally:
        os.chmod(tmp_path / "secret.py", 0o644)
    assert proc.returncode == 1
    assert error_lines(proc.stdout)["secret.py"] == "permission denied"
    assert f"good.py:{BAD_LINE}:" in proc.stdout


def test_five_megabyte_file_is_bounded(tmp_path):
    block = BAD.split("\n", 3)[3].replace("\n", "\n    ")
    funcs = []
    size = 0
    while size < 5 * 1024 * 1024:
        funcs.append(f"def train_{len(funcs)}():\n    {block}\n")
        size += len(funcs[-1])
    (tmp_path / "generated.py").write_text(BAD.split("\n\n")[0] + "\n" + "".join(funcs), encoding="utf-8")
    (tmp_path / "good.py").write_text(BAD, encoding="utf-8")
    start = time.monotonic()
    proc = bnlint(["generated.py", "good.py"], tmp_path, timeout=120)
    elapsed = time.monotonic() - start
    message = error_lines(proc.stdout)["generated.py"]
    assert message.startswith("file too large to analyze") and "syntax checked only" in message
    assert f"good.py:{BAD_LINE}:" in proc.stdout and proc.returncode == 1
    assert elapsed < 60


def test_five_megabyte_file_with_a_syntax_error_still_reports_it(tmp_path):
    (tmp_path / "generated.py").write_text("x = [\n" + "    1,\n" * 800_000 + "]\ndef f(:\n", encoding="utf-8")
    proc = bnlint(["generated.py"], tmp_path, timeout=120)
    assert proc.returncode == 1
    assert error_lines(proc.stdout)["generated.py"].startswith("syntax error at line 800003")


N = 1000
DEEP_SHAPES = {
    "parens": "x = " + "(" * N + "1" + ")" * N + "\n",
    "plus_chain": "x = (a\n" + " + a\n" * N + ")\n",
    "not_chain": "x = (\n" + "not\n" * N + "a)\n",
    "unary_minus": "x = " + "-" * N + "a\n",
    "attribute_chain": "x = (a\n" + " .b\n" * N + ")\n",
    "nested_calls": "x = " + "f(" * N + "1" + ")" * N + "\n",
    "call_chain": "x = (f\n" + "()\n" * N + ")\n",
    "subscript_chain": "x = (a\n" + "[0]\n" * N + ")\n",
    "nested_lambdas": "x = (\n" + "lambda:\n" * N + "1)\n",
    "nested_lists": "x = " + "[" * N + "]" * N + "\n",
    "nested_dicts": "x = " + "{1: " * N + "1" + "}" * N + "\n",
    "ternary_chain": "x = (\n" + "a if b else\n" * N + "c)\n",
    "and_chain": "x = (a\n" + " and a\n" * (20 * N) + ")\n",  # flat in the AST, nested in libcst
    "power_chain": "x = (a\n" + " ** a\n" * N + ")\n",
    "nested_comprehensions": "x = " + "[" * N + "a for a in b" + "]" * N + "\n",
    "elif_chain": "if a:\n    pass\n" + "elif a:\n    pass\n" * N,
    "nested_walrus": "x = " + "(a := " * N + "1" + ")" * N + "\n",
}


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("deep")
    for name, body in DEEP_SHAPES.items():
        (root / f"{name}.py").write_text(TRIGGERS + body, encoding="utf-8")
        # The same after a syntax error: the stdlib parser fails, libcst must not get the deep part.
        (root / f"{name}_then_error.py").write_text(TRIGGERS + body + "def broken(:\n", encoding="utf-8")
    # A linted file whose imported module is pathological: the project index parses it too.
    (root / "models.py").write_text("import torch.nn as nn\nNet = nn.BatchNorm1d\n" + DEEP_SHAPES["and_chain"],
                                    encoding="utf-8")
    (root / "train.py").write_text(BAD.replace("model = nn.Sequential", "from models import Net\nmodel = nn.Sequential"),
                                   encoding="utf-8")
    start = time.monotonic()
    proc = bnlint(["--format", "json", "."], root, timeout=240)
    return proc, json.loads(proc.stdout), time.monotonic() - start


@pytest.mark.parametrize("shape", sorted(DEEP_SHAPES))
def test_deep_nesting_is_refused_or_linted_never_crashes(deep_run, shape):
    proc, data, _ = deep_run
    errors = {e["path"]: e for e in data["errors"]}
    err = errors.get(f"{shape}.py")
    if err is not None:  # refused cleanly, with a reason
        assert err["kind"] == "parse" and ("nested" in err["message"]), err
    assert errors[f"{shape}_then_error.py"]["kind"] == "parse"
    assert "syntax error" in errors[f"{shape}_then_error.py"]["message"]
    assert not [e for e in data["errors"] if e["kind"] == "internal"]


def test_deep_nesting_run_is_bounded_and_keeps_linting(deep_run):
    proc, data, elapsed = deep_run
    assert proc.returncode == 1
    assert ("train.py", BAD_LINE + 1) in {(f["path"], f["line"]) for f in data["findings"]}
    assert elapsed < 120


@pytest.mark.parametrize("toml,needle", [
    ('[tool.bnlint\nselect = ["BN103"]\n', "malformed TOML"),
    ('[tool.bnlint]\nselect = ["BN777"]\n', "unknown rule code or prefix `BN777`"),
    ('[tool.bnlint]\nignore = ["NOPE"]\n', "`NOPE`"),
])
def test_bad_config_is_a_one_line_usage_error(tmp_path, toml, needle):
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "bnlint", "--no-cache", "train.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if needle in line]) == 1


class _ExplodingRule(Rule):
    """A real rule class, registered for one test, that fails on one file only (no triggers: every file)."""

    code = "BN998"
    name = "explodes-on-one-file"
    summary = "test rule"
    default_enabled = False

    def check(self, ctx):
        if ctx.module.path.endswith("boom.py"):
            raise ZeroDivisionError("simulated bug")


def test_internal_error_in_one_rule_is_reported_and_nothing_else_stops(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import bnlint.config
    from bnlint.cli import main
    from bnlint.rules import RULES_BY_CODE
    from bnlint.rules.base import Rule
    from bnlint.rules.catalog import RuleInfo

    rule = type("ExplodingRule", (_ExplodingRule, Rule), {})
    info = RuleInfo(rule.code, rule.name, rule.default_enabled, __name__, "_ExplodingRule")
    monkeypatch.setattr(bnlint.config, "CATALOG", bnlint.config.CATALOG + (info,))  # selectable
    monkeypatch.setitem(bnlint.config.CATALOG_BY_CODE, rule.code, info)
    monkeypatch.setitem(RULES_BY_CODE, rule.code, rule)  # and run by the engine
    (tmp_path / "boom.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "fine.py").write_text(BAD, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    args = ["--no-cache", "--no-color", "-j", "1", "--select", "BN103,BN998"]
    res = CliRunner().invoke(main, args + ["boom.py", "fine.py"], catch_exceptions=False)
    assert res.exit_code == 2  # documented: an internal error (a bug in bnlint)
    # Every other rule on the failing file, and every file, still reported.
    assert f"boom.py:{BAD_LINE}:" in res.output and f"fine.py:{BAD_LINE}:" in res.output
    message = error_lines(res.output)["boom.py"]
    assert message.startswith("internal error in BN998 (ZeroDivisionError: simulated bug at test_bad_inputs.py:")
    assert "please report it at https://" in message
    assert "fine.py" not in error_lines(res.output)
    data = json.loads(CliRunner().invoke(main, args + ["--format", "json", "boom.py", "fine.py"]).output)
    assert [(e["path"], e["kind"], e["code"]) for e in data["errors"]] == [("boom.py", "internal", "BN998")]
