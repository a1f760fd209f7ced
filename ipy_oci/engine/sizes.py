"""A container's sizes as podman reports them (``ps -s``, ``system df``).

``rw``: what the container wrote, the overlay upper dir; ``rootfs``: the "virtual"
size, its image's layers plus ``rw``. In copy mode the flattened root is all the
container's own, so both are its size.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .container import Container


@dataclass(frozen=True)
class ContainerSize:
    rw: int
    rootfs: int


def tree_size(top: Path) -> int:
    """Bytes of the files under ``top`` (each inode once, links never followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(top)]
    while stack:
        path = stack.pop()
        try:
            entries = os.scandir(path)
        except OSError:
            continue  # gone meanwhile, or not a directory: nothing to count
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                    continue
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_size
    return total


def container_size(ctr: Container) -> ContainerSize:
    copy_root = ctr.dir / "rootfs"
    if copy_root.is_dir():
        whole = tree_size(copy_root)
        return ContainerSize(rw=whole, rootfs=whole)
    rw = tree_size(ctr.dir / "upper")
    try:
        image = ctr.runtime.images.lookup(ctr.record.image_id).size
    except Exception:
        image = 0  # the image was force-removed: only the container's own bytes
    return ContainerSize(rw=rw, rootfs=image + rw)
