"""``rename``: a container's new name (any state, as podman).

The name lives in the containers row only; everything else keys on the ID. What a
running container was given at start (its /etc/hosts line, its DNS name on a
network) keeps the old name until it is started again, as with podman.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError
from .names import valid_name

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime


def rename(rt: Runtime, ref: str, new_name: str) -> Container:
    """Rename container ``ref``; UsageError for a bad name, NameInUse if it is taken."""
    ctr = rt.lookup_container(ref)
    if not valid_name(new_name):
        raise UsageError(f"invalid container name {new_name!r}: names must match "
                         "[a-zA-Z0-9][a-zA-Z0-9_.-]*")
    with ctr.lock.held():
        ctr.refresh()
        if ctr.name == new_name:
            return ctr
        rt.state.rename_container(ctr.id, new_name)
        ctr.record.name = new_name
    from .events import container_event

    container_event(ctr, "rename")
    return ctr
