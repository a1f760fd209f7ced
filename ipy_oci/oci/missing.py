"""An OCIRuntime for a host that lacks the runtime or conmon: every call is a clear error."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from ..errors import RuntimeMissing
from .runtime import CreateRequest, ExecHandle, ExecRequest, Spawned

INSTALL_HINTS = {
    "runc": "apt-get install runc",
    "crun": "apt-get install crun",
    "conmon": "apt-get install conmon",
}


class MissingRuntime:
    """Stands in for a runtime whose binary is not installed."""

    def __init__(self, binary: str, runtime_name: str, role: str = "OCI runtime") -> None:
        self.binary = binary
        self.runtime_name = runtime_name
        self.role = role

    def _fail(self) -> NoReturn:
        base = Path(self.binary).name
        pkg = "conmon" if self.role == "conmon" else base
        hint = INSTALL_HINTS.get(pkg, f"apt-get install {pkg}")
        where = "" if "/" not in self.binary else f" at {self.binary}"
        other = ("or point IPY_OCI_CONMON at it" if self.role == "conmon"
                 else "or pick another runtime with --runtime")
        raise RuntimeMissing(
            f"{self.role} {base!r} is not installed{where}: install it with "
            f"'{hint}', {other}"
        )

    def name(self) -> str:
        return self.runtime_name

    def path(self) -> str:
        return self.binary

    def runtime_info(self) -> dict[str, Any]:
        return {"name": self.runtime_name, "path": self.binary, "missing": True}

    def create_container(self, req: CreateRequest) -> Spawned:
        self._fail()

    def start_container(self, ctr_id: str) -> None:
        self._fail()

    def kill_container(self, ctr_id: str, signal: int, all_procs: bool = False) -> None:
        self._fail()

    def stop_container(self, ctr_id: str, signal: int, timeout: float,
                       on_timeout: Callable[[], None] | None = None) -> int | None:
        self._fail()

    def delete_container(self, ctr_id: str) -> None:
        self._fail()

    def pause_container(self, ctr_id: str) -> None:
        self._fail()

    def unpause_container(self, ctr_id: str) -> None:
        self._fail()

    def update_container_status(self, ctr_id: str) -> dict[str, Any] | None:
        self._fail()

    def exit_file_path(self, ctr_id: str) -> Path:
        self._fail()

    def read_exit_code(self, ctr_id: str, wait: float = 0.0) -> int | None:
        self._fail()

    def kill_monitors(self, marker: str) -> int:
        return 0  # without the binaries nothing can have been started

    def attach_socket_path(self, bundle: Path) -> Path:
        self._fail()

    def attach(self, bundle: Path) -> socket.socket:
        self._fail()

    def resize(self, bundle: Path, rows: int, cols: int) -> None:
        self._fail()

    def exec_container(self, req: ExecRequest) -> ExecHandle:
        self._fail()

    def exec_stop_container(self, ctr_id: str, session_id: str, pid: int, pid_start: int,
                            timeout: float) -> None:
        self._fail()

    def exec_update_status(self, ctr_id: str, session_id: str, pid: int,
                           pid_start: int) -> bool:
        self._fail()

    def exec_container_cleanup(self, ctr_id: str, session_id: str, bundle: Path) -> None:
        self._fail()

    def exec_attach_socket_path(self, bundle: Path) -> Path:
        self._fail()

    def exec_attach(self, bundle: Path) -> socket.socket:
        self._fail()

    def exec_bundle(self, session_id: str) -> Path:
        self._fail()

    def exec_exit_file_path(self, ctr_id: str, session_id: str) -> Path:
        self._fail()

    def read_exec_exit_code(self, ctr_id: str, session_id: str) -> int | None:
        self._fail()
