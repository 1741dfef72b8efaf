"""Parent side of ``bnlint confirm``: run the user's script in a child process,
in its own process group/session, and always leave nothing running.

On POSIX the child runs under the keeper (``keeper.py``), which kills the
script's whole process tree, including processes that left its session,
when bnlint asks, when the script's process ends, and when bnlint dies (even
by SIGKILL). SIGTERM and SIGHUP to bnlint (when nothing else handles them)
and Ctrl-C stop the run the same way and remove the temporary folder; the
process then still ends by that signal.

No torch here: the parent only spawns, waits, kills and reads JSON.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence

from ..lifetime import signals_raise
from .result import ConfirmResult

# After --max-seconds the child stops at its next forward call or optimizer
# step; if it shows no sign of that within this grace, it is killed.
STOP_GRACE_S = 2.0
# Once the child has started measuring, it gets this long to finish.
ANALYSIS_GRACE_S = 120.0
# --max-seconds counts from the start of the script; importing torch and
# installing the hooks before that may take this long on a busy machine.
STARTUP_GRACE_S = 60.0


@dataclass
class RunOutcome:
    result: ConfirmResult
    log: str  # what the script printed (stdout and stderr)


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


KEEPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keeper.py")
# Signals that end bnlint at once by default: while a script runs they stop it cleanly first.
_TERMINATE = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _spawn(argv: List[str], log, cwd: Optional[str], tmp: str) -> subprocess.Popen:
    env = dict(os.environ)
    # The child must import this very bnlint, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_package_root(), env.get("PYTHONPATH")]))
    if os.name == "posix":
        # The keeper starts the child in its own session and process group; its standard input
        # is the pipe whose end (closed by bnlint, or by bnlint's death) stops everything.
        return subprocess.Popen(
            [sys.executable, "-I", KEEPER, str(os.getpid()), tmp, *argv],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env,
        )
    return subprocess.Popen(  # pragma: no cover - Windows
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env,
        creationflags=subprocess.CREATE_NEW_PROCESS_GROUP,
    )


def kill_group(proc: subprocess.Popen) -> None:
    """Kill the child and everything it started: on POSIX, the keeper kills the whole tree."""
    if os.name == "posix":
        if proc.stdin is not None:
            try:
                proc.stdin.close()  # end of file: the keeper kills the tree, then exits
            except OSError:  # pragma: no cover
                pass
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:  # pragma: no cover - a keeper that hangs
            proc.kill()
    else:  # pragma: no cover - Windows
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


def run_script(
    script: str,
    args: Sequence[str] = (),
    *,
    steps: int = 13,
    probe: int = 8,
    max_seconds: float = 300.0,
    cap_samples: int = 128,
    cap_bytes: int = 32 * 2**20,
    python: Optional[str] = None,
    cwd: Optional[str] = None,
) -> RunOutcome:
    """Run ``script`` with ``args`` for ``steps`` training steps under tracing.

    Blocks until the child ends or is killed (``max_seconds`` plus a short
    grace, longer once measuring has begun); Ctrl-C kills the child's group too.
    """
    script = os.path.abspath(script)
    if not os.path.isfile(script):
        return RunOutcome(ConfirmResult.failure(f"no such script: {script}", script=script), "")
    started = time.monotonic()
    with signals_raise(_TERMINATE), tempfile.TemporaryDirectory(prefix="bnlint-confirm-") as tmp:
        config = {
            "script": script,
            "args": list(args),
            "result": os.path.join(tmp, "result.json"),
            "started": os.path.join(tmp, "started"),
            "busy": os.path.join(tmp, "measuring"),
            "steps": steps,
            "probe": min(probe, steps),
            "max_seconds": max_seconds,
            "cap_samples": cap_samples,
            "cap_bytes": cap_bytes,
        }
        config_path = os.path.join(tmp, "config.json")
        with open(config_path, "w", encoding="utf-8") as handle:
            json.dump(config, handle)
        log_path = os.path.join(tmp, "output.log")
        with open(log_path, "wb") as log:
            proc = _spawn(
                [python or sys.executable, "-m", "bnlint.confirm.child", config_path], log, cwd, tmp
            )
            try:
                timed_out = _wait(proc, config, max_seconds)
            finally:
                # Also reaps what the script left behind (loader workers, its own children).
                kill_group(proc)
        with open(log_path, encoding="utf-8", errors="replace") as handle:
            output = handle.read()
        result = _read_result(config["result"])
        if result is None:
            result = _no_result(proc, timed_out, max_seconds, script)
        result.seconds = time.monotonic() - started
    return RunOutcome(result, output)


def _wait(proc: subprocess.Popen, config: dict, max_seconds: float) -> bool:
    """Wait for the child; True when it overran its time and must be killed."""
    spawned = time.monotonic()
    script_started = None
    while proc.poll() is None:
        now = time.monotonic()
        if script_started is None and os.path.exists(config["started"]):
            script_started = now
        if script_started is None:
            limit = spawned + STARTUP_GRACE_S + max_seconds
        elif os.path.exists(config["busy"]):
            limit = script_started + max_seconds + ANALYSIS_GRACE_S
        else:
            limit = script_started + max_seconds + STOP_GRACE_S
        if now > limit:
            return True
        time.sleep(0.05)
    return False


def _read_result(path: str) -> Optional[ConfirmResult]:
    try:
        with open(path, encoding="utf-8") as handle:
            return ConfirmResult.from_json(json.load(handle))
    except (OSError, ValueError, KeyError):
        return None


def _no_result(proc, timed_out: bool, max_seconds: float, script: str) -> ConfirmResult:
    if timed_out:
        message = (
            f"the script did not reach a stopping point within --max-seconds {max_seconds:g}; "
            "it was killed with every process it started"
        )
    else:
        message = (
            f"the process running the script ended (exit status {proc.returncode}) before "
            "confirm could report; did the script call os._exit() or crash the interpreter?"
        )
    return ConfirmResult.failure(message, script=script)
