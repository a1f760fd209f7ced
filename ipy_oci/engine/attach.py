"""``attach``: joining a process someone else started, through conmon's attach socket.

A container's main process (``attach CONTAINER``), or a detached exec session
(``attach SESSION``, by its ID). The relay is engine/attached.py's loop; what is
added here is the target's checks, its ``attach`` event and the exit code.

Several viewers may be attached at once (conmon serves them all). Leaving with the
detach keys (or Ctrl-C with ``sig_proxy=False``) leaves the process running.
While attached to a container, its attach hold is taken as ``run`` takes it: a
``--rm`` container is then removed by us once its exit code is read.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from ..errors import InvalidState, NoSuchContainer, NoSuchExecSession, OciError
from ..state.records import ExecState, State
from .attached import OutputCallback, ProcessResult, attach_until_exit
from .events import container_event, exec_event, last_exit_code

if TYPE_CHECKING:
    import socket

    from .container import Container
    from .exec_session import ExecSession
    from .runtime import Runtime


def attach_target(rt: Runtime, ref: str) -> Container | ExecSession:
    """A container by name or ID, else an exec session by its ID."""
    try:
        return rt.touch(rt.lookup_container(ref))
    except NoSuchContainer:
        try:
            return rt.lookup_exec(ref).sync()
        except NoSuchExecSession:
            pass
        raise NoSuchContainer(ref) from None


def _connect(open_socket: Callable[[], socket.socket], what: str) -> socket.socket:
    try:
        return open_socket()
    except OSError as exc:
        raise InvalidState(f"cannot attach to {what}: its attach socket is gone "
                           f"({exc.strerror or exc}); it may have just exited") from None


def attach_container(
    ctr: Container,
    on_output: OutputCallback,
    stdin_fd: int | None = None,
    detach_keys: bytes = b"",
    sig_proxy: bool = True,
    on_started: Callable[[Container], None] | None = None,
) -> ProcessResult:
    """Stream a running container's main process until it exits or we detach.

    With ``sig_proxy`` Ctrl-C is forwarded as SIGINT (a second one stops the
    container, as with ``run``); without it Ctrl-C detaches.
    """
    from ..oci.attach import pump

    cfg = ctr.record.config
    driver = cfg.log_driver or "k8s-file"
    if driver == "passthrough":
        raise InvalidState("this container is using the 'passthrough' log driver, cannot "
                           "attach: this container is not logging output")
    if ctr.state != State.RUNNING:
        hint = (f"start it with 'start --attach {ctr.name}'"
                if ctr.state in (State.CONFIGURED, State.CREATED, State.EXITED, State.STOPPED)
                else f"unpause it first with 'unpause {ctr.name}'"
                if ctr.state == State.PAUSED else "wait until it runs")
        raise InvalidState(f"you can only attach to running containers: {ctr.name} is "
                           f"{State.display(ctr.state)}; {hint}")
    ctr.attach_hold.hold()
    detached = False
    try:
        sock = _connect(ctr.attach_socket, f"container {ctr.name}")
        try:
            container_event(ctr, "attach")
            if on_started is not None:
                on_started(ctr)
            if cfg.tty:
                _redraw(ctr)

            def forward(sig: int) -> None:
                try:
                    ctr.kill(sig)
                except InvalidState:
                    pass  # it exited meanwhile

            out = attach_until_exit(partial(pump, sock), on_output, signal=forward,
                                    stop=lambda grace: ctr.stop(timeout=grace),
                                    stdin_fd=stdin_fd, detach_keys=detach_keys,
                                    interrupt_grace=math.inf,
                                    interrupt_detaches=not sig_proxy)
        finally:
            sock.close()
        detached = out.detached
        result = ProcessResult(kind="run", container_id=ctr.id, container_name=ctr.name,
                               command=list(cfg.command), interrupted=out.interrupted,
                               detached=detached, started_at=ctr.record.started_at)
        if detached:
            return result
        try:
            result.exit_code = ctr.wait()
            result.finished_at = ctr.record.finished_at
        except NoSuchContainer:  # removed by someone who did not wait for us
            result.exit_code = last_exit_code(ctr.runtime, ctr.id)
            result.finished_at = time.time()
        if cfg.auto_remove:
            _remove(ctr)  # its exit command left that to us (we held it)
        return result
    finally:
        ctr.attach_hold.release()
        if detached and cfg.auto_remove:
            # It may have exited while we held it: then nobody else removes it.
            try:
                if ctr.refresh().state == State.EXITED:
                    _remove(ctr)
            except NoSuchContainer:
                pass


def _redraw(ctr: Container) -> None:
    """SIGWINCH, as podman sends it: a shell or editor redraws its screen for the
    viewer who just arrived (a resize to the same size would not tell it)."""
    try:
        ctr.oci.kill_container(ctr.id, signal.SIGWINCH)
    except OciError:
        pass  # it exited meanwhile


def _remove(ctr: Container) -> None:
    try:
        ctr.remove(force=True)
    except NoSuchContainer:
        pass


def attach_exec(
    sess: ExecSession,
    on_output: OutputCallback,
    stdin_fd: int | None = None,
    detach_keys: bytes = b"",
    sig_proxy: bool = True,
    on_started: Callable[[ExecSession], None] | None = None,
    exit_wait: float = 10.0,
) -> ProcessResult:
    """Re-attach to a running exec session (one started with ``exec -d``, or one
    another client is attached to) until its process exits or we detach."""
    from ..oci.attach import pump
    from .reaping import stop_interrupted

    rec = sess.record
    if rec.state != ExecState.RUNNING:
        code = "" if rec.exit_code is None else f" (exit code {rec.exit_code})"
        raise InvalidState(f"exec session {sess.id[:12]} is {rec.state}{code}: only a "
                           "running exec session can be attached to")
    if not rec.conmon_pid:
        raise InvalidState(f"exec session {sess.id[:12]} runs in the foreground of the "
                           "client that started it (exec without -d or -t): it has no "
                           "attach socket; start it with 'exec -d' to attach to it later")
    sock = _connect(sess.attach_socket, f"exec session {sess.id[:12]}")
    try:
        exec_event(sess, "attach")
        if on_started is not None:
            on_started(sess)
        out = attach_until_exit(partial(pump, sock), on_output,
                                signal=lambda sig: sess.signal(sig),
                                stop=lambda grace: stop_interrupted(sess, grace),
                                stdin_fd=stdin_fd, detach_keys=detach_keys,
                                interrupt_grace=math.inf, interrupt_detaches=not sig_proxy)
    finally:
        sock.close()
    result = ProcessResult(kind="exec", container_id=rec.container_id, session_id=sess.id,
                           command=list(rec.config.command), interrupted=out.interrupted,
                           detached=out.detached, started_at=rec.started_at)
    ctr = sess.runtime.state.container(rec.container_id)
    result.container_name = ctr.name if ctr is not None else ""
    if out.detached:
        return result
    deadline = time.monotonic() + exit_wait
    while True:  # its exit command (or our sync) records the exit
        try:
            sess.sync()
        except NoSuchExecSession:
            break  # removed by its own client meanwhile
        if sess.state != ExecState.RUNNING or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    result.exit_code = sess.record.exit_code
    result.finished_at = sess.record.finished_at or time.time()
    return result

