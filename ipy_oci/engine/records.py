"""Rows of the state database as typed records."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class State:
    """Container states. STOPPED = exited but not yet cleaned up (mounts, runtime state)."""

    CONFIGURED = "configured"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    EXITED = "exited"

    LIVE = (RUNNING, PAUSED, STOPPING)
    ACTIVE = (CREATED, RUNNING, PAUSED, STOPPING)

    @staticmethod
    def display(state: str) -> str:
        """Podman's words: made by ``create`` is "created", made in the runtime by
        ``init`` is "initialized", exited but not yet cleaned up is still "exited"."""
        return _DISPLAY.get(state, state)


_DISPLAY = {State.CONFIGURED: "created", State.CREATED: "initialized",
            State.STOPPED: "exited"}


@dataclass
class ContainerConfig:
    """What the user asked for; persisted as JSON in the containers row."""

    image: str
    command: list[str]
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    tty: bool = False
    stdin: bool = False
    hostname: str = ""
    network: str = "none"
    mounts: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    stop_signal: int = 15
    stop_timeout: int = 10
    init: bool = False
    auto_remove: bool = False
    privileged: bool = False
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    ulimits: list[str] = field(default_factory=list)
    memory: int | None = None
    pids_limit: int | None = None
    cpus: float | None = None
    shm_size: int | None = None
    # The OCI runtime (runc, crun or a path) the container was created with; every
    # later operation uses the same one. "" means the configured default.
    runtime: str = ""
    # PID 1 is catatonit in pause mode and only idles; work runs as exec sessions
    # (what ``%%oci run`` uses, so any image works, with or without a sleep binary).
    idle: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ContainerConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ContainerRecord:
    id: str
    name: str
    image_id: str
    image_name: str
    created_at: float
    state: str
    config: ContainerConfig
    pid: int = 0
    pid_start: int = 0
    conmon_pid: int = 0
    conmon_start: int = 0
    exit_code: int | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    oom_killed: bool = False
    rootfs: str = ""
    owner_kernel: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ContainerRecord:
        d = dict(row)
        d["config"] = ContainerConfig.from_json(d["config"])
        d["oom_killed"] = bool(d["oom_killed"])
        return cls(**d)

    def columns(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["config"] = self.config.to_json()
        d["oom_killed"] = int(self.oom_killed)
        return d
