"""The keeper: a small process between bnlint and the user's script that ends the
script's whole process tree, whatever the script did and however bnlint ended.

    python -I keeper.py BNLINT_PID TMPDIR CHILD_ARGV...

Run as a plain file (``-I``: no site packages, no PYTHONPATH, not even this folder
on ``sys.path``), so it starts fast and imports nothing but the standard library.

* On Linux it is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a process the
  script starts stays below the keeper even when it leaves the script's process
  group and session (``setsid``, ``start_new_session=True``) or its parent exits.
  Every descendant of the keeper is therefore the script's, and all of them are
  killed: frozen with SIGSTOP until no new one appears, then SIGKILLed and reaped.
  Elsewhere the keeper records the script's descendants every 0.2 s and kills
  those and the script's process group.
* It stops when the script's process ends, when its standard input (a pipe whose
  write end only bnlint holds) reaches end of file (bnlint asks it to stop, or
  bnlint died, even by SIGKILL), or on SIGTERM/SIGHUP. If bnlint is gone, the
  keeper also removes bnlint's temporary folder. SIGINT is left to bnlint.
* It ends the way the script's process ended (its exit status, or killed by the
  same signal), so bnlint reports what the script did.
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from typing import Dict, Optional, Set

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SCAN_EVERY_S = 0.2  # where there is no subreaper: how often the script's descendants are recorded
KILL_DEADLINE_S = 5.0


_LIBC = []  # loaded before forking: the child only calls into it


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        if not _LIBC:
            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        return _LIBC[0].prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                              ctypes.c_ulong(0)) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> Dict[int, int]:
    """pid -> parent pid of every process visible (/proc, else ps)."""
    table: Dict[int, int] = {}
    if os.path.isdir("/proc/self"):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue  # ended meanwhile
            table[int(name)] = int(fields[1])
        return table
    try:
        out = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return table
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            table[int(parts[0])] = int(parts[1])
    return table


def _descendants(roots: Set[int]) -> Set[int]:
    children: Dict[int, list] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found: Set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:  # gone already, or not ours any more
        pass


class Keeper:
    def __init__(self, argv, subreaper: bool):
        self.subreaper = subreaper
        self.status: Optional[int] = None  # the script process's wait status
        self.known: Set[int] = set()  # descendants seen so far (only needed without a subreaper)
        self.child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True,
                                      preexec_fn=self._in_child)

    @staticmethod
    def _in_child() -> None:
        # If the keeper itself is killed (SIGKILL), the script at least does not run on.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def reap(self, block: bool = False) -> bool:
        """Collect ended children; False once the keeper has none left."""
        while True:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                return False
            except InterruptedError:  # pragma: no cover
                continue
            if pid == 0:
                return True
            if pid == self.child.pid:
                self.status = status
                self.child.returncode = 0  # reaped here: Popen must not wait for it again
            if block:
                return True

    def scan(self) -> None:
        if not self.subreaper:
            self.known |= _descendants({self.child.pid} | self.known)

    def kill_all(self) -> None:
        """Kill every descendant: freeze them (no more forks), then SIGKILL and reap them."""
        me = os.getpid()
        deadline = time.monotonic() + KILL_DEADLINE_S
        if os.name == "posix":
            try:
                os.killpg(self.child.pid, signal.SIGKILL)  # the script's group, at once
            except OSError:
                pass
        while time.monotonic() < deadline:
            frozen: Set[int] = set()
            while time.monotonic() < deadline:
                roots = {me} if self.subreaper else {me} | self.known
                found = _descendants(roots) | (set() if self.subreaper else self.known)
                found.discard(me)
                new = found - frozen
                if not new:
                    break
                for pid in new:
                    _signal(pid, signal.SIGSTOP)
                frozen |= new
            for pid in frozen:
                _signal(pid, signal.SIGKILL)
            self.known.clear()
            while self.reap() and time.monotonic() < deadline:
                time.sleep(0.01)  # killed children not reaped yet (or a zombie's parent ending)
            if not frozen:
                return


def main(argv) -> None:
    parent, tmp, command = int(argv[1]), argv[2], argv[3:]
    stop = []
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: bnlint decides, then closes our stdin
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), lambda signum, frame: stop.append(signum))
    keeper = Keeper(command, _prctl(PR_SET_CHILD_SUBREAPER, 1))
    last_scan = 0.0
    try:
        while not stop:
            keeper.reap()
            if keeper.status is not None:
                break  # the script's process ended: now the rest of its tree
            now = time.monotonic()
            if now - last_scan >= SCAN_EVERY_S:
                keeper.scan()
                last_scan = now
            try:
                readable, _, _ = select.select([0], [], [], 0.05)
            except InterruptedError:  # pragma: no cover - retried by Python >= 3.5 anyway
                continue
            if readable and not os.read(0, 4096):
                break  # bnlint closed the pipe, or ended
    finally:
        keeper.kill_all()
    if os.getppid() != parent:  # bnlint is gone: nobody else will remove its folder
        shutil.rmtree(tmp, ignore_errors=True)
    _exit_like(keeper.status)


def _exit_like(status: Optional[int]) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if status is None:
        os._exit(128 + signal.SIGKILL)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the script's crash, not the keeper's
        except (ImportError, ValueError, OSError):
            pass
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL: no handler to reset
            pass
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # a signal that does not end a process by default
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


if __name__ == "__main__":
    main(sys.argv)
