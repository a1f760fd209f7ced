"""``port``: podman's lines for one container, the latest, or every running one
(``-a``: each line prefixed with the short ID and a tab). Only running containers
report mappings, as with podman."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from ..state.records import State

if TYPE_CHECKING:
    from .runtime import Runtime


def port_listing(rt: Runtime, container: str | None, port: str | None = None, *,
                 all: bool = False, latest: bool = False) -> list[str]:
    from .networks import port_lines
    from .selection import latest_container

    if latest and container is not None and port is None:
        container, port = None, container  # ``port -l 80``: the word is the port
    if all and (container is not None or latest):
        raise UsageError("--all cannot be used with a container name or --latest")
    if container is None and not (all or latest):
        raise UsageError("you must supply a running container name or id")
    if all and port is not None:
        raise UsageError("--all cannot be used with a private port")
    if all:
        ctrs = [c for c in rt.containers(all=True)]
    else:
        ctrs = [latest_container(rt) if latest else
                rt.lookup_container(container or "")]
    out: list[str] = []
    for ctr in ctrs:
        rt.touch(ctr)
        if ctr.state != State.RUNNING:
            continue
        prefix = f"{ctr.id[:12]}\t" if all else ""
        out += [prefix + line for line in port_lines(ctr, port if not all else None)]
    return out
