"""Kernel interrupts and ``--timeout`` for one attached exec, as a terminal does them.

A terminal's Ctrl-C reaches the whole foreground process group, so a shell and
the command it waits on stop together. ``StopControl`` does the same for an exec
session (runc starts each exec process as its own session and group leader):

1. Ctrl-C (SIGINT to the kernel) -> SIGINT to the session's process group.
   At ``--timeout`` the group gets SIGTERM instead.
2. After the grace period (or on a second Ctrl-C) -> SIGKILL to the group, and
   ``should_stop`` tells ``ExecSession.start_and_attach`` to stop and reap.

While active it replaces the kernel's SIGINT handler, so no KeyboardInterrupt can
land half-way through creating or reaping a session; the caller reports the
interruption once the session is gone.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine.exec_session import ExecSession


class StopControl:
    def __init__(self, grace: float = 2.0, timeout: float | None = None) -> None:
        self.grace = max(0.0, grace)
        self.timeout = timeout
        self.interrupted = False
        self.timed_out = False
        self._session: ExecSession | None = None
        self._started = time.monotonic()
        self._kill_at: float | None = None
        self._pending: int | None = None  # a signal to forward once the session runs
        self._saved: Any = None
        self._installed = False

    # -- context: our SIGINT handler while a cell runs (main thread only) ----------------
    def __enter__(self) -> StopControl:
        self._started = time.monotonic()
        if threading.current_thread() is threading.main_thread():
            self._saved = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._saved)
            self._installed = False

    def _on_sigint(self, _signum: int, _frame: FrameType | None) -> None:
        self.interrupt()

    # -- events ---------------------------------------------------------------------------
    def interrupt(self) -> None:
        """A Ctrl-C: the first forwards SIGINT, the next one stops at once."""
        now = time.monotonic()
        if self.interrupted:
            self._kill_at = now
            return
        self.interrupted = True
        self._begin_stop(signal.SIGINT, now)

    def _begin_stop(self, sig: int, now: float) -> None:
        if self._kill_at is None:
            self._kill_at = now + self.grace
        if self._session is None:
            self._pending = sig
        else:
            self._signal_group(sig)

    def bind(self, session: ExecSession) -> None:
        """``on_started``: the session's process now exists."""
        self._session = session
        self._started = time.monotonic()  # --timeout counts from here
        if self._pending is not None:
            self._signal_group(self._pending)
            self._pending = None

    @property
    def stopping(self) -> bool:
        return self._kill_at is not None

    def should_stop(self) -> bool:
        now = time.monotonic()
        if (self.timeout is not None and not self.timed_out and not self.interrupted
                and now - self._started >= self.timeout):
            self.timed_out = True
            self._begin_stop(signal.SIGTERM, now)
        if self._kill_at is not None and now >= self._kill_at:
            self._signal_group(signal.SIGKILL)
            return True
        return False

    def _signal_group(self, sig: int) -> None:
        if self._session is not None:
            signal_group(self._session, sig)


def signal_group(sess: ExecSession, sig: int) -> bool:
    """Signal an exec session's process group, as a terminal would; False if it is gone.

    ``signal(0)`` checks the leader's identity (pid + start time): while the leader
    lives its pid names its group, so ``killpg`` cannot reach a recycled pid.
    """
    if getattr(sess, "remote", False):
        return sess.signal(sig)  # a Slurm step: Slurm signals its whole process tree
    pid = sess.record.pid
    if pid <= 0 or not sess.signal(0):
        return False
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return True
    except OSError:
        pass
    return sess.signal(sig)
