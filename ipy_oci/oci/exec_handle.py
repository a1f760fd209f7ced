"""One exec session being started and watched through conmon's pipes.

The attached start is a three-step handshake: the first start byte lets conmon
set up; the attach pipe says the socket exists; we connect, then the second
start byte makes runc really run the process. The sync pipe then carries the
pid and, when the process ends, its exit code.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..state.procs import start_time
from .attach import pump
from .conmon_pipes import ConmonProcess, classify_runtime_error
from .fsutil import connect_seqpacket, read_int_file, wait_for_file
from .runtime import ExecRequest, Spawned

if TYPE_CHECKING:
    from .conmon import ConmonRuntime


class ConmonExecHandle:
    def __init__(self, rt: ConmonRuntime, req: ExecRequest, cp: ConmonProcess) -> None:
        self.rt = rt
        self.req = req
        self.cp = cp
        self.sock: socket.socket | None = None
        self.spawned: Spawned | None = None

    def wait_started(self) -> Spawned:
        cp, req = self.cp, self.req
        cp.send_start()
        if req.attach:
            cp.wait_attach_ready()
            self.sock = connect_seqpacket(self.rt.exec_attach_socket_path(req.bundle))
            cp.send_start()
        cp.reap_launcher()
        # conmon's identity is saved before anything can fail, so any process (and
        # the failure path below) can end conmon and its exit-delay child later.
        conmon_pid = read_int_file(req.bundle / "conmon.pid") or 0
        conmon_start = start_time(conmon_pid)
        (req.bundle / "conmon.start").write_text(str(conmon_start))
        msg = cp.read_message("exec session pid")
        pid = int(str(msg.get("data", -1)))
        if pid < 0:
            what = f"exec {' '.join(req.process.get('args', []))!s}"
            raise classify_runtime_error(str(msg.get("message", "")), what.strip())
        self.spawned = Spawned(pid=pid, pid_start=start_time(pid), conmon_pid=conmon_pid,
                               conmon_start=conmon_start)
        return self.spawned

    def pump(self, on_output: Callable[[int, bytes], None], stdin_fd: int | None = None,
             detach_keys: bytes = b"", should_stop: Callable[[], bool] | None = None,
             poll_interval: float = 0.2) -> str:
        assert self.sock is not None, "pump needs an attached session"
        return pump(self.sock, on_output, stdin_fd=stdin_fd, detach_keys=detach_keys,
                    should_stop=should_stop, poll_interval=poll_interval)

    def wait_exit(self, timeout: float | None = None) -> int | None:
        """The exit code from conmon's second sync message, else from the exit file."""
        try:
            self.cp.sync.settimeout(timeout)
            data = self.cp.sync.recv(65536)
        except (TimeoutError, OSError):
            data = b""
        if data:
            try:
                return int(json.loads(data.decode("utf-8", "replace")).get("data"))
            except (ValueError, TypeError, AttributeError):
                pass
        cid, sid = self.req.container_id, self.req.session_id
        if wait_for_file(self.rt.exec_exit_file_path(cid, sid),
                         2.0 if timeout is None else timeout):
            return self.rt.read_exec_exit_code(cid, sid)
        return None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.cp.close()
