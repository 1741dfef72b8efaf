"""Confirm's torch-free parts: results, JSON, exit status, help text, and matching
verdicts to static findings (``bnlint check --confirm``)."""
from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from bnlint.confirm import ConfirmResult, SiteResult, attach_verdicts, finding_key
from bnlint.confirm.cli import confirm_command
from bnlint.confirm.verdict import classify, meaning
from bnlint.findings import Finding, Related


def site(kind, path, line, verdict, z, inner=()):
    return SiteResult(kind=kind, label=f"{path}:{line}", verdict=verdict, z=z,
                      meaning=meaning(verdict, kind), path=path, line=line, inner_sites=list(inner))


def finding(code, path, line, related=()):
    return Finding(code=code, name="x", path=path, line=line, column=1, end_line=line,
                   end_column=2, message="m", fix="f", related=tuple(related))


def test_classify_thresholds():
    assert classify(0.7) == "not confirmed"
    assert classify(3.2) == "inconclusive"
    assert classify(4.0) == "confirmed"


def test_result_json_round_trip_and_exit_codes():
    result = ConfirmResult(status="ok", sites=[site("call", "/p/train.py", 10, "confirmed", 9.1)],
                           steps=13, probe_steps=8)
    again = ConfirmResult.from_json(result.to_json())
    assert again == result
    assert again.verdict == "confirmed" and again.exit_code == 1
    assert ConfirmResult(status="ok").exit_code == 0
    assert ConfirmResult.failure("boom").exit_code == 2
    assert "boom" in ConfirmResult.failure("boom").summary()


def test_attach_verdicts_matches_by_file_and_nearest_line(tmp_path):
    train = str(tmp_path / "train.py")
    other = str(tmp_path / "model.py")
    result = ConfirmResult(status="ok", sites=[
        site("call", train, 30, "not confirmed", 1.0),
        site("call", train, 31, "confirmed", 9.0),
        site("call", other, 12, "confirmed", 9.0),
        site("loader", train, 20, "confirmed", 25.0),
    ])
    findings = [
        finding("BN101", train, 31, related=[Related(train, 30, "first tower")]),
        finding("BN102", train, 29),
        finding("BN103", train, 22),
        finding("BN101", train, 500),  # far away: confirm never saw it run
        finding("BN201", train, 31),  # not a batch-composition rule
    ]
    attached = attach_verdicts(findings, result)
    # The towers finding spans both calls: the more severe verdict wins the tie.
    assert attached[finding_key(findings[0])].line == 31
    assert attached[finding_key(findings[1])].line == 30
    assert attached[finding_key(findings[2])].kind == "loader"
    assert finding_key(findings[3]) not in attached
    assert finding_key(findings[4]) not in attached


def test_attach_verdicts_uses_nested_call_sites_and_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    towers = str(tmp_path / "towers.py")
    result = ConfirmResult(status="ok", sites=[
        site("call", str(tmp_path / "train.py"), 50, "confirmed", 8.0, inner=[f"{towers}:14"]),
    ])
    # The static finding points at the per-domain call inside the wrapper's forward.
    attached = attach_verdicts([finding("BN101", "towers.py", 14)], result)
    assert attached[("BN101", "towers.py", 14)].verdict == "confirmed"


def test_bn103_falls_back_to_the_call_site(tmp_path):
    train = str(tmp_path / "train.py")
    result = ConfirmResult(status="ok", sites=[site("call", train, 40, "confirmed", 11.0)])
    attached = attach_verdicts([finding("BN103", train, 38)], result)
    assert attached[("BN103", train, 38)].line == 40


def test_help_says_the_command_runs_the_script():
    result = CliRunner().invoke(confirm_command, ["--help"])
    assert result.exit_code == 0
    assert "RUNS YOUR SCRIPT" in result.output
    assert "--max-seconds" in result.output and "--steps" in result.output


def test_missing_torch_gives_the_install_hint():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # as if torch were not installed\n"
        "import bnlint.confirm as c\n"
        "try:\n"
        "    c.compare\n"
        "except c.TorchMissing as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'bnlint[confirm]'" in out.stdout


def measured_site(kind, rule, path, line, value, inner=()):
    from bnlint.confirm.verdict import judge

    verdict = judge(rule, value)
    return SiteResult(kind=kind, label=f"{path}:{line}", verdict=verdict, z=0.0, rule=rule, value=value,
                      meaning=meaning(verdict, kind, rule), path=path, line=line, inner_sites=list(inner))


def test_attach_verdicts_for_the_other_rules(tmp_path):
    train = str(tmp_path / "train.py")
    result = ConfirmResult(status="ok", sites=[
        measured_site("momentum", "BN402", train, 8, 0.99),
        measured_site("eps", "BN406", train, 8, 0.0),
        measured_site("eps", "BN406", train, 9, 0.4),
        measured_site("frozen", "BN203", train, 120, 0.3),
        measured_site("batch-size", "BN901", train, 5, 3.0, inner=[f"{train}:200"]),
        measured_site("eval-call", "BN201", train, 60, 0.5),
        measured_site("call", "BN101", train, 61, 9.0),
    ])
    findings = [
        finding("BN402", train, 8), finding("BN406", train, 9), finding("BN203", train, 10),
        finding("BN104", train, 5), finding("BN901", train, 5), finding("BN201", train, 61),
        finding("BN402", train, 500),  # another layer's line, far away: not measured
    ]
    attached = attach_verdicts(findings, result)
    got = {(k[0], k[2]): (s.kind, s.rule, s.verdict) for k, s in attached.items()}
    assert got[("BN402", 8)] == ("momentum", "BN402", "confirmed")
    assert got[("BN406", 9)] == ("eps", "BN406", "confirmed")  # its own line, not line 8's layer
    # A freeze far from where the frozen layer ran: the nearest site in the same file.
    assert got[("BN203", 10)] == ("frozen", "BN203", "confirmed")
    # One batch-size site, judged per rule: a smallest batch of 3 is BN901's pitfall, not BN104's.
    assert got[("BN104", 5)] == ("batch-size", "BN104", "not confirmed")
    assert got[("BN901", 5)] == ("batch-size", "BN901", "confirmed")
    # BN201 takes the no-grad call, not the training call next to it.
    assert got[("BN201", 61)] == ("eval-call", "BN201", "confirmed")
    assert ("BN402", 500) not in got


def test_summary_and_number_text_name_the_rule():
    site = measured_site("frozen", "BN203", "/p/train.py", 4, 0.25)
    assert site.number_text() == "running-stat drift = 0.250"
    result = ConfirmResult(status="ok", sites=[site])
    assert "confirmed (BN203): running-stat drift = 0.250" in result.summary()
    assert ConfirmResult.from_json(result.to_json()) == result
