"""Re-create the labelled real-code corpus from git copies of public repositories.

The corpus itself (third-party code) is never stored in this project; only
``labels.jsonl`` is: which file of which repository, at which commit, and what
a careful reader decided about it. This script writes those files (and the
context files each label lists, such as model definitions; an entry ending in
``/`` means every ``.py`` file under that folder) into an output
folder, preserving each repository's layout so bnlint's project index resolves
imports the way it would in the real repository:

    OUT/<owner>__<name>/<path in the repository>

(``OUT/<owner>__<name>@<commit[:10]>/...`` for a repository labelled at more
than one commit, e.g. a bug and its fix).

Usage::

    python benchmarks/real_corpus/recreate.py --repos REPOS_DIR --out OUT_DIR

``REPOS_DIR`` holds one entry per repository, named ``owner+name`` or
``owner/name`` (a folder ``owner`` with a subfolder ``name``). Each entry may be
a plain git clone (with a ``.git`` folder), a bare git directory (a mirror),
or a folder holding either of those under ``repo/`` or ``repo/.git``. The exact
commits listed in the labels must be present in it. No network is needed.

For every written file, the ``__init__.py`` files of its ancestor folders that
exist at the same commit are written too (package-relative imports need them),
and each repository folder gets a minimal ``pyproject.toml`` marking it as the
project root (unless the repository's own one was written), so that linting
``OUT/<owner>__<name>`` uses that folder as the root.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
DEFAULT_LABELS = HERE / "labels.jsonl"

ROOT_MARKER = "# Marks this folder as the project root for bnlint (real-code corpus).\n"


def load_labels(path: Path) -> list[dict]:
    """Read labels from a .jsonl (one object a line) or .json (a list) file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        return list(data["labels"] if isinstance(data, dict) else data)
    labels = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        try:
            labels.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path}:{n}: not valid JSON: {exc}") from None
    seen = set()
    for label in labels:  # the scorer reports and matches labels by id
        if label.get("id") in seen:
            raise SystemExit(f"{path}: label id {label['id']!r} is used twice (add `#2` to the second)")
        seen.add(label.get("id"))
    return labels


def repo_folder_name(repo: str, commit: str | None = None) -> str:
    """``owner__name``, or ``owner__name@<commit[:10]>`` when given a commit."""
    owner, name = repo.split("/", 1)
    return f"{owner}__{name}" + (f"@{commit[:10]}" if commit else "")


def folder_for(labels: list[dict]) -> dict[tuple[str, str], str]:
    """Output folder of each (repo, commit): ``owner__name`` when the repository is
    labelled at one commit only, else ``owner__name@<commit[:10]>`` for each of
    its commits (a bug and its fix can then both be in the corpus)."""
    commits: dict[str, set[str]] = {}
    for lab in labels:
        commits.setdefault(lab["repo"], set()).add(lab["commit"])
    return {(repo, c): repo_folder_name(repo, c if len(cs) > 1 else None)
            for repo, cs in commits.items() for c in cs}


def _is_git_dir(p: Path) -> bool:
    return (p / "HEAD").is_file() and (p / "objects").is_dir()


def find_git_dir(repos_dir: Path, repo: str) -> Path | None:
    """The git directory holding ``repo`` under ``repos_dir`` (see the module doc)."""
    owner, name = repo.split("/", 1)
    for base in (repos_dir / f"{owner}+{name}", repos_dir / owner / name,
                 repos_dir / f"{owner}__{name}", repos_dir / name):
        for cand in (base, base / ".git", base / "repo", base / "repo" / ".git"):
            if cand.is_dir() and _is_git_dir(cand):
                return cand
    return None


def git_show(git_dir: Path, commit: str, path: str) -> bytes | None:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
                          capture_output=True)
    return proc.stdout if proc.returncode == 0 else None


def git_exists(git_dir: Path, commit: str, path: str) -> bool:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{commit}:{path}"],
                          capture_output=True)
    return proc.returncode == 0


def git_ls_py(git_dir: Path, commit: str, folder: str) -> list[str]:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", commit,
                           "--", folder.rstrip("/")], capture_output=True, text=True)
    return [p for p in proc.stdout.splitlines() if p.endswith(".py")] if proc.returncode == 0 else []


def files_of(label: dict, git_dir: Path | None = None) -> list[str]:
    """The labelled file and its context; a context entry ending in ``/`` is a
    folder: every ``.py`` file under it at the label's commit."""
    out = [label["path"]]
    for item in label.get("context", []):
        if item.endswith("/"):
            if git_dir is not None:
                out.extend(git_ls_py(git_dir, label["commit"], item))
        else:
            out.append(item)
    return out


def recreate(labels: list[dict], repos_dir: Path, out: Path, *, verbose: bool = False) -> int:
    """Write every labelled and context file; return the number of problems."""
    wanted: dict[tuple[str, str], set[str]] = {}
    git_dirs = {repo: find_git_dir(repos_dir, repo) for repo in {lab["repo"] for lab in labels}}
    for lab in labels:
        wanted.setdefault((lab["repo"], lab["commit"]), set()).update(files_of(lab, git_dirs[lab["repo"]]))
    problems = 0
    folders = folder_for(labels)
    written_roots: dict[str, set[str]] = {}
    for (repo, commit), paths in sorted(wanted.items()):
        git_dir = git_dirs[repo]
        if git_dir is None:
            print(f"missing repository: {repo} (expected {repos_dir}/{repo.replace('/', '+')})",
                  file=sys.stderr)
            problems += 1
            continue
        dest_root = out / folders[(repo, commit)]
        extra: set[str] = set()
        for p in paths:
            for parent in PurePosixPath(p).parents:
                if str(parent) == ".":
                    continue
                init = f"{parent}/__init__.py"
                if init not in paths and git_exists(git_dir, commit, init):
                    extra.add(init)
        for p in sorted(paths | extra):
            data = git_show(git_dir, commit, p)
            if data is None:
                print(f"cannot read {repo}@{commit[:10]}:{p}", file=sys.stderr)
                problems += 1
                continue
            dest = dest_root / p
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            written_roots.setdefault(folders[(repo, commit)], set()).add(p)
            if verbose:
                print(f"wrote {dest}")
    for folder, paths in written_roots.items():
        root = out / folder
        if "pyproject.toml" not in paths:
            (root / "pyproject.toml").write_text(ROOT_MARKER, encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", required=True, type=Path,
                    help="folder with git clones / bare mirrors named owner+name or owner/name")
    ap.add_argument("--out", required=True, type=Path, help="output folder (created)")
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="labels file (.jsonl or .json)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    labels = load_labels(args.labels)
    args.out.mkdir(parents=True, exist_ok=True)
    problems = recreate(labels, args.repos, args.out, verbose=args.verbose)
    repos = {lab["repo"] for lab in labels}
    print(f"{len(labels)} labels, {len(repos)} repositories written to {args.out}"
          + (f"; {problems} problem(s)" if problems else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
