"""Flow-sensitive name resolution: reaching definitions per scope, and the resolver reading them."""
from __future__ import annotations

import sys
import textwrap

import libcst as cst
import pytest

from bnlint.analysis.context import Analysis
from bnlint.analysis.module import ModuleInfo
from bnlint.analysis.reaching import MAX_STEPS, flow_of, global_reaching, reaching
from bnlint.analysis.values import Const, Ref
from bnlint.index import ProjectIndex
from bnlint.source import Source


def _module(code: str) -> ModuleInfo:
    code = textwrap.dedent(code)
    return ModuleInfo(Source("m.py", code), cst.parse_module(code), "m.py", "m", "")


def _probes(code: str):
    """For each ``probe(name)`` in source order: the lines of the bindings that reach it ("param" for a
    parameter), or None where the layer has no answer (callers then use every binding)."""
    module = _module(code)
    out = []
    for scope in module.scopes:
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Name) and func.value == "probe":
                arg = site.call.args[0].value
                found = reaching(scope, arg.value, arg)
                lines = None if found is None else [
                    "param" if b.kind == "param" else module.line(b.stmt) for b in found]
                out.append((module.line(site.call), lines))
    return [lines for _, lines in sorted(out, key=lambda item: item[0])]


def test_straight_line_rebinding_replaces_the_earlier_binding():
    assert _probes("""
        def f(xs, xt):
            x = xs          # 3
            probe(x)
            x = xt          # 5
            probe(x)
            x, y = xt, xs   # 7
            probe(x)
    """) == [[3], [5], [7]]


def test_branches_join_and_a_missing_else_keeps_the_binding_before():
    assert _probes("""
        def f(a, b):
            x = a           # 3
            if b:
                x = 1       # 5
            probe(x)
            if a:
                y = 1       # 8
            elif b:
                y = 2       # 10
            else:
                return
            probe(y)
    """) == [[3, 5], [8, 10]]


def test_a_branch_that_ends_the_program_reaches_nothing():
    # The fine-tuning tutorial's factory: ``model_ft = None``, one branch per architecture, and
    # ``exit()`` for an unknown name: the None never reaches the return.
    assert _probes("""
        import sys
        def f(name):
            m = None        # 4
            if name == "a":
                m = 1       # 6
            elif name == "b":
                m = 2       # 8
            else:
                print("unknown")
                exit()
            probe(m)
            if name:
                m = 3       # 14
            else:
                sys.exit(1)
            probe(m)
            if name:
                m = 4       # 19
            else:
                sys.stdout.write("")
            probe(m)
    """) == [[6, 8], [14], [14, 19]]


def test_loop_back_edge_reaches_earlier_uses_in_the_body_only():
    assert _probes("""
        def f(src, tgt):
            x = 0                    # 3
            for step in range(10):
                probe(x)             # before the rebinding: the entry, or the previous iteration
                x = step             # 6
                probe(x)
            probe(x)
    """) == [[3, 6], [6], [3, 6]]


def test_for_target_rebinds_at_the_head_and_kills_body_bindings():
    assert _probes("""
        def f(loader):
            for xs, ys in loader:    # 3
                probe(xs)
                xs = xs.cuda()       # 5
                probe(xs)
    """) == [[3], [5]]


def test_a_later_loop_does_not_reach_an_earlier_one():
    assert _probes("""
        def f(loader, grids):
            for images, labels in loader:       # 3
                probe(images)
            for tag, images in grids.items():   # 5
                probe(images)
            probe(images)
    """) == [[3], [5], [3, 5]]


def test_break_skips_else_and_while_true_leaves_only_by_break():
    assert _probes("""
        def f(items):
            x = 0                # 3
            for i in items:
                if i:
                    x = 1        # 6
                    break
                x = 2            # 8
            else:
                probe(x)
            probe(x)
            while True:
                x = 3            # 13
                if x:
                    break
                x = 4            # 16
            probe(x)
    """) == [[3, 8], [3, 6, 8], [13]]


def test_continue_reaches_the_loop_head():
    assert _probes("""
        def f(items):
            x = 0            # 3
            for i in items:
                probe(x)
                if i:
                    x = 1    # 7
                    continue
                x = 2        # 9
    """) == [[3, 7, 9]]


def test_try_handlers_see_every_binding_of_the_body_and_the_join_follows():
    assert _probes("""
        def f(it, fallback):
            x = 0                    # 3
            try:
                x = next(it)         # 5
                x = x.cuda()         # 6
            except StopIteration:
                probe(x)
                x = fallback         # 9
            finally:
                probe(x)
            probe(x)
    """) == [[3, 5, 6], [3, 5, 6, 9], [6, 9]]


def test_comprehension_targets_stay_inside_and_a_walrus_leaks_as_maybe():
    assert _probes("""
        def f(xs):
            x = 1                                   # 3
            ys = [probe(x) for x in xs]             # 4
            probe(x)
            zs = [y := x for x in xs]               # 6
            probe(y)
    """) == [[4], [3], [6]]


def test_augmented_assignment_adds_to_the_bindings_before():
    assert _probes("""
        def f(a):
            x = [a]      # 3
            x += [a]     # 4
            probe(x)
    """) == [[3, 4]]


def test_parameters_reach_until_rebound():
    assert _probes("""
        def f(x, y=None):
            probe(x)
            if y is None:
                y = x    # 5
            probe(y)
    """) == [["param"], ["param", 5]]


def test_no_answer_for_closures_lambdas_globals_and_unrecorded_targets():
    assert _probes("""
        def f(a):
            x = a                     # 3
            def inner():
                probe(x)              # read later, at call time
            g = lambda: probe(x)
            first, *rest = a          # `rest` is not recorded by the module walk
            probe(rest)
            try:
                pass
            except ValueError as x:   # neither is an `except ... as` name
                pass
            probe(x)

        def g():
            global counter
            counter = 1
            probe(counter)

        def h():
            global counter    # a second function rebinds it too: a call may change it at any time
            counter = 2
    """) == [None, None, None, None, None]


def test_a_global_only_one_function_rebinds_flows_from_the_module_value_on_entry(tmp_path):
    code = """
        checkpoint = None
        fine_tune = False

        def main():
            global checkpoint
            probe(checkpoint)          # the module's value: only main rebinds it
            if checkpoint is None:
                encoder = 1
            else:
                checkpoint = load(checkpoint)
                encoder = 2
            probe(checkpoint)          # the module's value or main's own
            checkpoint = 3
            probe(checkpoint)          # main's own only
            probe(encoder)             # the else branch is known not to run
    """
    module = _module(code)
    main = module.functions["main"]
    got = []
    for site in main.calls:
        func = site.call.func
        if isinstance(func, cst.Name) and func.value == "probe":
            arg = site.call.args[0].value
            found = global_reaching(main, arg.value, arg)
            got.append(None if found is None else ([module.line(b.stmt) for b in found[0]], found[1]))
    assert got == [([], True), ([11], True), ([14], False), None]  # `encoder` is not a global

    entry, joined, own, encoder = _resolve_probes(tmp_path, code)
    assert [v.value for v in entry] == [None]
    assert len(joined) == 2 and [v.value for v in joined if isinstance(v, Const)] == [None]
    assert [v.value for v in own] == [3]
    assert [v.value for v in encoder] == [1]


def test_with_and_class_bodies_and_imports():
    assert _probes("""
        import torch            # 2
        x = torch               # 3
        with open("f") as x:    # 4
            probe(x)
        class C:
            x = 5               # the class's own name: no answer for the scope's
            probe(x)
        probe(x)
        import torch.nn         # 10
        probe(torch)
    """) == [[4], None, [4], [10]]


@pytest.mark.skipif(sys.version_info < (3, 10), reason="match statements need Python 3.10 to mean anything")
def test_match_cases_join_and_captures_have_no_answer():
    assert _probes("""
        def f(cmd, a):
            x = 0                    # 3
            match cmd:
                case "s":
                    x = 1            # 6
                case [first, *_]:
                    x = first        # 8
                case _:
                    pass
            probe(x)
            match cmd:
                case {"x": x}:
                    pass
            probe(x)
    """) == [[3, 6, 8], None]


def test_huge_scopes_give_up_into_no_answer(monkeypatch):
    import bnlint.analysis.reaching as reaching_module

    monkeypatch.setattr(reaching_module, "MAX_STEPS", 20)
    module = _module("def f(a):\n" + "".join(f"    x = a + {i}\n" for i in range(30)) + "    probe(x)\n")
    scope = module.scopes[1]
    flow = flow_of(scope)
    assert not flow.complete
    use = [s for s in scope.calls if s.call.func.value == "probe"][0].call.args[0].value
    assert reaching(scope, "x", use) is None
    assert MAX_STEPS > 20


def test_nested_loops_stay_cheap():
    lines = ["def f(a):", "    x = 0"]
    for d in range(24):
        ind = "    " * (d + 1)
        lines += [ind + f"for i{d} in a:", ind + "    x = x + 1"]
    lines.append("    " * 25 + "probe(x)")
    module = _module("\n".join(lines) + "\n")
    flow = flow_of(module.scopes[1])
    assert flow.complete


# -- the resolver ---------------------------------------------------------------------------


def _resolve_probes(tmp_path, body: str):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    index = ProjectIndex(str(tmp_path))
    analysis = Analysis(index)
    module = index.module(str(path))
    out = []
    for scope in module.scopes:
        ctx = analysis.resolver.ctx_for(scope)
        for site in scope.calls:
            func = site.call.func
            if isinstance(func, cst.Name) and func.value == "probe":
                out.append((module.line(site.call), analysis.resolver.resolve(site.call.args[0].value, ctx)))
    return [values for _, values in sorted(out, key=lambda item: item[0])]


def test_the_resolver_reads_only_the_bindings_that_reach(tmp_path):
    first, second, anywhere = _resolve_probes(tmp_path, """
        def f():
            n = 1
            probe(n)
            n = 2
            probe(n)

        def g():
            probe(n)  # a free name: every module-level binding (none here)
    """)
    assert [v.value for v in first] == [1]
    assert [v.value for v in second] == [2]
    assert len(anywhere) == 1 and not isinstance(anywhere[0], Const)


def test_repeated_imports_of_one_package_resolve_to_one_reference(tmp_path):
    at_module, in_function, attr = _resolve_probes(tmp_path, """
        import torch
        import torch.optim
        import torch.nn.functional
        probe(torch)

        def f():
            probe(torch)
            probe(torch.randn)
    """)
    for values in (at_module, in_function, attr):
        assert len(values) == 1 and isinstance(values[0], Ref), values
    assert attr[0].qualname == "torch.randn"


def test_heavy_rebinding_stays_cheap_and_keeps_the_finding(tmp_path):
    """Sixty rebindings of `x` after the loop, each reading the one before: flow-insensitively every
    read of `x` meant all sixty-two values, each read again through its own right-hand side."""
    import bnlint.index as index_module
    from tests.helpers import found, lint

    lines = [
        "import torch",
        "from torch.utils.data import DataLoader",
        "from torchvision.models import resnet18",
        "",
        "def train(src, tgt, writer):",
        "    model = resnet18()",
        "    opt = torch.optim.SGD(model.parameters(), lr=0.1)",
        "    src_loader = DataLoader(src, batch_size=8, shuffle=True)",
        "    tgt_loader = DataLoader(tgt, batch_size=8, shuffle=True)",
        "    for (xs, ys), (xt, yt) in zip(src_loader, tgt_loader):",
        "        x = xs.cuda()",
        "        out_s = model(x)",
        "        x = xt.cuda()",
        "        out_t = model(x)",
        "        loss = out_s.mean() + out_t.mean()",
        "        opt.zero_grad()",
        "        loss.backward()",
        "        opt.step()",
    ]
    for i in range(60):
        lines.append(f"    x = x[{i % 4}:] if x.dim() > {i % 3} else x.flip({i % 2})")
        lines.append(f"    writer.add_images('x{i}', x, {i})")
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    path = tmp_path / "train.py"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spent = []
    refuel = index_module.ProjectIndex.refuel

    def counting_refuel(self):
        if hasattr(self, "fuel"):
            spent.append(index_module.MAX_RESOLVES_PER_RULE - self.fuel)
        refuel(self)

    index_module.ProjectIndex.refuel = counting_refuel
    try:
        result = lint([path], select=["BN101"])
    finally:
        index_module.ProjectIndex.refuel = refuel
    assert not result.errors, result.errors
    assert found(result) == {(str(path.resolve()), 12, "BN101")}
    assert max(spent) < 20_000, spent


def test_an_in_place_copy_or_random_fill_rebinds_the_buffer():
    # Old GAN scripts fill preallocated tensors: D then sees the loader's batch, G the noise.
    code = """
        def step(loader, netD, buf, noise):
            for real in loader:
                buf.resize_as_(real).copy_(real)
                probe(buf)
                noise.resize_(8, 100).normal_(0, 1)
                probe(noise)
                buf.add_(1)
                probe(buf)
    """
    assert _probes(code) == [[4], [6], [4]]
    module = _module(code)
    fills = [b for b in module.scopes[1].bindings["buf"] if b.kind == "fill"]
    assert [module.code(b.expr) for b in fills] == ["real"]
