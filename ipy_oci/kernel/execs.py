"""Running one command attached to the cell: the hot path of ``%%oci exec``.

parse -> ``Runtime.exec_create`` (owner: this kernel) -> ``start_and_attach``
streaming into the cell -> exit code -> the session is removed, in every case.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..engine.attached import ProcessResult
from ..engine.views import describe_exit
from ..errors import ExecError, NoSuchExecSession, OciError, UsageError
from .failures import ExecInterrupted, ExecTimeout
from .interrupts import StopControl
from .streams import CellOutput

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.exec_session import ExecSession
    from ..engine.records import ExecConfig
    from ..engine.runtime import Runtime
    from .context import KernelContext

# Programs that take their script as ``-c BODY``; others read it from stdin.
_TAKES_DASH_C = ("sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "busybox")
# Longer bodies go through stdin: one argv string may not exceed 128 KiB on Linux.
ARG_LIMIT = 96 * 1024


@dataclass
class BodyProgram:
    """How a cell body becomes a process: argv, maybe stdin, maybe extra env."""

    command: list[str]
    stdin: bytes | None = None
    env: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.command[0] if self.command else "?"


def body_program(body: str, shell: str | None = None,
                 interpreter: str | None = None) -> BodyProgram:
    if shell and interpreter:
        raise UsageError("%%oci: give --shell or --interpreter, not both")
    argv = shlex.split(interpreter or shell or "sh")
    if not argv:
        raise UsageError("%%oci: --shell/--interpreter needs a program")
    name = os.path.basename(argv[0])
    python = name.startswith("python")
    env = ["PYTHONUNBUFFERED=1"] if python else []  # stream prints as they happen
    data = body.encode()
    dash_c = interpreter is None or python or name in _TAKES_DASH_C
    if dash_c and len(data) <= ARG_LIMIT and "\0" not in body:
        return BodyProgram([*argv, "-c", body], None, env)
    return BodyProgram(argv, data, env)


class _StdinFeed:
    """The body on a pipe; a thread writes it so a large body never blocks the cell."""

    def __init__(self, data: bytes) -> None:
        self.fd, self._w = os.pipe()
        self._thread = threading.Thread(target=self._write, args=(data,), daemon=True,
                                        name="ipy-oci-stdin")
        self._thread.start()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._w, view[:65536]):]
        except OSError:
            pass  # the reader went away (the process ended early)
        finally:
            os.close(self._w)

    def close(self) -> None:
        os.close(self.fd)
        self._thread.join(timeout=5)


def reap_quietly(sess: ExecSession) -> None:
    """Stop and remove a session if it is still there; never raises."""
    try:
        sess.remove(force=True)
    except NoSuchExecSession:
        pass
    except OciError as exc:
        sys.stderr.write(f"ipy-oci: could not reap exec session {sess.id[:12]}: {exc}\n")


def attached_exec(ctx: KernelContext, rt: Runtime, ctr: Container, config: ExecConfig,
                  ctl: StopControl, kind: str, stdin: bytes | None = None,
                  session: ExecSession | None = None,
                  on_output: Callable[[int, bytes], None] | None = None,
                  on_started: Callable[[ExecSession], None] | None = None) -> ProcessResult:
    """Run ``config`` in ``ctr`` attached, with output streaming into the cell (or to
    ``on_output``), and reap the session in every case.

    ``session``: one already created for ``config`` (a widget creates it first so
    that errors surface in the cell). ``ctl`` must be entered by the caller (it
    owns Ctrl-C for the whole cell) or driven by the caller's thread.
    """
    cell = CellOutput() if on_output is None else None
    sink = on_output or cell
    assert sink is not None
    feed: _StdinFeed | None = None
    sess = session
    result = ProcessResult(kind=kind, container_id=ctr.id, container_name=ctr.name,
                           command=list(config.command), started_at=time.time())

    def started(s: ExecSession) -> None:
        ctl.bind(s)
        if on_started is not None:
            on_started(s)

    try:
        if sess is None:
            if stdin is not None:
                config.attach_stdin = True
            sess = rt.exec_create(ctr, config, owner_kernel=ctx.kernel_id)
        result.session_id = sess.id
        if not ctl.interrupted:
            if stdin is not None:
                feed = _StdinFeed(stdin)
            result.started_at = time.time()  # wall clock around the process, spawn included
            res = sess.start_and_attach(sink, stdin_fd=feed.fd if feed else None,
                                        should_stop=ctl.should_stop, interrupt_grace=0.0,
                                        on_started=started, remove=True)
            result.exit_code = res.exit_code
            sess = None  # start_and_attach(remove=True) reaped it
        result.finished_at = time.time()
    finally:
        if cell is not None:
            cell.close()
        if feed is not None:
            feed.close()
        if sess is not None:
            reap_quietly(sess)  # it never ran, or an error cut the attach short
    result.interrupted, result.timed_out = ctl.interrupted, ctl.timed_out
    if cell is not None:
        result.output = cell.digests()
    return result


def raise_for(result: ProcessResult, what: str, no_raise: bool = False) -> None:
    """The cell's verdict: interrupted always raises; a failure unless --no-raise."""
    code = result.exit_code if result.exit_code is not None else -1
    where = f"in container {result.container_name}"
    sid = (f"exec session {result.session_id[:12]}" if result.session_id
           else f"container {result.container_id[:12]}")
    if result.interrupted:
        # The class name says "interrupted": the message starts with what was.
        raise ExecInterrupted(
            f"{what} {where} was stopped by the interrupt: exit code "
            f"{describe_exit(result.exit_code)} after {result.duration:.1f} s; {sid} reaped",
            code)
    if no_raise:
        return
    if result.timed_out:
        raise ExecTimeout(
            f"{what} {where} timed out and was stopped (--timeout): exit code "
            f"{describe_exit(result.exit_code)}; {sid} reaped", code)
    if result.exit_code != 0:
        raise ExecError(
            f"{what} {where} exited with code {describe_exit(result.exit_code)} "
            f"({sid}; '%oci last' has the details, --no-raise does not raise)", code)
