"""Reverse call search: which files may call a function, and that the search stays bounded."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import bnlint.index as index_module
from bnlint.analysis.context import Analysis
from bnlint.index import ProjectIndex

from .helpers import FIXTURES, found, lint


def _project(tmp_path: Path, files: dict) -> ProjectIndex:
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return ProjectIndex(str(tmp_path))


def _caller_files(tmp_path: Path, index: ProjectIndex, module: str, function: str):
    info = index.module(str(tmp_path / module))
    analysis = Analysis(index)
    index.start_file()
    sites = analysis.resolver.callers(info.functions[function])
    return sorted(Path(s.scope.module.fs_path).relative_to(tmp_path).as_posix() for s in sites)


FIT = """
def fit(model, loader):
    for x, y in loader:
        model(x).sum().backward()
"""


def test_callers_through_the_module_a_package_re_export_and_a_script_import(tmp_path):
    index = _project(tmp_path, {
        "pkg/__init__.py": "from .core import fit\n",
        "pkg/core.py": FIT,
        "direct.py": "from pkg.core import fit\nfit(1, 2)\n",
        "via_package.py": "from pkg import fit\nfit(1, 2)\n",
        "module_alias.py": "import pkg.core as c\nc.fit(1, 2)\n",
        # Names `fit` but imports nothing that provides it: never a caller, never parsed.
        "unrelated.py": "def fit(a, b):\n    pass\nfit(1, 2)\n",
    })
    assert _caller_files(tmp_path, index, "pkg/core.py", "fit") == ["direct.py", "module_alias.py", "via_package.py"]
    assert str(tmp_path / "unrelated.py") not in index.consulted


def test_a_package_that_does_not_re_export_the_name_does_not_widen_the_search(tmp_path):
    index = _project(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/core.py": FIT,
        "other.py": "import pkg\ndef fit(a, b):\n    pass\nfit(1, 2)\n",  # mentions `pkg` and `fit` only
    })
    assert _caller_files(tmp_path, index, "pkg/core.py", "fit") == []
    assert str(tmp_path / "other.py") not in index.consulted  # ruled out by its text, never parsed


def test_resolution_budget_turns_a_runaway_analysis_into_silence(monkeypatch):
    """Past the per-rule budget every value is unknown: no finding, no error, no endless run."""
    positive = FIXTURES / "BN101" / "pos_dann_feature_extractor.py"
    assert found(lint([positive], select=["BN101"]))
    monkeypatch.setattr(index_module, "MAX_RESOLVES_PER_RULE", 30)
    result = lint([positive], select=["BN101"])
    assert not result.findings and not result.errors


def test_a_module_importing_itself_by_name_does_not_recurse(tmp_path):
    """``import cfgmod`` inside ``cfgmod.py`` (script style, as the stdlib's distutils/sysconfig.py does)
    once sent name resolution round the import cycle until RecursionError."""
    (tmp_path / "pyproject.toml").write_text("[tool.bnlint]\n", encoding="utf-8")
    path = tmp_path / "cfgmod.py"
    path.write_text(textwrap.dedent("""
        import torch.nn as nn
        from cfgmod import MOMENTUM
        import cfgmod

        MOMENTUM = cfgmod.MOMENTUM
        layer = nn.BatchNorm2d(8, momentum=MOMENTUM)
    """), encoding="utf-8")
    result = lint([path], select=["ALL"])
    assert not result.errors, result.errors


def test_a_file_that_names_the_function_without_calling_it_is_read_not_parsed_but_still_a_dependency(tmp_path):
    index = _project(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/core.py": FIT,
        "caller.py": "from pkg.core import fit\nfit(1, 2)\n",
        "mention.py": "from pkg.core import fit  # fit is re-exported for users\n__all__ = ['fit']\n",
    })
    assert _caller_files(tmp_path, index, "pkg/core.py", "fit") == ["caller.py"]
    mention = str(tmp_path / "mention.py")
    assert mention not in index.consulted  # no parse, and no share of the per-file module budget
    assert mention in index.scanned  # but adding a call there must re-check the linted file (cache dependency)


def test_past_the_caller_bound_the_answer_is_incomplete_and_nothing_is_read(tmp_path, monkeypatch):
    from bnlint.analysis import values

    monkeypatch.setattr(values, "MAX_CALLER_FILES", 3)  # the three files below that import core
    files = {"pkg/__init__.py": "", "pkg/core.py": FIT, "caller.py": "from pkg.core import fit\nfit(1, 2)\n",
             "mention0.py": "from pkg.core import fit  # re-exported\n",
             "mention1.py": "from pkg.core import fit  # re-exported\n"}
    index = _project(tmp_path, files)
    assert _caller_files(tmp_path, index, "pkg/core.py", "fit") == ["caller.py"]
    fit = index.module(str(tmp_path / "pkg/core.py")).functions["fit"]
    assert not index.memo.get(("callers_incomplete", id(fit)))

    files["caller2.py"] = files["caller.py"]
    index = _project(tmp_path, files)  # four candidates now: past the bound
    fit = index.module(str(tmp_path / "pkg/core.py")).functions["fit"]
    analysis = Analysis(index)
    index.start_file()
    assert analysis.resolver.callers(fit) == []
    assert analysis.resolver.callers_incomplete(fit)
    assert not index.scanned and str(tmp_path / "caller.py") not in index.consulted  # nothing read


def test_only_files_importing_the_module_are_candidate_callers(tmp_path, monkeypatch):
    # Every script has a main() of its own; main.py's main() is called only by files importing main.
    from bnlint.analysis import values

    monkeypatch.setattr(values, "MAX_CALLER_FILES", 2)
    files = {"main.py": "def main(config):\n    return config\n\n\nmain(1)\n",
             "runner.py": "import main\n\nmain.main(2)\n"}
    for k in range(5):
        files[f"script{k}.py"] = "def main():\n    pass\n\n\nif __name__ == '__main__':\n    main()\n"
    index = _project(tmp_path, files)
    main = index.module(str(tmp_path / "main.py")).functions["main"]
    analysis = Analysis(index)
    index.start_file()
    assert sorted(os.path.basename(s.scope.module.fs_path) for s in analysis.resolver.callers(main)) \
        == ["main.py", "runner.py"]
    assert not analysis.resolver.callers_incomplete(main)
    assert not any("script" in p for p in index.scanned)


def test_the_identifier_table_records_the_names_import_statements_write():
    from bnlint.tree import IMPORTED, identifiers

    words = identifiers(b"import os, torch.nn as nn\nfrom .trainer import Trainer\n"
                        b"from pkg import (\n    a,\n    core,\n)\nx = 1; import late\n"
                        b"# import commented\ntext = 'from nowhere import thing'\n")
    imported = {w[len(IMPORTED):] for w in words if w.startswith(IMPORTED)}
    assert imported == {"os", "torch", "nn", "trainer", "Trainer", "pkg", "a", "core", "late"}
    assert "commented" in words and IMPORTED + "commented" not in words  # a comment is no import
    assert IMPORTED + "nowhere" not in words  # nor is an import statement inside a string


def test_a_file_importing_only_the_package_that_imports_the_module_is_a_candidate(tmp_path):
    index = _project(tmp_path, {
        "pkg/__init__.py": "from . import core\n",
        "pkg/core.py": FIT,
        "caller.py": "import pkg\n\npkg.core.fit(1, 2)\n",
    })
    assert _caller_files(tmp_path, index, "pkg/core.py", "fit") == ["caller.py"]


def test_a_subclass_constructor_calling_super_init_is_a_caller_of_the_base_constructor(tmp_path):
    # A base trainer stores ``self.args = args``; only ``super().__init__(args, ...)`` in its
    # subclasses (in other files) calls its ``__init__``, and the scripts build the subclasses.
    index = _project(tmp_path, {
        "algo/base.py": """
            class BaseAlgo:
                def __init__(self, args, loader):
                    self.args = args
        """,
        "algo/erm.py": """
            from algo.base import BaseAlgo

            class Erm(BaseAlgo):
                def __init__(self, args, loader):
                    super().__init__(args, loader)

            class Plain(BaseAlgo):
                def __init__(self, args):
                    self.args = args  # does not run the base constructor
        """,
        "algo/mid.py": """
            from algo.base import BaseAlgo

            class Mid(BaseAlgo):
                pass

            class Leaf(Mid):
                def __init__(self, args):
                    super(Leaf, self).__init__(args, None)  # Mid has none: BaseAlgo's runs
        """,
        "unrelated.py": """
            class BaseAlgo:
                def __init__(self, args):
                    pass

            class Other(BaseAlgo):
                def __init__(self):
                    super().__init__(1)  # a different BaseAlgo
        """,
    })
    info = index.module(str(tmp_path / "algo" / "base.py"))
    analysis = Analysis(index)
    index.start_file()
    sites = analysis.resolver.callers(info.classes["BaseAlgo"].methods["__init__"])
    assert sorted((Path(s.scope.module.fs_path).name, s.scope.cls.name) for s in sites) == [
        ("erm.py", "Erm"), ("mid.py", "Leaf")]
