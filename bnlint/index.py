"""Pass 1: the project index.

Maps module names to files under the project root and parses those files on
demand, memoised per process. Rules on ``train.py`` that ask "does ``Net`` from
``models`` contain BN?" get ``models.py`` parsed and walked once, whether or
not ``models.py`` is among the files being linted (pre-commit passes only the
staged ones). Every file consulted is recorded, so the result cache can be
invalidated when a dependency changes.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Callable, Dict, List, Optional, Pattern, Set, Tuple

import libcst as cst

from .analysis.module import ModuleInfo
from .parsing import ParseFailure, parse
from .patterns import code_only
from .source import Source, SourceError, read_bytes, read_source
# The root and the walk live in ``tree``, free of LibCST: a fully cached run needs them too.
from .tree import ROOT_MARKERS, find_project_root  # noqa: F401  (re-exported)
from .tree import python_files as _walk_python_files
from .tree import module_name as _module_name
from .tree import word_table as _word_table

# The value resolver explores calls, callers and attributes across the project; in a dense,
# interconnected tree (a compiler's own sources) that exploration can grow without end. Past
# this many resolutions by one rule on one linted file every further value is "unknown", and
# unknown means silence. Fixtures need at most about 8,000, a large domain-adaptation library
# about 125,000, and a YOLOv5 fork's 600-line ``train()`` about 255,000 (its BN203 finding).
MAX_RESOLVES_PER_RULE = 400_000
# Top-level packages that are never the project's own, even when a copy sits in a folder of the
# tree (a vendored or benchmark copy of torch): the analysis knows them by their qualified names.
EXTERNAL_TOPS = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset({
    "torch", "torchvision", "torchaudio", "torchtext", "timm", "lightning", "pytorch_lightning", "lightning_fabric",
    "numpy", "scipy", "sklearn", "pandas", "PIL", "cv2", "matplotlib", "transformers", "tensorflow", "jax"})
MAX_MODULES_PER_FILE = 48  # other modules one file's analysis may read (fixtures: at most 28; real projects gave identical findings)
MAX_MODULES = 500  # parsed modules kept per process (CST trees dominate memory: about 1 MiB each)

def parse_source(source: Source) -> cst.Module:
    # The guarded parser: a pathologically nested dependency must not crash libcst (and the run).
    return parse(source.text)


def _names_checkout(package: str, root: str) -> bool:
    """``package`` is the project folder's name as an identifier (``PytorchUNet`` for ``Pytorch-UNet``,
    also under an ``owner__name`` folder): letters and digits alike, case aside."""
    folder = re.sub(r"[^0-9a-z]", "", os.path.basename(os.path.abspath(root)).lower())
    name = re.sub(r"[^0-9a-z]", "", package.lower())
    return len(name) >= 4 and folder.endswith(name)


class ProjectIndex:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._modules: Dict[str, Optional[ModuleInfo]] = {}  # abs path -> info (None: unusable)
        self._file_cache: Dict[str, Optional[str]] = {}
        self._all_files: Optional[List[str]] = None
        self._words: Optional[Dict[str, List[int]]] = None  # identifier -> indices into python_files()
        self._digests: Dict[str, str] = {}  # identifier -> mentions_digest (the tree does not change in a run)
        self._rel_files: Optional[List[str]] = None  # python_files() relative to the root
        self.consulted: Set[str] = set()  # abs paths read while analysing (cache deps)
        self.scanned: Set[str] = set()  # abs paths whose text was searched without parsing (cache deps)
        self.probed: Set[str] = set()  # abs paths looked for and absent (a new file there matters)
        self.searched: Set[str] = set()  # words looked up project-wide (files_mentioning)
        self.memo: Dict[object, object] = {}  # shared memo for analysis results
        self.fuel = MAX_RESOLVES_PER_RULE  # value resolutions left for the current rule and file
        # Modules read for the analysis are shown as the linted files are: absolute when the user
        # named absolute paths. A linted file that another's analysis read first then reuses its
        # module (no second pass over the tree), and related places read like the reported one.
        self.absolute_paths = False
        self._run_facts: Dict[str, tuple] = {}  # see run_fact

    # -- module names -------------------------------------------------------------
    def module_name(self, abs_path: str) -> str:
        return _module_name(abs_path, self.root)

    def package_of(self, abs_path: str) -> str:
        name = self.module_name(abs_path)
        if abs_path.endswith("__init__.py"):
            return name
        return name.rpartition(".")[0]

    def start_file(self) -> None:
        """Forget what the previous linted file depended on (and its memoised analyses, so a
        file's results, and so its recorded dependencies, never depend on which files this
        process happened to lint before it)."""
        self.consulted = set()
        self.scanned = set()
        self.probed = set()
        self.searched = set()
        self.memo.clear()  # the analyses hold this very dict
        self.refuel()
        # Bound memory: drop the least recently used parsed modules, only between files
        # (within one file's analysis, values hold on to module and scope identities).
        if len(self._modules) > MAX_MODULES:
            for path in list(self._modules)[:len(self._modules) - MAX_MODULES // 2]:
                del self._modules[path]

    def refuel(self) -> None:
        """A fresh resolution budget (for each rule on each linted file)."""
        self.fuel = MAX_RESOLVES_PER_RULE

    def resolve_module(self, dotted: str, importer: Optional[str]) -> Optional[str]:
        """File for module ``dotted``: next to the importer (script style), then from the root."""
        key = f"{dotted}|{os.path.dirname(importer) if importer else ''}"
        if key in self._file_cache:
            found, missing = self._file_cache[key]
            self.probed.update(missing)
            return found
        rel = dotted.replace(".", os.sep)
        bases = []
        if importer:
            bases.append(os.path.dirname(importer))
        bases += [self.root, os.path.join(self.root, "src")]
        top = dotted.split(".")[0]
        tops = [os.path.join(b, top) for b in bases]
        # A ``<top>.py`` appearing in one of them would change the answer.
        missing = [os.path.abspath(t + ".py") for t in tops if not os.path.isfile(t + ".py")]
        itself = os.path.abspath(importer) if importer else None
        if importer and top not in EXTERNAL_TOPS and not any(os.path.isdir(t) or os.path.isfile(t + ".py") and os.path.abspath(t + ".py") != itself
                                for t in tops):
            # Last, when no folder above names the top package (``alg/alg.py`` importing
            # ``alg.algs.erm`` does not name it: that is the importer itself): the folders between
            # the importer and the root (``from models.x import ...`` in ``seg/models/util.py`` runs
            # under a script in ``seg/``, whose folder is on sys.path).
            here = os.path.dirname(os.path.dirname(os.path.abspath(importer)))
            root = os.path.abspath(self.root)
            inside = os.path.join(root, "")  # "/" stays "/"
            while here != root and here.startswith(inside):  # strictly inside the root (already a base)
                bases.append(here)
                here = os.path.dirname(here)
        found = None
        for base in bases:
            for candidate in (os.path.join(base, rel + ".py"), os.path.join(base, rel, "__init__.py")):
                if os.path.isfile(candidate):
                    found = os.path.abspath(candidate)
                    break
                missing.append(os.path.abspath(candidate))
            if found:
                break
        if found is None and "." in dotted and top not in EXTERNAL_TOPS and _names_checkout(top, self.root):
            # ``from PytorchUNet.unet import UNet`` in a clone of ``Pytorch-UNet``: the code was
            # written inside a folder named for the checkout, which is the project root here.
            rest = dotted.partition(".")[2]
            found = self.resolve_module(rest, os.path.join(self.root, "__init__.py"))
            missing.extend(self._file_cache[f"{rest}|{self.root}"][1])
        self._file_cache[key] = (found, tuple(missing))
        self.probed.update(missing)
        return found

    # -- parsing ------------------------------------------------------------------
    def add(self, info: ModuleInfo) -> None:
        """Register a module already parsed by the engine (a linted file)."""
        self._modules[os.path.abspath(info.fs_path)] = info

    def module(self, abs_path: str) -> Optional[ModuleInfo]:
        abs_path = os.path.abspath(abs_path)
        if abs_path not in self.consulted:
            if len(self.consulted) >= MAX_MODULES_PER_FILE:
                return None  # past the budget a module is as good as absent: unknown, silence
            self.consulted.add(abs_path)
        if abs_path in self._modules:
            info = self._modules[abs_path] = self._modules.pop(abs_path)  # most recently used last
            return info
        info = None
        try:
            source = read_source(abs_path, abs_path if self.absolute_paths else os.path.relpath(abs_path))
            tree = parse_source(source)
            info = ModuleInfo(source, tree, abs_path, self.module_name(abs_path), self.package_of(abs_path))
        except (SourceError, ParseFailure, cst.ParserSyntaxError, RecursionError, ValueError):
            info = None  # an unusable dependency only makes the analysis less precise
        self._modules[abs_path] = info
        return info

    def text_matches(self, abs_path: str, pattern: Pattern[str]) -> bool:
        """Whether the text of ``abs_path`` matches ``pattern``: a necessary condition checked before
        parsing a file (e.g. that a candidate caller contains a call of the name at all). The file
        becomes a dependency of the linted file's result either way (adding that call must re-check
        it), but does not count against the per-file module budget."""
        return bool(pattern.search(self._scanned_text(abs_path)))

    def findall(self, abs_path: str, pattern: Pattern[str]) -> List[str]:
        """``pattern``'s matches in the text of ``abs_path`` (a dependency, as for :meth:`text_matches`)."""
        return pattern.findall(self._scanned_text(abs_path))

    def run_fact(self, key: str, compute: Callable[[], object]) -> object:
        """``compute()``, once per process (the tree does not change during a run), for questions about
        the whole tree that many files ask. The words it searched and the files it read become
        dependencies of every linted file that asks, as if each had computed it."""
        if key not in self._run_facts:
            mine_scanned, mine_searched = self.scanned, self.searched
            self.scanned, self.searched = set(), set()
            try:
                value = compute()
                self._run_facts[key] = (value, self.scanned, self.searched)
            finally:
                self.scanned, self.searched = mine_scanned | self.scanned, mine_searched | self.searched
        value, scanned, searched = self._run_facts[key]
        self.scanned |= scanned
        self.searched |= searched
        return value

    def code_of(self, abs_path: str) -> str:
        """The text of ``abs_path`` with comments and string literals blanked (a dependency, as for
        :meth:`text_matches`)."""
        return code_only(self._scanned_text(abs_path))

    def _scanned_text(self, abs_path: str) -> str:
        abs_path = os.path.abspath(abs_path)
        self.scanned.add(abs_path)
        info = self._modules.get(abs_path)
        return info.source.text if info is not None else _read_text(abs_path)

    def known_module(self, abs_path: str, source: Source) -> Tuple[Optional[ModuleInfo], Optional[cst.Module]]:
        """What an earlier analysis already built for a linted file whose text is ``source``'s (a
        file that another file's analysis needed first): the whole module when it was read under
        the same displayed path and kind of source (linting it then costs neither a parse nor a
        second pass over the tree), else only its tree, else nothing."""
        info = self._modules.get(os.path.abspath(abs_path))
        if info is None or info.source.text != source.text:
            return None, None
        if type(info.source) is type(source) and info.source.path == source.path:
            return info, info.tree
        return None, info.tree

    def module_by_name(self, dotted: str, importer: Optional[str]) -> Optional[ModuleInfo]:
        path = self.resolve_module(dotted, importer)
        return self.module(path) if path else None

    # -- project-wide text search (cheap pre-filter for reverse lookups) ------------
    def python_files(self) -> List[str]:
        if self._all_files is None:
            self._all_files = _walk_python_files(self.root)
        return self._all_files

    def files_mentioning(self, word: str) -> List[str]:
        """Project files containing the identifier ``word`` (a superset of its real uses).

        One pass builds an identifier -> files table for the process, so each reverse
        lookup afterwards is a dictionary access rather than a scan of the whole tree.
        """
        self.searched.add(word)
        if not word.isascii():  # the table holds ASCII identifiers only
            pattern = re.compile(re.escape(word) + r"(?<!\w" + re.escape(word) + r")\b")
            return [p for p in self.python_files() if pattern.search(_read_text(p))]
        if self._words is None:
            self._words = _word_table(self.python_files())
        files = self.python_files()
        return [files[i] for i in self._words.get(word, ())]

    def mentions_digest(self, word: str) -> str:
        """``files_digest`` of ``files_mentioning(word)``, once per word and process: every linted
        file's cache entry records the searches its analysis ran, and a warm run checks them all."""
        digest = self._digests.get(word)
        if digest is None:
            searched = word in self.searched
            files = self.files_mentioning(word)
            if not searched:
                self.searched.discard(word)  # asking for the digest is not a search of the analysis
            if word.isascii() and self._words is not None:
                if self._rel_files is None:
                    self._rel_files = [os.path.relpath(p, self.root) for p in self.python_files()]
                rels = [self._rel_files[i] for i in self._words.get(word, ())]
                digest = _rel_digest(rels)
            else:
                digest = _rel_digest([os.path.relpath(p, self.root) for p in files])
            self._digests[word] = digest
        return digest


def _rel_digest(rel_paths: List[str]) -> str:
    from .cache import files_digest_of_relpaths  # the cache's definition (cache imports this module lazily)

    return files_digest_of_relpaths(rel_paths)


def _read_text(path: str) -> str:
    try:
        return read_bytes(path, 2_000_000).decode("utf-8", "replace")
    except SourceError:  # read_bytes also refuses FIFOs and devices, which would block or never end
        return ""
