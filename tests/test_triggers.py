"""Pre-filter patterns: what they must accept (the analysis would look there) and reject."""
from __future__ import annotations

import pytest

from bnlint.rules import ALL_RULES
from bnlint.rules.triggers import LOOP, any_of, attribute_assignment, call, method_call, words

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


def test_loop_pattern_finds_loop_statements_only():
    loop = any_of(LOOP)
    assert loop.search("def f():\n    for x in y:\n        pass\n")
    assert loop.search("async def f():\n\tasync for x in y: pass\n")
    assert loop.search("while True:\n    break\n")
    assert not loop.search("xs = [x for x in y]\nformat = 1\n")


def test_every_rule_declares_triggers():
    # A rule without triggers would run on every file and silently cost the whole pre-filter.
    assert all(rule.triggers for rule in ALL_RULES)
