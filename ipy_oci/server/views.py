"""JSON shapes of the REST API: the same dicts as ``ipy-oci ps/images --format json``.

The CLI builds these inline (cli/commands_info.py); front ends may not import
each other, so the shape is kept in step here until the engine offers it.
"""

from __future__ import annotations

import time
from typing import Any

from ..engine.container import Container
from ..engine.records import State
from ..engine.runtime import Runtime


def _human_duration(seconds: float) -> str:
    """Go's units.HumanDuration, as podman prints it."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    return f"{h // (24 * 7)} weeks"


def _status(state: str, started: float, finished: float, code: int | None) -> str:
    now = time.time()
    if state in (State.RUNNING, State.STOPPING):
        return f"Up {_human_duration(now - started)}"
    if state == State.PAUSED:
        return f"Up {_human_duration(now - started)} (Paused)"
    if state in (State.EXITED, State.STOPPED) and finished:
        return f"Exited ({code if code is not None else 0}) {_human_duration(now - finished)} ago"
    if state == State.CREATED:
        return "Initialized"
    return "Created"


def container_summary(rt: Runtime, ctr: Container) -> dict[str, Any]:
    r = ctr.record
    return {
        "Id": r.id,
        "Names": [r.name],
        "Image": r.image_name,
        "ImageID": r.image_id,
        "Command": r.config.command,
        "Created": int(r.created_at),
        "State": State.display(r.state),
        "Status": _status(r.state, r.started_at, r.finished_at, r.exit_code),
        "Pid": r.pid,
        "ExitCode": r.exit_code or 0,
        "Exited": r.state in (State.EXITED, State.STOPPED),
        "StartedAt": int(r.started_at),
        "ExitedAt": int(r.finished_at),
        "Labels": r.config.labels,
        "AutoRemove": r.config.auto_remove,
        "ExecSessions": len(rt.exec_sessions(r.id, sync=False)),
    }


def image_json(img: Any) -> dict[str, Any]:
    """An images.store.Image as ``ipy-oci inspect`` shows it."""
    cfg: dict[str, Any] = img.config or {}
    return {
        "Id": img.id,
        "Digest": img.digest,
        "RepoTags": list(img.names),
        "Names": list(img.names),  # as ``ipy-oci images --format json``
        "Created": img.created,
        "Size": img.size,
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Config": cfg.get("config", {}),
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "History": cfg.get("history", []),
    }
