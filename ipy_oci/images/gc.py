"""Garbage collection: blobs and extracted layers no image in index.json uses.

Runs under the exclusive GC lock (imports hold it shared, see workspace.py), so
nothing an import is about to name is deleted. Deleting an image from the index
(rmi, prune) comes first; this then frees the space.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field

from ipy_oci.images.store import ImageStore
from ipy_oci.images.workspace import gc_exclusive


@dataclass
class GcReport:
    blobs: list[str] = field(default_factory=list)  # digests removed
    layers: list[str] = field(default_factory=list)  # diff_ids removed
    bytes_freed: int = 0


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
                shutil.rmtree(p, ignore_errors=True)
                report.layers.append("sha256:" + p.name)
    return report
