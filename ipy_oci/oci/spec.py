"""OCI runtime spec (config.json) generation with the defaults podman users expect.

Helpers live in small modules next to this one (``spec_caps``, ``spec_env``,
``spec_limits``, ``spec_mounts``, ``spec_user``); their public names are re-exported
here so callers import from one place.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from ipy_oci.errors import UsageError
from ipy_oci.oci.spec_caps import (
    ALL_CAPS,
    DEFAULT_CAPS,
    build_capabilities,
    merge_caps,
    normalize_cap,
)
from ipy_oci.oci.spec_devices import parse_cgroup_rule, parse_device, spec_devices
from ipy_oci.oci.spec_env import DEFAULT_PATH, build_env, resolve_command
from ipy_oci.oci.spec_limits import (
    RLIM_INFINITY,
    build_rlimits,
    host_rlimits,
    parse_sysctl,
    parse_ulimit,
)
from ipy_oci.oci.spec_mounts import (
    INIT_PATH,
    MASKED_PATHS,
    READONLY_PATHS,
    BindMount,
    default_mounts,
    etc_file_mount,
    init_mount,
    read_only_tmpfs_mounts,
    write_etc_files,
)
from ipy_oci.oci.spec_seccomp import (
    DEFAULT_PROFILE,
    SecurityOptions,
    apparmor_enabled,
    check_default_profile,
    masked_paths,
    parse_security_opts,
    seccomp_for,
)
from ipy_oci.oci.spec_tz import write_localtime, zone_file
from ipy_oci.oci.spec_user import UnknownUser, read_in_root, resolve_groups, resolve_user

__all__ = [
    "ALL_CAPS",
    "DEFAULT_CAPS",
    "DEFAULT_PATH",
    "DEFAULT_PIDS_LIMIT",
    "DEFAULT_PROFILE",
    "INIT_PATH",
    "MASKED_PATHS",
    "OCI_VERSION",
    "READONLY_PATHS",
    "RLIM_INFINITY",
    "BindMount",
    "ProcessOptions",
    "SecurityOptions",
    "SpecOptions",
    "UnknownUser",
    "build_capabilities",
    "build_env",
    "build_process",
    "build_rlimits",
    "build_spec",
    "check_default_profile",
    "host_rlimits",
    "masked_paths",
    "merge_caps",
    "normalize_cap",
    "parse_device",
    "parse_security_opts",
    "parse_sysctl",
    "parse_ulimit",
    "read_in_root",
    "resolve_command",
    "resolve_groups",
    "resolve_user",
    "seccomp_for",
    "write_etc_files",
    "write_localtime",
    "zone_file",
]

OCI_VERSION = "1.0.2-dev"  # what runc 1.1 reports as its spec version
DEFAULT_SHM_SIZE = 64 << 20
MIN_MEMORY = 6 << 20  # podman's floor: below this the container cannot even start
CPU_PERIOD = 100_000  # microseconds; --cpus N becomes quota N * period
DEFAULT_PIDS_LIMIT = 2048  # podman's default (containers.conf pids_limit)

# Device cgroup: deny everything, then allow what every container needs (the same
# list docker and podman use). runc also creates these nodes in the container's /dev.
_DEVICE_RULES: list[dict[str, Any]] = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "access": "m"},  # mknod of any char device
    {"allow": True, "type": "b", "access": "m"},  # mknod of any block device
    *(
        {"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
        for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2))
    ),  # null zero full random urandom tty console ptmx
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # /dev/pts/*
]


@dataclass
class ProcessOptions:
    """A process to run: the container's init, or an exec session."""

    args: list[str]
    env: list[str]  # the final KEY=VAL list (see build_env)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    terminal: bool = False
    privileged: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    no_new_privileges: bool = False
    # None -> host_rlimits(); an exec session should pass its container's list.
    rlimits: list[dict[str, Any]] | None = None
    umask: int = 0o022


@dataclass
class SpecOptions:
    rootfs: str  # absolute path to the rootfs (an overlay mountpoint)
    process: ProcessOptions
    hostname: str
    network: str = "none"  # "none" (own netns, loopback only), "host", or "ns:PATH"
    mounts: list[BindMount] = field(default_factory=list)
    etc_files: dict[str, str] = field(default_factory=dict)  # ctr path -> host file
    annotations: dict[str, str] = field(default_factory=dict)
    init_path: str | None = None  # host catatonit/tini, run as pid 1 from INIT_PATH
    # PID 1 only idles (needs catatonit): the container's work runs as exec sessions.
    idle: bool = False
    read_only: bool = False
    read_only_tmpfs: bool = True  # with read_only: tmpfs on /run, /tmp, /var/tmp
    memory: int | None = None  # bytes
    memory_swap: int | None = None  # bytes of memory+swap; -1 unlimited
    # podman's default; <= 0 means unlimited ("max"), None leaves the cgroup as it is.
    pids_limit: int | None = DEFAULT_PIDS_LIMIT
    cpu_shares: int | None = None
    cpus: float | None = None
    cpuset_cpus: str = ""  # e.g. "0-1,3"
    # --device entries {path_on_host, path_in_container, permissions} (spec_devices.py)
    devices: list[dict[str, str]] = field(default_factory=list)
    # --device-cgroup-rule texts ('c 1:3 rwm'), allowed after the default rules
    device_cgroup_rules: list[str] = field(default_factory=list)
    cgroups_path: str = ""  # e.g. "/ipy-oci/<id>" (cgroupfs manager); "" lets runc pick
    # False: no cgroup at all (rootless on cgroup v1): no resources, no device rules.
    cgroups: bool = True
    # "" (root), "subids" or "single": a normal user's namespace, and whether it maps
    # one id only (then devpts cannot use the tty group).
    rootless: str = ""
    cgroupns: str | None = None  # "private" / "host"; None: private only on pure cgroup v2
    shm_size: int = DEFAULT_SHM_SIZE
    sysctls: list[str] = field(default_factory=list)  # --sysctl KEY=VALUE
    ulimits: list[str] = field(default_factory=list)  # --ulimit NAME=SOFT[:HARD] | host
    # --security-opt (see spec_seccomp): None = the default seccomp profile (required),
    # "unconfined", or the absolute path of a profile. --privileged runs unconfined.
    seccomp: str | None = None
    mask: list[str] = field(default_factory=list)  # added to the masked paths
    unmask: list[str] = field(default_factory=list)  # paths/globs, or "ALL"
    apparmor: str = ""  # a profile name, applied only where AppArmor is enabled


def build_process(p: ProcessOptions) -> dict[str, Any]:
    """The OCI ``process`` object (also conmon's --exec-process-spec for exec sessions)."""
    if not p.args or not p.args[0]:
        raise UsageError("no command given: the process needs at least one argument")
    if not p.cwd.startswith("/"):
        raise UsageError(f"invalid working directory {p.cwd!r}: it must be an absolute path")
    for what, value in (("uid", p.uid), ("gid", p.gid), *(("gid", g) for g in p.additional_gids)):
        if not 0 <= value <= 2**32 - 2:
            raise UsageError(f"invalid {what} {value}: must be between 0 and 4294967294")
    user: dict[str, Any] = {"uid": p.uid, "gid": p.gid, "umask": p.umask}
    gids = list(dict.fromkeys(p.additional_gids))
    if gids:
        user["additionalGids"] = gids
    return {
        "terminal": p.terminal,
        "user": user,
        "args": list(p.args),
        "env": list(p.env),
        "cwd": p.cwd,
        "capabilities": build_capabilities(p.cap_add, p.cap_drop, p.privileged, p.uid),
        "rlimits": host_rlimits() if p.rlimits is None else [dict(r) for r in p.rlimits],
        "noNewPrivileges": p.no_new_privileges,
    }


def _namespaces(opts: SpecOptions) -> list[dict[str, Any]]:
    ns: list[dict[str, Any]] = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if opts.network == "none":
        ns.append({"type": "network"})
    elif opts.network.startswith("ns:") and opts.network[3:].startswith("/"):
        ns.append({"type": "network", "path": opts.network[3:]})
    elif opts.network != "host":
        raise UsageError(
            f"unsupported network mode {opts.network!r}: use none, host or ns:/path/to/netns"
        )
    cgroupns = opts.cgroupns
    if cgroupns is None:
        # podman's default: a private cgroupns needs the unified (v2) hierarchy to be useful.
        pure_v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        cgroupns = "private" if pure_v2 else "host"
    if cgroupns not in ("private", "host"):
        raise UsageError(f"invalid cgroupns mode {cgroupns!r}: use private or host")
    if cgroupns == "private":
        ns.append({"type": "cgroup"})
    return ns


def _resources(opts: SpecOptions) -> dict[str, Any]:
    privileged = opts.process.privileged
    res: dict[str, Any] = {
        "devices": [{"allow": True, "access": "rwm"}] if privileged else list(_DEVICE_RULES)
    }
    if opts.memory is not None:
        if opts.memory < MIN_MEMORY:
            raise UsageError(f"memory limit {opts.memory} is too small: the minimum is 6MB")
        res["memory"] = {"limit": opts.memory}
        if opts.memory_swap is not None:
            if 0 <= opts.memory_swap < opts.memory:
                raise UsageError(
                    f"memory+swap limit {opts.memory_swap} must not be below the memory "
                    f"limit {opts.memory} (use -1 for unlimited swap)"
                )
            res["memory"]["swap"] = opts.memory_swap
    elif opts.memory_swap is not None:
        raise UsageError("a memory+swap limit needs a memory limit as well (--memory)")
    if opts.pids_limit is not None:
        res["pids"] = {"limit": opts.pids_limit if opts.pids_limit > 0 else -1}
    cpu: dict[str, Any] = {}
    if opts.cpu_shares is not None:
        if not 2 <= opts.cpu_shares <= 262144:
            raise UsageError(f"cpu shares {opts.cpu_shares} out of range: use 2 to 262144")
        cpu["shares"] = opts.cpu_shares
    if opts.cpuset_cpus:
        cpu["cpus"] = opts.cpuset_cpus
    if opts.cpus is not None:
        ncpu = os.cpu_count() or 1
        if not 0 < opts.cpus <= ncpu:
            raise UsageError(f"invalid --cpus {opts.cpus}: use a number above 0 and at most {ncpu}")
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = max(1000, round(opts.cpus * CPU_PERIOD))  # kernel floor is 1ms
    if cpu:
        res["cpu"] = cpu
    return res


def _mounts(opts: SpecOptions) -> list[dict[str, Any]]:
    mounts = default_mounts(opts.shm_size, opts.process.privileged, rootless=opts.rootless,
                            host_network=opts.network == "host")
    if opts.read_only and opts.read_only_tmpfs:
        mounts += read_only_tmpfs_mounts()
    mounts += [etc_file_mount(dst, src) for dst, src in opts.etc_files.items()]
    if opts.init_path:
        if not os.path.isabs(opts.init_path) or not os.path.isfile(opts.init_path):
            raise UsageError(
                f"init binary {opts.init_path!r} not found: install catatonit or tini, "
                "or run without --init"
            )
        mounts.append(init_mount(opts.init_path))
    # A -v mount at the same destination replaces ours (e.g. -v /srv/shm:/dev/shm).
    user_dsts = {m.destination for m in opts.mounts}
    mounts = [m for m in mounts if m["destination"] not in user_dsts]
    mounts += [m.to_spec() for m in opts.mounts]
    return _parents_first(mounts)


def _parents_first(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each mount goes before the first one below it, the order otherwise kept: a
    tmpfs or -v on /etc must not hide /etc/hosts, nor one on /run the init binary."""
    out: list[dict[str, Any]] = []
    for m in mounts:
        prefix = posixpath.normpath(m["destination"]).rstrip("/") + "/"
        at = next((i for i, o in enumerate(out)
                   if posixpath.normpath(o["destination"]).startswith(prefix)), len(out))
        out.insert(at, m)
    return out


def build_spec(opts: SpecOptions) -> dict[str, Any]:
    """The full OCI config.json for a container."""
    if not os.path.isabs(opts.rootfs):
        raise UsageError(f"rootfs {opts.rootfs!r} must be an absolute path")
    if not opts.hostname or len(opts.hostname) > 64:
        raise UsageError(f"invalid hostname {opts.hostname!r}: use 1 to 64 characters")
    if opts.shm_size < 0:
        raise UsageError(f"invalid shm size {opts.shm_size}: it must not be negative")
    process = build_process(opts.process)
    process["rlimits"] = build_rlimits(opts.ulimits, process["rlimits"])
    if opts.init_path and opts.idle:
        process["args"] = [INIT_PATH, "-P"]  # catatonit's pause mode: PID 1 only idles
    elif opts.init_path:
        process["args"] = [INIT_PATH, "--", *process["args"]]
    privileged = opts.process.privileged
    linux: dict[str, Any] = {
        "namespaces": _namespaces(opts),
        "resources": _resources(opts) if opts.cgroups else {},
    }
    if opts.devices:
        nodes, rules = spec_devices(opts.devices)
        linux["devices"] = nodes
        if not privileged and opts.cgroups:  # privileged already allows every device
            linux["resources"]["devices"] += rules
    if opts.device_cgroup_rules and not privileged and opts.cgroups:
        linux["resources"]["devices"] += [parse_cgroup_rule(r) for r in opts.device_cgroup_rules]
    sysctls = dict(parse_sysctl(s, opts.network) for s in opts.sysctls)
    if sysctls:
        linux["sysctl"] = sysctls
    if opts.cgroups_path:
        linux["cgroupsPath"] = opts.cgroups_path
    masked, readonly = masked_paths(privileged, opts.mask, opts.unmask)
    if masked:
        linux["maskedPaths"] = masked
    if readonly:
        linux["readonlyPaths"] = readonly
    # Seccomp is the container's: runc applies it to every exec session as well.
    seccomp = seccomp_for(opts.seccomp, process["capabilities"]["bounding"], privileged)
    if seccomp is not None:
        linux["seccomp"] = seccomp
    if opts.apparmor and opts.apparmor != "unconfined" and apparmor_enabled():
        process["apparmorProfile"] = opts.apparmor
    return {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": opts.rootfs, "readonly": opts.read_only},
        "hostname": opts.hostname,
        "mounts": _mounts(opts),
        "annotations": dict(opts.annotations),
        "linux": linux,
    }
