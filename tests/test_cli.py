"""The command line, through click's runner and through a real subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from bnlint import __version__
from bnlint.cli import main

BAD = textwrap.dedent('''
    import torch
    import torch.nn as nn
    from torch.utils.data import DataLoader, TensorDataset

    model = nn.Sequential(nn.Linear(4, 8, bias=False), nn.BatchNorm1d(8), nn.Linear(8, 2))
    loader = DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
''')
BAD_LINE = 7


def _project(tmp_path: Path, files: dict) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def _runner(split_stderr: bool) -> CliRunner:
    if split_stderr:
        try:  # click < 8.2 mixes stderr into stdout unless told not to
            return CliRunner(mix_stderr=False)
        except TypeError:  # click >= 8.2 always captures them separately
            pass
    return CliRunner()


def invoke(args, cwd: Path, env=None, split_stderr: bool = False):
    runner = _runner(split_stderr)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(main, args, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_finding_line_is_grepable_and_exit_code_is_1(tmp_path):
    _project(tmp_path, {"train.py": BAD})
    res = invoke(["train.py"], tmp_path)
    assert res.exit_code == 1, res.output
    first = res.output.splitlines()[0]
    assert first.startswith(f"train.py:{BAD_LINE}:10: BN103 [unshuffled-train-loader] ")
    # What, in one short line; the why and the fix are not repeated on the grep-able line.
    assert "BatchNorm" in first and "running averages" not in first and "shuffle=True" not in first
    assert len(first) - len(f"train.py:{BAD_LINE}:10: BN103 [unshuffled-train-loader] ") <= 120
    assert "Found 1 finding in 1 file" in res.output
    assert "\x1b[" not in res.output  # no colour when not a terminal


def test_show_source_adds_the_frame_the_why_and_the_fix(tmp_path):
    _project(tmp_path, {"train.py": BAD})
    res = invoke(["--show-source", "train.py"], tmp_path)
    assert res.exit_code == 1, res.output
    text = " ".join(res.output.split())  # notes wrap to the console's width
    assert f"train.py:{BAD_LINE}:10: BN103 [unshuffled-train-loader] DataLoader without shuffling" in text
    assert f"{BAD_LINE} | loader = DataLoader(" in text  # the code frame
    assert "= note: its batches keep the dataset's order" in text  # the why
    assert "= help: pass `shuffle=True`" in text  # the fix
    assert text.index("= note:") < text.index("= help:") < text.index("= docs:")


def test_check_subcommand_is_the_default(tmp_path):
    _project(tmp_path, {"train.py": BAD})
    assert invoke(["check", "train.py"], tmp_path).output == invoke(["train.py"], tmp_path).output


def test_clean_file_exits_0(tmp_path):
    _project(tmp_path, {"ok.py": BAD.replace("batch_size=8)", "batch_size=8, shuffle=True)")})
    res = invoke(["ok.py"], tmp_path)
    assert res.exit_code == 0, res.output
    assert "All checks passed!" in res.output


def test_exit_zero(tmp_path):
    _project(tmp_path, {"train.py": BAD})
    assert invoke(["--exit-zero", "train.py"], tmp_path).exit_code == 0


def test_json_format_is_stable(tmp_path):
    _project(tmp_path, {"pkg/train.py": BAD})
    res = invoke(["--format", "json", "pkg"], tmp_path)
    assert res.exit_code == 1
    data = json.loads(res.output)
    assert data["version"] == __version__
    assert data["errors"] == []
    (f,) = data["findings"]
    assert set(f) >= {"code", "name", "path", "line", "column", "end_line", "end_column", "message", "explanation",
                      "fix", "url"}
    assert f["message"].startswith("DataLoader without shuffling") and len(f["message"]) <= 120
    assert f["explanation"] and f["fix"].startswith("pass `shuffle=True`")
    assert f["path"] == os.path.join("pkg", "train.py")  # relative stays relative
    assert (f["code"], f["line"], f["column"]) == ("BN103", BAD_LINE, 10)
    assert f["url"].endswith("/rules/BN103.md")


@pytest.mark.parametrize("args,message", [
    (["--select", "BN999", "x.py"], "BN999"),
    (["--ignore", "XYZ1", "x.py"], "XYZ1"),
    (["--format", "xml", "x.py"], "xml"),
    (["--bogus-option", "x.py"], "bogus"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, args, message):
    _project(tmp_path, {"x.py": "x = 1\n"})
    res = invoke(args, tmp_path)
    assert res.exit_code == 2
    assert message in res.output


def test_select_ignore_and_prefixes(tmp_path):
    _project(tmp_path, {"train.py": BAD})
    assert invoke(["--ignore", "BN103", "train.py"], tmp_path).exit_code == 0
    assert invoke(["--ignore", "BN1", "train.py"], tmp_path).exit_code == 0
    assert invoke(["--select", "BN1", "train.py"], tmp_path).exit_code == 1
    assert invoke(["--select", "ALL", "--ignore", "BN103", "train.py"], tmp_path).exit_code == 0
    assert invoke(["--select", "BN103,BN1", "train.py"], tmp_path).exit_code == 1


def test_noqa_and_skip_file(tmp_path):
    lines = BAD.splitlines()
    lines[BAD_LINE - 1] += "  # noqa: BN103"
    _project(tmp_path, {"a.py": "\n".join(lines) + "\n"})
    assert invoke(["a.py"], tmp_path).exit_code == 0
    lines[BAD_LINE - 1] = lines[BAD_LINE - 1].replace("# noqa: BN103", "# noqa: E501")
    _project(tmp_path, {"b.py": "\n".join(lines) + "\n"})
    assert invoke(["b.py"], tmp_path).exit_code == 1  # other tools' codes do not silence bnlint
    lines[BAD_LINE - 1] = lines[BAD_LINE - 1].replace("# noqa: E501", "# noqa")
    _project(tmp_path, {"c.py": "\n".join(lines) + "\n"})
    assert invoke(["c.py"], tmp_path).exit_code == 0
    _project(tmp_path, {"d.py": "# bnlint: skip-file\n" + BAD})
    assert invoke(["d.py"], tmp_path).exit_code == 0


def test_config_in_pyproject(tmp_path):
    _project(tmp_path, {"train.py": BAD, "pyproject.toml": '[tool.bnlint]\nignore = ["BN103"]\n'})
    assert invoke(["train.py"], tmp_path).exit_code == 0
    _project(tmp_path, {"pyproject.toml": '[tool.bnlint]\nper-file-ignores = {"train.py" = ["BN1"]}\n'})
    assert invoke(["train.py"], tmp_path).exit_code == 0
    _project(tmp_path, {"pyproject.toml": '[tool.bnlint]\nextend-exclude = ["train.py"]\n'})
    assert invoke(["."], tmp_path).exit_code == 0  # excluded when walking
    assert invoke(["train.py"], tmp_path).exit_code == 1  # named explicitly: still linted
    assert invoke(["--force-exclude", "train.py"], tmp_path).exit_code == 0


@pytest.mark.parametrize("toml,needle", [
    ('[tool.bnlint]\nselct = ["BN103"]\n', "selct"),
    ('[tool.bnlint]\nselect = "BN103"\n', "select"),
    ('[tool.bnlint]\nselect = ["BN777"]\n', "BN777"),
    ('[tool.bnlint\nselect = 1\n', "malformed TOML"),
])
def test_bad_config_exits_2_naming_the_key(tmp_path, toml, needle):
    _project(tmp_path, {"train.py": BAD, "pyproject.toml": toml})
    res = invoke(["train.py"], tmp_path)
    assert res.exit_code == 2
    assert needle in res.output
    assert "Traceback" not in res.output


def test_explicit_config_file(tmp_path):
    _project(tmp_path, {"train.py": BAD, "bnlint.toml": 'ignore = ["BN103"]\n'})
    assert invoke(["--config", "bnlint.toml", "train.py"], tmp_path).exit_code == 0


def test_exclude_option_and_default_excludes(tmp_path):
    _project(tmp_path, {"src/train.py": BAD, ".venv/lib/bad.py": BAD, "build/bad.py": BAD})
    res = invoke(["--format", "json", "."], tmp_path)
    assert [f["path"] for f in json.loads(res.output)["findings"]] == [os.path.join("src", "train.py")]
    assert invoke(["--exclude", "src", "."], tmp_path).exit_code == 0


def test_statistics_and_quiet(tmp_path):
    _project(tmp_path, {"a.py": BAD, "b.py": BAD})
    res = invoke(["--statistics", "."], tmp_path)
    rows = [line.split() for line in res.output.splitlines()]
    assert ["2", "BN103", "unshuffled-train-loader"] in [row[:3] for row in rows]  # the per-rule count
    quiet = invoke(["-q", "."], tmp_path)
    assert "Found" not in quiet.output and quiet.exit_code == 1


def test_unreadable_and_missing_files_are_errors_not_crashes(tmp_path):
    _project(tmp_path, {"bad.py": "def f(:\n", "good.py": BAD})
    res = invoke(["--format", "json", "bad.py", "good.py", "missing.py"], tmp_path)
    data = json.loads(res.output)
    assert res.exit_code == 1
    assert {e["path"] for e in data["errors"]} == {"bad.py", "missing.py"}
    assert len(data["findings"]) == 1  # the other file is still linted


def test_rules_and_rule_commands(tmp_path):
    res = invoke(["rules"], tmp_path)
    assert res.exit_code == 0 and "BN103" in res.output and "unshuffled-train-loader" in res.output
    page = invoke(["rule", "BN103"], tmp_path)
    assert page.exit_code == 0 and page.output.startswith("# BN103 unshuffled-train-loader")
    assert invoke(["rule", "unshuffled-train-loader"], tmp_path).output == page.output
    assert invoke(["rule", "BN000"], tmp_path).exit_code == 2


def test_output_file(tmp_path):
    _project(tmp_path, {"train.py": BAD})
    res = invoke(["--format", "json", "--output", "report.json", "train.py"], tmp_path)
    assert res.exit_code == 1 and res.output == ""
    assert json.loads((tmp_path / "report.json").read_text())["findings"][0]["code"] == "BN103"


def _subprocess(args, cwd, **env):
    full_env = dict(os.environ, **env)
    full_env.pop("NO_COLOR", None) if "NO_COLOR" not in env else None
    return subprocess.run([sys.executable, "-m", "bnlint", *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, timeout=120)


def test_real_subprocess_exit_codes_and_version(tmp_path):
    _project(tmp_path, {"train.py": BAD, "ok.py": "print('hi')\n"})
    assert _subprocess(["train.py"], tmp_path).returncode == 1
    assert _subprocess(["ok.py"], tmp_path).returncode == 0
    usage = _subprocess(["--select", "NOPE", "ok.py"], tmp_path)
    assert usage.returncode == 2 and "NOPE" in usage.stderr and "Traceback" not in usage.stderr
    version = _subprocess(["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"bnlint {__version__}"
    # The command exits without interpreter teardown: everything written must still arrive.
    report = _subprocess(["--format", "json", "train.py"], tmp_path)
    assert report.returncode == 1 and json.loads(report.stdout)["findings"][0]["code"] == "BN103"


def test_parallel_run_matches_serial(tmp_path):
    files = {f"pkg/m{i}.py": (BAD if i % 3 == 0 else "import torch\nx = torch.zeros(1)\n") for i in range(24)}
    _project(tmp_path, files)
    serial = json.loads(invoke(["--format", "json", "-j", "1", "pkg"], tmp_path).output)
    parallel = json.loads(invoke(["--format", "json", "-j", "2", "pkg"], tmp_path).output)
    assert serial == parallel and len(serial["findings"]) == 8
