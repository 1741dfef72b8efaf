"""``sampler=``/``batch_sampler=`` given a value that is certainly None is no sampler; unknown is one."""
from __future__ import annotations

import textwrap

import libcst as cst

from bnlint.analysis.context import Analysis
from bnlint.analysis.loaders import SHUFFLED, UNKNOWN, UNSHUFFLED, is_dataloader
from bnlint.index import ProjectIndex

HEADER = """
from torch.utils.data import DataLoader, RandomSampler

def make_loader(ds, sampler=None, batch_sampler=None, shuffle=False):
    return DataLoader(ds, batch_size=8, sampler=sampler, batch_sampler=batch_sampler, shuffle=shuffle)
"""


def _states(tmp_path, body: str):
    """Shuffle state and sampler answer of the loader every ``probe(...)`` argument resolves to."""
    path = tmp_path / "script.py"
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    module = index.module(str(path))
    out = []
    for scope in module.scopes:
        ctx = analysis.resolver.ctx_for(scope)
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Name) and func.value == "probe":
                loaders = [v for v in analysis.resolver.resolve(site.call.args[0].value, ctx) if is_dataloader(v)]
                assert len(loaders) == 1, loaders
                loader = loaders[0]
                out.append((module.line(site.call), analysis.loaders.shuffle_state(loader),
                            analysis.loaders.sampler(loader)))
    return [(state, given) for _, state, given in sorted(out, key=lambda item: item[0])]


def test_a_parameter_defaulting_to_none_and_not_passed_is_no_sampler(tmp_path):
    assert _states(tmp_path, """
        def main(ds, opaque):
            probe(make_loader(ds))
            probe(make_loader(ds, sampler=None))
            probe(make_loader(ds, sampler=RandomSampler(ds)))
            probe(make_loader(ds, sampler=opaque))
            probe(make_loader(ds, **opaque))
            probe(DataLoader(ds, batch_size=8, **opaque))
    """) == [(UNSHUFFLED, False), (UNSHUFFLED, False), (SHUFFLED, True), (SHUFFLED, True), (SHUFFLED, True),
             (UNKNOWN, None)]


def test_none_on_one_path_only_is_still_a_sampler(tmp_path):
    assert _states(tmp_path, """
        def main(ds, distributed):
            sampler = None
            if distributed:
                sampler = RandomSampler(ds)
            probe(DataLoader(ds, batch_size=8, sampler=sampler))
            sampler = None
            probe(DataLoader(ds, batch_size=8, sampler=sampler))
    """) == [(SHUFFLED, True), (UNSHUFFLED, False)]
