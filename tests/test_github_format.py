"""``--format github``: workflow commands that the Actions runner turns into annotations.

``parse_command`` mirrors the runner's parser (actions/runner ActionCommand.TryParseV2):
the text after ``::name `` up to the next ``::`` is split on ``,`` into ``key=value``
properties, then both parts are unescaped. A round trip through it shows that
paths and messages with ``%``, ``:``, ``,`` and newlines survive.
"""
from __future__ import annotations

from bnlint.reporters.github import command, escape_data, escape_property
from tests.test_cli import BAD, BAD_LINE, invoke


def _unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_property(text: str) -> str:
    return (text.replace("%0D", "\r").replace("%0A", "\n").replace("%3A", ":").replace("%2C", ",")
            .replace("%25", "%"))


def parse_command(line: str):
    assert line.startswith("::")
    head, sep, data = line[2:].partition("::")
    assert sep, line
    name, _, props = head.partition(" ")
    properties = {}
    for pair in filter(None, props.split(",")):
        key, eq, value = pair.partition("=")
        assert eq, pair
        properties[key] = _unescape_property(value)
    return name, properties, _unescape_data(data)


def test_escaping_follows_the_actions_toolkit():
    assert escape_data("100% done\r\nnext: a,b") == "100%25 done%0D%0Anext: a,b"
    assert escape_property("C:\\x,y%\n") == "C%3A\\x%2Cy%25%0A"
    assert command("error", [("file", "a.py"), ("line", 3)], "m") == "::error file=a.py,line=3::m"


def test_findings_become_error_annotations(tmp_path):
    (tmp_path / "train.py").write_text(BAD, encoding="utf-8")
    res = invoke(["--select", "BN103", "--format", "github", "train.py"], tmp_path)
    assert res.exit_code == 1
    (line,) = res.output.splitlines()
    assert line.startswith(f"::error file=train.py,line={BAD_LINE},endLine={BAD_LINE},col=10,endColumn=")
    assert ",title=BN103 [unshuffled-train-loader]::DataLoader without shuffling" in line
    name, props, message = parse_command(line)
    assert name == "error" and props["file"] == "train.py" and props["line"] == str(BAD_LINE)
    # The short line plus the rule's page; the why and the fix are there, not in the annotation.
    short, url = message.split("\n")
    assert short.startswith("DataLoader without shuffling") and len(short) <= 120
    assert url.endswith("/rules/BN103.md")


def test_awkward_paths_and_errors_round_trip(tmp_path):
    name = "odd, name: 100%.py"
    (tmp_path / name).write_text(BAD, encoding="utf-8")
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    res = invoke(["--select", "BN103", "--format", "github", name, "broken.py"], tmp_path)
    lines = res.output.splitlines()
    assert len(lines) == 2 and all(line.startswith("::error ") for line in lines)
    parsed = [parse_command(line) for line in lines]
    assert parsed[0][1]["file"] == name and parsed[0][1]["title"] == "BN103 [unshuffled-train-loader]"
    assert parsed[1][1]["file"] == "broken.py" and "syntax error" in parsed[1][2]
    assert parsed[1][1]["title"] == "bnlint: parse error"


def test_clean_run_prints_nothing(tmp_path):
    (tmp_path / "ok.py").write_text("x = 1\n", encoding="utf-8")
    res = invoke(["--format", "github", "ok.py"], tmp_path)
    assert res.exit_code == 0 and res.output == ""
