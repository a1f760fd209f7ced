"""Resource limits (``--ulimit``) and namespaced sysctls (``--sysctl``)."""

from __future__ import annotations

import resource
from typing import Any

from ipy_oci.errors import UsageError
from ipy_oci.oci.spec_caps import has_host_cap

RLIM_INFINITY = 2**64 - 1  # the spec's uint64 spelling of "unlimited"

# --ulimit name -> resource module constant (the names docker and podman accept).
ULIMIT_NAMES: dict[str, int] = {
    "as": resource.RLIMIT_AS,
    "core": resource.RLIMIT_CORE,
    "cpu": resource.RLIMIT_CPU,
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "locks": 10,  # RLIMIT_LOCKS: Python's resource module does not export it
    "memlock": resource.RLIMIT_MEMLOCK,
    "msgqueue": resource.RLIMIT_MSGQUEUE,
    "nice": resource.RLIMIT_NICE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "rss": resource.RLIMIT_RSS,
    "rtprio": resource.RLIMIT_RTPRIO,
    "rttime": resource.RLIMIT_RTTIME,
    "sigpending": resource.RLIMIT_SIGPENDING,
    "stack": resource.RLIMIT_STACK,
}

# podman's defaults; used only where the host's hard limit allows them.
_DEFAULT_NOFILE = 1048576
_DEFAULT_NPROC = 4194304


def _spec_value(v: int) -> int:
    return RLIM_INFINITY if v == resource.RLIM_INFINITY or v < 0 else v


def _rtype(name: str) -> str:
    return "RLIMIT_" + name.upper()


def host_rlimits() -> list[dict[str, Any]]:
    """RLIMIT_NOFILE and RLIMIT_NPROC at podman's defaults, clamped to our hard limits.

    runc applies them from our own (inherited) limits; going above the hard limit needs
    CAP_SYS_RESOURCE, which some hosts (this VM) do not grant, and then the container
    fails to start with "error setting rlimit type 7".
    """
    out = []
    for name, default in (("nofile", _DEFAULT_NOFILE), ("nproc", _DEFAULT_NPROC)):
        hard = _spec_value(resource.getrlimit(ULIMIT_NAMES[name])[1])
        value = min(default, hard)
        out.append({"type": _rtype(name), "hard": value, "soft": value})
    return out


def _parse_limit(text: str, spec: str) -> int:
    t = text.strip().lower()
    if t in ("-1", "unlimited"):
        return RLIM_INFINITY
    if not t.isdigit():
        raise UsageError(f"invalid ulimit {spec!r}: {text!r} is not a number, -1 or 'unlimited'")
    value = int(t)
    if value >= RLIM_INFINITY:
        raise UsageError(f"invalid ulimit {spec!r}: {text} is out of range")
    return value


def parse_ulimit(spec: str) -> dict[str, Any]:
    """``nofile=1024:2048`` (or ``nofile=1024``: hard = soft) -> a spec rlimit entry."""
    name, sep, values = spec.partition("=")
    name = name.strip().lower()
    if not sep or not name or not values.strip():
        raise UsageError(
            f"invalid ulimit {spec!r}: expected NAME=SOFT[:HARD], e.g. nofile=1024:1024"
        )
    if name not in ULIMIT_NAMES:
        raise UsageError(
            f"invalid ulimit {spec!r}: unknown limit {name!r}; "
            f"known: {', '.join(sorted(ULIMIT_NAMES))}"
        )
    soft_s, colon, hard_s = values.partition(":")
    if colon and ":" in hard_s:
        raise UsageError(f"invalid ulimit {spec!r}: expected NAME=SOFT[:HARD]")
    soft = _parse_limit(soft_s, spec)
    hard = _parse_limit(hard_s, spec) if colon else soft
    if soft > hard:
        raise UsageError(
            f"invalid ulimit {spec!r}: soft limit {soft_s} is above hard limit {hard_s}"
        )
    return {"type": _rtype(name), "hard": hard, "soft": soft}


def _host_all() -> list[dict[str, Any]]:
    out = []
    for name, res in ULIMIT_NAMES.items():
        soft, hard = resource.getrlimit(res)
        out.append({"type": _rtype(name), "hard": _spec_value(hard), "soft": _spec_value(soft)})
    return out


def build_rlimits(
    ulimits: list[str], base: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """``base`` (default host_rlimits()) with ``--ulimit`` entries applied on top.

    ``--ulimit host`` copies every limit of this process. A hard limit above ours is
    refused up front when we lack CAP_SYS_RESOURCE: runc could not set it, and its own
    error ("error setting rlimit type N") does not say which flag was wrong.
    """
    merged: dict[str, dict[str, Any]] = {
        r["type"]: dict(r) for r in (host_rlimits() if base is None else base)
    }
    can_raise: bool | None = None
    for spec in ulimits:
        if spec.strip().lower() == "host":
            merged.update({r["type"]: r for r in _host_all()})
            continue
        entry = parse_ulimit(spec)
        name = entry["type"][len("RLIMIT_") :].lower()
        host_hard = _spec_value(resource.getrlimit(ULIMIT_NAMES[name])[1])
        if entry["hard"] > host_hard:
            if can_raise is None:
                can_raise = has_host_cap("CAP_SYS_RESOURCE")
            if not can_raise:
                shown = "unlimited" if host_hard == RLIM_INFINITY else str(host_hard)
                raise UsageError(
                    f"ulimit {spec!r} is above this host's hard limit for {name} ({shown}) "
                    f"and ipy-oci lacks CAP_SYS_RESOURCE to raise it: use at most {shown}"
                )
        merged[entry["type"]] = entry
    return list(merged.values())


# sysctls that belong to a namespace the container owns (the rest would change the host).
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
        "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    }
)  # fmt: skip


def parse_sysctl(spec: str, network: str = "none") -> tuple[str, str]:
    """``net.ipv4.ip_forward=1`` -> (key, value); only namespaced keys are allowed."""
    key, sep, value = spec.partition("=")
    key = key.strip().replace("/", ".")
    if not sep or not key:
        raise UsageError(f"invalid sysctl {spec!r}: expected KEY=VALUE, e.g. net.ipv4.ip_forward=1")
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return key, value
    if key == "kernel.domainname":
        return key, value
    if key.startswith("net."):
        if network == "host":
            raise UsageError(
                f"sysctl {key!r} cannot be set with --network host: it would change the host"
            )
        return key, value
    raise UsageError(
        f"sysctl {key!r} is not allowed: it is not namespaced, so it would change the host "
        "(allowed: net.*, fs.mqueue.*, kernel.msg*/sem/shm*, kernel.domainname)"
    )


def swap_limit_supported() -> bool:
    """Can the memory cgroup limit memory+swap (podman's sysinfo.SwapLimit)? cgroup v1
    needs swap accounting (memory.memsw.*); v2 has memory.swap.max below the root."""
    import os

    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        try:
            with open("/proc/self/cgroup") as fh:
                own = fh.read().split("::", 1)[1].strip()
        except (OSError, IndexError):
            return False
        return os.path.exists(f"/sys/fs/cgroup{own.rstrip('/')}/memory.swap.max") or \
            own in ("", "/")
    return os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
