"""``export``: a container's root filesystem as a tar stream (its volumes are not in it).

The walk runs in a child chrooted into the container's root filesystem
(engine/copy.py ``container_root``): a running container's own rootfs mount, seen
from the host where nothing is mounted inside it, or a stopped container's, mounted
for the child alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from .copy import container_root, pump

if TYPE_CHECKING:
    from .runtime import Runtime


def export(rt: Runtime, ref: str, out: BinaryIO) -> None:
    """Write the tar of container ``ref``'s root filesystem to ``out``."""
    ctr = rt.lookup_container(ref)
    with container_root(ctr, rootfs_only=True) as root:
        root.ask(op="pack", path="/", arcname=".", contents=True)
        pump(root.stdout, out)
