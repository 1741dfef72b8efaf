"""Hostile inputs: files built to make the linter hang, crash or write unreadable reports.

Each gets a one-line error (or is linted normally) and the rest of the run goes on:
match patterns that make the parser take exponential time, a wall-time bound per file,
file names that are not UTF-8 (in every output format), notebooks with malformed
metadata or odd characters, ``--diff`` and ``-o`` failures, a 2,500-part dotted import,
and folders that cannot be listed. The CLI runs in a child process, as a user runs it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from bnlint import parsing
from tests.test_bad_inputs import BAD, BAD_LINE, TRIGGERS, bnlint, error_lines
from tests.test_sarif import SCHEMA_PATH

REPO = Path(__file__).resolve().parent.parent


def run_bytes(args, cwd, timeout=120, env=None):
    """The real CLI in a child process: (returncode, stdout bytes, stderr text)."""
    proc = subprocess.run([sys.executable, "-m", "bnlint", "--no-color", "--no-cache", "--select", "ALL",
                           "-j", "1", *args], cwd=cwd, capture_output=True, timeout=timeout,
                          env=dict(os.environ, NO_COLOR="1", **(env or {})))
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode >= 0, f"bnlint died from signal {-proc.returncode}:\n{stderr[-2000:]}"
    assert "Traceback" not in stderr, stderr
    return proc.returncode, proc.stdout, stderr


# -- match patterns: libcst's parser takes exponential time on nested ones --------------------------

def sequence_pattern(levels: int) -> str:
    return "[" * levels + "x" + "]" * levels


def mapping_pattern(levels: int) -> str:
    pattern = "x"
    for _ in range(levels):
        pattern = '{"a": ' + pattern + "}"
    return pattern


def mapping_tree(levels: int) -> str:
    """Two nested mapping patterns at each level: 2 ** levels leaves."""
    pattern = "x"
    for _ in range(levels):
        pattern = '{"a": ' + pattern + ', "b": ' + pattern + "}"
    return pattern


PATTERNS = {"sequence": sequence_pattern, "mapping": mapping_pattern}
NORMAL_MATCH = textwrap.dedent('''\
    def route(event):
        match event:
            case {"type": "click", "pos": [x, y]} | {"kind": "tap", "at": (x, y)}:
                return x, y
            case Point(x=0, y=[_, *rest]) if rest:
                return rest
            case [("a" | "b") as tag, {"k": {"v": int(v)}}, *_]:
                return tag, v
            case _:
                return None
''')


def match_file(pattern: str) -> str:
    """A file the rules all want to see (so libcst parses it), with ``pattern`` at line 7."""
    return TRIGGERS + "import torch\n\n\ndef route(v):\n    match v:\n        case " + pattern + \
        ":\n            return 1\n        case _:\n            return 2\n"


PATTERN_LINE = 7

# Runs parse() in a child process (the unguarded parser would take minutes to hours: a
# timeout then fails the test instead of hanging it) and reports the outcome and its time.
_PARSE_CHILD = textwrap.dedent('''\
    import json, sys, time
    from bnlint.parsing import ParseFailure, parse
    text = open(sys.argv[1], encoding="utf-8").read()
    start = time.perf_counter()
    try:
        parse(text)
        error = None
    except ParseFailure as exc:
        error = str(exc)
    print(json.dumps({"error": error, "seconds": time.perf_counter() - start}))
''')


def parse_in_child(tmp_path, text: str, timeout: float = 60) -> dict:
    path = tmp_path / "input.py"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _PARSE_CHILD, str(path)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.mark.parametrize("syntax_error", [False, True], ids=["stdlib-ast", "no-ast"])
@pytest.mark.parametrize("levels", [12, 240])
@pytest.mark.parametrize("shape", sorted(PATTERNS))
def test_nested_match_pattern_is_refused_within_a_second(tmp_path, shape, levels, syntax_error):
    # "no-ast": a syntax error elsewhere leaves no stdlib tree (as on Python 3.9, whose parser has
    # no `match`); the pattern is then measured in the text. At 240 levels CPython's parser gives
    # up too ("too many nested parentheses"), so that case is measured in the text either way.
    text = match_file(PATTERNS[shape](levels)) + ("x = (\n" if syntax_error else "")
    outcome = parse_in_child(tmp_path, text)
    assert outcome["error"] == (f"match pattern at line {PATTERN_LINE} nested {levels} deep (limit 8; bnlint's "
                                "parser takes exponential time on it); file not analyzed")
    assert outcome["seconds"] < 1.0


def test_wide_nested_patterns_are_refused_by_their_size(tmp_path):
    # 7 levels is within the depth limit, but 128 mapping patterns at the bottom took libcst 2 s.
    outcome = parse_in_child(tmp_path, match_file(mapping_tree(7)))
    assert outcome["error"] is not None and f"match pattern at line {PATTERN_LINE} too large" in outcome["error"]
    assert outcome["seconds"] < 1.0


def test_the_largest_accepted_patterns_parse_quickly(tmp_path):
    # The limits were measured: what they let through stays fast, one step more is refused. On an
    # idle machine the slowest of these (the tree) takes 0.25 s; the bound leaves room for a busy one.
    for accepted, refused in ((mapping_pattern(8), mapping_pattern(9)), (mapping_tree(6), mapping_tree(7)),
                              (sequence_pattern(8), sequence_pattern(9))):
        fast = parse_in_child(tmp_path, match_file(accepted))
        assert fast["error"] is None and fast["seconds"] < 2.0, (accepted, fast)
        assert parse_in_child(tmp_path, match_file(refused))["error"] is not None, refused


def test_refused_patterns_are_one_line_errors_and_ordinary_match_code_is_linted(tmp_path):
    for shape, make in PATTERNS.items():
        for levels in (12, 240):
            (tmp_path / f"{shape}{levels}.py").write_text(match_file(make(levels)), encoding="utf-8")
    (tmp_path / "normal.py").write_text(BAD + NORMAL_MATCH, encoding="utf-8")
    start = time.monotonic()
    proc = bnlint(["."], cwd=tmp_path, timeout=120)
    assert time.monotonic() - start < 30
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = error_lines(proc.stdout)
    assert set(errors) == {"mapping12.py", "mapping240.py", "sequence12.py", "sequence240.py"}
    for path, message in errors.items():
        levels = re.search(r"\d+", path).group()
        assert message.startswith(f"match pattern at line {PATTERN_LINE} nested {levels} deep (limit 8"), message
    assert f"normal.py:{BAD_LINE}:10: BN103" in proc.stdout


# -- a wall-time bound per file ------------------------------------------------------------------------

def _slow_file() -> str:
    """About 140 KB of training scripts: ten seconds or more of analysis."""
    return TRIGGERS + "".join(BAD.replace("loader", f"loader{i}").replace("model", f"model{i}") for i in range(300))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_over_the_time_limit_is_an_error_and_the_run_goes_on(tmp_path, monkeypatch, jobs):
    monkeypatch.setenv("BNLINT_FILE_TIME_LIMIT", "1")  # read by the child process (default: 60 s)
    (tmp_path / "slow.py").write_text(_slow_file(), encoding="utf-8")
    for i in range(8):  # -j 2 with 8 files or more lints in worker processes
        (tmp_path / f"small{i}.py").write_text(BAD, encoding="utf-8")
    start = time.monotonic()
    proc = bnlint([".", "-j", jobs], cwd=tmp_path)
    assert time.monotonic() - start < 8, "the slow file was not cut off"
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert error_lines(proc.stdout) == {"slow.py": "analysis exceeded 1 s; file not analyzed"}
    for i in range(8):
        assert f"small{i}.py:{BAD_LINE}:10: BN103" in proc.stdout


# -- file names that are not UTF-8 --------------------------------------------------------------------

@pytest.fixture
def undecodable_names(tmp_path):
    """``train_<0xff>.py`` (a finding) and ``broken_<0xfe>.py`` (a syntax error)."""
    base = os.fsencode(str(tmp_path))
    try:
        with open(os.path.join(base, b"train_\xff.py"), "wb") as fh:
            fh.write(BAD.encode("utf-8"))
        with open(os.path.join(base, b"broken_\xfe.py"), "wb") as fh:
            fh.write(b"def f(:\n")
    except OSError:  # a file system that only takes UTF-8 names (macOS)
        pytest.skip("this file system refuses names that are not UTF-8")
    return tmp_path


TRAIN, BROKEN = "train_\\xff.py", "broken_\\xfe.py"  # the escaped spelling: backslash, x, f, f


def _utf8(data: bytes) -> str:
    text = data.decode("utf-8")  # strict: every report must be valid UTF-8
    assert "\ufffd" not in text
    return text


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "junit", "gitlab"])
def test_undecodable_file_names_are_escaped_in_every_format(undecodable_names, fmt):
    rc, out, _ = run_bytes(["--format", fmt, "."], cwd=undecodable_names)
    assert rc == 1
    text = _utf8(out)
    if fmt == "text":
        assert f"{TRAIN}:{BAD_LINE}:10: BN103" in text and f"{BROKEN}: error: syntax error" in text
    elif fmt == "json":
        data = json.loads(text)
        assert [f["path"] for f in data["findings"]] == [TRAIN] and [e["path"] for e in data["errors"]] == [BROKEN]
    elif fmt == "sarif":
        data = json.loads(text)
        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        cls(schema, format_checker=cls.FORMAT_CHECKER).validate(data)
        run = data["runs"][0]
        assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]] \
            == ["train_%5Cxff.py"]  # the escaped name, percent-encoded as a URI
        notes = run["invocations"][0]["toolExecutionNotifications"]
        assert notes[0]["message"]["text"].startswith(f"{BROKEN}: syntax error")
    elif fmt == "github":
        assert f"::error file={TRAIN},line={BAD_LINE}," in text and f"::error file={BROKEN}," in text
    elif fmt == "junit":
        root = ET.fromstring(text.split("\n", 1)[1])
        assert sorted(s.get("name") for s in root.iter("testsuite")) == [BROKEN, TRAIN]
    elif fmt == "gitlab":
        assert [issue["location"]["path"] for issue in json.loads(text)] == [TRAIN]


def test_undecodable_file_names_in_an_output_file_and_a_baseline(undecodable_names):
    rc, _, _ = run_bytes(["-o", "report.txt", "."], cwd=undecodable_names)
    assert rc == 1
    report = _utf8((undecodable_names / "report.txt").read_bytes())
    assert f"{TRAIN}:{BAD_LINE}:10: BN103" in report and f"{BROKEN}: error:" in report
    rc, _, _ = run_bytes(["--write-baseline", "baseline.json", "train_\udcff.py"], cwd=undecodable_names)
    assert rc == 0
    entries = json.loads(_utf8((undecodable_names / "baseline.json").read_bytes()))["findings"]
    assert [e["path"] for e in entries] == [TRAIN]
    rc, out, _ = run_bytes(["--baseline", "baseline.json", "train_\udcff.py"], cwd=undecodable_names)
    assert rc == 0 and "All checks passed!" in _utf8(out)  # the escaped path matches itself


def test_undecodable_file_names_with_the_result_cache(undecodable_names):
    # The default run reads and writes the cache, which keys entries on the file's path.
    args = [sys.executable, "-m", "bnlint", "--no-color", "--select", "ALL", "-j", "1", "."]
    outputs = []
    for _ in range(2):  # the first run fills the cache, the second reads it
        proc = subprocess.run(args, cwd=undecodable_names, capture_output=True, timeout=120)
        assert proc.returncode == 1 and b"Traceback" not in proc.stderr, proc.stderr.decode("utf-8", "replace")
        outputs.append(_utf8(proc.stdout))
    assert outputs[0] == outputs[1] and f"{TRAIN}:{BAD_LINE}:10: BN103" in outputs[0]
    assert any((undecodable_names / ".bnlint_cache").rglob("*.json"))


# -- notebooks ---------------------------------------------------------------------------------------------

def _notebook(cells, metadata) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                  "source": source} for source in cells],
                       "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}, indent=1)


CODE_CELLS = [BAD]  # the unshuffled loader is at line BAD_LINE of cell 1


def test_notebook_language_info_that_is_not_an_object(tmp_path):
    python_kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cases = {
        "string.ipynb": {"language_info": "python"},
        "list.ipynb": {"language_info": ["python"]},
        "number_name.ipynb": {"language_info": {"name": 3}},
        "string_python_kernel.ipynb": {"language_info": "python", "kernelspec": python_kernel},
        "list_python_kernel.ipynb": {"language_info": ["python"], "kernelspec": python_kernel},
        "string_r_kernel.ipynb": {"language_info": "R", "kernelspec": {"name": "ir", "language": "R"}},
    }
    for name, metadata in cases.items():
        (tmp_path / name).write_text(_notebook(CODE_CELLS, metadata), encoding="utf-8")
    proc = bnlint(["."], cwd=tmp_path)
    assert proc.returncode == 1
    unknown = "notebook language unknown"
    errors = error_lines(proc.stdout)
    assert {p for p, m in errors.items() if m.startswith(unknown)} == {
        "string.ipynb", "list.ipynb", "number_name.ipynb"}, errors
    assert len(errors) == 3  # the R kernel names its language: skipped without an error
    assert "string_r_kernel.ipynb" not in proc.stdout
    for name in ("string_python_kernel.ipynb", "list_python_kernel.ipynb"):
        assert f"{name}:cell 1:line {BAD_LINE}:10: BN103" in proc.stdout


def test_notebook_cell_with_a_lone_surrogate_is_linted(tmp_path):
    # JSON can spell a lone surrogate ("\ud800"); no Python text or UTF-8 output can hold one.
    cell = BAD.replace("batch_size=8)", "batch_size=8)  # \ud800 marks the spot")
    (tmp_path / "nb.ipynb").write_text(_notebook(['s = "\ud800"\n', cell], {}), encoding="utf-8")
    assert '"\\ud800' in (tmp_path / "nb.ipynb").read_text(encoding="utf-8")  # escaped in the file
    for args in (["nb.ipynb"], ["--show-source", "nb.ipynb"], ["--format", "json", "nb.ipynb"]):
        rc, out, _ = run_bytes(args, cwd=tmp_path)
        assert rc == 1, out
        text = _utf8(out.replace("\ufffd".encode("utf-8"), b""))
        assert "BN103" in text and "internal error" not in text


def test_notebook_cells_split_only_at_line_ends(tmp_path):
    # U+2028, \x0b, \x0c and \x85 inside strings and comments are not line ends for Python, and a
    # form feed at the start of a line is whitespace: none may cut a line or shift the findings.
    odd = 's = "a\u2028b\x0bc\x0cd\x85e"  # \u2028 \x0c\n\x0cimport torch  # form feed first\n'
    (tmp_path / "nb.ipynb").write_text(_notebook([odd, odd + BAD], {}), encoding="utf-8")
    proc = bnlint(["nb.ipynb"], cwd=tmp_path)
    assert error_lines(proc.stdout) == {}
    assert f"nb.ipynb:cell 2:line {BAD_LINE + 2}:10: BN103" in proc.stdout, proc.stdout


# -- --diff, -o, long dotted names, folders that cannot be listed ---------------------------------------------

def test_diff_reports_errors_and_exit_code_like_a_plain_run(tmp_path):
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    (tmp_path / "clean.py").write_text("import torch\n", encoding="utf-8")
    plain = bnlint(["."], cwd=tmp_path)
    diff = bnlint(["--diff", "."], cwd=tmp_path)
    assert plain.returncode == diff.returncode == 1
    assert "broken.py: error: syntax error at line 1" in diff.stderr
    # With a fix to show: the diff on standard output, the errors still reported.
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    diff = bnlint(["--diff", "."], cwd=tmp_path)
    assert diff.returncode == 1
    assert "+++ b/train.py" in diff.stdout and "broken.py: error: syntax error" in diff.stderr
    (tmp_path / "broken.py").unlink()
    (tmp_path / "train.py").unlink()
    assert bnlint(["--diff", "."], cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("fmt", ["text", "sarif"])
def test_report_file_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, fmt):
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    targets = [str(tmp_path / "no such folder" / "report.txt")]
    if os.path.exists("/dev/full"):
        targets.append("/dev/full")  # opens, then every write fails: no space left on device
    for target in targets:
        proc = bnlint(["--format", fmt, "-o", target, "train.py"], cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: cannot write the report to {target}: "), lines


def test_dotted_import_of_2500_parts_is_a_parse_error(tmp_path):
    name = ".".join(["a"] * 2500)
    (tmp_path / "deep_import.py").write_text(TRIGGERS + f"import {name} as z\n" + BAD, encoding="utf-8")
    (tmp_path / "deep_from.py").write_text(TRIGGERS + f"from {name} import b\n" + BAD, encoding="utf-8")
    (tmp_path / "long_ok.py").write_text(TRIGGERS + "import " + ".".join(["a"] * 200) + "\n" + BAD,
                                         encoding="utf-8")
    proc = bnlint(["."], cwd=tmp_path)
    assert proc.returncode == 1
    assert error_lines(proc.stdout) == {
        "deep_import.py": "dotted name with 2500 parts at line 2 (limit 250); file not analyzed",
        "deep_from.py": "dotted name with 2500 parts at line 2 (limit 250); file not analyzed",
    }
    assert f"long_ok.py:{BAD_LINE + 2}:10: BN103" in proc.stdout


def _path_too_long_to_list(top: Path) -> str:
    """Folders nested beyond PATH_MAX (4096 bytes): listing the deepest fails even as root."""
    fd = os.open(top, os.O_RDONLY)
    parts = []
    try:
        while len("/".join(parts)) < 4400:
            os.mkdir("d" * 250, dir_fd=fd)
            child = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
            parts.append("d" * 250)
        with open(os.open("hidden.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as fh:
            fh.write(BAD)
    finally:
        os.close(fd)
    return "/".join(parts)


def test_folder_that_cannot_be_listed_is_a_read_error(tmp_path):
    (tmp_path / "deep").mkdir()
    deepest = _path_too_long_to_list(tmp_path / "deep")
    (tmp_path / "deep" / "train.py").write_text(BAD, encoding="utf-8")
    proc = bnlint(["deep"], cwd=tmp_path)
    assert proc.returncode == 1
    errors = error_lines(proc.stdout)
    assert len(errors) == 1, errors
    (folder, message), = errors.items()
    assert message == "cannot list folder: file name too long"
    assert deepest.startswith(folder[len("deep/"):]) and folder.startswith("deep/dddd")
    assert f"deep/train.py:{BAD_LINE}:10: BN103" in proc.stdout


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="permission bits do not stop root (the test above fails as root too)")
def test_folder_without_read_permission_is_a_read_error(tmp_path):
    (tmp_path / "src" / "locked").mkdir(parents=True)
    (tmp_path / "src" / "locked" / "train.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "src" / "train.py").write_text(BAD, encoding="utf-8")
    os.chmod(tmp_path / "src" / "locked", 0)
    try:
        proc = bnlint(["src"], cwd=tmp_path)
    finally:
        os.chmod(tmp_path / "src" / "locked", 0o755)
    assert proc.returncode == 1
    assert error_lines(proc.stdout) == {"src/locked": "cannot list folder: permission denied"}
    assert f"src/train.py:{BAD_LINE}:10: BN103" in proc.stdout


def test_tabs_mixed_into_indentation_are_read_as_one_column_each_and_strings_keep_theirs():
    text = ('def f(x):\n    if x:\n\t    doc = """a\n\tb"""\n\t    return doc\n    return "\\t"\n')
    cst_module = parsing.parse(text)  # LibCST's tokenizer alone rejects the tab-and-spaces body
    code = cst_module.code
    assert len(code) == len(text)  # every position stays: findings keep their lines and columns
    assert '"""a\n\tb"""' in code  # a line inside a string is the string's value
    assert "\n     doc" in code and "\n     return doc" in code
