"""The measures beyond batch composition (BN104/BN901, BN201, BN202, BN203, BN204,
BN402, BN406): one harmful case that must be confirmed and one correct case that
must not, for the Python API and for `bnlint confirm SCRIPT`, on tiny real models
and synthetic data (CPU, seconds each). The cases are in ``CASES`` so that
benchmarks/confirm_device_check.py can run the same pairs on CUDA."""
from __future__ import annotations

import copy
import json
import textwrap

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402
from torch import nn  # noqa: E402

import bnlint.confirm as confirm  # noqa: E402
from bnlint.confirm import ConfirmResult, attach_verdicts, finding_key  # noqa: E402
from bnlint.confirm.cli import confirm_command  # noqa: E402
from bnlint.findings import Finding  # noqa: E402
from tests.confirm_cases import API_CASES, SCRIPT_CASES  # noqa: E402


@pytest.fixture(autouse=True)
def _seed(monkeypatch):
    torch.manual_seed(0)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


# --- the Python API: each case pair --------------------------------------------------


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_api_case_pair(name):
    harmful, correct = API_CASES[name]
    bad = harmful("cpu")
    assert bad.status == "ok", bad.message
    assert bad.verdict == "confirmed", bad.summary()
    good = correct("cpu")
    assert good.status == "ok", good.message
    assert good.verdict != "confirmed", good.summary()
    for site in bad.sites + good.sites:
        assert site.rule and site.value is not None and site.meaning


def test_compare_modes_leaves_running_statistics_alone():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    before = copy.deepcopy(model.state_dict())
    confirm.compare_modes(model, torch.randn(16, 4) + 3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training


def test_bn_settings_reports_each_layer_with_the_rule_number():
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8, 0.8), nn.Linear(8, 8),  # noqa: BN406
                          nn.BatchNorm1d(8, momentum=0.99))  # noqa: BN402
    result = confirm.bn_settings(model, torch.randn(64, 4) * 0.5)
    by = {(s.rule, s.label): s for s in result.sites}
    assert by[("BN406", "1")].verdict == "confirmed" and by[("BN406", "1")].details["eps"] == 0.8
    assert by[("BN406", "3")].verdict == "not confirmed"
    assert by[("BN402", "3")].verdict == "confirmed" and by[("BN402", "3")].value == 0.99
    assert by[("BN402", "1")].verdict == "not confirmed" and by[("BN402", "1")].value == 0.1
    assert "momentum in effect = 0.99" in by[("BN402", "3")].number_text()


def test_batch_sizes_reports_n_and_nhw_per_layer():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 36, 8),
                          nn.BatchNorm1d(8))
    result = confirm.batch_sizes(model, [torch.randn(3, 1, 8, 8), torch.randn(5, 1, 8, 8)])
    site = result.sites[0]
    assert site.rule == "BN901" and site.verdict == "confirmed" and site.value == 3
    assert site.details["layers"]["1"] == {"n": 3, "nhw": 108}
    assert site.details["layers"]["4"] == {"n": 3, "nhw": 3}


# --- `bnlint confirm SCRIPT`: each case pair -------------------------------------------


def run_confirm(tmp_path, source: str, name: str = "train.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    result = CliRunner().invoke(confirm_command, [str(path), "--format", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return path, result.exit_code, json.loads(result.output)


def sites_of(report, rule):
    kinds = {"BN104": "batch-size", "BN901": "batch-size"}
    return [s for s in report["sites"] if s["rule"] == rule or s["kind"] == kinds.get(rule)]


def line_of(path, text: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text in line:
            return number
    raise AssertionError(text)


@pytest.mark.parametrize("name", sorted(SCRIPT_CASES))
def test_script_case_pair(tmp_path, name):
    case = SCRIPT_CASES[name]
    rule = case["rule"]
    path, status, report = run_confirm(tmp_path, case["harmful"], "harmful.py")
    assert report["status"] == "ok", report["message"]
    found = sites_of(report, rule)
    assert found, report["sites"]
    # The harmful line's site is confirmed, with the rule's number.
    at = line_of(path, case["line"])
    near = min(found, key=lambda s: abs(s["line"] - at))
    assert near["line"] == at, (near, at)
    verdict = near["verdict"]
    if near["rule"] != rule:  # batch-size sites are judged per finding
        from bnlint.confirm.matching import for_rule

        verdict = for_rule(ConfirmResult.from_json(report).site(near["label"]), rule).verdict
    assert verdict == "confirmed", near
    assert status == 1
    path, status, report = run_confirm(tmp_path, case["correct"], "correct.py")
    assert report["status"] == "ok", report["message"]
    assert all(s["verdict"] != "confirmed" for s in report["sites"]), report["sites"]
    assert status == 0


def test_findings_of_the_new_rules_get_their_verdicts(tmp_path):
    """attach_verdicts: a finding at the harmful line gets the site's verdict, judged and
    worded for its own rule."""
    case = SCRIPT_CASES["BN203 frozen backbone in train mode"]
    path, status, report = run_confirm(tmp_path, case["harmful"])
    result = ConfirmResult.from_json(report)
    at = line_of(path, case["line"])
    findings = [Finding(code="BN203", name="x", path=str(path), line=at, column=1, end_line=at,
                        end_column=2, message="m", fix="f")]
    attached = attach_verdicts(findings, result)
    site = attached[finding_key(findings[0])]
    assert site.verdict == "confirmed" and site.rule == "BN203"
    assert "FrozenBatchNorm2d" in site.meaning and "drift" in site.number_text()


def test_batch_size_site_is_judged_per_rule():
    from bnlint.confirm.matching import for_rule
    from bnlint.confirm.sites import measured

    site = measured("BN901", "batch-size", ("/p/train.py", 5), 3)
    assert site.verdict == "confirmed"
    assert for_rule(site, "BN104").verdict == "not confirmed"
    assert for_rule(site, "BN104").rule == "BN104"
    one = measured("BN104", "batch-size", ("/p/train.py", 5), 1)
    assert for_rule(one, "BN901").verdict == "confirmed"


def test_call_site_advice_fits_the_rule():
    from bnlint.confirm.matching import for_rule
    from bnlint.confirm.result import SiteResult
    from bnlint.confirm.verdict import meaning

    site = SiteResult(kind="call", label="t.py:3", verdict="confirmed", z=9.0, rule="BN101",
                      meaning=meaning("confirmed", "call", "BN101"), path="/t.py", line=3)
    assert "domain-specific" in site.meaning
    assert "real and fake" in for_rule(site, "BN102").meaning
    assert "shuffle" in for_rule(site, "BN103").meaning
    assert "domain-specific" not in for_rule(site, "BN103").meaning


def test_averaged_model_in_script_is_not_confused_by_update_bn(tmp_path):
    """update_bn's own no-grad train-mode pass is a deliberate re-estimation, not BN201."""
    case = SCRIPT_CASES["BN204 averaged model without update_bn"]
    _, _, report = run_confirm(tmp_path, case["correct"])
    assert not [s for s in report["sites"] if s["rule"] == "BN201" and s["verdict"] == "confirmed"]
    (averaged,) = [s for s in report["sites"] if s["rule"] == "BN204"]
    assert averaged["details"]["update_bn_called"] is True


def test_text_report_shows_the_rule_and_its_number(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short labels: the table fits the test console
    case = SCRIPT_CASES["BN406 eps passed positionally"]
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(case["harmful"]), encoding="utf-8")
    result = CliRunner().invoke(confirm_command, [str(path)])
    assert result.exit_code == 1, result.output
    assert "BN406" in result.output and "scale lost" in result.output
    assert "measures not confirmed" in result.output


def test_scripts_that_never_step_still_get_bn201_and_bn104_rows(tmp_path):
    """An inference script (no optimizer) and a loader whose first batch holds one sample
    (BatchNorm1d raises before the first step) are measured, not reported as failures."""
    path, status, report = run_confirm(tmp_path, """
        import torch
        from torch import nn
        model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
        with torch.no_grad():
            for _ in range(3):
                print(model(torch.randn(16, 8) * 2 + 1).argmax(1))
    """, "infer.py")
    assert status == 1 and report["status"] == "ok", report
    (site,) = report["sites"]
    assert site["rule"] == "BN201" and site["verdict"] == "confirmed"
    assert site["line"] == line_of(path, "print(model(")
    assert "before a training step" in report["message"]

    path, status, report = run_confirm(tmp_path, """
        import torch
        from torch import nn
        from torch.utils.data import DataLoader, TensorDataset
        model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
        loader = DataLoader(TensorDataset(torch.randn(9, 8), torch.randint(0, 2, (9,))))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    """, "batch_of_one.py")
    assert status == 1 and report["status"] == "ok", report
    (site,) = report["sites"]
    assert site["rule"] == "BN104" and site["value"] == 1
    assert site["line"] == line_of(path, "loader = DataLoader(")
    assert "Expected more than 1 value per channel" in report["message"]
