"""The Python API (compare / compare_loader) and the statistic under it, on tiny
real models and synthetic data."""
from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import bnlint.confirm as confirm  # noqa: E402
from bnlint.confirm.stats import call_z  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def conv_net(norm=nn.BatchNorm2d):
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), norm(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3), norm(8), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 10),
    )


def domains(n=512):
    a = torch.rand(n, 1, 8, 8)
    b = 0.5 + 0.2 * (torch.rand(n, 1, 8, 8) - 0.5)  # low contrast
    return a, b


class DomainSpecificNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.norms = nn.ModuleList([nn.BatchNorm2d(8), nn.BatchNorm2d(8)])
        self.head = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x, domain):
        return self.head(torch.relu(self.norms[domain](self.conv(x))).flatten(1))


# --- the statistic ----------------------------------------------------------------


def test_call_z_is_small_for_a_fair_batch_and_large_for_a_shifted_one():
    population = torch.randn(20000, 4, 3, 3)
    mean, var = population.mean((0, 2, 3)), population.var((0, 2, 3))
    fair = [call_z(population[torch.randperm(20000)[:64]], mean, var) for _ in range(20)]
    assert max(max(z) for z in fair) < 3
    assert sorted(z[0] for z in fair)[10] < 1.5  # median near 0.7
    shifted = call_z(population[:64] + 0.5, mean, var)
    assert shifted[0] > 10
    squeezed = call_z(population[:64] * 0.5, mean, var)
    assert squeezed[1] > 10 and squeezed[0] < 3


def test_call_z_handles_flat_inputs_and_dead_channels():
    x = torch.randn(32, 6)
    x[:, 0] = 1.0  # a dead unit
    z_mean, z_var = call_z(x, torch.zeros(6), torch.ones(6))
    assert z_mean is not None and z_var is not None
    assert call_z(torch.randn(1, 6), torch.zeros(6), torch.ones(6)) == (None, None)


# --- compare() -----------------------------------------------------------------------


def test_compare_confirms_towers_on_two_domains():
    a, b = domains()
    result = confirm.compare(conv_net(), {"A": a, "B": b}, batch_size=64)
    assert result.verdict == "confirmed"
    assert result["A"].verdict == result["B"].verdict == "confirmed"
    assert result["A"].rule == "BN101" and "domain-specific" in result["A"].meaning
    assert result["B"].z >= 4
    assert result["B"].relative_l2 > 0.1
    assert result["B"].calls == 8 and result["B"].steps == 8
    assert result.exit_code == 1
    assert "A [source] confirmed" in result.summary()


def test_compare_does_not_confirm_a_mixed_batch_or_one_domain_twice():
    a, b = domains()
    mixed = torch.cat([a, b])[torch.randperm(1024)]
    assert confirm.compare(conv_net(), {"mixed": mixed}, batch_size=128).verdict == "not confirmed"
    other_a = torch.rand(512, 1, 8, 8)
    result = confirm.compare(conv_net(), {"A": a, "A again": other_a}, batch_size=64)
    assert result.verdict == "not confirmed"
    assert all(site.z < 3 for site in result.sites)


def test_compare_with_domain_specific_bn_through_forward():
    a, b = domains()
    domain = {"A": 0, "B": 1}
    result = confirm.compare(
        DomainSpecificNet(), {"A": a, "B": b}, batch_size=64,
        forward=lambda model, source, x: model(x, domain[source]),
    )
    assert result.verdict == "not confirmed", result.summary()


def test_compare_accepts_lists_of_batches():
    a, b = domains(256)
    result = confirm.compare(conv_net(), {"A": list(a.split(64)), "B": list(b.split(64))})
    assert result["A"].calls == 4
    assert result.verdict == "confirmed"


def test_compare_leaves_the_model_as_it_was():
    model = conv_net()
    model.train()
    a, b = domains(128)
    for _ in range(3):
        model(torch.cat([a[:32], b[:32]]))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    confirm.compare(model, {"A": a, "B": b}, batch_size=32)
    assert not model.training and not any(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


class NotCopyable(nn.Module):
    """Holds a non-leaf tensor, which deepcopy refuses: replay happens in place."""

    def __init__(self):
        super().__init__()
        self.net = conv_net()
        self.cache = torch.ones(1, requires_grad=True) * 2

    def forward(self, x):
        return self.net(x)


def test_compare_in_place_fallback_restores_bn_state():
    model = NotCopyable()
    momentum = model.net[1].momentum
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a, b = domains(128)
    result = confirm.compare(model, {"A": a, "B": b}, batch_size=32)
    assert result.verdict == "confirmed"
    assert model.training and model.net[1].momentum == momentum
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_compare_single_logit_output_has_no_flip_fraction():
    net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 1))
    real, fake = torch.randn(256, 4) + 2, torch.randn(256, 4) * 0.1
    result = confirm.compare(net, {"real": real, "fake": fake}, batch_size=64)
    assert result.verdict == "confirmed"
    assert result["real"].flipped is None and result["real"].relative_l2 is not None
    # A discriminator fed real and fake batches gets the GAN advice, not the towers advice.
    assert result["real"].rule == "BN102" and "real and fake" in result["real"].meaning


def test_model_without_bn_is_not_confirmed():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    result = confirm.compare(net, {"a": torch.randn(64, 4), "b": torch.randn(64, 4) + 5})
    assert result.verdict == "not confirmed"
    assert "no BN layer" in result["a"].note


# --- compare_loader() --------------------------------------------------------------


def class_sorted_dataset():
    labels = torch.arange(10).repeat_interleave(64)
    images = torch.rand(640, 1, 8, 8) * 0.5 + labels.view(-1, 1, 1, 1) / 20
    return TensorDataset(images, labels)


def test_compare_loader_confirms_an_unshuffled_class_sorted_loader():
    result = confirm.compare_loader(conv_net(), DataLoader(class_sorted_dataset(), batch_size=32))
    site = result["loader"]
    assert site.verdict == "confirmed" and site.kind == "loader"
    assert "random batches" in site.reference


def test_compare_loader_clears_a_shuffled_loader():
    loader = DataLoader(class_sorted_dataset(), batch_size=32, shuffle=True)
    assert confirm.compare_loader(conv_net(), loader).verdict == "not confirmed"


def test_compare_loader_refuses_an_iterable_dataset():
    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(torch.randn(64, 1, 8, 8))

    result = confirm.compare_loader(conv_net(), DataLoader(Stream(), batch_size=16))
    assert result.status == "error" and "IterableDataset" in result.message


# --- packaging -----------------------------------------------------------------------


def test_importing_confirm_and_its_cli_does_not_import_torch():
    code = (
        "import sys, bnlint.confirm, bnlint.confirm.cli\n"
        "bnlint.confirm.attach_verdicts([], bnlint.confirm.ConfirmResult('ok'))\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
