"""Garbage collection: blobs and extracted layers no image in index.json uses.

Runs under the exclusive GC lock (imports hold it shared, see workspace.py), so
nothing an import is about to name is deleted. Deleting an image from the index
(rmi, prune) comes first; this then frees the space.

Layers hold whatever their images put there (trees thousands of levels deep,
read-only directories): they go with the iterative, fd-based ``remove_tree``. A
layer that cannot be removed entirely (an immutable file in it) is reported in
``errors`` and tried again by the next collection; it never stops the others.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from ipy_oci.images.store import ImageStore
from ipy_oci.images.workspace import gc_exclusive
from ipy_oci.storage.atomic import remove_tree


@dataclass
class GcReport:
    blobs: list[str] = field(default_factory=list)  # digests removed
    layers: list[str] = field(default_factory=list)  # diff_ids removed
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)  # "path: why" of what stayed


def collect(store: ImageStore) -> GcReport:
    report = GcReport()
    if not store.dir.is_dir():
        return report
    with gc_exclusive(store.dir):
        blobs, layers = store.referenced()
        if store.blobs_dir.is_dir():
            for p in store.blobs_dir.iterdir():
                if p.name.startswith(".") or p.name in blobs:
                    continue  # dot names are writes in progress
                with contextlib.suppress(OSError):
                    size = p.lstat().st_size
                    os.unlink(p)
                    report.blobs.append("sha256:" + p.name)
                    report.bytes_freed += size
        if store.layers_dir.is_dir():
            for p in store.layers_dir.iterdir():
                if p.name.startswith(".") or p.name in layers:
                    continue
                size = store.layer_size("sha256:" + p.name) if _hex(p.name) else 0
                problems = remove_tree(p, ignore_errors=True)
                if problems:
                    report.errors += problems
                    continue
                report.layers.append("sha256:" + p.name)
                report.bytes_freed += size
        if store.sizes_dir.is_dir():
            for p in store.sizes_dir.iterdir():
                if p.name.startswith(".") or p.name in layers:
                    continue
                if not (store.layers_dir / p.name).exists():
                    with contextlib.suppress(OSError):
                        p.unlink()
    return report


def _hex(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)
