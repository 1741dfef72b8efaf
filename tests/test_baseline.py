"""Baselines: record today's findings, report only new ones, count the ones that are gone."""
from __future__ import annotations

import json

from tests.test_cli import BAD, invoke

SECOND_LOADER = ("\nval_loader = DataLoader(TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,))), batch_size=4)\n"
                 "for x, y in val_loader:\n    model(x).sum().backward()\n")


def _run(tmp_path, *args):
    return invoke(["--select", "BN103", *args], tmp_path)


def _project(tmp_path, **files):
    (tmp_path / ".git").mkdir(exist_ok=True)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")


def test_write_then_use_the_baseline(tmp_path):
    _project(tmp_path, **{"train.py": BAD})
    wrote = _run(tmp_path, "--write-baseline", ".bnlint-baseline.json", ".")
    assert wrote.exit_code == 0, wrote.output
    assert "Wrote 1 finding to the baseline .bnlint-baseline.json." in wrote.output
    data = json.loads((tmp_path / ".bnlint-baseline.json").read_text(encoding="utf-8"))
    (entry,) = data["findings"]
    assert entry["code"] == "BN103" and entry["path"] == "train.py" and len(entry["fingerprint"]) == 32
    res = _run(tmp_path, "--baseline", ".bnlint-baseline.json", ".")
    assert res.exit_code == 0, res.output
    assert "BN103" not in res.output.replace("1 finding hidden", "")
    assert "1 finding hidden by the baseline" in res.output


def test_matching_survives_unrelated_edits_above_and_reindentation(tmp_path):
    _project(tmp_path, **{"train.py": BAD})
    _run(tmp_path, "--write-baseline", "b.json", ".")
    edited = '"""Training script."""\nimport os\n\n\nSEED = 0\n' + BAD.replace(
        "batch_size=8)", "\n        batch_size=8,\n    )").replace(
        "loader = DataLoader", "# the training data, in file order\nloader = DataLoader")
    (tmp_path / "train.py").write_text(edited, encoding="utf-8")
    assert _run(tmp_path, "--baseline", "b.json", ".").exit_code == 0


def test_new_findings_are_reported_and_gone_ones_counted(tmp_path):
    _project(tmp_path, **{"train.py": BAD})
    _run(tmp_path, "--write-baseline", "b.json", ".")
    (tmp_path / "train.py").write_text(BAD + SECOND_LOADER, encoding="utf-8")
    res = invoke(["--select", "BN103", "--format", "json", "--baseline", "b.json", "."], tmp_path,
                 split_stderr=True)
    assert res.exit_code == 1
    (finding,) = json.loads(res.stdout)["findings"]
    assert "val_loader" in (tmp_path / "train.py").read_text().splitlines()[finding["line"] - 1]
    # Fix the baselined one: it is gone, and the message says how to drop it.
    fixed = BAD.replace("batch_size=8)", "batch_size=8, shuffle=True)")
    (tmp_path / "train.py").write_text(fixed, encoding="utf-8")
    res = _run(tmp_path, "--baseline", "b.json", ".")
    assert res.exit_code == 0
    assert "1 baselined finding is gone (fixed or changed); run --write-baseline b.json" in res.output
    rewrite = _run(tmp_path, "--write-baseline", "b.json", ".")
    assert "Wrote 0 findings to the baseline b.json; 1 previously baselined finding is gone." in rewrite.output


def test_identical_statements_are_counted_not_merged(tmp_path):
    line = "loader = DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8)\n"
    _project(tmp_path, **{"train.py": BAD})
    _run(tmp_path, "--write-baseline", "b.json", ".")
    # A second, textually identical unshuffled loader (and loop) is new, even though its statement matches.
    (tmp_path / "train.py").write_text(BAD + line + "for x, y in loader:\n    model(x).sum().backward()\n",
                                       encoding="utf-8")
    res = invoke(["--select", "BN103", "--format", "json", "--baseline", "b.json", "."], tmp_path,
                 split_stderr=True)
    assert len(json.loads(res.stdout)["findings"]) == 1


def test_a_slice_of_the_project_neither_forgets_nor_counts_other_files(tmp_path):
    """pre-commit passes only staged files: other files' entries are kept and not 'gone'."""
    _project(tmp_path, **{"a.py": BAD, "b.py": BAD})
    _run(tmp_path, "--write-baseline", "b.json", ".")
    res = _run(tmp_path, "--baseline", "b.json", "a.py")
    assert res.exit_code == 0 and "gone" not in res.output
    _run(tmp_path, "--write-baseline", "b.json", "a.py")
    paths = [e["path"] for e in json.loads((tmp_path / "b.json").read_text())["findings"]]
    assert sorted(paths) == ["a.py", "b.py"]


def test_unusable_baseline_is_a_usage_error(tmp_path):
    _project(tmp_path, **{"train.py": BAD, "bad.json": "{not json", "other.json": '{"version": 99}'})
    for name in ("bad.json", "other.json", "missing.json"):
        res = _run(tmp_path, "--baseline", name, ".")
        assert res.exit_code == 2 and name in res.output and "Traceback" not in res.output


def _snippets(tmp_path, text):
    """Snippets the real RuleContext records for a finding on every ``for`` statement of ``text``."""
    import libcst as cst

    from bnlint.analysis.context import Analysis
    from bnlint.analysis.module import ModuleInfo
    from bnlint.index import ProjectIndex
    from bnlint.rules.base import Rule, RuleContext
    from bnlint.source import decode

    class EveryLoop(Rule):
        code, name, summary = "BN999", "every-loop", "reports every for statement"

    path = tmp_path / "loops.py"
    path.write_text(text, encoding="utf-8")
    source = decode(text.encode(), "loops.py")
    info = ModuleInfo(source, cst.parse_module(text), str(path), "loops", "")
    ctx = RuleContext(info, Analysis(ProjectIndex(str(tmp_path))), EveryLoop())
    for stmt in info.tree.body:
        if isinstance(stmt, cst.For):
            ctx.report(stmt.iter, "m", "f")
    return [f.snippet for f in ctx.findings]


def test_snippet_is_the_statement_header_without_comments_above(tmp_path):
    base = "for x in loader:\n    step(x)\n"
    edited = "# iterate the data\nfor x in loader:  # one epoch\n    step(x)\n    log(x)\nelse:\n    done()\n"
    assert _snippets(tmp_path, base) == ["for x in loader: pass"]
    assert _snippets(tmp_path, edited) == _snippets(tmp_path, base)  # comments and body do not count


def test_fingerprints_do_not_depend_on_the_message(tmp_path):
    """Messages are reworded between versions (the why moved out of them): baselines key on the
    flagged statement, never on the message, explanation or fix."""
    import dataclasses

    from bnlint.baseline import fingerprints
    from bnlint.findings import Finding

    _project(tmp_path, **{"train.py": BAD})
    finding = Finding("BN103", "unshuffled-train-loader", str(tmp_path / "train.py"), 12, 10, 12, 40,
                      "DataLoader without shuffling ...", "pass `shuffle=True`", snippet="loader = DataLoader(ds)",
                      explanation="why")
    reworded = dataclasses.replace(finding, message="another wording", explanation="other why", fix="other fix")
    assert fingerprints([finding], str(tmp_path)) == fingerprints([reworded], str(tmp_path))
    bare = dataclasses.replace(finding, snippet="")  # built by hand without a snippet: still not the message
    assert fingerprints([bare], str(tmp_path)) == fingerprints([dataclasses.replace(bare, message="x")], str(tmp_path))
