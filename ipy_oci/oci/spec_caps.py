"""Capability sets for the OCI ``process.capabilities`` object.

The default set is the one podman 4 grants; ``privileged`` grants every capability
this host can hand out.
"""

from __future__ import annotations

import functools
from typing import Any

from ipy_oci.errors import UsageError

# Index = capability number (linux/capability.h).
ALL_CAPS: tuple[str, ...] = tuple(
    "CAP_" + name
    for name in (
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    )
)  # fmt: skip

DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
)


def normalize_cap(name: str) -> str:
    """``net_admin`` / ``CAP_NET_ADMIN`` -> ``CAP_NET_ADMIN``; unknown names are an error."""
    canon = name.strip().upper()
    if not canon.startswith("CAP_"):
        canon = "CAP_" + canon
    if canon not in ALL_CAPS:
        raise UsageError(
            f"unknown capability {name!r}: use a name such as NET_ADMIN or CAP_NET_ADMIN, "
            "or ALL (see capabilities(7))"
        )
    return canon


@functools.cache
def host_bounding_caps() -> frozenset[str]:
    """Capabilities in our own bounding set: runc cannot grant anything outside it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapBnd:"):
                    mask = int(line.split()[1], 16)
                    return frozenset(c for i, c in enumerate(ALL_CAPS) if mask >> i & 1)
    except OSError:
        pass
    return frozenset(ALL_CAPS)


def has_host_cap(cap: str) -> bool:
    """Whether this process holds ``cap`` in its effective set (e.g. CAP_SYS_RESOURCE)."""
    idx = ALL_CAPS.index(normalize_cap(cap))
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> idx & 1)
    except OSError:
        pass
    return False


def _is_all(name: str) -> bool:
    return name.strip().upper() in ("ALL", "CAP_ALL")


def merge_caps(cap_add: list[str], cap_drop: list[str], privileged: bool = False) -> list[str]:
    """The container's capability list after ``--cap-add``/``--cap-drop`` (sorted)."""
    available = host_bounding_caps()
    adds = [c for c in cap_add if not _is_all(c)]
    drops = [c for c in cap_drop if not _is_all(c)]
    add_set = {normalize_cap(c) for c in adds}
    drop_set = {normalize_cap(c) for c in drops}
    both = add_set & drop_set
    if both:
        raise UsageError(
            f"capability {sorted(both)[0]} is in both --cap-add and --cap-drop: keep only one"
        )
    add_all = any(_is_all(c) for c in cap_add)
    drop_all = any(_is_all(c) for c in cap_drop)
    missing = sorted(add_set - available)
    if missing and not (privileged or add_all):
        raise UsageError(
            f"cannot add capability {missing[0]}: this host does not grant it to ipy-oci "
            "(it is missing from our bounding set)"
        )
    if privileged or add_all:
        # --privileged counts as --cap-add ALL, which wins over --cap-drop ALL (as in
        # podman); named --cap-drop entries still apply.
        caps = set(available) - drop_set
    elif drop_all:
        caps = set(add_set)
    else:
        caps = (set(DEFAULT_CAPS) | add_set) - drop_set
    return sorted(caps & available)


def build_capabilities(
    cap_add: list[str], cap_drop: list[str], privileged: bool, uid: int
) -> dict[str, Any]:
    """The ``process.capabilities`` object.

    Root gets the set in bounding/effective/permitted. A non-root user gets it only as
    a bounding set; caps it asked for by name with --cap-add are also put in ambient
    (and inheritable), since without that they would be lost at execve (podman 4 does
    the same). --privileged alone gives a non-root user no live capabilities.
    """
    caps = merge_caps(cap_add, cap_drop, privileged)
    if uid == 0:
        return {"bounding": caps, "effective": caps, "permitted": caps}
    if any(_is_all(c) for c in cap_add):
        explicit = caps
    else:
        explicit = sorted({normalize_cap(c) for c in cap_add} & set(caps))
    return {
        "bounding": caps,
        "effective": explicit,
        "permitted": explicit,
        "inheritable": explicit,
        "ambient": explicit,
    }
