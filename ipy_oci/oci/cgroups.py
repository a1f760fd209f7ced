"""A container's cgroup counters for ``stats``: cgroup v1 and v2 readers.

The runtime puts a container in ``cgroupsPath`` (engine/spec_builder.py); where that
is depends on the host: per-controller hierarchies (v1, and the hybrid layout where
a v2 tree without controllers sits beside them) or one unified tree (v2). The paths
come from the container process's ``/proc/PID/cgroup`` and the cgroup mounts in
``/proc/self/mountinfo``; the readers take directories, so tests give them
fixture files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CgroupStats:
    cpu_ns: int = 0  # total CPU time used
    cpu_system_ns: int = 0
    mem_usage: int = 0  # bytes
    mem_limit: int = 0  # bytes, 0 if none
    block_read: int = 0  # bytes
    block_write: int = 0
    pids: int = 0


# Limits at or above this mean "no limit" (v1 writes PAGE_COUNTER_MAX pages in bytes).
_NO_LIMIT = 1 << 62


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return 0
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (cpu.stat, memory.stat)."""
    out: dict[str, int] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


# -- v2 -------------------------------------------------------------------------------------


def read_v2(d: Path) -> CgroupStats:
    """Counters of a cgroup v2 directory: cpu.stat (µs), memory.current and .max,
    io.stat (``MAJ:MIN rbytes=N wbytes=N ...`` per device) and pids.current."""
    st = CgroupStats()
    cpu = _keyed(d / "cpu.stat")
    st.cpu_ns = cpu.get("usage_usec", 0) * 1000
    st.cpu_system_ns = cpu.get("system_usec", 0) * 1000
    st.mem_usage = _read_int(d / "memory.current") or 0
    limit = _read_int(d / "memory.max") or 0
    st.mem_limit = 0 if limit >= _NO_LIMIT else limit
    try:
        io_text = (d / "io.stat").read_text()
    except OSError:
        io_text = ""
    for line in io_text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            if key == "rbytes" and value.isdigit():
                st.block_read += int(value)
            elif key == "wbytes" and value.isdigit():
                st.block_write += int(value)
    st.pids = _read_int(d / "pids.current") or 0
    return st


# -- v1 -------------------------------------------------------------------------------------


def _blkio_v1(path: Path) -> tuple[int, int]:
    """(read, write) bytes from blkio.*io_service_bytes_recursive
    (``MAJ:MIN Read N`` lines, and a ``Total N`` line)."""
    read = write = 0
    try:
        text = path.read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].isdigit():
            if parts[1] == "Read":
                read += int(parts[2])
            elif parts[1] == "Write":
                write += int(parts[2])
    return read, write


def read_v1(dirs: dict[str, Path]) -> CgroupStats:
    """Counters from v1 controller directories (keys: cpuacct, memory, blkio, pids)."""
    st = CgroupStats()
    if "cpuacct" in dirs:
        d = dirs["cpuacct"]
        st.cpu_ns = _read_int(d / "cpuacct.usage") or 0
        sys_ns = _read_int(d / "cpuacct.usage_sys")
        if sys_ns is None:  # older kernels: cpuacct.stat in clock ticks
            import os

            ticks = _keyed(d / "cpuacct.stat").get("system", 0)
            sys_ns = ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        st.cpu_system_ns = sys_ns
    if "memory" in dirs:
        d = dirs["memory"]
        st.mem_usage = _read_int(d / "memory.usage_in_bytes") or 0
        limit = _read_int(d / "memory.limit_in_bytes") or 0
        st.mem_limit = 0 if limit >= _NO_LIMIT else limit
    if "blkio" in dirs:
        d = dirs["blkio"]
        st.block_read, st.block_write = _blkio_v1(d / "blkio.io_service_bytes_recursive")
        if not (st.block_read or st.block_write):
            st.block_read, st.block_write = _blkio_v1(
                d / "blkio.throttle.io_service_bytes_recursive")
    if "pids" in dirs:
        st.pids = _read_int(dirs["pids"] / "pids.current") or 0
    return st


# -- where a process's cgroups are ------------------------------------------------------------


@dataclass
class CgroupMount:
    root: str  # the mount's root within the hierarchy
    point: str  # where it is mounted
    v2: bool
    controllers: frozenset[str]


def parse_mountinfo(text: str) -> list[CgroupMount]:
    out = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        f, r = left.split(), right.split()
        if len(f) < 5 or len(r) < 3 or r[0] not in ("cgroup", "cgroup2"):
            continue
        ctrls = frozenset(o for o in r[2].split(",") if o not in ("rw", "ro")) \
            if r[0] == "cgroup" else frozenset()
        out.append(CgroupMount(f[3], f[4], r[0] == "cgroup2", ctrls))
    return out


def parse_proc_cgroup(text: str) -> tuple[dict[str, str], str | None]:
    """(v1 controller -> path, the v2 path or None) from ``/proc/PID/cgroup``."""
    v1: dict[str, str] = {}
    v2: str | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        else:
            for ctrl in parts[1].split(","):
                v1[ctrl] = parts[2]
    return v1, v2


def _under(mount: CgroupMount, path: str) -> Path | None:
    root = mount.root.rstrip("/")
    if root and path != root and not path.startswith(root + "/"):
        return None
    return Path(mount.point + path[len(root):])


def locate(proc_cgroup: str, mountinfo: str) -> tuple[dict[str, Path], Path | None]:
    """(v1 controller -> directory, the v2 directory if the host is unified v2).

    On a hybrid host the v2 tree has no controllers, so the v1 directories win."""
    v1_paths, v2_path = parse_proc_cgroup(proc_cgroup)
    mounts = parse_mountinfo(mountinfo)
    dirs: dict[str, Path] = {}
    for ctrl in ("cpuacct", "memory", "blkio", "pids"):
        path = v1_paths.get(ctrl)
        if path is None:
            continue
        for m in mounts:
            if not m.v2 and ctrl in m.controllers:
                d = _under(m, path)
                if d is not None:
                    dirs[ctrl] = d
                break
    unified = None
    if not dirs and v2_path is not None:
        for m in mounts:
            if m.v2:
                unified = _under(m, v2_path)
                if unified is not None:
                    break
    return dirs, unified


def read_for_pid(pid: int, proc: Path = Path("/proc")) -> CgroupStats | None:
    """The counters of ``pid``'s cgroup (None if the process is gone)."""
    try:
        proc_cgroup = (proc / str(pid) / "cgroup").read_text()
        mountinfo = (proc / "self" / "mountinfo").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    dirs, unified = locate(proc_cgroup, mountinfo)
    if dirs:
        return read_v1(dirs)
    if unified is not None:
        return read_v2(unified)
    return CgroupStats()


# -- rootless ------------------------------------------------------------------------
def rootless_cgroup_parent() -> str | None:
    """Where a normal user's containers may have cgroups: their own cgroup v2 path
    when it was delegated to them (writable, with the memory and pids controllers),
    as systemd's user sessions do. None on cgroup v1 (this host) or without delegation.
    """
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return None
    try:
        with open("/proc/self/cgroup", encoding="ascii") as fh:
            own = fh.read().strip()
    except OSError:
        return None
    if not own.startswith("0::"):
        return None
    path = own[3:].rstrip("/") or "/"
    base = Path("/sys/fs/cgroup") / path.lstrip("/")
    try:
        controllers = (base / "cgroup.controllers").read_text().split()
    except OSError:
        return None
    if not {"memory", "pids"} <= set(controllers) or not os.access(base, os.W_OK):
        return None
    return path


def cgroups_usable() -> bool:
    """Can containers get a cgroup (limits, pause, stats, kill --all)? Root always can;
    a normal user only with a delegated cgroup v2 subtree."""
    from ..config import is_rootless

    return not is_rootless() or rootless_cgroup_parent() is not None


def kill_all_works() -> bool:
    """``runc kill --all`` finds the processes through the container's cgroup."""
    return cgroups_usable()
