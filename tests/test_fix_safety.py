"""--fix safety: one line model, no write over bytes that were not linted, compile-checked results,
and files that are not ours to write (read-only, hard-linked, another owner) left alone and reported."""
from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bnlint.findings import Autofix, Edit
from bnlint.fixes import CHANGED, FixOutcome, apply_fixes, fix_file, fix_source
from bnlint.source import decode
from tests.helpers import FIXTURES, REPO, lint
from tests.test_cli import BAD, BAD_LINE, invoke

FIXED = BAD.replace("batch_size=8)", "batch_size=8, shuffle=True)")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def run_bnlint(args, cwd, user=None, **kwargs):
    """The real CLI in a child process: (returncode, stdout, stderr); never a traceback."""
    proc = subprocess.run([sys.executable, "-m", "bnlint", "--no-color", "--no-cache", "--select", "BN103",
                           "-j", "1", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1"), user=user, **kwargs)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr + proc.stdout
    return proc


# -- 1. one line model: a line ends at \r\n, \r or \n, as LibCST and CPython count -----------------

def _fixable_bn103_fixtures():
    """(name, text, line of the finding, its edit) for each BN103 fixture whose finding has a safe fix."""
    out = []
    folder = Path(tempfile.mkdtemp(prefix="bn103-fixtures-"))
    try:
        for path in sorted((FIXTURES / "BN103").glob("pos_*.py")):
            text = path.read_text(encoding="utf-8")
            assert "\r" not in text  # the originals use "\n" only: the mutations below are the only "\r"
            copy = folder / path.name
            copy.write_text(text, encoding="utf-8")
            fixes = [f for f in lint([copy], select=["BN103"]).findings if f.autofix and f.autofix.safe]
            if len(fixes) == 1 and len(fixes[0].autofix.edits) == 1:
                out.append((path.name, text, fixes[0].line, fixes[0].autofix.edits[0]))
    finally:
        shutil.rmtree(folder)
    return out


FIXABLE = _fixable_bn103_fixtures()


def _mutated(text: str, endings):
    """``text`` (with "\\n" line ends) with the i-th line end replaced by ``endings[i]``, and a map from
    offsets of ``text`` to offsets of the result (computed by counting, not by bnlint)."""
    parts = text.split("\n")
    assert len(endings) == len(parts) - 1
    endings = list(endings)
    for i in range(len(endings) - 1):
        if endings[i] == "\r" and parts[i + 1] == "" and endings[i + 1] == "\n":
            endings[i + 1] = "\r"  # "\r" + "" + "\n" would be one "\r\n": one line end, not two
    out = "".join(part + end for part, end in zip(parts, endings)) + parts[-1]

    def offset(o: int) -> int:
        line = text.count("\n", 0, o)
        column = o - (text.rfind("\n", 0, o) + 1)
        return sum(len(parts[j]) + len(endings[j]) for j in range(line)) + column

    return out, offset


def _ending_variants(n: int, rng: random.Random):
    yield "all_cr", ["\r"] * n
    yield "all_crlf", ["\r\n"] * n
    for k in range(3):  # one lone "\r" in an "\n" file (the reported corruption)
        one = ["\n"] * n
        one[rng.randrange(n)] = "\r"
        yield f"one_cr_{k}", one
    for k in range(8):
        yield f"mixed_{k}", [rng.choice(["\n", "\r\n", "\r"]) for _ in range(n)]


def test_the_fuzz_has_fixtures_to_mutate():
    assert len(FIXABLE) >= 15, [name for name, *_ in FIXABLE]


@pytest.mark.parametrize("name,text,line,edit", FIXABLE, ids=[f[0] for f in FIXABLE])
def test_fix_fuzz_line_endings(tmp_path, name, text, line, edit):
    """Each line end switched among \\n, \\r\\n and \\r (fixed seed): the finding stays on its line and
    --fix inserts exactly the same text at the same place; every other byte is unchanged."""
    assert "\n" not in edit.text
    rng = random.Random(f"{name}-20260101")
    for variant, endings in _ending_variants(text.count("\n"), rng):
        mutated, offset = _mutated(text, endings)
        expected = mutated[:offset(edit.start)] + edit.text + mutated[offset(edit.end):]
        path = tmp_path / f"{variant}_{name}"
        path.write_bytes(mutated.encode("utf-8"))
        findings = lint([path], select=["BN103"]).findings
        assert [f.line for f in findings] == [line], (variant, findings)
        outcome = apply_fixes(findings, write=True)
        assert [f.line for f in outcome.fixed] == [line] and not outcome.dropped, (variant, outcome.dropped)
        data = path.read_bytes()
        assert data == expected.encode("utf-8"), variant
        compile(data, str(path), "exec", dont_inherit=True)


def test_lone_cr_file_lints_and_fixes_through_the_cli(tmp_path):
    """A file whose only line ends are "\\r": right line, no internal error, the expected edit."""
    (tmp_path / "cr.py").write_bytes(BAD.replace("\n", "\r").encode())
    res = invoke(["--select", "BN103", "--no-cache", "cr.py"], tmp_path)
    assert res.exit_code == 1 and res.output.startswith(f"cr.py:{BAD_LINE}:10: BN103 "), res.output
    res = invoke(["--select", "BN103", "--no-cache", "--fix", "cr.py"], tmp_path)
    assert res.exit_code == 0 and "Fixed 1 finding in 1 file." in res.output, res.output
    assert (tmp_path / "cr.py").read_bytes() == FIXED.replace("\n", "\r").encode()


def test_noqa_counts_lines_like_libcst(tmp_path):
    """`# noqa` on the flagged line of a "\\r" file silences it (the tokenizer saw one long line)."""
    marked = BAD.replace("batch_size=8)", "batch_size=8)  # noqa: BN103")
    (tmp_path / "cr.py").write_bytes(marked.replace("\n", "\r").encode())
    mixed = marked.split("\n")
    (tmp_path / "mixed.py").write_bytes(("\r".join(mixed[:3]) + "\n" + "\n".join(mixed[3:])).encode())
    assert lint([tmp_path], select=["BN103"]).findings == []


def test_code_frame_and_diff_count_lines_like_libcst(tmp_path):
    """A form feed line and a U+2028 in a comment are not line ends for Python: the code frame shows the
    flagged line and the diff's hunk header names it (str.splitlines counted two more lines)."""
    text = BAD.replace("import torch.nn as nn\n", "import torch.nn as nn\n\x0c\n# page \u2028 break\n")
    (tmp_path / "ff.py").write_text(text, encoding="utf-8")
    line = BAD_LINE + 2
    res = invoke(["--select", "BN103", "--no-cache", "--show-source", "--no-color", "ff.py"], tmp_path)
    assert f"ff.py:{line}:10: BN103" in res.output
    assert f"{line} | loader = DataLoader(" in res.output, res.output
    res = invoke(["--select", "BN103", "--no-cache", "--diff", "ff.py"], tmp_path)
    assert f"@@ -{line - 3},7 +{line - 3},7 @@" in res.output, res.output  # 3 lines of context above


def test_undecodable_byte_line_counts_lone_cr(tmp_path):
    """The error names the line CPython names ("line 3"), not the count of "\\n" before the byte."""
    (tmp_path / "bad.py").write_bytes(b"x = 1\ry = 2\rz = '\xe9'\r")
    proc = subprocess.run([sys.executable, str(tmp_path / "bad.py")], capture_output=True, text=True)
    assert "line 3" in proc.stderr  # what CPython itself says
    res = invoke(["--no-cache", "bad.py"], tmp_path)
    assert "not valid UTF-8 (byte 0xe9 at line 3)" in res.output, res.output


# -- 2. no write over bytes that were not linted; compile-checked results --------------------------

def test_apply_fixes_skips_a_file_edited_after_linting(tmp_path):
    path = tmp_path / "t.py"
    path.write_text(BAD, encoding="utf-8")
    findings = lint([path], select=["BN103"]).findings
    edited = "# a comment the user added meanwhile\n" + BAD
    path.write_text(edited, encoding="utf-8")
    outcome = apply_fixes(findings, write=True)
    assert path.read_text(encoding="utf-8") == edited  # the stale offsets were not applied
    assert outcome.changed == [] and outcome.fixed == [] and not outcome.unwritable
    assert [why for _, why in outcome.dropped] == [CHANGED]


def test_fix_file_skips_a_file_changed_between_fixing_and_writing(tmp_path):
    """The linted bytes (a Source) differ from the file by the time it would be replaced: not written."""
    path = tmp_path / "t.py"
    path.write_text(BAD, encoding="utf-8")
    findings = lint([path], select=["BN103"]).findings
    linted = decode(BAD.encode("utf-8"), str(path))
    path.write_text(FIXED, encoding="utf-8")  # e.g. another `bnlint --fix` got there first
    outcome = FixOutcome()
    fix_file(linted, findings, outcome, write=True)
    assert path.read_text(encoding="utf-8") == FIXED  # not "shuffle=True, shuffle=True"
    assert outcome.changed == [] and not outcome.unwritable
    assert [(f.code, why) for f, why in outcome.dropped] == [("BN103", CHANGED)]
    assert [p.name for p in tmp_path.iterdir()] == ["t.py"]  # no temporary file left behind
    # The same call on unchanged bytes writes the fix: the skip above was the bytes, nothing else.
    path.write_text(BAD, encoding="utf-8")
    fix_file(linted, findings, outcome, write=True)
    assert path.read_text(encoding="utf-8") == FIXED and outcome.changed == [str(path)]


def test_fix_that_parses_but_does_not_compile_is_dropped(tmp_path):
    """LibCST (and ast) accept a repeated keyword argument; compile() does not."""
    path = tmp_path / "t.py"
    path.write_text(BAD, encoding="utf-8")
    (finding,) = lint([path], select=["BN103"]).findings
    source = decode(BAD.encode("utf-8"), str(path))
    at = finding.autofix.edits[0].start
    twice = dataclasses.replace(finding, autofix=Autofix("repeat a keyword", (Edit(at, at, ", batch_size=9"),), True))
    text, fixed, dropped = fix_source(source, [twice])
    assert fixed == [] and text == BAD
    assert "would not compile (keyword argument repeated: batch_size" in dropped[0][1]


def test_concurrent_fix_runs_apply_each_fix_once(tmp_path):
    """Two `bnlint --fix` processes started together over 200 fixable files: each file ends with
    exactly one `shuffle=True` and compiles (before, files ended `shuffle=True, shuffle=True`)."""
    n = 200
    for i in range(n):
        (tmp_path / f"m{i:03d}.py").write_text(BAD, encoding="utf-8")
    cmd = [sys.executable, "-m", "bnlint", "--no-cache", "--select", "BN103", "--fix", "-j", "2", "-q", "."]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode in (0, 1) and "Traceback" not in err, err[-3000:]
    for i in range(n):
        data = (tmp_path / f"m{i:03d}.py").read_bytes()
        compile(data, f"m{i:03d}.py", "exec", dont_inherit=True)
        assert data.count(b"shuffle=True") == 1, f"m{i:03d}.py: {data!r}"
    assert not [p.name for p in tmp_path.iterdir() if not p.name.endswith(".py")]


# -- 9. files that are not ours to write -----------------------------------------------------------

def _error_lines(stdout: str) -> dict:
    return {line.partition(": error: ")[0]: line.partition(": error: ")[2]
            for line in stdout.splitlines() if ": error: " in line}


def test_read_only_file_is_reported_and_the_others_are_fixed(tmp_path):
    """chmod a-w means "do not touch", for root too: one error line, exit 1 (even with --exit-zero),
    the file and its mode unchanged; the other files are fixed."""
    for name in ("a.py", "ro.py", "z.py"):
        (tmp_path / name).write_text(BAD, encoding="utf-8")
    os.chmod(tmp_path / "ro.py", 0o444)
    proc = run_bnlint(["--fix", "--exit-zero", "."], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "read-only file" in _error_lines(proc.stdout)["ro.py"], proc.stdout
    assert "fix not applied" not in proc.stderr  # one line per file, not one more per finding
    assert (tmp_path / "ro.py").read_text(encoding="utf-8") == BAD
    assert stat.S_IMODE((tmp_path / "ro.py").stat().st_mode) == 0o444
    for name in ("a.py", "z.py"):
        assert (tmp_path / name).read_text(encoding="utf-8") == FIXED, name
    data = json.loads(run_bnlint(["--fix", "--format", "json", "."], tmp_path).stdout)
    assert [(e["path"], e["kind"]) for e in data["errors"]] == [("ro.py", "write")]


def test_read_only_folder_is_reported_and_the_others_are_fixed(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "x.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "ok.py").write_text(BAD, encoding="utf-8")
    os.chmod(ro, 0o555)
    try:
        proc = run_bnlint(["--fix", "."], tmp_path)
        listing = sorted(p.name for p in ro.iterdir())
    finally:
        os.chmod(ro, 0o755)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "folder is read-only" in _error_lines(proc.stdout)[os.path.join("ro", "x.py")], proc.stdout
    assert (ro / "x.py").read_text(encoding="utf-8") == BAD and listing == ["x.py"]
    assert (tmp_path / "ok.py").read_text(encoding="utf-8") == FIXED


def test_hard_linked_file_is_not_modified(tmp_path):
    """Replacing would split the link; writing in place would change the other name too (a package
    cache, a backup snapshot) and is not atomic: the file is left alone, with the reason."""
    (tmp_path / "src").mkdir()
    (tmp_path / "elsewhere").mkdir()
    linked = tmp_path / "src" / "linked.py"
    linked.write_text(BAD, encoding="utf-8")
    os.link(linked, tmp_path / "elsewhere" / "same.py")
    (tmp_path / "src" / "plain.py").write_text(BAD, encoding="utf-8")
    proc = run_bnlint(["--fix", "src"], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 hard links" in _error_lines(proc.stdout)[os.path.join("src", "linked.py")], proc.stdout
    assert os.path.samefile(linked, tmp_path / "elsewhere" / "same.py")
    assert linked.read_text(encoding="utf-8") == BAD
    assert (tmp_path / "src" / "plain.py").read_text(encoding="utf-8") == FIXED


@pytest.mark.skipif(not IS_ROOT, reason="giving a file to another owner needs root")
def test_owner_group_and_mode_are_kept(tmp_path):
    path = tmp_path / "t.py"
    path.write_text(BAD, encoding="utf-8")
    os.chown(path, 1234, 5678)
    os.chmod(path, 0o640)
    proc = run_bnlint(["--fix", "t.py"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    st = path.stat()
    assert path.read_text(encoding="utf-8") == FIXED
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o640)


@pytest.mark.skipif(not IS_ROOT, reason="runs bnlint as another user, which needs root")
def test_file_another_user_owns_is_reported_without_a_traceback():
    """As an ordinary user: a file it may not write is one error line (was a PermissionError traceback
    that left the remaining files unfixed); a file it may write is fixed."""
    nobody = 65534
    try:
        probe = subprocess.run([sys.executable, "-c", "import bnlint, libcst"], user=nobody, cwd=REPO,
                               env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True).returncode
    except OSError:
        probe = -1
    if probe != 0:
        pytest.skip("the interpreter or the checkout is not readable by an unprivileged user")
    root = Path(tempfile.mkdtemp(prefix="bnlint-perm-"))
    try:
        os.chmod(root, 0o755)
        (root / "a_theirs.py").write_text(BAD, encoding="utf-8")  # root's, 0o644: not writable by nobody
        mine = root / "mine"
        mine.mkdir()
        (mine / "z.py").write_text(BAD, encoding="utf-8")
        for p in (mine, mine / "z.py"):
            os.chown(p, nobody, nobody)
        proc = run_bnlint(["--fix", "."], root, user=nobody, group=nobody)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "permission denied" in _error_lines(proc.stdout)["a_theirs.py"], proc.stdout
        assert (root / "a_theirs.py").read_text(encoding="utf-8") == BAD
        assert (mine / "z.py").read_text(encoding="utf-8") == FIXED
        assert (mine / "z.py").stat().st_uid == nobody
    finally:
        shutil.rmtree(root)
