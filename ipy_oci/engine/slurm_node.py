"""The node side of a Slurm container: the job's holder and the steps' halves
(``ipy-oci container slurm-hold|slurm-attach|slurm-exec|slurm-sweep``), run with the
node's runroot and ``--slurm-node``, where the container is an ordinary one."""

from __future__ import annotations

import os
import signal as _signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .. import slurm
from ..errors import NoSuchContainer, OciError, UsageError
from ..state.records import (
    ExecState,
    State,
)
from .container import Container
from .slurm_placement import ATTACH_TIMEOUT, CLEANUP_MARGIN, POLL, REAP_INTERVAL

if TYPE_CHECKING:
    from .runtime import Runtime


# -- the node side ---------------------------------------------------------------------------
def record_node(rt: Runtime, ctr_id: str) -> None:
    """The holder, first thing on its node: where the container runs."""
    job = rt.state.slurm_job(ctr_id)
    if job is None:
        raise NoSuchContainer(ctr_id)
    rt.state.update(job, node=rt.config.slurm_node, node_runroot=str(rt.runroot),
                    job_id=os.environ.get("SLURM_JOB_ID", job.job_id),
                    partition=os.environ.get("SLURM_JOB_PARTITION", job.partition),
                    job_state="RUNNING")


def hold(rt: Runtime, ctr: Container, attached: bool) -> int:
    """The job's foreground process on the node: run the container, stop it on
    SIGTERM within Slurm's KillWait, reap its exec sessions' dead clients, and exit
    with its exit code."""
    terminate = {"at": 0.0}

    def on_term(_sig: int, _frame: object) -> None:
        terminate["at"] = terminate["at"] or time.monotonic()

    _signal.signal(_signal.SIGTERM, on_term)
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # Slurm signals the whole step
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
    if attached:
        ctr.init(exit_delay=rt.config.attached_exit_delay)
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while ctr.state == State.CREATED and not terminate["at"]:
            if time.monotonic() > deadline:
                ctr.start()  # nobody attached (its client died): it runs all the same
                break
            time.sleep(POLL)
            ctr.refresh()
    else:
        ctr.start()
    grace = max(0.0, slurm.kill_wait() - CLEANUP_MARGIN)
    next_reap = time.monotonic() + REAP_INTERVAL
    exit_file = ctr.oci.exit_file_path(ctr.id)
    from ..oci.fsutil import wait_for_file

    code: int | None = None
    while True:
        try:
            if terminate["at"]:
                if ctr.record.state in (*State.LIVE, State.CREATED):
                    # (A created one, never attached to, is deleted from the runtime.)
                    ctr.stop(timeout=min(float(ctr.record.config.stop_timeout), grace))
                break
            ctr.refresh()
        except NoSuchContainer:
            break  # removed by the attached step (--rm), which read its code
        code = ctr.record.exit_code
        if ctr.record.state not in (*State.LIVE, State.CREATED, State.STOPPING):
            break
        if time.monotonic() >= next_reap:
            rt.touch(ctr)
            next_reap = time.monotonic() + REAP_INTERVAL
        wait_for_file(exit_file, 0.2)
    return _finish(rt, ctr, code)


def _finish(rt: Runtime, ctr: Container, code: int | None) -> int:
    """Clean up after the exit; the job's exit code is the container's."""
    try:
        ctr.refresh()
    except NoSuchContainer:
        return _job_code(code)
    code = ctr.record.exit_code
    if ctr.record.config.auto_remove and ctr.record.state == State.EXITED:
        # An attached step reading the exit code removes it itself.
        ctr._wait_for_attached_client(rt.config.attached_client_grace)
        try:
            ctr.remove()
        except NoSuchContainer:
            pass
    return _job_code(code)


def _job_code(code: int | None) -> int:
    return 0 if code is None or code < 0 else min(code, 255)


def sweep(rt: Runtime, ctr: Container) -> None:
    """``container slurm-sweep``: after a holder was killed, end what it left."""
    try:
        ctr.refresh()
        if ctr.record.state in State.ACTIVE:
            ctr.stop(timeout=0)
        ctr.refresh()
    except NoSuchContainer:
        return
    if ctr.record.config.auto_remove:
        ctr.remove(force=True, timeout=0)


def exec_on_node(rt: Runtime, ctr: Container, session_id: str, detach: bool,
                 keep: bool = False) -> int:
    """``container slurm-exec``: adopt the session its login-side client created and
    run it here, attached to this step's stdin and output (with ``-t``: srun's pty,
    put in raw mode, its size passed on). SIGINT (``scancel --signal=INT``) is
    forwarded as a terminal's Ctrl-C; SIGTERM stops and reaps the session."""
    from ..state.procs import identity

    sess = rt.lookup_exec(session_id)
    if sess.record.container_id != ctr.id:
        raise UsageError(f"exec session {session_id[:12]} is not {ctr.name}'s")
    sess._require(ExecState.CREATED, "started")
    pid, start = identity()
    rt.state.update(sess.record, owner_pid=pid, owner_start=start)  # judged on this node
    if detach:
        sess.start()
        return 0
    stop_requested = _stop_on_term()
    config = sess.record.config
    stdin_fd = sys.stdin.fileno() if config.attach_stdin or config.tty else None
    with _node_terminal(sess.resize if config.tty else None) as started:
        res = sess.start_and_attach(_write_stream, stdin_fd=stdin_fd,
                                    should_stop=stop_requested, remove=not keep,
                                    on_started=lambda _s: started())
    code = res.exit_code
    return 125 if code is None or code < 0 else min(code, 255)


def _stop_on_term() -> Callable[[], bool]:
    """A node half's ``should_stop``: Slurm's SIGTERM (or a hangup) to the step asks
    for the ordinary stop and reap, not a death that leaves the process running."""
    asked = threading.Event()
    for sig in (_signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, lambda _s, _f: asked.set())
    return asked.is_set


@contextmanager
def _node_terminal(resize: Callable[[int, int], None] | None) -> Iterator[Callable[[], None]]:
    """srun --pty gave this step a terminal: raw (the container's own pty does the
    line discipline), and its size, now and on every SIGWINCH, passed to ``resize``
    once the process runs (call the yielded function then)."""
    import termios
    import tty

    if resize is None or not os.isatty(0):
        yield lambda: None
        return
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    running = {"yes": False}

    def apply(*_args: object) -> None:
        if not running["yes"]:
            return
        size = os.get_terminal_size(0)
        if size.lines and size.columns:
            try:
                resize(size.lines, size.columns)
            except OciError:
                pass

    def started() -> None:
        running["yes"] = True
        apply()

    old = _signal.signal(_signal.SIGWINCH, apply)
    try:
        yield started
    finally:
        _signal.signal(_signal.SIGWINCH, old)
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


def attach_on_node(rt: Runtime, ctr: Container, remove: bool) -> int:
    """``container slurm-attach``: start the container the holder created and stream
    it to this step (an attached ``run``'s node half). SIGTERM stops it."""
    stop_requested = _stop_on_term()

    cfg = ctr.record.config
    stdin_fd = sys.stdin.fileno() if cfg.stdin else None
    with _node_terminal(ctr.resize if cfg.tty else None) as started:
        res = ctr.run_attached(_write_stream, stdin_fd=stdin_fd,
                               should_stop=stop_requested, remove=remove,
                               already_init=True, on_started=lambda _c: started())
    code = res.exit_code
    return 125 if code is None or code < 0 else min(code, 255)


def _write_stream(stream: int, data: bytes) -> None:
    """The node half's output, on the step's stdout (stream 2) or stderr (3)."""
    view = memoryview(data)
    fd = 2 if stream == 3 else 1
    while view:
        view = view[os.write(fd, view):]
