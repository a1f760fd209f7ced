"""A test image whose files belong to uid 1234, pushed to tests/registry's loopback registry.

tests/registry is not this suite's directory: its helper modules are imported by
path under names of our own, and nothing there is changed.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

UID1234_FILE = "owned-by-1234"
UID1234_DIR = "dir-of-1234"


def registry_conftest() -> ModuleType:
    """tests/registry/conftest.py (``_start_registry``, ``Registry``, ``REGISTRY_BIN``)."""
    from helpers import registry_module

    module: ModuleType = registry_module("conftest")
    return module


def regimages() -> ModuleType:
    """tests/registry/regimages.py: layers, images, layouts and ``skopeo copy``."""
    from helpers import registry_module

    module: ModuleType = registry_module("regimages")
    return module


def push_uid1234(host: str, workdir: Path) -> str:
    """Push a runnable image (busybox plus a layer with a file and a directory of
    uid/gid 1234) to the registry at ``host``; its reference."""
    from helpers import dir_, reg, sym

    from ipy_oci.images.builtin import host_platform

    ri = regimages()
    extra = [sym("bin/stat", "busybox"), sym("bin/id", "busybox"),
             reg(UID1234_FILE, b"mine", uid=1234, gid=1234),
             dir_(UID1234_DIR, uid=1234, gid=1234),
             reg(f"{UID1234_DIR}/inner", b"inner", uid=1234, gid=1234)]
    img = ri.image([ri.layer(ri.busybox_entries()), ri.layer(extra)],
                   arch=host_platform()[0], label="uid1234")
    layout = ri.write_layout(workdir, "t", img)
    ref = f"{host}/rootless/uid1234:1"
    ri.push(layout, "t", ref)
    return ref
