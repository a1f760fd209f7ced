"""``info`` and ``version`` data in podman's shapes (``define.Info``, ``define.Version``).

One source, two views: these functions return podman's JSON (its json tags: ``host``,
``ociRuntime``, ``graphRoot`` ...), which ``info --format json`` and the default
output print; ``--format`` templates see the same data under podman's Go field names
(``{{.Host.OCIRuntime.Name}}``, ``{{.Store.GraphRoot}}``), made by
grammar/gonames.py. Values podman takes from Go or buildah are adapted: no
``buildahVersion`` (empty), ``PythonVersion`` where podman has ``GoVersion``.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import is_rootless
from ..state.records import State
from .rootless import cgroups_usable

if TYPE_CHECKING:
    from .runtime import Runtime

# Go's names for the machine (podman prints GOARCH).
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
LOG_DRIVERS = ["k8s-file", "none", "passthrough"]


def go_arch() -> str:
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


def version_data() -> dict[str, Any]:
    """podman's Version struct for ipy-oci (``version``, and ``info``'s version)."""
    from .. import __version__

    return {
        "APIVersion": __version__,
        "Version": __version__,
        "PythonVersion": platform.python_version(),
        "GitCommit": "",
        "BuiltTime": "",
        "Built": 0,
        "OsArch": f"linux/{go_arch()}",
        "Os": "linux",
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _package(path: str) -> str:
    """The Debian package holding ``path`` as podman prints it (name_version_arch)."""
    if not path or not shutil.which("dpkg-query"):
        return "Unknown"
    try:
        owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(path)],
                               capture_output=True, text=True, timeout=10, check=False)
        name = owner.stdout.partition(":")[0].strip() if owner.returncode == 0 else ""
        if not name:
            return "Unknown"
        fmt = "${Package}_${Version}_${Architecture}"
        out = subprocess.run(["dpkg-query", "-W", "-f", fmt, name], capture_output=True,
                             text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "Unknown"
    return out.stdout.strip() or "Unknown"


def _os_release() -> dict[str, str]:
    out = {}
    for line in _read("/etc/os-release").splitlines():
        key, eq, value = line.partition("=")
        if eq:
            out[key.strip()] = value.strip().strip('"')
    return out


def _meminfo() -> dict[str, int]:
    out = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        words = rest.split()
        if words and words[0].isdigit():
            out[key] = int(words[0]) * (1024 if words[1:] == ["kB"] else 1)
    return out


def _cgroups() -> tuple[str, list[str]]:
    """("v1"|"v2", the controllers available)."""
    v2 = _read("/sys/fs/cgroup/cgroup.controllers")
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2", v2.split()
    names = []
    for line in _read("/proc/cgroups").splitlines()[1:]:
        f = line.split()
        if len(f) >= 4 and f[1] != "0" and f[3] == "1":
            names.append(f[0])
    return "v1", names


def _cpu_utilization() -> dict[str, float]:
    """Since boot, from /proc/stat (as podman computes it)."""
    fields = (_read("/proc/stat").splitlines() or [""])[0].split()[1:]
    nums = [int(x) for x in fields if x.isdigit()]
    if len(nums) < 4 or not sum(nums):
        return {"userPercent": 0.0, "systemPercent": 0.0, "idlePercent": 0.0}
    total = sum(nums)
    return {"userPercent": round(100 * (nums[0] + nums[1]) / total, 2),
            "systemPercent": round(100 * nums[2] / total, 2),
            "idlePercent": round(100 * nums[3] / total, 2)}


def _uptime() -> str:
    """podman's words: '2h 60m 40.00s (Approximately 0.08 days)'."""
    try:
        secs = float(_read("/proc/uptime").split()[0])
    except (IndexError, ValueError):
        return ""
    hours = int(secs // 3600)
    return (f"{hours}h {int(secs // 60) - hours * 60}m {secs % 60:.2f}s "
            f"(Approximately {secs / 86400:.2f} days)")


def _security() -> dict[str, Any]:
    from ..oci.spec_caps import DEFAULT_CAPS
    from ..oci.spec_seccomp import DEFAULT_PROFILE, apparmor_enabled

    seccomp = os.path.exists("/proc/self/status") and "Seccomp:" in _read("/proc/self/status")
    return {
        "apparmorEnabled": apparmor_enabled(),
        "capabilities": ",".join(sorted(c if c.startswith("CAP_") else f"CAP_{c}"
                                        for c in DEFAULT_CAPS)),
        "rootless": is_rootless(),
        "seccompEnabled": seccomp,
        "seccompProfilePath": DEFAULT_PROFILE if os.path.exists(DEFAULT_PROFILE) else "",
        "selinuxEnabled": False,
    }


def _id_mappings(rt: Runtime) -> dict[str, Any]:
    if not is_rootless():
        return {"gidmap": None, "uidmap": None}
    from .rootless import id_mappings

    return id_mappings(rt.runroot)


def _slirp4netns() -> dict[str, str]:
    from ..config import find_binary

    path = find_binary("slirp4netns") or ""
    version = ""
    if path:
        try:
            out = subprocess.run([path, "--version"], capture_output=True, check=False,
                                 timeout=10).stdout.decode(errors="replace")
            version = out.strip()
        except OSError:
            pass
    return {"executable": path, "package": _package(path) if path else "", "version": version}


def system_info(rt: Runtime) -> dict[str, Any]:
    """podman's ``info`` JSON for this storage root (plus ``store.databasePath``, the
    SQLite state database, which podman has no field for)."""
    from ..config import config_file

    oci = rt.oci.runtime_info()
    conmon = oci.get("conmon") or {}
    mem = _meminfo()
    cg_version, controllers = _cgroups()
    rootless = is_rootless()
    if rootless and not cgroups_usable():
        controllers = []  # none is delegated to this user (podman shows the same)
    osr = _os_release()
    distribution = {"distribution": osr.get("ID", ""), "version": osr.get("VERSION_ID", "")}
    if osr.get("VARIANT_ID"):
        distribution["variant"] = osr["VARIANT_ID"]
    if osr.get("VERSION_CODENAME"):
        distribution["codename"] = osr["VERSION_CODENAME"]
    states = [r.state for r in rt.state.containers()]
    try:
        st = os.statvfs(rt.root)
        allocated, used = st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize
    except OSError:
        allocated = used = 0
    try:
        images = len(rt.images.list())
    except Exception:  # an unreadable store still gets an info
        images = 0
    return {
        "host": {
            "arch": go_arch(),
            "buildahVersion": "",
            "cgroupManager": "cgroupfs",
            "cgroupVersion": cg_version,
            "cgroupControllers": controllers,
            "conmon": {"package": _package(str(conmon.get("path", ""))),
                       "path": conmon.get("path", ""), "version": conmon.get("version", "")},
            "cpus": os.cpu_count() or 0,
            "cpuUtilization": _cpu_utilization(),
            "distribution": distribution,
            "eventLogger": "file",
            "hostname": platform.node(),
            "idMappings": _id_mappings(rt),
            "kernel": platform.release(),
            "logDriver": "k8s-file",
            "memFree": mem.get("MemFree", 0),
            "memTotal": mem.get("MemTotal", 0),
            "networkBackend": "slirp4netns" if rootless else "netavark",
            "ociRuntime": {"name": oci.get("name", ""),
                           "package": _package(str(oci.get("path", ""))),
                           "path": oci.get("path", ""), "version": oci.get("version", "")},
            "os": "linux",
            "remoteSocket": {"path": "", "exists": False},
            "serviceIsRemote": False,
            "security": _security(),
            "slirp4netns": _slirp4netns() if rootless else {"executable": "", "package": "",
                                                            "version": ""},
            "swapFree": mem.get("SwapFree", 0),
            "swapTotal": mem.get("SwapTotal", 0),
            "uptime": _uptime(),
            "linkmode": "python",
        },
        "store": {
            "configFile": config_file(),
            "containerStore": {
                "number": len(states),
                "paused": sum(s == State.PAUSED for s in states),
                "running": sum(s in (State.RUNNING, State.STOPPING) for s in states),
                "stopped": sum(s not in (State.PAUSED, State.RUNNING, State.STOPPING)
                               for s in states),
            },
            "graphDriverName": "overlay",
            "graphOptions": {},
            "graphRoot": str(rt.root),
            "graphRootAllocated": allocated,
            "graphRootUsed": used,
            "graphStatus": {},
            "imageCopyTmpDir": str(rt.root / "images" / "tmp"),
            "imageStore": {"number": images},
            "runRoot": str(rt.runroot),
            "volumePath": str(rt.root / "volumes"),
            "databasePath": str(rt.state.path),
        },
        "registries": ({"search": list(rt.config.unqualified_registries)}
                       if rt.config.unqualified_registries else {}),
        "plugins": {"volume": ["local"], "network": ["bridge"], "log": list(LOG_DRIVERS),
                    "authorization": None},
        "version": version_data(),
    }


def version_lines(v: dict[str, Any] | None = None) -> str:
    """``version`` without --format: podman's layout, for ipy-oci."""
    v = version_data() if v is None else v
    rows = [("Client:", "ipy-oci"), ("Version:", v["Version"]),
            ("API Version:", v["APIVersion"]), ("Python Version:", v["PythonVersion"]),
            ("OS/Arch:", v["OsArch"])]
    return "".join(f"{k:<16}{val}\n" for k, val in rows)
