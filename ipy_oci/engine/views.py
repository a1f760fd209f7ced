"""Shapes every front end shows: podman's status words and ``ps --format json`` rows.

The CLI, the magics and the server extension all list containers; the words and
fields come from here so they cannot drift apart.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .records import State

if TYPE_CHECKING:
    from .container import Container


def human_duration(seconds: float) -> str:
    """Like Go's units.HumanDuration, which podman prints."""
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


def ago(ts: float) -> str:
    return f"{human_duration(time.time() - ts)} ago"


def status_text(ctr: Container) -> str:
    """The STATUS column: "Up 3 minutes", "Exited (0) 2 seconds ago", ..."""
    r = ctr.record
    now = time.time()
    if r.state in (State.RUNNING, State.STOPPING):
        return f"Up {human_duration(now - r.started_at)}"
    if r.state == State.PAUSED:
        return f"Up {human_duration(now - r.started_at)} (Paused)"
    if r.state in (State.EXITED, State.STOPPED) and r.finished_at:
        code = r.exit_code if r.exit_code is not None else 0
        return f"Exited ({code}) {ago(r.finished_at)}"
    if r.state == State.CREATED:
        return "Initialized"
    return "Created"


def container_summary(ctr: Container, exec_sessions: int) -> dict[str, Any]:
    """One ``ps --format json`` row (also the server's ``GET containers`` item)."""
    r = ctr.record
    return {
        "Id": r.id,
        "Names": [r.name],
        "Image": r.image_name,
        "ImageID": r.image_id,
        "Command": r.config.command,
        "Created": int(r.created_at),
        "State": State.display(r.state),
        "Status": status_text(ctr),
        "Pid": r.pid,
        "ExitCode": r.exit_code or 0,
        "Exited": r.state in (State.EXITED, State.STOPPED),
        "StartedAt": int(r.started_at),
        "ExitedAt": int(r.finished_at),
        "Labels": r.config.labels,
        "AutoRemove": r.config.auto_remove,
        "ExecSessions": exec_sessions,
    }


def image_json(img: Any) -> dict[str, Any]:
    """An images.store.Image as ``inspect`` shows it."""
    cfg: dict[str, Any] = img.config or {}
    return {
        "Id": img.id,
        "Digest": img.digest,
        "RepoTags": list(img.names),
        "Names": list(img.names),
        "Created": img.created,
        "Size": img.size,
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Config": cfg.get("config", {}),
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "History": cfg.get("history", []),
    }
