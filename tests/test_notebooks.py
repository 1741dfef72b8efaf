"""Jupyter notebooks: code cells linted as one script, findings reported per cell."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from bnlint.notebook import notebook_source
from tests.test_cli import invoke

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))

IMPORTS = ["%matplotlib inline\n", "import torch\n", "import torch.nn as nn\n",
           "from torch.utils.data import DataLoader, TensorDataset\n", "!pip install -q torchvision\n"]
DATA = ["model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))\n",
        "loader = DataLoader(TensorDataset(torch.randn(64, 4), torch.randint(0, 2, (64,))), batch_size=8)\n",
        "files = !ls data/\n"]
TRAIN = ["%%time\n", "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n", "for x, y in loader:\n",
         "    %time out = model(x)\n", "    loss = nn.functional.cross_entropy(model(x), y)\n",
         "    opt.zero_grad()\n", "    loss.backward()\n", "    opt.step()\n"]
SHELL = ["%%bash\n", "for f in *.csv; do wc -l $f; done\n"]
PYTHON_LOOKALIKES = ['msg = ("%d items"\n', '       % 3)\n', 'doc = """\n', '!not a shell escape\n',
                     '%not a magic\n', '"""\n']
PYTHON_LOOKALIKES_STRIPPED = [line.rstrip("\n") for line in PYTHON_LOOKALIKES]


def notebook(*cells, markdown_first=True) -> str:
    body = [{"cell_type": "markdown", "metadata": {}, "source": ["# Training\n"]}] if markdown_first else []
    for source in cells:
        body.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                     "source": source})
    return json.dumps({"cells": body, "metadata": {"language_info": {"name": "python"}},
                       "nbformat": 4, "nbformat_minor": 5}, indent=1)


def _write(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")


def test_text_output_names_cell_and_line(tmp_path):
    _write(tmp_path, "nb.ipynb", notebook(IMPORTS, DATA, TRAIN, SHELL))
    res = invoke(["--select", "BN103", "nb.ipynb"], tmp_path)
    assert res.exit_code == 1, res.output
    first = res.output.splitlines()[0]
    # cell 1 is markdown; the loader is line 2 of cell 3; the loop is line 3 of cell 4
    assert first.startswith("nb.ipynb:cell 3:line 2:10: BN103 [unshuffled-train-loader] ")
    assert first.endswith("(BatchNorm) at cell 4, line 3")


def test_json_and_sarif_carry_notebook_positions(tmp_path):
    _write(tmp_path, "nb.ipynb", notebook(IMPORTS, DATA, TRAIN))
    (finding,) = json.loads(invoke(["--select", "BN103", "--format", "json", "nb.ipynb"], tmp_path).output)["findings"]
    assert (finding["cell"], finding["line"], finding["column"], finding["end_line"]) == (3, 2, 10, 2)
    assert finding["fixable"] is False  # fixes are offsets into the Python view, not the JSON
    sarif = json.loads(invoke(["--select", "BN103", "--format", "sarif", "nb.ipynb"], tmp_path).output)
    jsonschema.validate(sarif, SCHEMA)
    (result,) = sarif["runs"][0]["results"]
    location = result["locations"][0]
    # The region is the line of the .ipynb file holding cell 3's line 2 (what code scanning shows).
    raw = (tmp_path / "nb.ipynb").read_text(encoding="utf-8").split("\n")
    json_line = next(i for i, text in enumerate(raw, 1) if '"loader = DataLoader(' in text)
    assert location["physicalLocation"]["region"]["startLine"] == json_line
    assert location["physicalLocation"]["region"]["properties"] == {"cell": 3, "cellLine": 2, "cellColumn": 10}
    assert result["message"]["text"].startswith("cell 3, line 2: ")
    assert location["logicalLocations"][0]["name"] == "cell 3"


def test_code_frame_shows_the_cell_line(tmp_path):
    _write(tmp_path, "nb.ipynb", notebook(IMPORTS, DATA, TRAIN))
    res = invoke(["--select", "BN103", "--show-source", "nb.ipynb"], tmp_path)
    assert "2 | loader = DataLoader(" in res.output
    assert "         ^^^^" in res.output


def test_magics_are_neutralised_without_shifting_lines():
    cells = [IMPORTS, DATA, TRAIN, SHELL, ["print?\n", "x = 1\n", "%env A=1 \\\n", "  B=2\n", "y = x % 2\n"],
             PYTHON_LOOKALIKES]
    source = notebook_source(notebook(*cells).encode(), "nb.ipynb")
    lines = source.text.splitlines()
    original = [line.rstrip("\n") for cell in cells for line in cell]
    assert len(lines) == len(original)
    compile(source.text, "nb.ipynb", "exec")  # plain Python now
    for new, old in zip(lines, original):
        if old in PYTHON_LOOKALIKES_STRIPPED:
            assert new == old  # `%` and `!` inside brackets and strings are Python
        elif old.lstrip()[:1] in ("%", "!") or old.endswith("?") or "!ls" in old or old.startswith(("for f", "  B=2")):
            assert new != old and new.partition("# ")[2].strip() in old  # neutralised, kept in a comment
        else:
            assert new == old  # everything else untouched: columns stay right
    assert lines[original.index("files = !ls data/")] == "files = None  # !ls data/"
    assert source.locate(len(IMPORTS) + 2) == (3, 2)


def test_malformed_notebooks_are_per_file_errors(tmp_path):
    _write(tmp_path, "broken.ipynb", '{"cells": [')
    _write(tmp_path, "nocells.ipynb", '{"nbformat": 4, "metadata": {}}')
    _write(tmp_path, "badsource.ipynb", '{"cells": [{"cell_type": "code", "source": 42}]}')
    _write(tmp_path, "syntax.ipynb", notebook(["def f(:\n"]))
    _write(tmp_path, "good.ipynb", notebook(IMPORTS, DATA, TRAIN))
    res = invoke(["--select", "BN103", "--format", "json", "."], tmp_path)
    assert res.exit_code == 1 and "Traceback" not in res.output
    data = json.loads(res.output)
    errors = {e["path"]: e for e in data["errors"]}
    assert set(errors) == {"broken.ipynb", "nocells.ipynb", "badsource.ipynb", "syntax.ipynb"}
    assert "not valid JSON" in errors["broken.ipynb"]["message"]
    assert "cells" in errors["nocells.ipynb"]["message"]
    assert errors["syntax.ipynb"]["kind"] == "parse" and "cell 2, line 1" in errors["syntax.ipynb"]["message"]
    assert [f["path"] for f in data["findings"]] == ["good.ipynb"]  # the rest is still linted


def test_clean_and_suppressed_notebooks_are_silent(tmp_path):
    shuffled = [DATA[0], DATA[1].replace("batch_size=8)", "batch_size=8, shuffle=True)")]
    _write(tmp_path, "clean.ipynb", notebook(IMPORTS, shuffled, TRAIN))
    _write(tmp_path, "noqa.ipynb", notebook(IMPORTS, [DATA[0], DATA[1].rstrip("\n") + "  # noqa: BN103\n"], TRAIN))
    _write(tmp_path, "empty.ipynb", notebook(markdown_first=True))
    res = invoke(["--select", "BN103", "."], tmp_path)
    assert res.exit_code == 0, res.output
    assert "3 files checked" in res.output
