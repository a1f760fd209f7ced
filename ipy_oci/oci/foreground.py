"""A foreground exec: the attached client is the session's monitor, no conmon.

``runc exec`` without ``-d`` starts the process, waits for it and exits with its
status (128+N when signal N killed it), which is what an attached client needs
anyway; leaving conmon out spares a process start and its relay (the hot path
of ``%%oci exec`` and ``ipy-oci exec``). stdout and stderr come back on pipes;
stdin is the client's own fd, handed to the process as is. The runtime's pid
file says when the process runs; if the runtime exits first, whatever is on
stderr is its error (the process never ran).

What the client gives up: no other viewer can attach, and nothing records the
exit if the client dies; then the session's owner is gone, and the reaping
rules (client death, sync on look) end and record it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..state.procs import start_time
from .attach import pump_pipes
from .conmon_pipes import classify_runtime_error
from .fsutil import read_int_file, write_private
from .runtime import ExecRequest, Spawned

if TYPE_CHECKING:
    import socket


def spawn_foreground(runtime_argv: list[str], req: ExecRequest) -> ForegroundExecHandle:
    """Start ``runc exec`` for ``req`` (``runtime_argv``: the runtime and its global
    flags); the process spec goes in on an fd, so no file is written for it."""
    req.bundle.mkdir(parents=True, exist_ok=True)
    spec_r, spec_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        data = json.dumps(req.process).encode()
        if len(data) > 60000:
            raise OSError("process spec too large for a pipe")  # write it as a file then
        os.write(spec_w, data)
        os.close(spec_w)
        spec_w = -1
        spec_path = f"/proc/self/fd/{spec_r}"
    except OSError:
        if spec_w >= 0:
            os.close(spec_w)
        spec_file = req.bundle / "process.json"
        write_private(spec_file, json.dumps(req.process).encode())
        spec_path = str(spec_file)
    argv = [*runtime_argv, "exec", "--pid-file", str(req.bundle / "pidfile"),
            "--process", spec_path]
    if req.preserve_fds:
        argv.append(f"--preserve-fds={req.preserve_fds}")
    argv.append(req.container_id)
    try:
        proc = subprocess.Popen(
            argv, stdin=req.stdin_fd if req.stdin_fd is not None else subprocess.DEVNULL,
            stdout=out_w, stderr=err_w, close_fds=True,
            pass_fds=(spec_r, *range(3, 3 + req.preserve_fds)),
            # Its own group: a terminal's Ctrl-C reaches the client, which forwards
            # it to the process's group once (the runtime would forward it again).
            process_group=0)
    except BaseException:
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        for fd in (spec_r, out_w, err_w):
            os.close(fd)
    return ForegroundExecHandle(req, proc, out_r, err_r)


class ForegroundExecHandle:
    sock: socket.socket | None = None

    def __init__(self, req: ExecRequest, proc: subprocess.Popen[bytes], out_r: int,
                 err_r: int) -> None:
        self.req = req
        self.proc = proc
        self._fds: dict[int, int] = {out_r: 2, err_r: 3}

    def wait_started(self) -> Spawned:
        pidfile: Path = self.req.bundle / "pidfile"
        delay = 0.0002
        while True:
            pid = read_int_file(pidfile)  # the runtime writes it by rename: whole or absent
            if pid:
                break
            if self.proc.poll() is not None:
                pid = read_int_file(pidfile)  # written just before a quick exit
                if pid:
                    break
                what = f"exec {' '.join(self.req.process.get('args', []))!s}".strip()
                raise classify_runtime_error(self._read_all(3), what)
            time.sleep(delay)
            delay = min(delay * 2, 0.002)
        runtime_pid = self.proc.pid
        return Spawned(pid=pid, pid_start=start_time(pid), conmon_pid=runtime_pid,
                       conmon_start=start_time(runtime_pid))

    def _read_all(self, stream: int) -> str:
        fd = next(fd for fd, s in self._fds.items() if s == stream)
        os.set_blocking(fd, False)
        chunks = []
        try:
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        except BlockingIOError:
            pass
        return b"".join(chunks).decode(errors="replace")

    def pump(self, on_output: Callable[[int, bytes], None], stdin_fd: int | None = None,
             detach_keys: bytes = b"", should_stop: Callable[[], bool] | None = None,
             poll_interval: float = 0.2) -> str:
        """Relay stdout/stderr until they end (stdin went to the process directly)."""
        return pump_pipes(self._fds, on_output, should_stop, poll_interval,
                          ended=lambda: self.proc.poll() is not None)

    def wait_exit(self, timeout: float | None = None) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        # The runtime itself was killed by a signal: the process's own exit is
        # unknown (it may still run); None makes the caller sync from the runtime.
        return code if code >= 0 else None

    def close(self) -> None:
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = {}
