"""Autofix: BN103's fixes through the real CLI; atomic, encoding-preserving, idempotent writes."""
from __future__ import annotations

import dataclasses
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from bnlint.fixes import apply_fixes, fix_source
from bnlint.findings import Autofix, Edit
from bnlint.source import decode
from tests.helpers import lint
from tests.test_cli import BAD, BAD_LINE, invoke

FIXED = BAD.replace("batch_size=8)", "batch_size=8, shuffle=True)")


def test_fix_adds_shuffle_true_and_reports_clean(tmp_path):
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    res = invoke(["--select", "BN103", "--fix", "train.py"], tmp_path)
    assert res.exit_code == 0, res.output
    assert "Fixed 1 finding in 1 file." in res.output
    assert "All checks passed!" in res.output
    assert (tmp_path / "train.py").read_text(encoding="utf-8") == FIXED


def test_fix_twice_changes_nothing_the_second_time(tmp_path):
    (tmp_path / "a.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "b.py").write_text(BAD.replace("batch_size=8)", "batch_size=8, shuffle=False)"), encoding="utf-8")
    assert invoke(["--select", "BN103", "--fix", "."], tmp_path).exit_code == 0
    after_first = {p.name: p.read_bytes() for p in tmp_path.glob("*.py")}
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.py")}
    second = invoke(["--select", "BN103", "--fix", "."], tmp_path)
    assert second.exit_code == 0 and "Fixed" not in second.output
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.py")} == after_first
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.py")} == mtimes  # not even rewritten
    assert b"shuffle=True)" in after_first["b.py"] and b"shuffle=False" not in after_first["b.py"]


def test_literal_false_is_flipped_in_place_keeping_comments_and_layout(tmp_path):
    src = BAD.replace(
        "batch_size=8)",
        "\n    batch_size=8,\n    shuffle=False,  # deterministic for debugging\n    num_workers=0,\n)")
    (tmp_path / "t.py").write_text(src, encoding="utf-8")
    assert invoke(["--select", "BN103", "--fix", "t.py"], tmp_path).exit_code == 0
    assert (tmp_path / "t.py").read_text(encoding="utf-8") == src.replace("shuffle=False,", "shuffle=True,")


def test_positional_false_is_flipped(tmp_path):
    src = BAD.replace("batch_size=8)", "8, False)")
    (tmp_path / "t.py").write_text(src, encoding="utf-8")
    assert invoke(["--select", "BN103", "--fix", "t.py"], tmp_path).exit_code == 0
    assert (tmp_path / "t.py").read_text(encoding="utf-8") == src.replace("8, False)", "8, True)")


def test_fix_keeps_crlf_bom_encoding_and_mode(tmp_path):
    latin = ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + BAD).replace("\n", "\r\n").encode("latin-1")
    bom = b"\xef\xbb\xbf" + BAD.encode("utf-8")
    (tmp_path / "latin.py").write_bytes(latin)
    (tmp_path / "bom.py").write_bytes(bom)
    os.chmod(tmp_path / "latin.py", 0o751)
    assert invoke(["--select", "BN103", "--fix", "."], tmp_path).exit_code == 0
    new_latin = (tmp_path / "latin.py").read_bytes()
    assert new_latin == latin.replace(b"batch_size=8)", b"batch_size=8, shuffle=True)")
    assert b"\r\n" in new_latin and b"caf\xe9" in new_latin
    assert stat.S_IMODE((tmp_path / "latin.py").stat().st_mode) == 0o751
    assert (tmp_path / "bom.py").read_bytes() == bom.replace(b"batch_size=8)", b"batch_size=8, shuffle=True)")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".bnlint-tmp")]


def test_diff_prints_without_writing(tmp_path):
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    res = invoke(["--select", "BN103", "--diff", "train.py"], tmp_path)
    assert res.exit_code == 1
    assert "--- a/train.py" in res.output and "+++ b/train.py" in res.output
    assert "+loader = DataLoader(" in res.output and "shuffle=True)" in res.output
    assert (tmp_path / "train.py").read_text(encoding="utf-8") == BAD
    (tmp_path / "train.py").write_text(FIXED, encoding="utf-8")
    clean = invoke(["--select", "BN103", "--diff", "train.py"], tmp_path)
    assert clean.exit_code == 0 and "---" not in clean.output


def test_no_autofix_when_the_call_is_not_fully_visible_or_has_a_sampler(tmp_path):
    cases = {
        "kwargs.py": BAD.replace("batch_size=8)", "**opts)").replace("model = nn", "opts = dict(batch_size=8)\nmodel = nn"),
        "sampler_none.py": BAD.replace("batch_size=8)", "batch_size=8, sampler=None)"),
        "computed.py": BAD.replace("batch_size=8)", "batch_size=8, shuffle=0)"),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = lint([tmp_path], select=["BN103"])
    fired = {Path(f.path).name: f for f in result.findings}
    for name in cases:
        if name in fired:
            assert fired[name].autofix is None, name
    assert "sampler_none.py" in fired  # still reported, only not auto-fixed


def test_loader_built_in_another_file_is_fixed_where_it_is_built(tmp_path):
    loader_line = "    return DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8)\n"
    (tmp_path / "data.py").write_text(
        "import torch\nfrom torch.utils.data import DataLoader, TensorDataset\n\n\ndef make_loader():\n" + loader_line,
        encoding="utf-8")
    train = BAD.replace("loader = DataLoader(", "from data import make_loader\nloader = make_loader()  # ")
    (tmp_path / "train.py").write_text(train, encoding="utf-8")
    res = invoke(["--select", "BN103", "--fix", "."], tmp_path)
    assert res.exit_code == 0 and "Fixed 1 finding in 1 file." in res.output, res.output
    assert (tmp_path / "data.py").read_text(encoding="utf-8").endswith(
        loader_line.replace("batch_size=8)", "batch_size=8, shuffle=True)"))
    assert (tmp_path / "train.py").read_text(encoding="utf-8") == train


def test_fix_that_would_not_parse_is_dropped_and_reported(tmp_path):
    source = decode(BAD.encode("utf-8"), "t.py")
    good, bad = lint_with_fixes(tmp_path, source)
    text, fixed, dropped = fix_source(source, [bad, good])
    assert fixed == [good]
    assert [f for f, _ in dropped] == [bad] and "would not parse" in dropped[0][1]
    assert "shuffle=True" in text and "))))" not in text


def lint_with_fixes(tmp_path, source):
    """The real BN103 finding (with its real fix) and a copy whose fix breaks the syntax."""
    (tmp_path / "t.py").write_text(source.text, encoding="utf-8")
    (finding,) = lint([tmp_path / "t.py"], select=["BN103"]).findings
    assert finding.autofix is not None and finding.autofix.safe
    at = source.offset(BAD_LINE + 1, 0)
    broken = dataclasses.replace(finding, autofix=Autofix("break it", (Edit(at, at, "))))"),), True))
    return finding, broken


def test_apply_fixes_writes_only_with_write_true(tmp_path):
    path = tmp_path / "t.py"
    path.write_text(BAD, encoding="utf-8")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        findings = lint(["t.py"], select=["BN103"]).findings
        preview = apply_fixes(findings, write=False)
        assert preview.changed == ["t.py"] and path.read_text(encoding="utf-8") == BAD
        done = apply_fixes(findings, write=True)
        assert done.diffs == preview.diffs and path.read_text(encoding="utf-8") == FIXED
    finally:
        os.chdir(old)


def test_killed_fix_run_leaves_every_file_old_or_new(tmp_path):
    """SIGKILL a multi-file --fix while it writes: no file may be truncated or half-written."""
    n = 50
    # Big files make every write take a while; one string literal keeps them cheap to lint.
    padding = 'NOTES = """\n' + "".join(f"padding line {i} {'x' * 60}\n" for i in range(4000)) + '"""\n'
    old_text = BAD + padding
    new_text = FIXED + padding
    for i in range(n):
        (tmp_path / f"m{i:04d}.py").write_text(old_text, encoding="utf-8")
    middle = tmp_path / f"m{n // 2:04d}.py"  # files are fixed in path order
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "bnlint", "--select", "BN103", "--fix", "-j", "1", "-q", "."], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        size = middle.stat().st_size
        while time.monotonic() < deadline and proc.poll() is None:
            if middle.stat().st_size != size:  # half of the files are written
                break
            time.sleep(0.0005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    old_b, new_b = old_text.encode(), new_text.encode()
    states = []
    for i in range(n):
        data = (tmp_path / f"m{i:04d}.py").read_bytes()
        assert data in (old_b, new_b), f"m{i:04d}.py is neither the old nor the new version ({len(data)} bytes)"
        states.append(data == new_b)
    assert states[0] and states[n // 2], "the run was killed before it wrote anything"
    assert not all(states), "the run finished before it could be killed"
    # What the killed run left behind is only ever a temporary file that no linter picks up.
    leftovers = [p.name for p in tmp_path.iterdir() if p.is_file() and not p.name.endswith(".py")]
    assert all(name.endswith(".bnlint-tmp") for name in leftovers), leftovers


def test_no_autofix_when_the_loop_pairs_batches_with_rows_sliced_by_position(tmp_path):
    # ``attrs[batch_size * step:...]``: shuffling the loader alone would pair images with the wrong
    # labels. Still reported, with a fix that says so, but never rewritten.
    from tests.helpers import FIXTURES

    path = FIXTURES / "BN103" / "pos_labels_sliced_by_iteration_not_fixed.py"
    (finding,) = lint([path], select=["BN103"]).findings
    assert finding.autofix is None
    assert "mismatch" in finding.fix
    # The same loop reading a fixed label: nothing is paired by position, the fix is offered.
    plain = tmp_path / "plain.py"
    plain.write_text(path.read_text(encoding="utf-8").replace(
        "attrs[batch_size * step:batch_size * (step + 1)]", "attrs[:batch_size]"), encoding="utf-8")
    (finding,) = lint([plain], select=["BN103"]).findings
    assert finding.autofix is not None and finding.autofix.safe
