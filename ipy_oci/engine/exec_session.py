"""ExecSession: the lifecycle of one process run inside a running container.

created -> running -> stopped(exit code) -> removed. The DB row is written at
each end of the hot path only; no container lock is taken (the container's
state is checked inside the insert transaction instead), so many execs on one
container never queue behind each other.
"""

from __future__ import annotations

import json
import signal as _signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidState, NoSuchExecSession, UsageError
from ..oci.attach import AttachResult, parse_detach_keys, pump
from ..oci.runtime import ExecRequest
from ..state.procs import identity, signal_process
from .exec_records import ExecConfig, ExecRecord, ExecState
from .names import new_id
from .records import ContainerConfig, State

if TYPE_CHECKING:
    from ..oci.exec_handle import ExecHandle
    from .container import Container
    from .runtime import Runtime

OutputCallback = Callable[[int, bytes], None]


@dataclass
class ExecResult:
    session_id: str
    exit_code: int | None
    interrupted: bool = False
    detached: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def duration(self) -> float:
        return max(0.0, self.finished_at - self.started_at)


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

    @property
    def bundle(self) -> Path:
        return self.runtime.runroot / "exec" / self.id  # = ConmonRuntime.exec_bundle

    def __repr__(self) -> str:
        return f"<ExecSession {self.id[:12]} {self.state} exit={self.record.exit_code}>"

    # -- creation -------------------------------------------------------------------
    @classmethod
    def create(cls, ctr: Container, config: ExecConfig, owner_kernel: str = "") -> ExecSession:
        if not config.command or not config.command[0]:
            raise UsageError("must provide a non-empty command to start an exec session")
        if config.preserve_fds < 0:
            raise UsageError("--preserve-fds must be zero or a positive number")
        pid, start = identity()
        rec = ExecRecord(id=new_id(), container_id=ctr.id, state=ExecState.CREATED,
                         config=config, created_at=time.time(), owner_pid=pid,
                         owner_start=start, owner_kernel=owner_kernel)
        rt = ctr.runtime
        if ctr._needs_sync():
            ctr.refresh()
        cols = rec.columns()
        with rt.db.write() as cur:
            row = cur.execute("SELECT state, name FROM containers WHERE id = ?",
                              (ctr.id,)).fetchone()
            if row is None:
                from ..errors import NoSuchContainer

                raise NoSuchContainer(ctr.name)
            if row["state"] != State.RUNNING:
                hint = ("unpause it first" if row["state"] == State.PAUSED
                        else "start it first")
                raise InvalidState(
                    f"can only create exec sessions on running containers: container "
                    f"{row['name']} is {State.display(row['state'])} ({hint})"
                )
            cur.execute(f"INSERT INTO exec_sessions ({', '.join(cols)}) "
                        f"VALUES ({', '.join('?' * len(cols))})", tuple(cols.values()))
        return cls(rt, rec)

    def _process_spec(self) -> dict[str, Any]:
        from .exec_process import exec_process

        ctr_dir = self.runtime.containers_dir / self.record.container_id
        spec = json.loads((ctr_dir / "config.json").read_text())
        return exec_process(spec, self.record.config)

    def _spawn(self, attach: bool) -> ExecHandle:
        from ..oci.conmon import ConmonRuntime

        rt = self.runtime
        cfg = self.record.config
        row = rt.db.query_one("SELECT config FROM containers WHERE id = ?",
                              (self.record.container_id,))
        oci = rt.oci_named(ContainerConfig.from_json(row["config"]).runtime if row else "")
        req = ExecRequest(
            container_id=self.record.container_id, session_id=self.id, bundle=self.bundle,
            process=self._process_spec(), terminal=cfg.tty, stdin=cfg.attach_stdin and attach,
            attach=attach, preserve_fds=cfg.preserve_fds,
            exit_command=(rt.exit_command(self.record.container_id, exec_id=self.id)
                          if cfg.exit_command else []),
        )
        if not isinstance(oci, ConmonRuntime):
            oci.exec_container(req)  # MissingRuntime: raises a clear error
            raise AssertionError("unreachable")
        # An attached client reaps its own session; the delayed exit command is the
        # safety net for when that client dies without doing so.
        return oci.exec_spawn(req, exit_delay=rt.config.exec_exit_delay if attach else 0)

    def _fail_start(self, handle: ExecHandle | None) -> None:
        """A session that never ran leaves nothing behind (podman #20392)."""
        if handle is not None:
            handle.close()
        self.runtime.oci.exec_container_cleanup(self.record.container_id, self.id,
                                                self.bundle)
        with self.runtime.db.write() as cur:
            cur.execute("DELETE FROM exec_sessions WHERE id = ?", (self.id,))

    def _mark_running(self, handle: ExecHandle, attached: bool) -> None:
        sp = handle.spawned
        assert sp is not None
        now = time.time()
        self._update(state=ExecState.RUNNING, pid=sp.pid, pid_start=sp.pid_start,
                     conmon_pid=sp.conmon_pid, conmon_start=sp.conmon_start,
                     started_at=now, attached=attached)

    def _update(self, **changes: Any) -> None:
        for k, v in changes.items():
            setattr(self.record, k, v)
        cols = self.record.columns()
        sets = ", ".join(f"{k} = ?" for k in changes)
        with self.runtime.db.write() as cur:
            cur.execute(f"UPDATE exec_sessions SET {sets} WHERE id = ?",
                        (*(cols[k] for k in changes), self.id))

    # -- starting ----------------------------------------------------------------------
    def start(self) -> None:
        """Start detached: the process runs on after we return (its output is dropped)."""
        self._require(ExecState.CREATED, "started")
        handle = None
        try:
            handle = self._spawn(attach=False)
            handle.wait_started()
        except BaseException:
            self._fail_start(handle)
            raise
        handle.close()
        self._mark_running(handle, attached=False)

    def start_and_attach(
        self,
        on_output: OutputCallback,
        stdin_fd: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        interrupt_grace: float = 2.0,
        on_started: Callable[[ExecSession], None] | None = None,
        remove: bool = False,
    ) -> ExecResult:
        """Stream until the process exits. Ctrl-C is forwarded as SIGINT; after
        ``interrupt_grace`` seconds (or a second Ctrl-C) the session is stopped."""
        self._require(ExecState.CREATED, "started")
        handle = None
        try:
            handle = self._spawn(attach=True)
            handle.wait_started()
        except BaseException:
            self._fail_start(handle)
            raise
        self._mark_running(handle, attached=True)
        if on_started is not None:
            on_started(self)
        assert handle.sock is not None
        keys = parse_detach_keys(self.record.config.detach_keys) \
            if stdin_fd is not None and self.record.config.tty else b""
        interrupted = detached = False
        deadline: float | None = None
        code: int | None = None

        def stop_requested() -> bool:
            if should_stop is not None and should_stop():
                return True
            return deadline is not None and time.monotonic() > deadline

        try:
            while True:
                try:
                    res = pump(handle.sock, on_output, stdin_fd=stdin_fd,
                               detach_keys=keys, should_stop=stop_requested,
                               poll_interval=0.05 if deadline else 0.2)
                    if res == AttachResult.DETACHED:
                        detached = True
                    elif res == AttachResult.STOPPED:
                        interrupted = interrupted or deadline is None
                        self.runtime.oci.exec_stop_container(
                            self.record.container_id, self.id, self.record.pid,
                            self.record.pid_start, 0 if deadline else interrupt_grace)
                    break
                except KeyboardInterrupt:
                    if interrupted:  # a second Ctrl-C: stop now
                        deadline = time.monotonic()
                        continue
                    interrupted = True
                    self.signal(_signal.SIGINT)
                    deadline = time.monotonic() + interrupt_grace
                    stdin_fd = None
            if detached:
                handle.close()
                return ExecResult(self.id, None, detached=True,
                                  started_at=self.record.started_at)
            code = handle.wait_exit(timeout=5.0)
        except BaseException:
            # The client failed mid-stream: the session must not outlive it.
            self.runtime.oci.exec_stop_container(self.record.container_id, self.id,
                                                 self.record.pid, self.record.pid_start, 0)
            raise
        finally:
            handle.close()
            if not detached:
                self._finish(code)
        result = ExecResult(self.id, self.record.exit_code, interrupted=interrupted,
                            started_at=self.record.started_at,
                            finished_at=self.record.finished_at)
        if remove:
            self.remove(force=True)
        return result

    def _finish(self, code: int | None) -> None:
        """Record the exit and drop the session's files and conmon."""
        from .exec_reaper import sync_session

        if code is None:
            sync_session(self.runtime, self, wait=2.0)
            return
        self.runtime.oci.exec_container_cleanup(self.record.container_id, self.id,
                                                self.bundle)
        try:
            self._update(state=ExecState.STOPPED, exit_code=code, finished_at=time.time())
        except Exception:
            pass

    # -- control -------------------------------------------------------------------------
    def _require(self, state: str, verb: str) -> None:
        if self.record.state != state:
            raise InvalidState(f"exec session {self.id[:12]} is {self.record.state}: "
                               f"it cannot be {verb}")

    def reload(self) -> ExecSession:
        row = self.runtime.db.query_one("SELECT * FROM exec_sessions WHERE id = ?",
                                        (self.id,))
        if row is None:
            raise NoSuchExecSession(self.id)
        self.record = ExecRecord.from_row(row)
        return self

    def sync(self) -> ExecSession:
        from .exec_reaper import sync_session

        self.reload()
        sync_session(self.runtime, self)
        return self

    def signal(self, sig: int, group: bool = True) -> bool:
        """Signal the session's process (and by default its process group), if it is
        still the same process; ``signal(0)`` tells whether it lives."""
        return signal_process(self.record.pid, self.record.pid_start, sig, group=group)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM, wait, SIGKILL; then record the exit and remove the files."""
        self.sync()
        if self.record.state == ExecState.RUNNING:
            t = self.runtime.config.exec_stop_timeout if timeout is None else timeout
            self.runtime.oci.exec_stop_container(self.record.container_id, self.id,
                                                 self.record.pid, self.record.pid_start, t)
            from .exec_reaper import sync_session

            sync_session(self.runtime, self, wait=5.0)
        return self.record.exit_code

    def cleanup(self) -> None:
        self.runtime.oci.exec_container_cleanup(self.record.container_id, self.id,
                                                self.bundle)

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
        with self.runtime.db.write() as cur:
            cur.execute("DELETE FROM exec_sessions WHERE id = ?", (self.id,))

    def attach_socket(self) -> socket.socket:
        """Another viewer's connection to a running attached session's conmon."""
        from ..oci.fsutil import connect_seqpacket

        return connect_seqpacket(self.runtime.oci.exec_attach_socket_path(self.bundle))

    def resize(self, rows: int, cols: int) -> None:
        if not self.record.config.tty:
            raise InvalidState(f"exec session {self.id[:12]} has no terminal to resize")
        self.runtime.oci.resize(self.bundle, rows, cols)

    def inspect(self) -> dict[str, Any]:
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
            "CreatedAt": _iso(r.created_at),
            "StartedAt": _iso(r.started_at),
            "FinishedAt": _iso(r.finished_at),
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


def _iso(ts: float) -> str:
    if not ts:
        return "0001-01-01T00:00:00Z"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + \
        f".{int((ts % 1) * 1e9):09d}Z"


def owner_alive(rec: ExecRecord) -> bool:
    from ..state.procs import is_alive

    return is_alive(rec.owner_pid, rec.owner_start)

