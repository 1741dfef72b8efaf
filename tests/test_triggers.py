"""Pre-filter patterns: what they must accept (the analysis would look there) and reject."""
from __future__ import annotations

import importlib.util
import io
import pathlib
import tokenize

import pytest

from bnlint.rules import ALL_RULES
from bnlint.rules.triggers import LOOP, any_of, attribute_assignment, call, identifier_part, method_call, words

from .helpers import found, lint

EVAL = any_of(method_call("eval", "train"))


@pytest.mark.parametrize("text", [
    "model.eval()",
    "model . eval ( )",
    "(model\n    .eval\n    ())",
    "model.train(False)",
    "model.\\\neval()",
    "(model.  # switch for validation\n eval)()",
])
def test_method_call_accepts_every_spelling_of_the_call(text):
    assert EVAL.search(text)


@pytest.mark.parametrize("text", ["evaluate(model)", "model.evaluate()", "train_loader = 1", "def eval(self):",
                                  "x.eval", "self.training"])
def test_method_call_rejects_what_is_not_that_call(text):
    assert not EVAL.search(text)


def test_comments_full_of_hashes_do_not_make_the_pattern_backtrack_without_end():
    # Each alternative of the gap starts with a different character and a comment must end at
    # its newline: a failing match over a long run of '#' stays linear (it would hang otherwise).
    text = "x.eval " + "#" * 5000 + "\n" + " y" * 5000
    assert not any_of(method_call("eval")).search(text)


def test_call_word_and_assignment_helpers():
    backward = any_of(call("backward", "manual_backward"))
    assert backward.search("loss.backward()") and backward.search("self.manual_backward (loss)")
    assert backward.search("torch.autograd.backward(loss)")
    assert not backward.search("def backward(ctx, grad):") and not backward.search("loss.backward")
    ckpt = any_of(words("checkpoint"))
    assert ckpt.search("from torch.utils.checkpoint import checkpoint")
    assert not ckpt.search("save_checkpoint(model)")
    frozen = any_of(attribute_assignment("requires_grad"))
    assert frozen.search("p.requires_grad = False") and frozen.search("p.requires_grad=flag")
    assert not frozen.search("if p.requires_grad == False:")


def test_call_and_words_match_at_the_start_of_the_text_and_not_inside_identifiers():
    # The boundary checks sit after the name (for speed): the edges must still behave like \\b.
    backward = any_of(call("backward"))
    assert backward.search("backward(loss)") and backward.search("(backward)(x)")
    assert not backward.search("xbackward(loss)") and not backward.search("async def backward(x):")
    assert any_of(words("bn")).search("bn") and not any_of(words("bn")).search("bn1 = abn")


@pytest.mark.parametrize("text, expected", [
    ("model.eval()", True), ("acc = evaluate(model)", True), ("train_loader", True),
    ("self.is_training", True), ("Trainer(model)", True), ("EvalHook", True), ("x2train", True),
    ("constraints = []", False), ("retrieval", False), ("pretrained=True", False), ("Strain", False),
])
def test_identifier_part_matches_names_that_start_with_the_word(text, expected):
    assert bool(any_of(identifier_part("eval", "train")).search(text)) is expected


def test_loop_pattern_finds_loop_statements_only():
    loop = any_of(LOOP)
    assert loop.search("def f():\n    for x in y:\n        pass\n")
    assert loop.search("async def f():\n\tasync for x in y: pass\n")
    assert loop.search("while True:\n    break\n")
    assert not loop.search("xs = [x for x in y]\nformat = 1\n")


def test_every_rule_declares_triggers():
    # A rule without triggers would run on every file and silently cost the whole pre-filter.
    assert all(rule.triggers for rule in ALL_RULES)


def test_scope_drawn_by_triggers_holds_with_the_prefilter_off(tmp_path, monkeypatch):
    """BN401 only reports a BN layer named in the linted file; that is its scope, not just a speed-up,
    so turning the pre-filter off must not widen it (and the same file with a BN-ish name fires)."""
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    model = "import torch.nn as nn\nfrom layers import {name}\n\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), {name}(8))\n"
    hidden, named = tmp_path / "hidden.py", tmp_path / "named.py"
    hidden.write_text(model.format(name="Layer2"), encoding="utf-8")
    named.write_text(model.format(name="Norm2"), encoding="utf-8")
    (tmp_path / "layers.py").write_text("from torch.nn import BatchNorm2d as Layer2, BatchNorm2d as Norm2\n",
                                        encoding="utf-8")
    monkeypatch.setenv("BNLINT_NO_PREFILTER", "1")
    assert {p.rsplit("/", 1)[-1] for p, _, _ in found(lint([hidden, named], select=["BN401"]))} == {"named.py"}


def test_call_of_finds_exactly_what_the_call_pattern_finds():
    # ``call_of`` scans for the name instead of compiling a regex per name: same answers, including
    # on random texts made of the characters that matter around a call.
    import random
    import re

    from bnlint.patterns import call, call_of

    fixed = ["f(x)", "f (x)", "x.f(", "deff(x)", "def f(x)", "g_f(x)", "f_g(x)", "f", "f\n(", "(f)(x)",
             "f )(", "obj.f\\\n(", "f # c\n(", "async def f(x): f(1)", "def  f(x)", "éf(x)", "fé(x)",
             "x=f\n", "f.g(1)", "def f(x): return f(x - 1)"]
    rng = random.Random(7)
    alphabet = ["f", "f", "g", "d", "e", "def ", "(", ")", " ", "\n", "#", "\\", "_", ".", "é", "1"]
    fuzzed = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    regex = re.compile(call("f"))
    for text in fixed + fuzzed:
        assert bool(call_of("f").search(text)) == bool(regex.search(text)), repr(text)


def _code_tokens(text):
    """The names, operators and numbers of ``text``, with each string literal's prefix letters
    (``rb``, ``f``) as a name: what ``code_only`` must leave in place. An f-string's inside, which
    Python 3.12 tokenizes, counts as string."""
    starts = {getattr(tokenize, n) for n in ("FSTRING_START", "TSTRING_START") if hasattr(tokenize, n)}
    ends = {getattr(tokenize, n) for n in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, n)}
    out, depth = [], 0
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in starts or (tok.type == tokenize.STRING and depth == 0):
            prefix = tok.string[:len(tok.string) - len(tok.string.lstrip("rRbBuUfFtT"))]
            out.extend([prefix] if prefix else [])
            depth += tok.type in starts
        elif tok.type in ends:
            depth -= 1
        elif depth == 0 and tok.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER):
            out.append(tok.string)
    return out


def _python_files():
    here = pathlib.Path(__file__).resolve().parent
    roots = [here.parent / "bnlint", here / "fixtures"]
    spec = importlib.util.find_spec("torch")  # optional: its sources are docstring-heavy real code
    if spec is not None and spec.origin:
        roots.append(pathlib.Path(spec.origin).parent / "nn")
    return [p for root in roots for p in sorted(root.rglob("*.py"))]


def test_code_only_keeps_every_token_of_code_and_drops_comments_and_strings():
    from bnlint.patterns import code_only

    checked = 0
    for path in _python_files():
        text = path.read_text(encoding="utf-8")
        try:
            expected = _code_tokens(text)
        except (SyntaxError, tokenize.TokenError):  # a fixture that is not Python on purpose
            continue
        stripped = code_only(text)
        assert _code_tokens(stripped) == expected, path
        assert "#" not in stripped and '"' not in stripped and "'" not in stripped, path
        checked += 1
    assert checked >= 300


@pytest.mark.parametrize("text, tokens", [
    ('x = """a\n# b\n"""\nfor y in z: pass\n', ["x", "=", "for", "y", "in", "z", ":", "pass"]),
    ("s = 'it\\'s' # c 'q'\nt = rb'\\\\' + f\"{a!r}\"\n", ["s", "=", "t", "=", "rb", "+", "f"]),
    ("if'a'in b:pass\n", ["if", "in", "b", ":", "pass"]),
])
def test_code_only_on_tricky_literals(text, tokens):
    from bnlint.patterns import code_only

    assert _code_tokens(code_only(text)) == tokens


def test_a_docstring_or_comment_alone_does_not_pass_the_prefilter():
    from bnlint.source import Source

    rule = next(r for r in ALL_RULES if r.code == "BN403")()
    prose = Source("m.py", '"""Usage: model.eval()"""\n# model.train()\nx = 1\n')
    code = Source("m.py", 'def f(model):\n    model.eval()  # "switch"\n')
    assert not rule.wants(prose) and rule.wants(code)


@pytest.mark.parametrize("code, wanted", [
    ("bn = nn.BatchNorm2d(64, 0.8)\n", True),
    ("y = F.batch_norm(x, m, v, eps=0.1)\n", True),
    ("norm = partial(norm_layer, eps=0.5)\n", True),
    ("bn = norm_layer(64, eps=0.5, momentum=0.1)\n", True),
    ("opt = torch.optim.Adam(params, eps=1e-8)\n", False),  # eps, but nothing here can build BN
    ("y = F.layer_norm(x, shape, eps=1e-5)  # unlike BatchNorm\n", False),
])
def test_bn406_wants_a_file_only_where_an_eps_can_reach_a_batchnorm(code, wanted):
    from bnlint.source import Source

    rule = next(r for r in ALL_RULES if r.code == "BN406")()
    assert rule.wants(Source("m.py", code)) is wanted
