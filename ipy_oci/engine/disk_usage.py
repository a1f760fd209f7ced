"""``system df``: disk usage of images, containers and local volumes, as podman shows it.

Sizes: an image is its layers expanded (shared layers counted once in the total);
a container is what it wrote (engine/sizes.py: its overlay upper dir, or its
flattened copy); a volume is the bytes under its data directory. "Active" means
used by a container (images, volumes) or running (containers); "reclaimable" is
what removing the inactive ones would free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..state.records import State
from .gounits import go_human_size
from .sizes import container_size, tree_size
from .views import ago

if TYPE_CHECKING:
    from .runtime import Runtime

SUMMARY_TEMPLATE = "table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
IMAGES_TEMPLATE = ("table {{.Repository}}\t{{.Tag}}\t{{.ImageID}}\t{{.Created}}\t{{.Size}}\t"
                   "{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")
CONTAINERS_TEMPLATE = ("table {{.ContainerID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t"
                       "{{.Size}}\t{{.Created}}\t{{.Status}}\t{{.Names}}")
VOLUMES_TEMPLATE = "table {{.VolumeName}}\t{{.Links}}\t{{.Size}}"
HEADERS = {"ImageID": "IMAGE ID", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
           "ContainerID": "CONTAINER ID", "LocalVolumes": "LOCAL VOLUMES",
           "VolumeName": "VOLUME NAME"}


@dataclass
class DiskUsage:
    images: list[dict[str, Any]]
    containers: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    summary: list[dict[str, Any]]


def _since(ts: float) -> str:
    return ago(ts).removesuffix(" ago")


def _reclaim(n: int, total: int) -> str:
    pct = int(round(n * 100 / total)) if total else 0
    return f"{go_human_size(n)} ({pct}%)"


def _summary(kind: str, total: int, active: int, size: int, reclaimable: int
             ) -> dict[str, Any]:
    return {"Type": kind, "Total": total, "Active": active, "Size": go_human_size(size),
            "Reclaimable": _reclaim(reclaimable, size), "RawSize": size,
            "RawReclaimable": reclaimable}


def _volume_mounts(cfg_mounts: list[dict[str, Any]]) -> int:
    return sum(1 for m in cfg_mounts if m.get("volume"))


def disk_usage(rt: Runtime) -> DiskUsage:
    from .views import image_created

    ctrs = rt.containers(all=True)
    users: dict[str, int] = {}
    for c in ctrs:
        users[c.record.image_id] = users.get(c.record.image_id, 0) + 1

    images = rt.images.list()
    layer_users: dict[str, int] = {}
    for img in images:
        for d in set(img.layer_dirs):
            layer_users[str(d)] = layer_users.get(str(d), 0) + 1
    layer_sizes: dict[str, int] = {}

    def layer_size(d: str) -> int:
        if d not in layer_sizes:
            layer_sizes[d] = tree_size(Path(d))
        return layer_sizes[d]

    img_rows: list[dict[str, Any]] = []
    counted: set[str] = set()
    img_total = img_free = 0
    for img in images:
        shared = sum(layer_size(str(d)) for d in set(img.layer_dirs)
                     if layer_users[str(d)] > 1)
        shared = min(shared, img.size)
        name = img.names[0] if img.names else "<none>:<none>"
        repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else \
            (name, "", "<none>")
        n = users.get(img.id, 0)
        img_rows.append({"Repository": repo or "<none>", "Tag": tag or "<none>",
                         "ImageID": img.id[:12], "Created": _since(image_created(img)),
                         "Size": go_human_size(img.size), "SharedSize": go_human_size(shared),
                         "UniqueSize": go_human_size(img.size - shared), "Containers": n,
                         "RawSize": img.size})
        unique = img.size - shared
        fresh = [d for d in set(img.layer_dirs) if str(d) not in counted]
        counted.update(str(d) for d in img.layer_dirs)
        add = unique + sum(layer_size(str(d)) for d in fresh if layer_users[str(d)] > 1)
        img_total += add
        if n == 0:
            img_free += unique

    ctr_rows: list[dict[str, Any]] = []
    ctr_total = ctr_free = 0
    running = 0
    for c in ctrs:
        rw = container_size(c).rw
        live = c.state in (State.RUNNING, State.PAUSED, State.STOPPING)
        running += live
        ctr_total += rw
        if not live:
            ctr_free += rw
        cmd = " ".join(c.record.config.command)
        ctr_rows.append({"ContainerID": c.id[:12], "Image": c.record.image_id[:12],
                         "Command": cmd, "LocalVolumes": _volume_mounts(c.record.config.mounts),
                         "Size": go_human_size(rw), "Created": _since(c.record.created_at),
                         "Status": State.display(c.state), "Names": c.name, "RawSize": rw})

    vol_rows: list[dict[str, Any]] = []
    vol_total = vol_free = vol_active = 0
    try:
        from .volumes import data_dir

        vols = rt.state.volumes()
        vol_users = rt.state.volume_users()
    except (ImportError, AttributeError):
        vols, vol_users = [], {}
    for v in vols:
        size = tree_size(data_dir(rt, v))
        links = len(vol_users.get(v.name, []))
        vol_total += size
        if links:
            vol_active += 1
        else:
            vol_free += size
        vol_rows.append({"VolumeName": v.name, "Links": links, "Size": go_human_size(size),
                         "RawSize": size})

    summary = [
        _summary("Images", len(images), sum(1 for i in images if users.get(i.id)),
                 img_total, img_free),
        _summary("Containers", len(ctrs), running, ctr_total, ctr_free),
        _summary("Local Volumes", len(vols), vol_active, vol_total, vol_free),
    ]
    return DiskUsage(img_rows, ctr_rows, vol_rows, summary)
