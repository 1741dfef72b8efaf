"""Entry point of the child process that runs the user's script under tracing.

    python -m bnlint.confirm.child CONFIG.json

The parent (``runner.py``) writes the config and reads the result JSON back.
The recorder stops the script from inside a hook and this module ends the
process with ``os._exit`` right after writing the result, so neither the
user's ``except`` clauses nor ``finally``/``atexit`` code can delay or swallow
the stop; the keeper (``keeper.py``) then kills every process the script started.
"""
from __future__ import annotations

import json
import os
import runpy
import sys
import time
import traceback


def write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def _exit() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)


def main(config_path: str) -> None:
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    script = config["script"]
    start = time.monotonic()

    from .result import ConfirmResult

    try:
        from ._torch import require_torch

        require_torch()
    except ImportError as exc:
        write_json(config["result"], ConfirmResult.failure(str(exc), script=script).to_json())
        _exit()

    from .script_analysis import result_from
    from .tracer import Recorder

    reason = {"text": ""}

    def on_stop(recorder: Recorder, how: str) -> None:
        open(config["busy"], "w").close()  # tells the parent the analysis has begun
        try:
            result = result_from(recorder, how, reason["text"], time.monotonic() - start, script)
        except BaseException as exc:  # a bug or an odd model: report it, never hang
            traceback.print_exc()
            result = ConfirmResult.failure(
                f"measurement failed: {type(exc).__name__}: {exc}", script=script
            )
        write_json(config["result"], result.to_json())
        _exit()

    recorder = Recorder(
        steps=config["steps"],
        probe=config["probe"],
        max_seconds=config["max_seconds"],
        cap_samples=config["cap_samples"],
        cap_bytes=config["cap_bytes"],
        on_stop=on_stop,
    )
    recorder.install()
    sys.argv = [script] + list(config["args"])
    sys.path.insert(0, os.path.dirname(script))
    open(config["started"], "w").close()  # --max-seconds counts from here (parent side too)
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            reason["text"] = f"the script called sys.exit({exc.code!r})"
    except BaseException as exc:
        traceback.print_exc()
        reason["text"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    recorder.stop(how="end")
    _exit()  # only reached if the recorder had already stopped


if __name__ == "__main__":
    main(sys.argv[1])
