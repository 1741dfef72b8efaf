"""Batch provenance and training-step grouping on real parsed files (no mocks)."""
from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from bnlint.analysis.context import Analysis
from bnlint.analysis.provenance import Alt, Batch
from bnlint.index import ProjectIndex

HEADER = """
import torch
import torch.nn as nn
from torch.autograd import Variable
from torch.utils.data import DataLoader
from torchvision.models import resnet18

model = resnet18()
G = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8))
src_loader = DataLoader([], batch_size=4, shuffle=True)
tgt_loader = DataLoader([], batch_size=4, shuffle=True)
"""


def _analyse(tmp_path, body: str):
    path = tmp_path / "script.py"
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    return analysis, index.module(str(path))


def _probe(tmp_path, body: str):
    """Provenance of the argument of every ``probe(...)`` call, in source order."""
    analysis, module = _analyse(tmp_path, body)
    out = []
    for scope in module.scopes:
        ctx = analysis.resolver.ctx_for(scope)
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Name) and func.value == "probe":
                out.append((module.line(site.call), analysis.steps.prov.of(site.call.args[0].value, ctx)))
    return [struct for _, struct in sorted(out, key=lambda item: item[0])]


def _labels(struct):
    assert isinstance(struct, Batch), struct
    return [p.origin.label if p.origin is not None else None for p in struct.parts]


def test_zip_unpacking_separates_the_sources(tmp_path):
    xs, ys, xt = _probe(tmp_path, """
        for (xs, ys), (xt, _) in zip(src_loader, tgt_loader):
            probe(xs)
            probe(ys)
            probe(xt)
    """)
    assert _labels(xs) == ["`src_loader`"] and _labels(ys) == ["`src_loader`"]
    assert _labels(xt) == ["`tgt_loader`"]
    assert xs.parts[0].key != xt.parts[0].key


def test_device_moves_variable_and_enumerate_keep_the_source(tmp_path):
    a, b, c = _probe(tmp_path, """
        for i, (x, y) in enumerate(src_loader):
            x = x.to("cuda", non_blocking=True)
            probe(x)
            probe(Variable(y).cuda())
            probe(x.float().view(x.size(0), -1))
    """)
    assert _labels(a) == _labels(b) == _labels(c) == ["`src_loader`"]


def test_next_of_an_iterator_and_of_iter_loader_is_the_same_source(tmp_path):
    a, b = _probe(tmp_path, """
        tgt_iter = iter(tgt_loader)
        for step in range(10):
            xt, _ = next(tgt_iter)
            probe(xt)
            probe(next(iter(tgt_loader))[0])
    """)
    assert a.parts[0].key == b.parts[0].key
    assert _labels(a) == ["`tgt_loader`"]


def test_cat_on_the_batch_axis_mixes_and_chunk_or_slicing_splits_again(tmp_path):
    mixed, channels, first, second, head, tail = _probe(tmp_path, """
        for (xs, _), (xt, _) in zip(src_loader, tgt_loader):
            x = torch.cat([xs, xt])
            probe(x)
            probe(torch.cat([xs, xs], dim=1))
            a, b = x.chunk(2)
            probe(a)
            probe(b)
            probe(x[: xs.size(0)])
            probe(x[xs.size(0):])
    """)
    assert _labels(mixed) == ["`src_loader`", "`tgt_loader`"] and not mixed.pure
    assert channels.pure and _labels(channels) == ["`src_loader`"]
    assert _labels(first) == ["`src_loader`"] and _labels(second) == ["`tgt_loader`"]
    assert _labels(head) == ["`src_loader`"] and _labels(tail) == ["`tgt_loader`"]


def test_generator_outputs_are_generated_and_detach_or_no_grad_cut_them(tmp_path):
    fake, cut, quiet, real_ab, fake_ab = _probe(tmp_path, """
        for real, _ in src_loader:
            fake = G(torch.randn(4, 8))
            probe(fake)
            probe(fake.detach())
            with torch.no_grad():
                quiet = G(torch.randn(4, 8))
            probe(quiet)
            probe(torch.cat((real, real), 1))
            probe(torch.cat((real, fake), 1))
    """)
    assert fake.parts[0].generated and not fake.parts[0].detached
    assert cut.parts[0].generated and cut.parts[0].detached
    assert quiet.parts[0].detached
    assert not real_ab.parts[0].generated
    assert fake_ab.pure and fake_ab.parts[0].generated  # channel concat with a fake is a fake batch


def test_loop_over_domains_yields_one_alternative_per_domain(tmp_path):
    (alt,) = _probe(tmp_path, """
        for (xs, ys), (xt, yt) in zip(src_loader, tgt_loader):
            for x, y in ((xs, ys), (xt, yt)):
                probe(x)
    """)
    assert isinstance(alt, Alt)
    assert [_labels(o) for o in alt.options] == [["`src_loader`"], ["`tgt_loader`"]]


def test_two_views_from_one_loader_share_their_source(tmp_path):
    v1, v2 = _probe(tmp_path, """
        for (view1, view2), _ in src_loader:
            probe(view1)
            probe(view2)
    """)
    assert v1.parts[0].key == v2.parts[0].key


def test_unknown_values_stay_unknown(tmp_path):
    (x,) = _probe(tmp_path, """
        import somewhere
        probe(somewhere.load_batch())
    """)
    assert x is None


def test_helper_called_once_per_domain_is_two_uses_of_one_model(tmp_path):
    analysis, module = _analyse(tmp_path, """
        def compute_loss(net, batch):
            images, labels = batch
            return nn.functional.cross_entropy(net(images), labels)

        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for batch_s, batch_t in zip(src_loader, tgt_loader):
            loss = compute_loss(model, batch_s) + compute_loss(model, batch_t)
            loss.backward()
            opt.step()
    """)
    groups = [g for _, forwards, _across in analysis.steps.steps(module) for g in analysis.steps.bn_model_uses(forwards)]
    assert len(groups) == 1 and groups[0].callee == "model"
    uses = groups[0].uses
    assert sorted(u.batch.parts[0].origin.label for u in uses) == ["`src_loader`", "`tgt_loader`"]
    assert all(u.fc.chain for u in uses)


@pytest.mark.parametrize("guard", ["with torch.no_grad():", "with torch.inference_mode():"])
def test_calls_without_gradients_are_not_training_uses(tmp_path, guard):
    analysis, module = _analyse(tmp_path, f"""
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for (xs, ys), (xt, _) in zip(src_loader, tgt_loader):
            {guard}
                pseudo = model(xt)
            loss = nn.functional.cross_entropy(model(xs), ys) + pseudo.sum()
            loss.backward()
            opt.step()
    """)
    groups = [g for _, forwards, _across in analysis.steps.steps(module) for g in analysis.steps.bn_model_uses(forwards)]
    assert [[_labels(u.batch) for u in g.uses] for g in groups] == [[["`src_loader`"]]]


def test_split_by_sizes_gives_parts_and_split_by_an_int_stays_unknown(tmp_path):
    first, second, unknown = _probe(tmp_path, """
        for (xs, _), (xt, _) in zip(src_loader, tgt_loader):
            x = torch.cat([xs, xt])
            probe(x.split([len(xs), len(xt)])[0])
            probe(torch.split(x, [4, 4])[1])
            probe(x.split(4)[0])
    """)
    assert _labels(first) == ["`src_loader`"] and _labels(second) == ["`tgt_loader`"]
    assert unknown is None


def test_restarting_next_helper_draws_from_the_callers_loader(tmp_path):
    # ``except StopIteration: return next(iter(loader))`` restarts the same stream: the batch is the
    # iterator's, labelled by the loader the caller's iterator was made from.
    (xt,) = _probe(tmp_path, """
        def next_batch(it, loader):
            try:
                return next(it)
            except StopIteration:
                return next(iter(loader))

        def train():
            tgt_iter = iter(tgt_loader)
            for xs, ys in src_loader:
                xt = next_batch(tgt_iter, tgt_loader)[0]
                probe(xt)
    """)
    assert _labels(xt) == ["`tgt_loader`"]


def test_keyword_arguments_item_is_the_callers_keyword(tmp_path):
    real, fake = _probe(tmp_path, """
        def d_step(**kwargs):
            probe(kwargs["real"])
            probe(kwargs["fake"])

        def train():
            for xs, _ in src_loader:
                d_step(real=xs, fake=G(torch.randn(4, 8)).detach())
    """)
    assert _labels(real) == ["`src_loader`"]
    assert isinstance(fake, Batch) and fake.parts[0].via_labels == ("`G`",)


def test_rebound_keyword_arguments_are_not_the_callers(tmp_path):
    (x,) = _probe(tmp_path, """
        def d_step(**kwargs):
            kwargs = {"real": torch.randn(4, 8)}
            probe(kwargs["real"])

        def train():
            for xs, _ in src_loader:
                d_step(real=xs)
    """)
    assert x is None or _labels(x) != ["`src_loader`"]
