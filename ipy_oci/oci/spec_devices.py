"""``--device HOST[:CONTAINER][:PERMS]``: a host device node in the container.

runc creates the node in the container's /dev (``linux.devices``) and the device
cgroup lets the container use it with PERMS (``linux.resources.devices``). The
spec stores only major and minor numbers, read from the host node when the spec
is built, as podman does.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from ipy_oci.errors import UsageError

_FORM = "HOST-DEVICE[:CONTAINER-PATH][:PERMISSIONS], e.g. /dev/fuse or /dev/sdc:/dev/xvdc:rw"


def _valid_mode(mode: str) -> bool:
    """r, w and m, each at most once (podman's rule)."""
    return bool(mode) and set(mode) <= set("rwm") and len(set(mode)) == len(mode)


def parse_device(text: str) -> list[dict[str, str]]:
    """One ``--device`` value -> entries {path_on_host, path_in_container, permissions}.

    A symlink is resolved first; a directory adds every device node below it.
    """
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise UsageError(f"invalid device {text!r}: expected {_FORM}")
    src, dst, perms = parts[0], "", "rwm"
    for i, part in enumerate(parts[1:], start=1):
        if _valid_mode(part):
            perms = part
        elif i == 1 and part.startswith("/"):
            dst = part
        else:
            raise UsageError(f"invalid device {text!r}: {part!r} is neither an absolute "
                             "container path nor permissions made of r, w and m")
    if not src.startswith("/"):
        raise UsageError(f"invalid device {text!r}: the host device must be an absolute "
                         "path, e.g. /dev/fuse")
    host = os.path.realpath(src)
    try:
        st = os.stat(host)
    except OSError as exc:
        raise UsageError(f"invalid device {text!r}: cannot use {src}: "
                         f"{exc.strerror or exc}") from None
    target = dst or src
    if stat.S_ISDIR(st.st_mode):
        out = []
        for dirpath, _dirs, files in os.walk(host):
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                try:
                    mode = os.lstat(path).st_mode
                except OSError:
                    continue
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    rel = os.path.relpath(path, host)
                    out.append({"path_on_host": path,
                                "path_in_container": os.path.join(target, rel),
                                "permissions": perms})
        if not out:
            raise UsageError(f"invalid device {text!r}: no device nodes found in {src}")
        return out
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise UsageError(f"invalid device {text!r}: {src} is not a device node "
                         "(a character or block device)")
    return [{"path_on_host": host, "path_in_container": target, "permissions": perms}]


def spec_devices(devices: list[dict[str, str]]) -> tuple[list[dict[str, Any]],
                                                         list[dict[str, Any]]]:
    """(``linux.devices`` entries, device cgroup rules) for ``--device`` entries."""
    nodes: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for d in devices:
        host = d["path_on_host"]
        try:
            st = os.stat(host)
        except OSError as exc:
            raise UsageError(f"device {host} is gone from the host ({exc.strerror}): "
                             "recreate the container without --device "
                             f"{host}") from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise UsageError(f"{host} is no longer a device node: recreate the container "
                             f"without --device {host}")
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        nodes.append({"path": d["path_in_container"], "type": kind, "major": major,
                      "minor": minor, "fileMode": stat.S_IMODE(st.st_mode),
                      "uid": 0, "gid": 0})
        rules.append({"allow": True, "type": kind, "major": major, "minor": minor,
                      "access": d["permissions"]})
    return nodes, rules


def parse_cgroup_rule(text: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'TYPE MAJOR[:MINOR] ACCESS'`` as a device cgroup rule;
    ``*`` (or a missing minor) matches every number. Errors use podman's wording."""
    parts = text.split(" ")
    if len(parts) != 3:
        raise UsageError("invalid device cgroup rule requires type, major:Minor, and "
                         f'access rules: "{text}"')
    kind, numbers, access = parts
    if kind not in ("a", "b", "c"):
        raise UsageError(f"invalid device type in device-access-add: {kind}")
    rule: dict[str, Any] = {"allow": True, "type": kind}
    for key, num in zip(("major", "minor"), numbers.split(":", 1), strict=False):
        if num == "*":
            continue
        if not num.isdigit() or not num.isascii():
            # podman's exact words (its tests match them); the value is named in them
            raise UsageError(f'strconv.ParseUint: parsing "{num}": invalid syntax')
        rule[key] = int(num)
    bad = next((c for c in access if c not in "rwm"), None)
    if bad is not None or not access:
        raise UsageError(f"invalid device access in device-access-add: {bad or access}")
    rule["access"] = access
    return rule
