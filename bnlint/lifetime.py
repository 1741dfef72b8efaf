"""No process bnlint starts outlives it, and an interrupt stops a run promptly.

* :class:`Interrupted` is raised in the main thread for a terminating signal
  (SIGINT, SIGTERM, SIGHUP) while :func:`signals_raise` is active, so that
  ``finally`` clauses and ``with`` blocks run: worker processes are ended, a
  confirm script's whole process tree is killed, temporary folders are removed.
  The ``bnlint`` command then exits with 128 + the signal number (130 for
  SIGINT, 143 for SIGTERM, 129 for SIGHUP), the status a shell reports for a
  process killed by that signal.
* :class:`Lifeline` and :func:`die_with_parent` make child processes end when
  their parent ends in any way, SIGKILL included: ``prctl(PR_SET_PDEATHSIG)``
  on Linux, and everywhere a pipe whose write end only the parent holds; a
  daemon thread in the child waits for its end of file and exits.

Standard library only (the confirm runner imports it and never loads libcst).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

TERMINATING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


class Interrupted(BaseException):
    """A terminating signal arrived; raised (not KeyboardInterrupt) so that cleanup code runs and
    the command can exit with 128 + ``signum``."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:  # pragma: no cover
            return f"signal {self.signum}"


_FIRED: List[int] = []  # signals whose Interrupted was raised in this process (see raise_if_interrupted)


@contextmanager
def signals_raise(signums: Sequence[int] = TERMINATING, replace: bool = False) -> Iterator[None]:
    """While active, each signal of ``signums`` raises :class:`Interrupted` in the main thread.

    A signal that is ignored (``nohup``, a background job's SIGINT) stays ignored. With
    ``replace=False`` only signals whose action is the default (terminate at once, no cleanup)
    are taken over, and leaving the block by such an :class:`Interrupted` delivers the signal
    again with its default action once cleanup has run: the process still ends by it, as its
    parent expects. With ``replace=True`` (the ``bnlint`` command) other handlers are replaced
    too and the exception propagates for the caller to turn into an exit status.

    Only the first signal raises: later ones, while cleanup runs, are ignored, so a second
    Ctrl-C cannot cut the cleanup short (it is bounded by its own deadlines).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set (and only run) in the main thread
        return
    fired: List[int] = []
    owner = os.getpid()

    def handler(signum, frame):
        if os.getpid() != owner:
            # A child forked meanwhile (a worker still starting, before it sets its own
            # handlers): it ends by the signal, as it would have without this handler.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if fired:
            return
        fired.append(signum)
        _FIRED.append(signum)
        raise Interrupted(signum)

    previous: Dict[int, object] = {}
    for signum in signums:
        current = signal.getsignal(signum)
        if current == signal.SIG_IGN or current is None:
            continue
        if current != signal.SIG_DFL and not replace:
            continue
        previous[signum] = current
        signal.signal(signum, handler)
    try:
        yield
    except Interrupted as exc:
        if fired and not replace and previous.get(exc.signum) == signal.SIG_DFL:
            _restore(previous)
            previous = {}
            os.kill(os.getpid(), exc.signum)  # the default action: the process ends by this signal
        raise
    finally:
        _restore(previous)
        _FIRED.clear()


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` again if a signal's exception was swallowed on its way up: a
    handler can run inside native code (LibCST's parser checks for signals) whose error is then
    caught as an ordinary failure. Loops call this between files, so a run still stops at once."""
    if _FIRED:
        raise Interrupted(_FIRED[0])


def _restore(previous: Dict[int, object]) -> None:
    for signum, action in previous.items():
        signal.signal(signum, action)


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0),
                          ctypes.c_ulong(0)) == 0
    except (OSError, AttributeError):  # pragma: no cover - no prctl in this libc
        return False


def set_child_subreaper(on: bool = True) -> bool:
    """Linux: orphaned descendants are reparented to this process instead of init."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0)


_OPEN_WRITERS: List[object] = []  # write ends of the lifelines this process holds


class Lifeline:
    """A pipe from this process to its children: the write end stays here and is never written,
    so a child's read end reaches end of file exactly when this process has ended (any way,
    SIGKILL included) or :meth:`cut` was called. ``reader`` is passed to the children (as an
    argument of ``multiprocessing`` processes, which transfers it for every start method)."""

    def __init__(self, ctx=None):
        import multiprocessing

        self.reader, self.writer = (ctx or multiprocessing.get_context()).Pipe(duplex=False)
        _OPEN_WRITERS.append(self.writer)

    def cut(self) -> None:
        """Every child holding this lifeline exits now."""
        if self.writer in _OPEN_WRITERS:
            _OPEN_WRITERS.remove(self.writer)
        for end in (self.writer, self.reader):
            try:
                end.close()
            except OSError:  # pragma: no cover
                pass


def die_with_parent(lifeline=None, on_death: Optional[Callable[[], None]] = None) -> None:
    """Called first thing in a child process: end this process when its parent ends."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # A forked child holds copies of the parent's write ends: close them, or the pipe never ends.
    while _OPEN_WRITERS:
        try:
            _OPEN_WRITERS.pop().close()
        except OSError:  # pragma: no cover
            pass
    if lifeline is None:
        return

    def watch() -> None:
        try:
            while True:
                lifeline.recv_bytes()  # nothing is ever sent: returns only by end of file
        except (EOFError, OSError):
            pass
        if on_death is not None:
            on_death()
        os._exit(1)

    threading.Thread(target=watch, name="bnlint-lifeline", daemon=True).start()
