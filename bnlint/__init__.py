"""bnlint: find batch-normalization misuse in PyTorch training code."""
__version__ = "0.1.0"

from .findings import Finding, FileError  # noqa: E402


def lint_paths(paths, config=None, jobs=1):
    """Lint ``paths`` (files or directories) and return a ``LintResult``.

    Plain linting never imports torch nor runs the linted code.
    """
    from .engine import lint_paths as _lint_paths

    return _lint_paths(list(paths), config=config, jobs=jobs)


__all__ = ["Finding", "FileError", "lint_paths", "__version__"]
