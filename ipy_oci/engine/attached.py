"""Being attached to a process until it ends: one loop and one result for ``run``,
``exec`` and the notebook cells.

Ctrl-C (KeyboardInterrupt) is forwarded to the process as SIGINT, as a terminal
would; after ``interrupt_grace`` seconds, or at a second Ctrl-C, the process is
stopped. A caller's ``should_stop`` (a kernel interrupt, a ``--timeout``, a
websocket that went away) stops it at once.
"""

from __future__ import annotations

import signal as _signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

OutputCallback = Callable[[int, bytes], None]


@dataclass
class ProcessResult:
    """How an attached process ended (``run``, ``exec``, ``%%oci`` cells)."""

    kind: str  # "run" or "exec"
    container_id: str
    container_name: str = ""
    session_id: str = ""
    command: list[str] = field(default_factory=list)
    exit_code: int | None = None
    interrupted: bool = False
    detached: bool = False
    timed_out: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    # Per stream (stdout/stderr): byte counts and digests, filled in by the kernel.
    output: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return max(0.0, self.finished_at - self.started_at)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.interrupted and not self.timed_out

    def outcome(self) -> str:
        """'exited with code 137 (SIGKILL) after 1.20 s' (or interrupted, timed out)."""
        from .views import describe_exit

        how = ("interrupted" if self.interrupted else "timed out" if self.timed_out
               else "exited")
        return f"{how} with code {describe_exit(self.exit_code)} after {self.duration:.2f} s"


@dataclass
class AttachOutcome:
    detached: bool = False
    interrupted: bool = False


# How the output of a process is relayed until it ends (an ExecHandle's ``pump``, or
# oci.attach.pump over a container's attach socket): returns an AttachResult value.
Pump = Callable[..., str]


def attach_until_exit(
    pump: Pump,
    on_output: OutputCallback,
    signal: Callable[[int], object],
    stop: Callable[[float], object],
    stdin_fd: int | None = None,
    detach_keys: bytes = b"",
    should_stop: Callable[[], bool] | None = None,
    interrupt_grace: float = 2.0,
    interrupt_detaches: bool = False,
) -> AttachOutcome:
    """Relay until the output ends, the user detaches, or the process is stopped.

    ``signal(sig)`` signals the process; ``stop(timeout)`` stops it (stop signal,
    ``timeout``, SIGKILL). With ``interrupt_detaches`` (``attach --sig-proxy=false``,
    a notebook cell) Ctrl-C detaches and leaves the process alone.
    """
    from ..oci.attach import AttachResult

    out = AttachOutcome()
    deadline: float | None = None

    def stop_requested() -> bool:
        if should_stop is not None and should_stop():
            return True
        return deadline is not None and time.monotonic() > deadline

    while True:
        try:
            res = pump(on_output, stdin_fd=stdin_fd, detach_keys=detach_keys,
                       should_stop=stop_requested, poll_interval=0.05 if deadline else 0.2)
            if res == AttachResult.DETACHED:
                out.detached = True
            elif res == AttachResult.STOPPED:
                out.interrupted = True
                stop(0 if deadline else interrupt_grace)
            return out
        except KeyboardInterrupt:
            if interrupt_detaches:
                out.detached = True
                return out
            if out.interrupted:  # a second Ctrl-C: stop now
                deadline = time.monotonic()
                continue
            out.interrupted = True
            signal(_signal.SIGINT)
            deadline = time.monotonic() + interrupt_grace
            stdin_fd = None
