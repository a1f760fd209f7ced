"""Which overlay a rootless store uses, chosen once and recorded in the store.

In a user namespace the kernel's overlay works when it supports ``userxattr``
(Linux 5.11+ with unprivileged overlay); otherwise fuse-overlayfs does the same job
from user space, reading the same layer format (0/0 whiteouts, user.overlay.opaque);
without either the layers are copied (vfs-like, slow). The first rootless mount
probes in ``<root>/overlay-check`` and writes ``<root>/storage-driver.json``
(``{"driver": "overlay" | "fuse-overlayfs" | "copy"}``); an administrator may write
that file first to force a choice. Root stores never read it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

from ipy_oci.config import find_binary
from ipy_oci.storage import mount as _mnt
from ipy_oci.storage.fsops import USER_OPAQUE_XATTR, remove_tree

DRIVER_FILE = "storage-driver.json"
DRIVERS = ("overlay", "fuse-overlayfs", "copy")


def fuse_overlayfs() -> str | None:
    return find_binary("fuse-overlayfs")


def recorded(root: Path) -> str | None:
    try:
        value = json.loads((root / DRIVER_FILE).read_text()).get("driver")
    except (OSError, ValueError, AttributeError):
        return None
    return value if value in DRIVERS else None


def choose(root: Path) -> str:
    """The store's driver: recorded, or probed now and recorded (call inside the
    user namespace)."""
    driver = recorded(root)
    if driver is not None:
        return driver
    driver = "overlay" if _probe(root, kernel=True) else (
        "fuse-overlayfs" if fuse_overlayfs() and _probe(root, kernel=False) else "copy")
    tmp = root / f".{DRIVER_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps({"driver": driver}) + "\n")
    os.replace(tmp, root / DRIVER_FILE)
    return driver


def mount_fuse(lowers: list[str], upper: str, work: str, merged: Path) -> None:
    """fuse-overlayfs on ``merged`` (it daemonizes, and exits when unmounted)."""
    binary = fuse_overlayfs()
    if binary is None:
        raise OSError(2, "fuse-overlayfs is not installed (package fuse-overlayfs)")
    opts = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
    res = subprocess.run([binary, "-o", opts, str(merged)], stdin=subprocess.DEVNULL,
                         capture_output=True, check=False, timeout=60)
    if res.returncode != 0:
        raise OSError(5, f"fuse-overlayfs: {res.stderr.decode(errors='replace').strip()}")


def _probe(root: Path, *, kernel: bool) -> bool:
    """Mount an overlay with an opaque lower dir, replace that dir through it (what
    breaks when the xattrs are not understood), unmount."""
    base = root / "overlay-check"
    remove_tree(base, ignore_errors=True)
    lower, upper, work, merged = (base / n for n in ("lower", "upper", "work", "merged"))
    try:
        for d in (lower / "d", upper, work, merged):
            d.mkdir(parents=True)
        (lower / "d" / "f").write_text("x")
        os.setxattr(lower / "d", USER_OPAQUE_XATTR, b"y")
        if kernel:
            _mnt.mount("overlay", merged, "overlay", 0,
                       f"userxattr,lowerdir={lower},upperdir={upper},workdir={work}")
        else:
            mount_fuse([str(lower)], str(upper), str(work), merged)
        try:
            (merged / "d" / "f").unlink()
            (merged / "d").rmdir()
            (merged / "d").mkdir()
            ok = not any((merged / "d").iterdir())
        finally:
            _mnt.unmount_all(merged)
        return ok
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            _mnt.unmount_all(merged)
        remove_tree(base, ignore_errors=True)
