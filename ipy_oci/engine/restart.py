"""``--restart``: podman's restart policies, without a daemon.

As in libpod, the decision is made when an exit is first seen (``on_exit``, from
the container's sync, under its lock): the policy matches when the container was
running, nobody stopped or killed it (``stop``/``kill`` call ``stopped_by_user``
first), and ``on-failure`` has a non-zero exit code and retries left. The restart
itself is done by conmon's exit command (``ipy-oci container cleanup``), or by an
attached ``run`` that read the exit code (it ends that exit command), through
``Container.restart_if_pending``: once the exit is cleaned up (exec sessions
reaped, network and rootfs released), the container is initialized and started
again and RestartCount goes up. A user ``start`` resets the count, as podman's does.

The restart state lives next to the container's bundle (``restart.json``, written
under the container's lock), so the state database keeps its schema.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..state.records import ContainerConfig

if TYPE_CHECKING:
    from .container import Container

_FILE = "restart.json"


@dataclass
class RestartState:
    count: int = 0  # restarts done by the policy since the last user start
    stopped_by_user: bool = False  # stop or kill since the last start: no restart
    pending: bool = False  # an exit matched the policy; the restart is still to do


def has_policy(cfg: ContainerConfig) -> bool:
    return cfg.restart_policy not in ("", "no")


def load(ctr: Container) -> RestartState:
    try:
        data = json.loads((ctr.dir / _FILE).read_text())
        return RestartState(int(data.get("count", 0)), bool(data.get("stopped_by_user")),
                            bool(data.get("pending")))
    except (OSError, ValueError, AttributeError, TypeError):
        return RestartState()


def save(ctr: Container, st: RestartState) -> None:
    path: Path = ctr.dir / _FILE
    if st == RestartState() and not path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(st)))
    os.replace(tmp, path)


def restart_count(ctr: Container) -> int:
    """inspect's RestartCount (and ps's Restarts)."""
    return load(ctr).count if has_policy(ctr.record.config) else 0


def should_restart(cfg: ContainerConfig, exit_code: int | None, st: RestartState) -> bool:
    """libpod's shouldRestart, for an exit just seen."""
    if not has_policy(cfg) or st.stopped_by_user:
        return False
    if cfg.restart_policy == "on-failure":
        if exit_code == 0:
            return False
        if cfg.restart_retries > 0 and st.count >= cfg.restart_retries:
            return False
    return True


def on_exit(ctr: Container, was_running: bool) -> None:
    """An exit was just recorded (lock held): mark the restart if the policy matches."""
    cfg = ctr.record.config
    if not has_policy(cfg) or not was_running:
        return
    st = load(ctr)
    if should_restart(cfg, ctr.record.exit_code, st) and not st.pending:
        st.pending = True
        save(ctr, st)


def mark_stopped_by_user(ctr: Container) -> None:
    """``stop`` or ``kill``: the exit that follows is the user's, never restarted."""
    if not has_policy(ctr.record.config):
        return
    st = load(ctr)
    if not st.stopped_by_user or st.pending:
        st.stopped_by_user, st.pending = True, False
        save(ctr, st)


def on_user_start(ctr: Container) -> None:
    """A user ``start`` (or ``restart``): podman resets the count."""
    if not has_policy(ctr.record.config):
        return
    if load(ctr) != RestartState():
        save(ctr, RestartState())


def take_pending(ctr: Container) -> bool:
    """Consume a pending restart (lock held): True if one was due; counts it."""
    if not has_policy(ctr.record.config):
        return False
    st = load(ctr)
    if not st.pending:
        return False
    st.pending, st.stopped_by_user = False, False
    st.count += 1
    save(ctr, st)
    return True
