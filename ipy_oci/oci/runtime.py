"""The OCI runtime interface every engine operation goes through.

Implementations hold no state logic: they translate one request into runtime
and conmon calls and report what happened. ``ConmonRuntime`` drives runc or
crun under conmon; ``MissingRuntime`` turns every call into a clear error.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass
class CreateRequest:
    """What conmon needs to create a container (the bundle already holds config.json)."""

    id: str
    name: str
    bundle: Path
    log_path: Path
    terminal: bool = False
    stdin: bool = False
    exit_command: list[str] = field(default_factory=list)
    exit_delay: int = 0  # seconds conmon waits before running the exit command
    timeout: int = 0  # conmon kills the container after this many seconds (0: never)
    # "k8s-file" (json-file is its alias), "none", or "passthrough": the container
    # gets the caller's own stdin, stdout and stderr (no log, no attach socket).
    log_driver: str = "k8s-file"
    log_size_max: int = 0  # bytes; conmon truncates a log that grows past it (0: never)
    preserve_fds: int = 0  # fds 3 .. 3+N-1 of the caller go to the container


@dataclass
class ExecRequest:
    """One exec session: the process spec is written into its own bundle dir."""

    container_id: str
    session_id: str
    bundle: Path
    process: dict[str, Any]
    terminal: bool = False
    stdin: bool = False
    attach: bool = True
    preserve_fds: int = 0
    exit_command: list[str] = field(default_factory=list)
    exit_delay: int = 0  # seconds conmon waits before running the exit command
    # The attached client is the monitor: the runtime runs in its foreground, no
    # conmon (see oci/foreground.py); ``stdin_fd`` is then the process's stdin.
    foreground: bool = False
    stdin_fd: int | None = None


@dataclass
class Spawned:
    """A process started under conmon: its pid and conmon's, each with a start time."""

    pid: int
    pid_start: int
    conmon_pid: int
    conmon_start: int


class ExecHandle(Protocol):
    """One exec session being started and watched by its monitor.

    ``wait_started`` returns once the process runs; ``pump`` relays an attached
    session's output (and stdin) until it ends, returning an ``AttachResult``
    value; ``wait_exit`` returns the exit code; ``close`` releases the client's
    ends (never the process).
    """

    def wait_started(self) -> Spawned: ...
    def pump(self, on_output: Callable[[int, bytes], None], stdin_fd: int | None = None,
             detach_keys: bytes = b"", should_stop: Callable[[], bool] | None = None,
             poll_interval: float = 0.2) -> str: ...
    def wait_exit(self, timeout: float | None = None) -> int | None: ...
    def close(self) -> None: ...


class OCIRuntime(Protocol):
    def name(self) -> str: ...
    def path(self) -> str: ...
    def runtime_info(self) -> dict[str, Any]: ...

    # Containers
    def create_container(self, req: CreateRequest) -> Spawned: ...
    def start_container(self, ctr_id: str) -> None: ...
    def kill_container(self, ctr_id: str, signal: int, all_procs: bool = False) -> None: ...
    def stop_container(self, ctr_id: str, signal: int, timeout: float,
                       on_timeout: Callable[[], None] | None = None) -> int | None: ...
    def delete_container(self, ctr_id: str) -> None: ...
    def pause_container(self, ctr_id: str) -> None: ...
    def unpause_container(self, ctr_id: str) -> None: ...
    def update_container_status(self, ctr_id: str) -> dict[str, Any] | None: ...
    def exit_file_path(self, ctr_id: str) -> Path: ...
    def read_exit_code(self, ctr_id: str, wait: float = 0.0) -> int | None: ...
    def kill_monitors(self, marker: str) -> int: ...
    def attach_socket_path(self, bundle: Path) -> Path: ...
    def attach(self, bundle: Path) -> socket.socket: ...
    def resize(self, bundle: Path, rows: int, cols: int) -> None: ...

    # Exec sessions: attached (``req.attach``) or detached, under their own monitor
    def exec_container(self, req: ExecRequest) -> ExecHandle: ...
    def exec_stop_container(self, ctr_id: str, session_id: str, pid: int, pid_start: int,
                            timeout: float) -> None: ...
    def exec_update_status(self, ctr_id: str, session_id: str, pid: int,
                           pid_start: int) -> bool: ...
    def exec_container_cleanup(self, ctr_id: str, session_id: str, bundle: Path) -> None: ...
    def exec_attach_socket_path(self, bundle: Path) -> Path: ...
    def exec_attach(self, bundle: Path) -> socket.socket: ...
    def exec_bundle(self, session_id: str) -> Path: ...
    def exec_exit_file_path(self, ctr_id: str, session_id: str) -> Path: ...
    def read_exec_exit_code(self, ctr_id: str, session_id: str) -> int | None: ...
