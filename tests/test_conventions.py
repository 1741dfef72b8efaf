"""Conventions a ruff / pre-commit / GitHub user expects, through the real command (a subprocess)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_cli import BAD, BAD_LINE
from tests.test_notebooks import DATA, IMPORTS, TRAIN, notebook
from tests.test_precommit import MODELS, TRAIN_WITH_IMPORTED_MODEL as TRAIN_IMPORTING

REPO = Path(__file__).resolve().parent.parent
PY2 = 'print "hello"\n'


def bnlint(args, cwd, stdin=None, **env):
    full_env = dict(os.environ, PYTHONPATH=str(REPO), NO_COLOR="1")
    full_env.update(env)
    for name in ("FORCE_COLOR", "PRE_COMMIT"):
        if name not in env:
            full_env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "bnlint", *args], cwd=cwd, capture_output=True, text=True,
                          env=full_env, timeout=300, input=stdin)


def write(root: Path, files: dict) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def r_notebook(metadata) -> str:
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": ["library(ggplot2)\n", "x <- c(1, 2, 3)\n"]}
    return json.dumps({"cells": [cell], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}, indent=1)


# -- 1. --exit-zero ----------------------------------------------------------------------------

def test_exit_zero_also_covers_files_that_cannot_be_parsed(tmp_path):
    write(tmp_path, {"train.py": BAD, "legacy.py": PY2})
    plain = bnlint(["."], tmp_path)
    assert plain.returncode == 1 and "legacy.py: error:" in plain.stdout
    for fmt in ("text", "sarif", "json"):
        proc = bnlint([".", "--format", fmt, "--exit-zero"], tmp_path)
        assert proc.returncode == 0, (fmt, proc.stdout, proc.stderr)
    report = json.loads(bnlint([".", "--format", "json", "--exit-zero"], tmp_path).stdout)
    assert [e["path"] for e in report["errors"]] == ["legacy.py"] and report["findings"]  # still reported
    # usage and configuration errors keep exit 2
    assert bnlint([".", "--exit-zero", "--select", "NOPE"], tmp_path).returncode == 2
    write(tmp_path, {"pyproject.toml": "[tool.bnlint]\nunknown-key = 1\n"})
    assert bnlint([".", "--exit-zero"], tmp_path).returncode == 2


# -- 2. notebooks of other languages ---------------------------------------------------------------

def test_notebooks_of_other_languages_are_skipped_silently(tmp_path):
    write(tmp_path, {
        "r.ipynb": r_notebook({"kernelspec": {"name": "ir", "display_name": "R", "language": "R"},
                               "language_info": {"name": "R", "version": "4.3.1"}}),
        "julia.ipynb": r_notebook({"kernelspec": {"name": "julia-1.9", "language": "julia"}}),
        "r_info_only.ipynb": r_notebook({"language_info": {"name": "R"}}),
    })
    proc = bnlint(["."], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "error" not in proc.stdout + proc.stderr
    explicit = bnlint(["r.ipynb", "julia.ipynb"], tmp_path)  # as pre-commit passes them
    assert explicit.returncode == 0, explicit.stdout
    # a malformed one is still an error
    write(tmp_path, {"broken.ipynb": r_notebook({"language_info": ["R"]})})
    broken = bnlint(["broken.ipynb"], tmp_path)
    assert broken.returncode == 1 and "broken.ipynb: error: notebook language unknown" in broken.stdout


# -- 7. --statistics ---------------------------------------------------------------------------------

def test_statistics_prints_only_the_table_and_json_gets_the_counts(tmp_path):
    write(tmp_path, {"a.py": BAD, "b.py": BAD})
    proc = bnlint(["--statistics", "."], tmp_path)
    assert proc.returncode == 1
    lines = [line.split() for line in proc.stdout.splitlines() if line.strip()]
    assert ["2", "BN103", "unshuffled-train-loader"] in [row[:3] for row in lines]
    assert f"a.py:{BAD_LINE}:" not in proc.stdout and "Found" not in proc.stdout, proc.stdout
    data = json.loads(bnlint(["--statistics", "--format", "json", "."], tmp_path).stdout)
    assert data["statistics"] == [{"code": "BN103", "name": "unshuffled-train-loader", "count": 2,
                                   "fixable": 2}]
    assert len(data["findings"]) == 2
    assert "statistics" not in json.loads(bnlint(["--format", "json", "."], tmp_path).stdout)


# -- 8. nothing to lint --------------------------------------------------------------------------------

def test_a_tree_without_python_files_warns(tmp_path):
    write(tmp_path, {"notes.txt": "no code\n", "docs/index.md": "# docs\n"})
    proc = bnlint(["."], tmp_path)
    assert proc.returncode == 0
    assert "warning: no Python files found" in proc.stderr
    write(tmp_path, {"ok.py": "print('hi')\n"})
    assert "no Python files found" not in bnlint(["."], tmp_path).stderr


# -- 9. # noqa codes ---------------------------------------------------------------------------------

def test_noqa_with_an_unknown_code_warns_and_a_prefix_suppresses(tmp_path):
    line = "batch_size=8)"
    write(tmp_path, {"typo.py": BAD.replace(line, line + "  # noqa: BN10l"),
                     "prefix.py": BAD.replace(line, line + "  # noqa: BN1"),
                     "other.py": BAD.replace(line, line + "  # noqa: E501, BN999")})
    proc = bnlint(["."], tmp_path)
    assert proc.returncode == 1
    assert f"typo.py:{BAD_LINE}:10: BN103" in proc.stdout  # the typo suppresses nothing
    assert "prefix.py" not in proc.stdout  # BN1 covers BN103
    assert f"other.py:{BAD_LINE}:10: BN103" in proc.stdout
    assert (f"warning: typo.py: invalid `# noqa` directive at line {BAD_LINE}: `BN10l` is not a bnlint "
            "rule code") in proc.stderr, proc.stderr
    assert f"warning: other.py: invalid `# noqa` directive at line {BAD_LINE}: `BN999`" in proc.stderr
    assert "prefix.py" not in proc.stderr


# -- 10. baseline and trailing comments ----------------------------------------------------------------

def test_baseline_matches_a_finding_whose_trailing_comment_changed(tmp_path):
    line = "batch_size=8)"
    write(tmp_path, {"train.py": BAD.replace(line, line + "  # TODO shuffle")})
    assert bnlint([".", "--write-baseline", "base.json"], tmp_path).returncode == 0
    write(tmp_path, {"train.py": BAD.replace(line, line + "  # see issue 12")})
    proc = bnlint([".", "--baseline", "base.json"], tmp_path)
    assert proc.returncode == 0, proc.stdout
    write(tmp_path, {"train.py": BAD})
    assert bnlint([".", "--baseline", "base.json"], tmp_path).returncode == 0
    write(tmp_path, {"train.py": BAD.replace(line, "batch_size=16)")})  # the statement changed: new
    assert bnlint([".", "--baseline", "base.json"], tmp_path).returncode == 1


# -- 3. notebook findings point at the line of the .ipynb file -------------------------------------------

def _json_line(path: Path, needle: str) -> int:
    return next(i for i, text in enumerate(path.read_text(encoding="utf-8").split("\n"), 1) if needle in text)


def test_notebook_findings_in_sarif_gitlab_junit_github_point_at_the_ipynb_line(tmp_path):
    import xml.etree.ElementTree as ET

    import jsonschema

    from tests.test_notebooks import SCHEMA

    write(tmp_path, {"nb.ipynb": notebook(IMPORTS, DATA, TRAIN), ".git/HEAD": "ref: refs/heads/main\n"})
    line = _json_line(tmp_path / "nb.ipynb", '"loader = DataLoader(')
    assert line > 20  # far from the in-cell line 2
    sarif = json.loads(bnlint(["--select", "BN103", "--format", "sarif", "nb.ipynb"], tmp_path).stdout)
    jsonschema.validate(sarif, SCHEMA)
    (result,) = sarif["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == line
    assert result["message"]["text"].startswith("cell 3, line 2: ")
    (issue,) = json.loads(bnlint(["--select", "BN103", "--format", "gitlab", "nb.ipynb"], tmp_path).stdout)
    assert issue["location"] == {"path": "nb.ipynb", "lines": {"begin": line}}
    assert "cell 3, line 2: " in issue["description"]
    junit = ET.fromstring(bnlint(["--select", "BN103", "--format", "junit", "nb.ipynb"], tmp_path).stdout)
    (case,) = [c for c in junit.iter("testcase") if c.find("failure") is not None]
    assert case.get("line") == str(line) and "cell 3:line 2" in case.get("name")
    github = bnlint(["--select", "BN103", "--format", "github", "nb.ipynb"], tmp_path).stdout
    assert f"file=nb.ipynb,line={line}," in github and "::cell 3, line 2: " in github


def test_notebook_source_as_one_string_maps_to_the_source_key_line(tmp_path):
    nb = json.loads(notebook(IMPORTS, DATA, TRAIN))
    nb["cells"][2]["source"] = "".join(nb["cells"][2]["source"])
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
    (finding,) = json.loads(bnlint(["--select", "BN103", "--format", "sarif", "nb.ipynb"], tmp_path).stdout)[
        "runs"][0]["results"]
    line = _json_line(tmp_path / "nb.ipynb", '"source": "model = nn.Sequential')
    assert finding["locations"][0]["physicalLocation"]["region"]["startLine"] == line


# -- 11. CI paths relative to the repository root -------------------------------------------------------

def test_github_and_gitlab_paths_are_relative_to_the_repository_root(tmp_path):
    write(tmp_path, {".git/HEAD": "ref: refs/heads/main\n", "pkg/pyproject.toml": "[tool.bnlint]\n",
                     "pkg/src/train.py": BAD})
    pkg = tmp_path / "pkg"
    github = bnlint(["--format", "github", "src/train.py"], pkg).stdout
    assert github.startswith(f"::error file=pkg/src/train.py,line={BAD_LINE},"), github
    (issue,) = json.loads(bnlint(["--format", "gitlab", "."], pkg).stdout)
    assert issue["location"]["path"] == "pkg/src/train.py"
    write(tmp_path, {"pkg/src/legacy.py": PY2})
    github = bnlint(["--format", "github", "src"], pkg).stdout
    assert "::error file=pkg/src/legacy.py,title=bnlint%3A parse error::" in github, github


# -- 12. README -------------------------------------------------------------------------------------------

def test_readme_install_and_pre_commit_rev_are_usable():
    import re
    import shutil

    import yaml

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"pip install bnlint\b(?!\[)", readme)  # not on an index yet
    assert 'pip install "bnlint @ git+https://github.com/bnlint/bnlint"' in readme
    hooks = {h["id"] for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    block = readme[readme.index("- repo: https://github.com/bnlint/bnlint"):]
    rev = re.search(r"rev:\s*(\S+)", block).group(1)
    assert set(re.findall(r"- id: (\S+)", block[:400])) <= hooks
    if (REPO / ".git").exists() and shutil.which("git"):
        exists = subprocess.run(["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True)
        tags = subprocess.run(["git", "tag", "--list", rev], cwd=REPO, capture_output=True, text=True).stdout
        assert exists.returncode == 0 or tags.strip(), f"rev {rev} is neither a commit nor a tag"
    assert "exit code 1" in readme[:readme.index("pip install . && bnlint examples/")]


# -- 6. colour options and a progress bar that moves with the work -------------------------------------

def test_color_option_force_color_and_no_color(tmp_path):
    write(tmp_path, {"train.py": BAD})
    ansi = "\x1b["

    def out(args, **env):
        return bnlint(["train.py", *args], tmp_path, **env).stdout

    assert ansi not in out([], NO_COLOR="")  # a pipe: no colour
    assert ansi in out([], NO_COLOR="", FORCE_COLOR="1")
    assert ansi in out(["--color", "always"], NO_COLOR="")
    assert ansi in out(["--color", "always"], NO_COLOR="1")  # the option wins over the environment
    assert ansi not in out(["--color", "never"], NO_COLOR="", FORCE_COLOR="1")
    assert ansi not in out(["--no-color"], NO_COLOR="", FORCE_COLOR="1")  # the alias of never
    assert ansi not in out([], NO_COLOR="1", FORCE_COLOR="1")
    assert ansi not in out([], NO_COLOR="", FORCE_COLOR="0")
    assert bnlint(["train.py", "--color", "sometimes"], tmp_path).returncode == 2


def test_progress_advances_file_by_file_in_parallel_runs(tmp_path):
    from bnlint.config import Config
    from bnlint.engine import lint_paths

    write(tmp_path, {f"m{i:03d}.py": BAD for i in range(40)})
    ticks = []
    result = lint_paths([str(tmp_path)], Config(), jobs=2, progress=ticks.append)
    assert len(result.findings) == 40
    assert ticks == [1] * 40  # one step per file as it is done, not one per chunk of files


# -- 4. standard input ------------------------------------------------------------------------------------

def test_stdin_with_a_filename_uses_that_files_project_and_config(tmp_path):
    write(tmp_path, {"proj/pyproject.toml": '[tool.bnlint]\nextend-exclude = ["gen"]\n',
                     "proj/models.py": MODELS, "proj/train.py": "# the saved version: nothing yet\n"})
    # The unsaved buffer, from an editor: the model comes from the project's models.py.
    proc = bnlint(["-", "--stdin-filename", "proj/train.py"], tmp_path, stdin=TRAIN_IMPORTING)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("proj/train.py:7:10: BN103 [unshuffled-train-loader]"), proc.stdout
    assert "fixable with --fix" not in proc.stdout
    data = json.loads(bnlint(["--stdin-filename", "proj/train.py", "--format", "json"], tmp_path,
                             stdin=TRAIN_IMPORTING).stdout)
    assert [(f["path"], f["line"]) for f in data["findings"]] == [("proj/train.py", 7)]
    # the configuration is PATH's: with --force-exclude, an excluded PATH is not linted
    excluded = bnlint(["-", "--stdin-filename", "proj/gen/train.py", "--force-exclude"], tmp_path,
                      stdin=TRAIN_IMPORTING)
    assert excluded.returncode == 0 and excluded.stdout == "", excluded.stdout
    assert bnlint(["-", "--stdin-filename", "proj/gen/train.py"], tmp_path, stdin=TRAIN_IMPORTING).returncode == 1
    # PATH's config: --select from pyproject applies
    write(tmp_path, {"proj/pyproject.toml": '[tool.bnlint]\nignore = ["BN103"]\n'})
    assert bnlint(["-", "--stdin-filename", "proj/train.py"], tmp_path, stdin=TRAIN_IMPORTING).returncode == 0


def test_stdin_without_a_filename_and_usage_errors(tmp_path):
    write(tmp_path, {"models.py": MODELS})
    proc = bnlint(["-"], tmp_path, stdin=TRAIN_IMPORTING)
    assert proc.returncode == 1 and proc.stdout.startswith("-:7:10: BN103"), proc.stdout
    assert bnlint(["-"], tmp_path, stdin="print('hi')\n").returncode == 0
    assert bnlint(["-", "other.py"], tmp_path, stdin="").returncode == 2
    assert bnlint(["-", "--fix"], tmp_path, stdin="").returncode == 2


# -- 5. .gitignore and .ignore --------------------------------------------------------------------------

GITIGNORE = """# generated and local files
out/
*.gen.py
!keep.gen.py
/top_only.py
docs/**/conf.py
data/raw
**/scratch
notes\\ .py
"""
IGNORED = ["out/a.py", "x.gen.py", "top_only.py", "docs/a/b/conf.py", "docs/conf.py", "data/raw/x.py",
           "sub/scratch/y.py", "sub/local.py", "vendored/v.py", "sub/deep/x.gen.py"]
KEPT = ["main.py", "keep.gen.py", "sub/top_only.py", "sub/out.py", "data/raw.py", "sub/again.py"]


def _ignore_tree(root: Path) -> None:
    write(root, {name: BAD for name in IGNORED + KEPT})
    write(root, {".gitignore": GITIGNORE, "sub/.gitignore": "local.py\nagain.py\n", "sub/.ignore": "!again.py\n",
                 ".ignore": "vendored/\n"})


def _linted(proc) -> set:
    return {f["path"] for f in json.loads(proc.stdout)["findings"]}


def test_gitignore_and_ignore_files_are_respected_by_default(tmp_path):
    import shutil

    _ignore_tree(tmp_path)
    (tmp_path / ".git").mkdir()
    proc = bnlint([".", "--format", "json"], tmp_path)
    assert _linted(proc) == set(KEPT), proc.stdout
    assert _linted(bnlint([".", "--format", "json", "--no-respect-gitignore"], tmp_path)) == set(IGNORED + KEPT)
    write(tmp_path, {"pyproject.toml": "[tool.bnlint]\nrespect-gitignore = false\n"})
    assert _linted(bnlint([".", "--format", "json"], tmp_path)) == set(IGNORED + KEPT)
    assert _linted(bnlint([".", "--format", "json", "--respect-gitignore"], tmp_path)) == set(KEPT)
    (tmp_path / "pyproject.toml").unlink()
    # a subfolder: the rules of the folders above it, up to the repository root, still apply
    assert _linted(bnlint(["sub", "--format", "json"], tmp_path)) == {"sub/top_only.py", "sub/out.py",
                                                                       "sub/again.py"}
    # files named explicitly (pre-commit) are linted, unless --force-exclude
    named = ["x.gen.py", "sub/local.py", "out/a.py", "main.py"]
    assert _linted(bnlint([*named, "--format", "json"], tmp_path)) == set(named)
    assert _linted(bnlint([*named, "--format", "json", "--force-exclude"], tmp_path)) == {"main.py"}
    if shutil.which("git"):  # the same answer as git itself, for the .gitignore files
        shutil.rmtree(tmp_path / ".git")
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
        by_git = subprocess.run(["git", "check-ignore", "--no-index", *IGNORED, *KEPT], cwd=tmp_path,
                                capture_output=True, text=True).stdout.split()
        assert set(by_git) == set(IGNORED) - {"vendored/v.py"} | {"sub/again.py"}  # .ignore is not git's
        assert _linted(bnlint([".", "--format", "json"], tmp_path)) == set(KEPT)


def test_gitignore_outside_a_repository_is_not_read(tmp_path):
    _ignore_tree(tmp_path)
    linted = _linted(bnlint([".", "--format", "json"], tmp_path))
    assert "x.gen.py" in linted and "vendored/v.py" not in linted  # .ignore files count everywhere


def test_gitignore_patterns():
    from bnlint.gitignore import parse

    def matches(pattern, path, is_dir=False):
        hit = None
        for regex, negated, folders_only in parse(pattern):
            if (not folders_only or is_dir) and regex.match(path):
                hit = not negated
        return bool(hit)

    assert matches("*.py", "a/b/c.py") and not matches("/*.py", "a/c.py") and matches("/*.py", "c.py")
    assert matches("a/*.py", "a/c.py") and not matches("a/*.py", "a/b/c.py")
    assert matches("a/**/c.py", "a/c.py") and matches("a/**/c.py", "a/x/y/c.py")
    assert matches("a/**", "a/x/y.py") and not matches("a/**", "b/a/x.py")
    assert matches("build/", "build", is_dir=True) and not matches("build/", "build")
    assert matches("x[0-9].py", "x3.py") and not matches("x[!0-9].py", "x3.py")
    assert matches("\\#hash.py", "#hash.py") and not matches("# comment", "# comment")
    assert matches("trailing.py   ", "trailing.py") and not matches("*.py\n!keep.py", "keep.py")
