"""Command line: ``bnlint [check] PATH...``, ``bnlint rules``, ``bnlint rule CODE``, ``bnlint confirm``.

Exit codes: 0 nothing found; 1 findings or files that could not be read/parsed;
2 usage or configuration error, or an internal error in bnlint on some file.
``--exit-zero`` turns 1 into 0 (findings, files that could not be read or parsed; not a fix that
could not be written); 2 stays 2.
"""
from __future__ import annotations

import io
import os
import sys
from typing import TYPE_CHECKING, List, Optional, Sequence

import click

from . import __version__
from .config import MAX_JOBS, Config, ConfigError, find_pyproject, load_config, split_codes, validate_selectors
from .docs import rule_page
from .paths import escape_path

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

# Imported where they are used: a run whose results all come from the cache and prints JSON needs
# neither the rules (nor the analysis and LibCST behind them) nor rich.

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
EXIT_INTERNAL = 2  # an internal error (a bug in bnlint) on some file; the others were linted
_COMMANDS_LAZY = {"confirm": ("bnlint.confirm.cli", "confirm_command")}


def _use_color(mode, stream) -> bool:
    """``--color`` (``always``/``never``; ``auto`` or a False ``mode``: the environment, then the stream).

    As ruff and the NO_COLOR / FORCE_COLOR conventions say: the option wins, then a non-empty
    ``NO_COLOR``, then a non-empty ``FORCE_COLOR`` (other than ``0``/``false``), then a terminal.
    ``True`` (the former ``--no-color`` flag) means never."""
    if mode is True or mode == "never":
        return False
    if mode == "always":
        return True
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def _console(stream, color: bool) -> Console:
    from rich.console import Console

    return Console(file=stream, force_terminal=color, no_color=not color, highlight=False,
                   soft_wrap=True, width=None if color else 10_000)


class DefaultGroup(click.Group):
    """``bnlint PATH`` means ``bnlint check PATH`` (like ruff's former default)."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in _COMMANDS_LAZY
                        and args[0] not in ("--help", "-h", "--version")):
            args = ["check"] + list(args)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS_LAZY))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is None and name in _COMMANDS_LAZY:
            module_name, attr = _COMMANDS_LAZY[name]
            try:
                module = __import__(module_name, fromlist=[attr])
            except ImportError:
                return None
            cmd = getattr(module, attr)
        return cmd


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="bnlint", message="%(prog)s %(version)s")
def main() -> None:
    """bnlint: find batch-normalization misuse in PyTorch training code.

    Plain linting reads your code and never imports or runs it; only
    `bnlint confirm` runs a script, and only when asked.
    """


def run() -> None:
    """The ``bnlint`` command: the CLI, then an exit that skips interpreter teardown.

    A large run leaves millions of objects (parsed trees, analysis memos) in reference cycles;
    collecting them at exit took seconds after the results were already printed (mypy exits
    the same way). Output streams are flushed first; nothing else is pending at that point.
    """
    from .lifetime import Interrupted, signals_raise

    try:
        # SIGINT, SIGTERM, SIGHUP raise Interrupted: worker processes and a confirm script's
        # process tree are ended and temporary folders removed before the exit below.
        with signals_raise(replace=True):
            main(prog_name="bnlint")
        code = 0
    except SystemExit as exc:
        code = exc.code
    except Interrupted as exc:
        print(f"bnlint: interrupted by {exc.name}", file=sys.stderr)
        code = exc.exit_code  # 128 + the signal number (130 for Ctrl-C), as a shell reports it
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what sys.exit("message") would have printed
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`bnlint ... | head`): nothing more to say
            pass
    os._exit(code or 0)


def _codes_option(name: str, help_text: str):
    return click.option(name, multiple=True, metavar="CODES", help=help_text)


def _build_config(paths: Sequence[str], config_file: Optional[str], select, extend_select, ignore,
                  exclude, extend_exclude, force_exclude: bool) -> Config:
    if config_file:
        cfg = load_config(config_file, explicit=True)
    else:
        start = paths[0] if paths else os.getcwd()
        cfg = load_config(find_pyproject(start), explicit=False)
    if select:
        codes = split_codes(select, "--select")
        validate_selectors(codes, "--select")
        cfg.select = codes
    if extend_select:
        codes = split_codes(extend_select, "--extend-select")
        validate_selectors(codes, "--extend-select")
        cfg.extend_select = cfg.extend_select + codes
    if ignore:
        codes = split_codes(ignore, "--ignore")
        validate_selectors(codes, "--ignore")
        cfg.ignore = cfg.ignore + codes
    if exclude or extend_exclude:
        # On the command line both add to the configured excludes: dropping the defaults
        # (.venv, build, ...) by accident is never what a user wants.
        cfg.extend_exclude = cfg.extend_exclude + list(exclude) + list(extend_exclude)
        cfg.base_dir = os.getcwd() if not cfg.source else cfg.base_dir
    if force_exclude:
        cfg.force_exclude = True
    return cfg


@main.command("check")
@click.argument("paths", nargs=-1, type=click.Path(readable=False))  # unreadable: a per-file error
@_codes_option("--select", "Rule codes or prefixes to enable (replaces the default set); `ALL` for every rule.")
@_codes_option("--extend-select", "Rule codes or prefixes to enable in addition to the selected ones.")
@_codes_option("--ignore", "Rule codes or prefixes to disable.")
@click.option("--format", "output_format", default="text", show_default=True,
              type=click.Choice(["text", "json", "sarif", "github", "junit", "gitlab"]), help="Output format.")
@click.option("--output", "-o", "output_file", type=click.Path(dir_okay=False, writable=True),
              help="Write the report to FILE instead of standard output.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="Read settings from FILE (a pyproject.toml with [tool.bnlint], or a bnlint.toml).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Exclude files or folders matching GLOB.")
@click.option("--extend-exclude", multiple=True, metavar="GLOB", hidden=True)
@click.option("--force-exclude", is_flag=True,
              help="Apply excludes (and .gitignore) to files named explicitly too.")
@click.option("--respect-gitignore/--no-respect-gitignore", default=None,
              help="Skip files ignored by .gitignore and .ignore files (default: on; config "
                   "`respect-gitignore`).")
@click.option("--statistics", is_flag=True,
              help="Print a count of findings per rule instead of the findings (JSON: a `statistics` key).")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only: no summary, no progress.")
@click.option("--exit-zero", is_flag=True,
              help="Exit 0 even when there are findings or files that could not be read or parsed "
                   "(usage/config errors and internal errors still exit 2).")
@click.option("--color", "color_mode", type=click.Choice(["auto", "always", "never"]), default=None,
              help="Colour: auto (default: on a terminal; NO_COLOR and FORCE_COLOR are honoured), always, never.")
@click.option("--no-color", is_flag=True, help="Same as --color never.")
@click.option("--show-source/--no-show-source", default=None,
              help="Code frame and help under each finding (default: on a terminal only).")
@click.option("--jobs", "-j", type=click.IntRange(min=0, max=MAX_JOBS), default=None,
              help="Worker processes, at most the available cores and one per chunk of files "
                   "(default or 0: available cores; 1 under pre-commit).")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Report only findings not recorded in FILE (see --write-baseline).")
@click.option("--write-baseline", "write_baseline_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Record the current findings in FILE and exit 0.")
@click.option("--fix", is_flag=True, help="Apply safe fixes to the files.")
@click.option("--diff", is_flag=True, help="Print the fixes as a unified diff instead of writing them.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply (or show) fixes that are not marked safe.")
@click.option("--confirm", "confirm_script", type=click.Path(dir_okay=False), metavar="SCRIPT",
              help="RUN the training script SCRIPT for a few steps under `bnlint confirm` and attach "
                   "measured verdicts to the findings of the rules it measures (executes your code; needs "
                   "bnlint[confirm]).")
@click.option("--no-cache", is_flag=True,
              help="Neither read nor write the result cache (.bnlint_cache at the project root).")
@click.option("--stdin-filename", metavar="PATH",
              help="Lint standard input (`bnlint -`, or no PATHS) as the file PATH: findings name PATH, the "
                   "configuration and project come from PATH's location; excludes apply to PATH only "
                   "with --force-exclude.")
def check(paths, select, extend_select, ignore, output_format, output_file, config_file, exclude,
          extend_exclude, force_exclude, respect_gitignore, statistics, quiet, exit_zero, color_mode, no_color,
          show_source, jobs, baseline_file, write_baseline_file, fix, diff, unsafe_fixes, confirm_script, no_cache,
          stdin_filename):
    """Lint PATHS (files or folders; default: the current folder; `-`: standard input)."""
    from .engine import default_jobs, lint_paths, lint_stdin

    stdin = "-" in paths or (stdin_filename is not None and not paths)
    if stdin and list(paths) not in (["-"], []):
        raise click.UsageError("`-` (standard input) cannot be combined with other paths")
    if stdin and (fix or diff):
        raise click.UsageError("--fix and --diff do not apply to standard input")
    paths = [stdin_filename or "-"] if stdin else (list(paths) or ["."])
    try:
        cfg = _build_config(paths if not stdin or stdin_filename else ["."], config_file, select, extend_select,
                            ignore, exclude, extend_exclude, force_exclude)
    except ConfigError as exc:
        raise click.UsageError(str(exc))
    if respect_gitignore is not None:
        cfg.respect_gitignore = respect_gitignore
    stdin_data = None
    if stdin:
        stdin_data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
        from .discovery import excluded
        from .gitignore import path_ignored

        if stdin_filename and cfg.force_exclude and (
                excluded(stdin_filename, cfg.base_dir, cfg.excludes)
                or cfg.respect_gitignore and path_ignored(stdin_filename)):
            sys.exit(EXIT_OK)  # as ruff: an excluded --stdin-filename is not linted (and nothing is printed)
    n_jobs = jobs if jobs else (cfg.jobs or default_jobs())

    # -o: the report is built in memory and written at the end, so that a folder that does not exist,
    # a full disk or /dev/full is one error line (exit 2), not a traceback; opened first to fail fast.
    out_file = _open_output(output_file) if output_file else None
    out_stream = io.StringIO() if out_file is not None else sys.stdout
    try:
        if no_color:
            color_mode = "never"  # the former flag, kept as an alias
        color = _use_color(color_mode, out_stream)
        progress, on_targets, finish = _progress(quiet or output_format != "text" and not sys.stderr.isatty(),
                                                 not _use_color(color_mode, sys.stderr))
        if stdin_data is not None:
            result = lint_stdin(stdin_data, paths[0], cfg)
            result.stdin = (paths[0], stdin_data)  # code frames show these bytes, not the file on disk
        else:
            result = lint_paths(paths, cfg, jobs=n_jobs, progress=progress, on_targets=on_targets,
                                cache=not no_cache)
        finish()
        _warn(result, quiet)
        notes: List[str] = []
        if diff:
            _show_diff(result, unsafe_fixes, out_stream, quiet)
        if fix:
            result = _apply_fixes(result, unsafe_fixes, notes, lambda: lint_paths(paths, cfg, jobs=n_jobs, cache=not no_cache))
        if write_baseline_file or baseline_file:
            _baseline(result, baseline_file, write_baseline_file, notes)
        if confirm_script:
            _attach_confirm(result, confirm_script, notes)
        fixable = sum(1 for f in result.findings if f.autofix is not None and (f.autofix.safe or unsafe_fixes))
        if fixable and not fix and output_format == "text" and stdin_data is None:
            notes.append(f"{fixable} fixable with --fix (preview with --diff).")
        if output_format == "text":
            _print_text(result, _console(out_stream, color), show_source, color, statistics, quiet, notes)
        else:
            if not quiet:
                for note in notes:
                    click.echo(note, err=True)
            from .reporters import MACHINE_FORMATS

            options = {"statistics": True} if statistics and output_format == "json" else {}
            out_stream.write(MACHINE_FORMATS[output_format](result, **options))
    finally:
        if out_file is not None:
            _write_output(out_file, out_stream.getvalue(), output_file)
    if result.internal_errors:  # a bug in bnlint, not in the code: say so, as ruff does
        sys.exit(EXIT_INTERNAL)
    if exit_zero:  # findings and unreadable/unparsable files alike: a step that must never fail
        # ...but a fix that was asked for and could not be written is a failed action, not a report.
        sys.exit(EXIT_FINDINGS if any(e.kind == "write" for e in result.errors) else EXIT_OK)
    if result.errors or result.findings:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_OK)


def _warn(result, quiet: bool) -> None:
    """Warnings on stderr (never the exit code): invalid `# noqa` directives, nothing to lint."""
    if quiet:
        return
    for warning in result.warnings:
        click.echo(escape_path(f"warning: {warning.path}: {warning.message}"), err=True)
    if not result.files_checked and not result.errors:
        click.echo("warning: no Python files found (nothing to lint)", err=True)


def _attach_confirm(result, script: str, notes: List[str]) -> None:
    """Run ``script`` under confirm (a child process) and note each measured finding's verdict."""
    from .confirm.check_link import confirm_findings, verdict_json, verdict_lines, finding_key

    verdicts, status = confirm_findings(script, (), result.findings)
    result.verdicts = {finding_key(f): verdict_json(verdicts[finding_key(f)])
                       for f in result.findings if finding_key(f) in verdicts}
    notes.extend(verdict_lines(result.findings, verdicts))
    notes.append(status)


def _show_diff(result, unsafe: bool, out_stream, quiet: bool) -> None:
    """``--diff``: print what ``--fix`` would change; exit 1 when it would change anything."""
    from .fixes import apply_fixes

    outcome = apply_fixes(result.findings, unsafe=unsafe, write=False)
    for path in outcome.changed:
        out_stream.write(escape_path(outcome.diffs[path]))
    if not quiet:
        n = len(outcome.fixed)
        click.echo(f"Would fix {n} finding{'s' if n != 1 else ''}"
                   f"{_unsafe_hint(result.findings, unsafe)}." if n else
                   f"No fixes available{_unsafe_hint(result.findings, unsafe)}.", err=True)
    for finding, why in outcome.dropped:
        click.echo(escape_path(f"{finding.location}: {finding.code} fix not applicable: {why}"), err=True)
    # Files that could not be read or parsed, and internal errors, are reported and set the exit code
    # as in a plain run: a preview must not pass where the check fails.
    for error in result.errors:
        click.echo(escape_path(f"{error.path}: error: {error.message}"), err=True)
    if result.internal_errors:
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_FINDINGS if outcome.changed or result.errors else EXIT_OK)


class _OutputError(click.ClickException):
    """The report file cannot be written: one line, exit 2 (as a usage error)."""

    exit_code = EXIT_USAGE


def _output_failure(path: str, exc: OSError) -> _OutputError:
    return _OutputError(escape_path(f"cannot write the report to {path}: "
                                    f"{(exc.strerror or str(exc)).lower()}"))


def _open_output(path: str):
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise _output_failure(path, exc)


def _write_output(out_file, text: str, path: str) -> None:
    try:
        try:
            out_file.write(text)
            out_file.flush()
        finally:
            out_file.close()
    except OSError as exc:
        raise _output_failure(path, exc)


def _unsafe_hint(findings, unsafe: bool) -> str:
    hidden = sum(1 for f in findings if f.autofix is not None and not f.autofix.safe)
    return f" ({hidden} more with --unsafe-fixes)" if hidden and not unsafe else ""


def _apply_fixes(result, unsafe: bool, notes: List[str], relint):
    """``--fix``: write the fixes, then lint again so what is reported is the fixed code."""
    from .findings import FileError
    from .fixes import apply_fixes

    outcome = apply_fixes(result.findings, unsafe=unsafe, write=True)
    for finding, why in outcome.dropped:
        if finding.path not in outcome.unwritable:  # those are one file error each, below
            click.echo(f"{finding.location}: {finding.code} fix not applied: {why}", err=True)
    if outcome.changed:
        n, m = len(outcome.fixed), len(outcome.changed)
        notes.append(f"Fixed {n} finding{'s' if n != 1 else ''} in {m} file{'s' if m != 1 else ''}"
                     f"{_unsafe_hint(result.findings, unsafe)}.")
        result = relint()
    elif _unsafe_hint(result.findings, unsafe):
        notes.append(f"No safe fixes applied{_unsafe_hint(result.findings, unsafe)}.")
    # A file whose fixes could not be written is an error, like an unreadable file (exit 1).
    result.errors.extend(FileError(path, why, "write") for path, why in sorted(outcome.unwritable.items()))
    return result


def _baseline(result, baseline_file: Optional[str], write_file: Optional[str], notes: List[str]) -> None:
    """``--baseline``: keep only new findings; ``--write-baseline``: record them all."""
    from .baseline import BaselineError, apply_baseline, write_baseline

    if baseline_file and not write_file:  # with both, the new baseline records every finding
        try:
            outcome = apply_baseline(baseline_file, result.findings, result.root, result.checked)
        except BaselineError as exc:
            raise click.UsageError(str(exc))
        result.findings = outcome.new
        if outcome.baselined:
            notes.append(f"{outcome.baselined} finding{'s' if outcome.baselined != 1 else ''} "
                         f"hidden by the baseline {baseline_file}.")
        if outcome.gone:
            notes.append(f"{outcome.gone} baselined finding{'s are' if outcome.gone != 1 else ' is'} gone "
                         f"(fixed or changed); run --write-baseline {baseline_file} to drop "
                         f"{'them' if outcome.gone != 1 else 'it'}.")
    if write_file:
        written, gone = write_baseline(write_file, result.findings, result.root, result.checked)
        notes.append(f"Wrote {written} finding{'s' if written != 1 else ''} to the baseline {write_file}"
                     + (f"; {gone} previously baselined finding{'s are' if gone != 1 else ' is'} gone." if gone
                        else "."))
        result.findings = []


def _print_text(result, console: Console, show_source, color: bool, statistics: bool, quiet: bool,
                notes: Sequence[str] = ()) -> None:
    from .reporters.text import TextReporter

    reporter = TextReporter(console, show_source if show_source is not None else color, quiet)
    if getattr(result, "stdin", None):
        reporter._files[result.stdin[0]] = result.stdin[1]
    if statistics:  # as ruff: the table instead of the findings (file errors still listed)
        if result.findings:
            reporter.statistics(result.findings)
        for e in result.errors:
            reporter.error(e.path, e.message)
        return
    for f in result.findings:
        reporter.finding(f)
    for e in result.errors:
        reporter.error(e.path, e.message)
    for note in notes:
        reporter.note(note)
    reporter.summary(len(result.findings), len({f.path for f in result.findings}), len(result.errors),
                     result.files_checked)


def _progress(disabled: bool, no_color: bool):
    """A transient progress bar on stderr, for long runs on a terminal only."""
    if disabled or not sys.stderr.isatty():
        return None, None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=Console(file=sys.stderr, no_color=no_color), transient=True)
    state = {"task": None, "done": 0, "total": 0}

    def on_targets(total: int) -> None:
        if total >= 50:
            progress.start()
            state["task"] = progress.add_task("lint", total=total)
            state["total"] = total

    def advance(n: int) -> None:
        # Called per file as its result comes in (a worker's file, or a cache hit); the files of a
        # crashed worker's chunk are taken back (n < 0) and counted again when linted again.
        if state["task"] is not None:
            state["done"] = max(0, min(state["total"], state["done"] + n))
            progress.update(state["task"], completed=state["done"])

    def finish() -> None:
        if state["task"] is not None:
            progress.stop()

    return advance, on_targets, finish


@main.command("rules")
@click.option("--format", "output_format", default="text", type=click.Choice(["text", "json"]))
@click.option("--all", "show_all", is_flag=True, help="Also list retired codes.")
def rules_command(output_format, show_all):
    """List every rule: code, name, default on/off, summary."""
    from .rules import ALL_RULES, DEFAULT_POLICY, RETIRED

    if output_format == "json":
        import json

        click.echo(json.dumps([{"code": r.code, "name": r.name, "default": r.default_enabled,
                                "summary": r.summary} for r in ALL_RULES], indent=2))
        return
    color = _use_color("auto", sys.stdout)
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None if not color else None)
    for col in ("code", "name", "default", "summary"):
        table.add_column(col, overflow="fold")
    for r in ALL_RULES:
        table.add_row(r.code, r.name, "on" if r.default_enabled else "off", r.summary)
    if show_all:
        for code, why in RETIRED.items():
            table.add_row(code, "(retired)", "-", why)
    _console(sys.stdout, color).print(table)
    click.echo(DEFAULT_POLICY)


@main.command("rule")
@click.argument("code")
def rule_command(code):
    """Print the documentation page of rule CODE (e.g. BN103)."""
    from .rules.catalog import CATALOG, CATALOG_BY_CODE

    code_u = code.upper()
    rule = CATALOG_BY_CODE.get(code_u) or next((r for r in CATALOG if r.name == code.lower()), None)
    if rule is None:
        raise click.UsageError(f"unknown rule `{code}` (see `bnlint rules`)")
    text = rule_page(rule.code)
    if text is None:
        raise click.ClickException(f"documentation page for {rule.code} is missing from this installation")
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(text))
    else:
        click.echo(text)


if __name__ == "__main__":  # pragma: no cover
    run()
