"""The measures beyond batch composition (BN104/BN901, BN201, BN202, BN203, BN204,
BN301, BN402, BN403, BN404, BN405, BN406): one harmful case that must be confirmed
and one correct case that must not, for the Python API and for `bnlint confirm
SCRIPT`, on tiny real models and synthetic data (CPU, seconds each). The cases are
in ``tests/confirm_cases.py`` so that benchmarks/confirm_device_check.py can run the
same pairs on CUDA."""
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
from bnlint.confirm.verdict import ADVISORY  # noqa: E402
from bnlint.findings import Finding  # noqa: E402
from tests.confirm_cases import API_CASES, SCRIPT_CASES  # noqa: E402
from tests.helpers import lint  # noqa: E402


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
    assert status == (0 if rule in ADVISORY else 1)
    # `bnlint check --confirm`: the static finding of the rule gets that verdict and number.
    findings = lint([path], select=[rule]).findings
    assert findings, "the static rule must fire on the harmful case"
    attached = attach_verdicts(findings, ConfirmResult.from_json(report))
    assert [site.verdict for site in attached.values()] == ["confirmed"] * len(findings), attached
    assert all(site.rule == rule and site.value is not None for site in attached.values())
    path, status, report = run_confirm(tmp_path, case["correct"], "correct.py")
    assert report["status"] == "ok", report["message"]
    # Advisory rows (BN401: these small models' Linear layers keep their bias) do not count.
    deciding = [s for s in report["sites"] if s["rule"] == rule or s["rule"] not in ADVISORY]
    assert all(s["verdict"] != "confirmed" for s in deciding), report["sites"]
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


# --- the measures of BN301, BN403, BN404, BN405 --------------------------------------


def _untouched(model):
    """A check that ``model``'s state (parameters, BN buffers) and modes did not change."""
    state = copy.deepcopy(model.state_dict())
    modes = [m.training for m in model.modules()]

    def check():
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
        assert [m.training for m in model.modules()] == modes

    return check


def test_new_api_measures_leave_the_model_as_it_was():
    untracked = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16, track_running_stats=False), nn.Linear(16, 3))
    critic = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    dropout = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.5), nn.BatchNorm1d(16), nn.Linear(16, 3))
    x = torch.randn(32, 8) + 1
    for model, measure in ((untracked, lambda m: confirm.batch_dependence(m, x)),
                           (critic, lambda m: confirm.critic_cross_sample(m, x)),
                           (dropout, lambda m: confirm.dropout_variance_shift(m, x)),
                           (critic, lambda m: confirm.ddp_batch_sizes(m, x))):
        check = _untouched(model)
        rng = torch.get_rng_state()
        assert measure(model).status == "ok"
        check()
        assert torch.equal(rng, torch.get_rng_state())


def test_ddp_batch_sizes_reports_what_sync_bn_would_see(monkeypatch):
    """Per-process N per plain BN layer; SyncBatchNorm layers are not judged; the world size
    comes from the argument, else WORLD_SIZE (torch.distributed is not initialised here)."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 36, 8),
                          nn.SyncBatchNorm(8))
    batches = [torch.randn(6, 1, 8, 8), torch.randn(4, 1, 8, 8)]
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    (site,) = confirm.ddp_batch_sizes(model, batches).sites
    assert site.rule == "BN301" and site.value == 4 and site.verdict == "confirmed"
    assert site.details["layers"] == {"1": {"n": 4, "nhw": 144, "sync_n": None}}
    assert site.details["sync_bn_layers"] == ["4"] and "world size unknown" in site.note
    monkeypatch.setenv("WORLD_SIZE", "8")
    (site,) = confirm.ddp_batch_sizes(model, batches).sites
    assert site.details["world_size"] == 8 and site.details["world_size_from"] == "WORLD_SIZE"
    assert site.details["sync_bn_would_see"] == 32 and "N × 8 = 32" in site.reference
    (site,) = confirm.ddp_batch_sizes(model, [torch.randn(16, 1, 8, 8)], world_size=2).sites
    assert site.verdict == "inconclusive" and site.details["sync_bn_would_see"] == 32
    assert "9 to 31 samples" in site.meaning
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    result = confirm.ddp_batch_sizes(synced, batches)
    assert result.status == "error" and "every BN layer is SyncBatchNorm" in result.message


def test_batch_dependence_is_zero_with_running_statistics_and_grows_as_batches_shrink():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32, track_running_stats=False), nn.ReLU(),
                          nn.Linear(32, 3))
    x = torch.randn(256, 8) * 2 + 1
    gaps = [confirm.batch_dependence(model, x[:n]).sites[0].value for n in (8, 32, 256)]
    assert gaps[0] > gaps[1] > gaps[2] > 0, gaps
    tracked = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 3))
    (site,) = confirm.batch_dependence(tracked, x[:8]).sites
    assert site.value < 1e-5 and site.verdict == "not confirmed"
    assert confirm.batch_dependence(model, x[:3]).status == "error"  # halves of one sample


def test_critic_cross_sample_is_zero_with_bn_in_eval_mode():
    """A critic whose BN layers are in eval mode (frozen statistics) treats each sample on
    its own: the rule's known false positive measures 0."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    x = torch.randn(16, 8)
    (train,) = confirm.critic_cross_sample(critic, x).sites
    assert train.verdict == "confirmed" and train.details["train_mode_bn_layers"] == 1
    # A linear head right after BN: the summed outputs do not depend on the input at all.
    assert train.value > 0.5 and len(train.details["per_sample"]) == 4
    (frozen,) = confirm.critic_cross_sample(critic.eval(), x).sites
    assert frozen.value == 0 and frozen.verdict == "not confirmed"
    assert frozen.note == "the critic's BN layers were in eval mode"


def test_variance_shift_is_one_minus_p_for_zero_mean_inputs():
    """Dropout(p) on zero-mean activations: var(off) / var(on) = 1 - p (Li et al. 2019)."""
    torch.manual_seed(0)
    ratios = {}
    for p in (0.3, 0.05):
        model = nn.Sequential(nn.Linear(8, 64, bias=False), nn.Dropout(p), nn.BatchNorm1d(64), nn.Linear(64, 3))
        (site,) = confirm.dropout_variance_shift(model, torch.randn(512, 8), batch_size=128).sites
        ratios[p] = site
        assert site.details["layers"]["2"]["dropout"] == "1"
    assert abs(ratios[0.3].value - 0.7) < 0.05 and ratios[0.3].verdict == "confirmed"
    assert abs(ratios[0.05].value - 0.95) < 0.05 and ratios[0.05].verdict == "not confirmed"


def test_live_measures_leave_the_script_unchanged():
    """BN403's halves and BN404's penalty measure run inside the script's own calls: the
    outputs, gradients, BN buffers and random stream are those of an untraced run."""
    from bnlint.confirm.tracer import Recorder

    torch.manual_seed(0)
    untracked = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16, track_running_stats=False), nn.Dropout(0.2),
                              nn.Linear(16, 3))
    critic = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
    x = torch.randn(16, 8) * 2 + 1

    def script(models):
        model, net = models
        torch.manual_seed(1)
        model.eval()
        with torch.no_grad():
            out = model(x)
        inputs = (x * 0.5).requires_grad_(True)
        scores = net(inputs)
        grads = torch.autograd.grad(scores, inputs, torch.ones_like(scores), create_graph=True)[0]
        return out, grads.detach(), torch.rand(3), copy.deepcopy(net.state_dict())

    plain = script(copy.deepcopy((untracked, critic)))
    recorder = Recorder(steps=10, probe=4, max_seconds=60, cap_samples=128, cap_bytes=2**24,
                        on_stop=lambda recorder, how: None)
    recorder.install()
    try:
        traced = script((untracked, critic))
    finally:
        recorder.uninstall()
    for a, b in zip(plain[:3], traced[:3]):
        assert torch.equal(a, b)
    assert all(torch.equal(plain[3][k], v) for k, v in traced[3].items())
    (call,) = recorder.batch_calls
    assert call.gap > 0.05 and call.samples == 16 and call.switched is not None
    (penalty,) = recorder.penalties
    assert penalty.share > 0.05 and penalty.train_bn == 1


def test_inference_script_gets_its_bn403_row(tmp_path):
    """No optimizer: the eval-mode calls of a model without running statistics are still
    measured, and reported at the eval() line, on the model's device."""
    path, status, report = run_confirm(tmp_path, """
        import torch
        from torch import nn
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8, track_running_stats=False), nn.ReLU(),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
        model.eval()
        with torch.no_grad():
            for _ in range(3):
                print(model(torch.rand(8, 3, 16, 16) + torch.arange(8.0).view(8, 1, 1, 1)).argmax(1))
    """, "infer.py")
    assert status == 1 and report["status"] == "ok", report
    (site,) = report["sites"]
    assert site["rule"] == "BN403" and site["verdict"] == "confirmed" and site["calls"] == 3
    assert site["line"] == line_of(path, "model.eval()")
    assert line_of(path, "print(model(") in [int(s.rsplit(":", 1)[1]) for s in site["inner_sites"]]
    assert report["device"] == "cpu" and "before a training step" in report["message"]


# --- the measures of BN205 and BN401 -------------------------------------------------


def test_checkpoint_updates_and_dead_bias_leave_the_model_as_it_was():
    """Both run a backward pass on a copy: the model's parameters, buffers, modes, its
    parameters' .grad and torch's random stream are untouched."""
    from tests.confirm_cases import _Checkpointed

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Dropout(0.2), nn.Flatten(), nn.Linear(288, 3))
    checkpointed = _Checkpointed(bn_inside=True)
    x = torch.randn(8, 3, 8, 8)
    for net, measure in ((model, confirm.dead_bias), (checkpointed, confirm.checkpoint_updates)):
        net(x).sum().backward()
        grads = [p.grad.clone() for p in net.parameters()]
        check = _untouched(net)
        rng = torch.get_rng_state()
        assert measure(net, [x, x]).status == "ok"
        check()
        assert torch.equal(rng, torch.get_rng_state())
        assert all(torch.equal(g, p.grad) for g, p in zip(grads, net.parameters()))


def test_checkpoint_updates_counts_each_layer_and_the_momentum_that_acts():
    """Reentrant checkpointing too; momentum=None is a cumulative average (no momentum acts)."""
    from tests.confirm_cases import _Checkpointed

    model = _Checkpointed(bn_inside=True, reentrant=True)
    model.bn.momentum = 0.3
    (site,) = confirm.checkpoint_updates(model, torch.randn(8, 3, 8, 8)).sites
    assert site.rule == "BN205" and site.value == 2 and site.verdict == "confirmed"
    assert site.details["layers"]["bn"] == {"updates_per_batch": 2.0, "momentum": 0.3, "effective_momentum": 0.51}
    assert "momentum 0.3 acts as 0.51" in site.worst_layer and "twice per batch" in site.meaning
    model.bn.momentum = None
    (site,) = confirm.checkpoint_updates(model, torch.randn(8, 3, 8, 8)).sites
    assert site.verdict == "confirmed" and "cumulative average" in site.worst_layer
    (site,) = confirm.checkpoint_updates(model.eval(), torch.randn(8, 3, 8, 8)).sites
    assert site.value == 0 and site.verdict == "not confirmed" and "none in train mode" in site.note


def test_dead_bias_is_float_rounding_before_bn_and_not_before_groupnorm():
    """Linear -> BatchNorm1d too; GroupNorm subtracts a group's mean, not each channel's."""
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    (site,) = confirm.dead_bias(linear, torch.randn(64, 8) * 2 + 1, batch_size=32).sites
    assert site.verdict == "confirmed" and site.value < 1e-5 and site.worst_layer == "0 (into 1)"
    assert site.details["layers"]["0"]["bn"] == "1" and "bias=False" in site.meaning
    grouped = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8), nn.ReLU(), nn.Flatten(), nn.Linear(288, 3))
    (site,) = confirm.dead_bias(grouped, torch.randn(16, 3, 8, 8)).sites
    assert site.verdict == "not confirmed" and site.value > 1e-3 and "directly" in site.note


def test_reentrant_checkpoint_sequential_in_a_script(tmp_path):
    """checkpoint_sequential calls checkpoint inside torch: the site is the user's line. The
    reentrant forward pass runs under no_grad: that is training, not a BN201 evaluation; the
    recomputation in backward is not recorded as a forward call of the script's."""
    path, status, report = run_confirm(tmp_path, """
        import torch
        from torch import nn
        from torch.utils.checkpoint import checkpoint_sequential
        torch.manual_seed(0)
        features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        head = nn.Linear(8, 4)
        opt = torch.optim.SGD(list(features.parameters()) + list(head.parameters()), lr=0.05)
        for step in range(20):
            x = torch.randn(16, 3, 8, 8).requires_grad_(True)
            h = checkpoint_sequential(features, 2, x, use_reentrant=True)
            loss = nn.functional.cross_entropy(head(h.mean(dim=(2, 3))), torch.randint(0, 4, (16,)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    """)
    assert status == 1 and report["status"] == "ok", report
    checkpoints = [s for s in report["sites"] if s["rule"] == "BN205"]
    assert [s["line"] for s in checkpoints] == [line_of(path, "h = checkpoint_sequential(")]
    (site,) = checkpoints
    # checkpoint_sequential leaves its last segment outside checkpoint(): BN layer 4 runs once.
    assert site["verdict"] == "confirmed" and site["value"] == 2
    (layer,) = site["details"]["layers"]  # named by its class and the line that built it
    assert layer.startswith("BatchNorm2d (") and layer.endswith(f":{line_of(path, 'features = nn.Sequential(')})")
    assert site["details"]["layers"][layer]["updates_per_batch"] == 2 and site["calls"] >= 13
    assert not [s for s in report["sites"] if s["rule"] == "BN201"]


def test_advisory_rows_do_not_decide_a_run():
    """BN401 rows are reported and attached, but a script's verdict and exit status come
    from the other rows; alone (the notebook function), they decide."""
    from bnlint.confirm.sites import measured

    bias = measured("BN401", "dead-bias", ("/p/train.py", 3), 1e-7)
    call = measured("BN203", "frozen", ("/p/train.py", 9), 0.0)
    assert bias.verdict == "confirmed" and call.verdict == "not confirmed"
    run = ConfirmResult(status="ok", sites=[bias, call])
    assert run.verdict == "not confirmed" and run.exit_code == 0
    assert ConfirmResult(status="ok", sites=[bias]).verdict == "confirmed"
