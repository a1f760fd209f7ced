"""ExecSession: the lifecycle of one process run inside a running container.

created -> running -> stopped(exit code) -> removed. The DB row is written at
each end of the hot path only; no container lock is taken (the container's
state is checked inside the insert transaction instead), so many execs on one
container never queue behind each other.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidState, NoSuchExecSession, UsageError
from ..oci.runtime import ExecRequest
from ..state.procs import identity, signal_process
from ..state.records import ExecConfig, ExecRecord, ExecState
from .attached import OutputCallback, ProcessResult, attach_until_exit
from .events import exec_event
from .names import new_id

if TYPE_CHECKING:
    from ..oci.runtime import ExecHandle, OCIRuntime
    from .container import Container
    from .runtime import Runtime


class ExecSession:
    def __init__(self, runtime: Runtime, record: ExecRecord) -> None:
        self.runtime = runtime
        self.record = record

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> str:
        return self.record.state

    @cached_property
    def oci(self) -> OCIRuntime:
        """The OCI runtime of the session's container (the one it was created with)."""
        ctr = self.runtime.state.container(self.record.container_id)
        return self.runtime.oci_named(ctr.config.runtime if ctr is not None else "")

    @property
    def bundle(self) -> Path:
        return self.oci.exec_bundle(self.id)

    def __repr__(self) -> str:
        return f"<ExecSession {self.id[:12]} {self.state} exit={self.record.exit_code}>"

    # -- creation -------------------------------------------------------------------
    @classmethod
    def create(cls, ctr: Container, config: ExecConfig, owner_kernel: str = "",
               session_id: str = "") -> ExecSession:
        if not config.command or not config.command[0]:
            raise UsageError("must provide a non-empty command to start an exec session")
        if config.preserve_fds < 0:
            raise UsageError("--preserve-fds must be zero or a positive number")
        pid, start = identity()
        rec = ExecRecord(id=session_id or new_id(), container_id=ctr.id, state=ExecState.CREATED,
                         config=config, created_at=time.time(), owner_pid=pid,
                         owner_start=start, owner_kernel=owner_kernel)
        rt = ctr.runtime
        if ctr.needs_sync():
            ctr.refresh()
        rt.state.add_exec_session(rec)
        sess = cls(rt, rec)
        sess.__dict__["oci"] = ctr.oci  # known already: spares a lookup
        sess.__dict__["container_record"] = ctr.record  # for its events, likewise
        return sess

    def _process_spec(self) -> dict[str, Any]:
        from .exec_process import exec_process

        ctr_dir = self.runtime.containers_dir / self.record.container_id
        spec = json.loads((ctr_dir / "config.json").read_text())
        return exec_process(spec, self.record.config)

    def _spawn(self, attach: bool, foreground: bool = False,
               stdin_fd: int | None = None) -> ExecHandle:
        rt = self.runtime
        cfg = self.record.config
        # An attached client reaps its own session; the delayed exit command is the
        # safety net for when that client dies without doing so. A foreground
        # session has no conmon, so no exit command either.
        return self.oci.exec_container(ExecRequest(
            container_id=self.record.container_id, session_id=self.id, bundle=self.bundle,
            process=self._process_spec(), terminal=cfg.tty, stdin=cfg.attach_stdin and attach,
            attach=attach, preserve_fds=cfg.preserve_fds,
            exit_command=(rt.exit_command(self.record.container_id, exec_id=self.id)
                          if cfg.exit_command and not foreground else []),
            exit_delay=rt.config.exec_exit_delay if attach else 0,
            foreground=foreground, stdin_fd=stdin_fd if cfg.attach_stdin else None,
        ))

    def _fail_start(self, handle: ExecHandle | None) -> None:
        """A session that never ran leaves nothing behind (podman #20392)."""
        if handle is not None:
            handle.close()
        self.cleanup()
        self.runtime.state.delete_exec_session(self.id)

    def _started(self, attach: bool, foreground: bool = False,
                 stdin_fd: int | None = None) -> ExecHandle:
        """Spawn and wait until the process runs; record it as running."""
        self._require(ExecState.CREATED, "started")
        handle = None
        try:
            handle = self._spawn(attach, foreground, stdin_fd)
            sp = handle.wait_started()
        except BaseException:
            self._fail_start(handle)
            raise
        self.runtime.state.update(
            self.record, state=ExecState.RUNNING, pid=sp.pid, pid_start=sp.pid_start,
            conmon_pid=sp.conmon_pid, conmon_start=sp.conmon_start, started_at=time.time(),
            attached=attach)
        exec_event(self, "exec")
        return handle

    # -- starting ----------------------------------------------------------------------
    def start(self) -> None:
        """Start detached: the process runs on after we return (its output is dropped)."""
        self._started(attach=False).close()

    def start_and_attach(
        self,
        on_output: OutputCallback,
        stdin_fd: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        interrupt_grace: float = 2.0,
        on_started: Callable[[ExecSession], None] | None = None,
        remove: bool = False,
    ) -> ProcessResult:
        """Stream until the process exits (see engine/attached.py for Ctrl-C and
        ``should_stop``). With ``remove`` the session is gone when this returns.

        A one-shot session (``remove``) without a terminal runs in this client's
        foreground, with no conmon (oci/foreground.py): nobody else can attach to
        it, and it is the hot path of ``exec`` and notebook cells.
        """
        from ..oci.attach import parse_detach_keys
        from .reaping import stop_interrupted

        cfg = self.record.config
        foreground = remove and not cfg.tty
        handle = self._started(attach=True, foreground=foreground, stdin_fd=stdin_fd)
        if foreground:
            stdin_fd = None  # the process reads it directly
        if on_started is not None:
            on_started(self)
        keys = parse_detach_keys(cfg.detach_keys) \
            if stdin_fd is not None and cfg.tty else b""
        code: int | None = None
        detached = False
        try:
            out = attach_until_exit(
                handle.pump, on_output, signal=self.signal,
                stop=lambda grace: stop_interrupted(self, grace), stdin_fd=stdin_fd,
                detach_keys=keys, should_stop=should_stop, interrupt_grace=interrupt_grace)
            detached = out.detached
            if not detached:
                code = handle.wait_exit(timeout=5.0)
        except BaseException:
            # The client failed mid-stream: the session must not outlive it.
            stop_interrupted(self, 0)
            raise
        finally:
            handle.close()
            if not detached:
                self._finish(code, remove)
        return ProcessResult(
            kind="exec", container_id=self.record.container_id, session_id=self.id,
            command=list(self.record.config.command),
            exit_code=None if detached else self.record.exit_code,
            interrupted=out.interrupted, detached=detached,
            started_at=self.record.started_at,
            finished_at=self.record.finished_at if not detached else 0.0)

    def _finish(self, code: int | None, remove: bool) -> None:
        """Record the exit and drop the session's files and conmon (and the row)."""
        if code is not None:
            exec_event(self, "exec_died", code)  # else sync_session tells it
        if code is None:
            from .reaping import stop_interrupted, sync_session

            sync_session(self.runtime, self, wait=2.0)
            if self.record.state == ExecState.RUNNING:
                # Its monitor cannot tell the exit yet the process runs on: the
                # session ends with its client, so end the process first.
                stop_interrupted(self, 0)
                sync_session(self.runtime, self, wait=2.0)
            code = self.record.exit_code
        rec = self.record
        rec.state, rec.exit_code, rec.finished_at = ExecState.STOPPED, code, time.time()
        # Record before the exit file goes: another process syncing in between
        # would otherwise find neither process nor exit file and record -1.
        try:
            self.runtime.state.update(rec, state=rec.state, exit_code=code,
                                      finished_at=rec.finished_at)
        except Exception:
            pass  # the row is the reaper's to fix; the process is already gone
        self.cleanup()
        if remove:
            try:
                self.runtime.state.delete_exec_session(self.id)
            except Exception:
                pass

    # -- control -------------------------------------------------------------------------
    def _require(self, state: str, verb: str) -> None:
        if self.record.state != state:
            raise InvalidState(f"exec session {self.id[:12]} is {self.record.state}: "
                               f"it cannot be {verb}")

    def reload(self) -> ExecSession:
        rec = self.runtime.state.exec_session(self.id)
        if rec is None:
            raise NoSuchExecSession(self.id)
        self.record = rec
        return self

    def sync(self) -> ExecSession:
        from .reaping import sync_session

        self.reload()
        sync_session(self.runtime, self)
        return self

    def signal(self, sig: int, group: bool = True) -> bool:
        """Signal the session's process (and by default its process group), if it is
        still the same process; ``signal(0)`` tells whether it lives."""
        return signal_process(self.record.pid, self.record.pid_start, sig, group=group)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, wait, SIGKILL; then record the exit and remove the files.

        A session not started yet has nothing to stop (a start under way would
        run its process after we returned): that is InvalidState, as podman says.
        """
        self.sync()
        if self.record.state == ExecState.CREATED:
            raise InvalidState(f"exec session {self.id[:12]} has not been started: there "
                               "is no process to stop (remove the session instead)")
        if self.record.state == ExecState.RUNNING:
            t = self.runtime.config.exec_stop_timeout if timeout is None else timeout
            self.oci.exec_stop_container(self.record.container_id, self.id,
                                         self.record.pid, self.record.pid_start, t)
            from .reaping import sync_session

            sync_session(self.runtime, self, wait=5.0)
        return self.record.exit_code

    def cleanup(self) -> None:
        self.oci.exec_container_cleanup(self.record.container_id, self.id, self.bundle)

    def remove(self, force: bool = False) -> None:
        try:
            self.sync()
        except NoSuchExecSession:
            return
        if self.record.state == ExecState.RUNNING:
            if not force:
                raise InvalidState(f"exec session {self.id[:12]} is running: stop it "
                                   "first or remove it with force")
            self.stop(timeout=0)
        self.cleanup()
        self.runtime.state.delete_exec_session(self.id)

    def attach_socket(self) -> socket.socket:
        """Another viewer's connection to a running attached session's conmon."""
        return self.oci.exec_attach(self.bundle)

    def resize(self, rows: int, cols: int) -> None:
        if not self.record.config.tty:
            raise InvalidState(f"exec session {self.id[:12]} has no terminal to resize")
        self.oci.resize(self.bundle, rows, cols)

    def inspect(self) -> dict[str, Any]:
        from .views import iso

        r = self.record
        c = r.config
        return {
            "ID": r.id,
            "ContainerID": r.container_id,
            "Running": r.state == ExecState.RUNNING,
            "State": r.state,
            "ExitCode": r.exit_code,
            "Pid": r.pid,
            "ConmonPid": r.conmon_pid,
            "CreatedAt": iso(r.created_at),
            "StartedAt": iso(r.started_at),
            "FinishedAt": iso(r.finished_at),
            "OpenStdin": c.attach_stdin,
            "OpenStdout": c.attach_stdout,
            "OpenStderr": c.attach_stderr,
            "DetachKeys": c.detach_keys,
            "Attached": r.attached,
            "Owner": {"Pid": r.owner_pid, "Kernel": r.owner_kernel},
            "ProcessConfig": {
                "entrypoint": c.command[0] if c.command else "",
                "arguments": c.command[1:],
                "privileged": c.privileged,
                "tty": c.tty,
                "user": c.user,
                "workdir": c.workdir,
                "env": c.env,
            },
        }
