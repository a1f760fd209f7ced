"""ConmonRuntime: runc or crun, each container and exec session monitored by conmon."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal as _signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InvalidState, RuntimeFailure
from ..state.procs import (
    is_alive,
    kill_monitors,
    kill_process_group,
    signal_process,
    start_time,
)
from ..userns.enter import prefix as userns_prefix
from .cgroups import kill_all_works
from .conmon_pipes import ConmonProcess, classify_runtime_error, spawn_conmon
from .exec_handle import ConmonExecHandle
from .foreground import ForegroundExecHandle, spawn_foreground
from .fsutil import connect_seqpacket, read_int_file, wait_for_file, write_private
from .runtime import CreateRequest, ExecRequest, Spawned

CGROUP_HYBRID_HINT = (
    "crun refuses this host's hybrid (v1 + v2) cgroup layout; use runc instead "
    "(--runtime runc, or IPY_OCI_RUNTIME=runc)"
)


def _read_exit_file(path: Path) -> int | None:
    # conmon creates then writes the file: a just-created empty file needs a moment.
    for _ in range(50):
        code = read_int_file(path)
        if code is not None or not path.exists():
            return code
        time.sleep(0.002)
    return None


class ConmonRuntime:
    def __init__(self, runtime_path: str, conmon_path: str, runroot: Path,
                 log_level: str = "warn", runtime_name: str | None = None,
                 runtime_flags: list[str] | None = None) -> None:
        self.runtime_path = runtime_path
        self.runtime_flags = list(runtime_flags or [])  # before every runtime command
        self.conmon_path = conmon_path
        self.runtime_name = runtime_name or Path(runtime_path).name
        self.runroot = runroot
        self.state_root = runroot / self.runtime_name
        self.exit_dir = runroot / "exits"
        self.log_level = "debug" if log_level == "debug" else "error"
        for d in (self.state_root, self.exit_dir):
            d.mkdir(parents=True, exist_ok=True)

    # -- basics -----------------------------------------------------------------
    def name(self) -> str:
        return self.runtime_name

    def path(self) -> str:
        return self.runtime_path

    def _rt(self, *args: str) -> list[str]:
        return [*userns_prefix(), self.runtime_path, *self.runtime_flags,
                "--root", str(self.state_root), *args]

    def _run_rt(self, *args: str, what: str) -> subprocess.CompletedProcess[bytes]:
        res = subprocess.run(self._rt(*args), stdin=subprocess.DEVNULL,
                             capture_output=True, check=False)
        if res.returncode != 0:
            raise self._rt_error(res.stderr.decode(errors="replace"), what)
        return res

    def _rt_error(self, stderr: str, what: str) -> Exception:
        if "hybrid mode not supported" in stderr or "cgroups in hybrid" in stderr:
            return RuntimeFailure(f"{what}: {CGROUP_HYBRID_HINT} ({stderr.strip()})")
        return classify_runtime_error(stderr, what)

    def runtime_info(self) -> dict[str, Any]:
        def version(binary: str) -> str:
            try:
                out = subprocess.run([binary, "--version"], capture_output=True, check=False,
                                     timeout=10).stdout.decode(errors="replace")
            except OSError:
                return "unknown"
            first = out.strip().splitlines()
            return first[0] if first else "unknown"

        return {
            "name": self.runtime_name,
            "path": self.runtime_path,
            "version": version(self.runtime_path),
            "stateRoot": str(self.state_root),
            "conmon": {"path": self.conmon_path, "version": version(self.conmon_path)},
        }

    def _base_conmon_args(self, ctr_id: str, uuid: str, name: str, bundle: Path,
                          exit_command: list[str], exit_dir: Path) -> list[str]:
        args = [
            self.conmon_path, "--api-version", "1",
            "-c", ctr_id, "-u", uuid, "-r", self.runtime_path, "-b", str(bundle),
            "-p", str(bundle / "pidfile"), "-n", name,
            "--exit-dir", str(exit_dir), "--persist-dir", str(bundle / "persist"),
            "--full-attach", "--log-level", self.log_level,
            "--conmon-pidfile", str(bundle / "conmon.pid"),
            "--runtime-arg", "--root", "--runtime-arg", str(self.state_root),
            "--no-sync-log",
        ]
        for flag in self.runtime_flags:
            args += ["--runtime-arg", flag]
        if exit_command:
            args += ["--exit-command", exit_command[0]]
            for a in exit_command[1:]:
                args += ["--exit-command-arg", a]
        return args

    def _prepare_bundle_dirs(self, bundle: Path) -> None:
        (bundle / "persist").mkdir(parents=True, exist_ok=True)

    def _spawned(self, cp: ConmonProcess, bundle: Path, pid: int) -> Spawned:
        conmon_pid = read_int_file(bundle / "conmon.pid") or 0
        return Spawned(pid=pid, pid_start=start_time(pid), conmon_pid=conmon_pid,
                       conmon_start=start_time(conmon_pid))

    # -- containers ---------------------------------------------------------------
    def create_container(self, req: CreateRequest) -> Spawned:
        argv = self._base_conmon_args(req.id, req.id, req.name, req.bundle, req.exit_command,
                                      self.exit_dir)
        passthrough = req.log_driver == "passthrough"
        if req.log_driver in ("none", "passthrough"):
            argv += ["-l", req.log_driver]
        else:
            argv += ["-l", f"k8s-file:{req.log_path}"]
            if not req.log_path.exists():
                write_private(req.log_path, b"")  # conmon appends; the mode stays 0600
        if req.log_size_max > 0:
            argv += ["--log-size-max", str(req.log_size_max)]
        if req.timeout > 0:
            argv += ["--timeout", str(req.timeout)]
        if req.preserve_fds:
            argv += ["--runtime-opt", f"--preserve-fds={req.preserve_fds}"]
        if req.exit_delay and req.exit_command:
            argv += ["--exit-delay", str(req.exit_delay)]
        if req.terminal:
            # A terminal's stdin is its console: no -i, as podman, else conmon closes
            # it when the first viewer detaches and nobody could type in it again.
            argv.append("-t")
        elif req.stdin:
            argv.append("-i")
        self._prepare_bundle_dirs(req.bundle)
        cp = spawn_conmon(argv, req.bundle / "conmon.err", with_attach_pipe=False,
                          extra_fds=tuple(range(3, 3 + req.preserve_fds)),
                          inherit_stdio=passthrough)
        try:
            cp.send_start()
            cp.reap_launcher()
            msg = cp.read_message("container pid")
            pid = int(str(msg.get("data", -1)))
            if pid < 0:
                raise self._rt_error(str(msg.get("message", "")),
                                     f"creating container {req.name}")
            return self._spawned(cp, req.bundle, pid)
        finally:
            cp.close()

    def start_container(self, ctr_id: str) -> None:
        self._run_rt("start", ctr_id, what=f"starting container {ctr_id[:12]}")

    def kill_container(self, ctr_id: str, signal: int, all_procs: bool = False) -> None:
        # Without a cgroup (rootless on cgroup v1) runc cannot find "all": killing
        # pid 1 of the container's pid namespace takes the rest with it.
        every = all_procs and kill_all_works()
        args = ["kill"] + (["--all"] if every else []) + [ctr_id, str(signal)]
        res = subprocess.run(self._rt(*args), stdin=subprocess.DEVNULL,
                             capture_output=True, check=False)
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace")
            if "not running" in err or "container does not exist" in err or \
                    "process already finished" in err:
                raise InvalidState(f"container {ctr_id[:12]} is not running: cannot "
                                   f"send signal {signal}")
            raise self._rt_error(err, f"sending signal {signal} to {ctr_id[:12]}")

    def stop_container(self, ctr_id: str, signal: int, timeout: float,
                       on_timeout: Callable[[], None] | None = None) -> int | None:
        """Stop signal, wait up to ``timeout``, then SIGKILL every process
        (``on_timeout`` is called first when the stop signal did not do it)."""
        if timeout > 0:
            try:
                self.kill_container(ctr_id, signal)
            except InvalidState:
                return self.read_exit_code(ctr_id, wait=1.0)
            code = self.read_exit_code(ctr_id, wait=timeout)
            if code is not None:
                return code
            if on_timeout is not None:
                on_timeout()
        try:
            self.kill_container(ctr_id, _signal.SIGKILL, all_procs=True)
        except InvalidState:
            pass
        return self.read_exit_code(ctr_id, wait=10.0)

    def delete_container(self, ctr_id: str) -> None:
        res = subprocess.run(self._rt("delete", "--force", ctr_id), stdin=subprocess.DEVNULL,
                             capture_output=True, check=False)
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace")
            if "does not exist" in err or "not exist" in err:
                return
            raise self._rt_error(err, f"deleting container {ctr_id[:12]} from the runtime")

    def pause_container(self, ctr_id: str) -> None:
        self._run_rt("pause", ctr_id, what=f"pausing container {ctr_id[:12]}")

    def unpause_container(self, ctr_id: str) -> None:
        self._run_rt("resume", ctr_id, what=f"unpausing container {ctr_id[:12]}")

    def update_container_status(self, ctr_id: str) -> dict[str, Any] | None:
        """The runtime's own view (``runc state``); None when it does not know the id."""
        res = subprocess.run(self._rt("state", ctr_id), stdin=subprocess.DEVNULL,
                             capture_output=True, check=False)
        if res.returncode != 0:
            return None
        data: dict[str, Any] = json.loads(res.stdout)
        return data

    def exit_file_path(self, ctr_id: str) -> Path:
        return self.exit_dir / ctr_id

    def read_exit_code(self, ctr_id: str, wait: float = 0.0) -> int | None:
        path = self.exit_file_path(ctr_id)
        if wait > 0 and not wait_for_file(path, wait):
            return None
        return _read_exit_file(path)

    def kill_monitors(self, marker: str) -> int:
        """End every conmon or runtime process started for ``marker`` (a container
        or session id, which their command lines carry) that no record names yet:
        what a client killed half-way through a start leaves."""
        return kill_monitors(marker, (Path(self.conmon_path).name.encode(),
                                      Path(self.runtime_path).name.encode()))

    def attach_socket_path(self, bundle: Path) -> Path:
        return bundle / "attach"

    def resize(self, bundle: Path, rows: int, cols: int) -> None:
        try:
            fd = os.open(bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENXIO):
                return  # conmon already gone: nothing left to resize
            raise
        try:
            os.write(fd, f"1 {rows} {cols}\n".encode())
        finally:
            os.close(fd)

    def attach(self, bundle: Path) -> socket.socket:
        return connect_seqpacket(self.attach_socket_path(bundle))

    # -- exec sessions ------------------------------------------------------------
    def exec_container(self, req: ExecRequest) -> ConmonExecHandle | ForegroundExecHandle:
        """Start one exec session under its own conmon (or, ``req.foreground``,
        under the client itself); ``wait_started`` on the handle completes the
        start (and connects an attached session's socket)."""
        if req.foreground:
            return spawn_foreground(self._rt(), req)
        self._prepare_bundle_dirs(req.bundle)
        spec = req.bundle / "process.json"
        write_private(spec, json.dumps(req.process).encode())
        # conmon names an exec's exit file after the container, so each session
        # gets an exit dir of its own.
        (req.bundle / "exits").mkdir(exist_ok=True)
        argv = self._base_conmon_args(req.container_id, req.session_id, req.session_id[:12],
                                      req.bundle, req.exit_command, req.bundle / "exits")
        argv += ["-e", "--exec-process-spec", str(spec), "-l", "none"]
        if req.attach:
            argv.append("--exec-attach")
        if req.terminal:
            argv.append("-t")
        if req.stdin:
            argv.append("-i")
        if req.preserve_fds:
            argv += ["--runtime-opt", f"--preserve-fds={req.preserve_fds}"]
        if req.exit_delay and req.exit_command:
            argv += ["--exit-delay", str(req.exit_delay)]
        extra = tuple(range(3, 3 + req.preserve_fds))
        cp = spawn_conmon(argv, req.bundle / "conmon.err", with_attach_pipe=req.attach,
                          extra_fds=extra)
        return ConmonExecHandle(self, req, cp)

    def exec_stop_container(self, ctr_id: str, session_id: str, pid: int, pid_start: int,
                            timeout: float) -> None:
        """SIGTERM, wait ``timeout`` for the exit file, then SIGKILL."""
        exit_file = self.exec_exit_file_path(ctr_id, session_id)

        def ended(limit: float) -> bool:
            # The exit file, or the process gone (its exit file may already have
            # been cleaned away by the session's attached client).
            deadline = time.monotonic() + limit
            while not exit_file.exists() and is_alive(pid, pid_start):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)
            return True

        if timeout > 0 and signal_process(pid, pid_start, _signal.SIGTERM, group=True):
            if ended(timeout):
                return
        if signal_process(pid, pid_start, _signal.SIGKILL, group=True):
            ended(5.0)

    def exec_update_status(self, ctr_id: str, session_id: str, pid: int,
                           pid_start: int) -> bool:
        """True while the session's process runs: exit file first, then its identity."""
        if self.exec_exit_file_path(ctr_id, session_id).exists():
            return False
        return is_alive(pid, pid_start)

    def exec_bundle(self, session_id: str) -> Path:
        return self.runroot / "exec" / session_id

    def exec_exit_file_path(self, ctr_id: str, session_id: str) -> Path:
        return self.exec_bundle(session_id) / "exits" / ctr_id

    def read_exec_exit_code(self, ctr_id: str, session_id: str) -> int | None:
        return _read_exit_file(self.exec_exit_file_path(ctr_id, session_id))

    def exec_container_cleanup(self, ctr_id: str, session_id: str, bundle: Path) -> None:
        """Remove the session's files and its conmon.

        After the process exits, conmon forks a child that sleeps out the exit
        delay before running the exit command; it stays in conmon's process
        group, so the whole group goes.
        """
        conmon_pid = read_int_file(bundle / "conmon.pid") or 0
        conmon_start = read_int_file(bundle / "conmon.start") or 0
        if conmon_pid:
            kill_process_group(conmon_pid, conmon_start, session_id)
        shutil.rmtree(bundle, ignore_errors=True)

    def exec_attach_socket_path(self, bundle: Path) -> Path:
        return bundle / "attach"

    def exec_attach(self, bundle: Path) -> socket.socket:
        return connect_seqpacket(self.exec_attach_socket_path(bundle))
