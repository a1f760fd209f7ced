"""Exec session configuration and database rows."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class ExecState:
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass
class ExecConfig:
    command: list[str]
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    detach_keys: str = "ctrl-p,ctrl-q"
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    privileged: bool = False
    preserve_fds: int = 0
    # Run conmon's exit command (``container cleanup --exec``) when the process ends.
    exit_command: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ExecConfig:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ExecRecord:
    id: str
    container_id: str
    state: str
    config: ExecConfig
    created_at: float
    pid: int = 0
    pid_start: int = 0
    conmon_pid: int = 0
    conmon_start: int = 0
    exit_code: int | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    attached: bool = False
    owner_pid: int = 0
    owner_start: int = 0
    owner_kernel: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ExecRecord:
        d = dict(row)
        d["config"] = ExecConfig.from_json(d["config"])
        d["attached"] = bool(d["attached"])
        return cls(**d)

    def columns(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["config"] = self.config.to_json()
        d["attached"] = int(self.attached)
        return d
