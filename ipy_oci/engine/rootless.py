"""Rootless mode for the engine: entering the user's namespace (ipy_oci/userns/).

``enter(runroot)`` runs once per Runtime: for root it does nothing; for a normal
user it starts or finds the namespace holder, then joins it (a single-threaded
process: the CLI, exit commands) or arranges to work from outside (a kernel, the
Jupyter server). It returns a warning for the user, or "".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import host_uid, is_rootless
from ..errors import ConfigError
from ..userns import enter as _enter
from ..userns import holder as _holder

if TYPE_CHECKING:
    from ..state.records import ContainerConfig


def check_runroot(runroot: Path) -> None:
    """A rootless runroot (often under the shared /tmp) must be a real directory that
    only this user can use, or someone else could plant sockets and pid files."""
    if not is_rootless():
        return
    try:
        st = os.lstat(runroot)
    except OSError as exc:
        raise ConfigError(f"cannot use the runroot {runroot}: {exc.strerror}") from None
    import stat

    if (not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid()
            or st.st_mode & 0o077):
        raise ConfigError(f"the runroot {runroot} is not a private directory owned by "
                          f"uid {host_uid()}: remove it, or set IPY_OCI_RUNROOT (or "
                          "XDG_RUNTIME_DIR) to a directory of your own")


def make_runroot(runroot: Path) -> None:
    """Create the runroot 0700 (its parents too, e.g. under XDG_RUNTIME_DIR), then
    check it: under /tmp someone else may have made it first."""
    runroot.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.mkdir(runroot, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the runroot {runroot}: {exc.strerror}") from None
    check_runroot(runroot)


def enter(runroot: Path) -> str:
    if not is_rootless():
        return ""
    check_runroot(runroot)
    held = _holder.ensure_holder(runroot)
    if _enter.single_threaded():
        _enter.join(held.pid)
    else:
        _enter.activate_outside(held.pid)
    return held.warning


def holder_pid(runroot: Path) -> int:
    held = _holder.find_holder(runroot)
    return held.pid if held else 0


def id_mappings(runroot: Path) -> dict[str, list[dict[str, int]]]:
    """podman's ``host.idMappings`` (empty lists for root)."""
    pid = holder_pid(runroot) if is_rootless() else 0
    if not pid:
        return {"uidmap": [], "gidmap": []}
    uids, gids = _holder.id_maps(pid)

    def rows(m: list[tuple[int, int, int]]) -> list[dict[str, int]]:
        return [{"container_id": a, "host_id": b, "size": c} for a, b, c in m]

    return {"uidmap": rows(uids), "gidmap": rows(gids)}


def single_id_mapping(runroot: Path) -> bool:
    """True when the namespace maps one uid (no subordinate ranges)."""
    pid = holder_pid(runroot) if is_rootless() else 0
    return bool(pid) and len(_holder.id_maps(pid)[0]) < 2


def migrate(runroot: Path) -> tuple[bool, list[int]]:
    """``system migrate``: stop the holder when nothing uses its namespace."""
    if not is_rootless():
        return False, []
    return _holder.stop_holder(runroot)


def unshare_exec(runroot: Path, root: Path, argv: list[str]) -> None:
    """``ipy-oci unshare CMD``: CMD in the namespace (this process becomes it)."""
    if not is_rootless():
        raise ConfigError("ipy-oci unshare is only for rootless mode: as root there is "
                          "no user namespace to enter (run the command directly)")
    env = dict(os.environ, IPY_OCI_ROOT=str(root), IPY_OCI_RUNROOT=str(runroot))
    cmd = argv or [env.get("SHELL") or "/bin/sh"]
    try:
        os.execvpe(cmd[0], cmd, env)
    except OSError as exc:
        from ..errors import OciError

        err = OciError(f"cannot run {cmd[0]!r} in the user namespace: {exc.strerror}")
        err.exit_code = 127 if isinstance(exc, FileNotFoundError) else 126
        raise err from None


# -- what needs a cgroup --------------------------------------------------------------
# podman's words, so scripts and users recognise them.
NO_LIMITS = "resource limits are not supported on cgroups V1 rootless systems"
NO_PAUSE = ("can not pause containers on rootless containers with cgroup V1: this "
            "container does not have a cgroup")
NO_STATS = "stats is not supported in rootless mode without cgroups v2"
_WHY = ("a normal user's containers get cgroups only from a delegated cgroup v2 "
        "subtree (as systemd's user sessions give on a unified hierarchy), and this host "
        "has none")


def cgroups_usable() -> bool:
    from ..oci.cgroups import cgroups_usable as usable

    return usable()


def check_limits(flags: list[str]) -> None:
    """Refuse resource-limit flags (given as their names) where no cgroup exists."""
    if flags and not cgroups_usable():
        raise ConfigError(f"{', '.join(flags)}: {NO_LIMITS}: {_WHY}: run without "
                          f"{'it' if len(flags) == 1 else 'them'}, or as root")


def check_pause() -> None:
    if not cgroups_usable():
        raise ConfigError(f"{NO_PAUSE}: {_WHY} (stop the container instead, or run it as "
                          "root)")


def check_stats() -> None:
    if not cgroups_usable():
        raise ConfigError(f"{NO_STATS}: {_WHY} (ipy-oci top shows the processes)")


def cgroups_path(ctr_id: str) -> str:
    """The container's cgroup: flat under the root for root (runc removes only the
    leaf), under the user's delegated subtree rootless, "" without cgroups."""
    if not is_rootless():
        return f"/ipy-oci-{ctr_id}"
    from ..oci.cgroups import rootless_cgroup_parent

    parent = rootless_cgroup_parent()
    return f"{parent.rstrip('/')}/ipy-oci-{ctr_id}" if parent else ""


def rootless_mode(runroot: Path) -> str:
    """For the spec: "" (root), "subids" or "single" (one mapped id)."""
    if not is_rootless():
        return ""
    return "single" if single_id_mapping(runroot) else "subids"


def limit_flags(config: ContainerConfig) -> list[str]:
    """The flags of ``config`` that need a cgroup (pids-limit 0 or less: no limit)."""
    flags = []
    for flag, given in (("--memory", config.memory is not None),
                        ("--memory-swap", config.memory is None
                         and config.memory_swap is not None),
                        ("--cpus", config.cpus is not None),
                        ("--cpu-shares", config.cpu_shares is not None),
                        ("--cpuset-cpus", bool(config.cpuset_cpus)),
                        ("--pids-limit", (config.pids_limit or 0) > 0),
                        ("--device-cgroup-rule", bool(config.device_cgroup_rules))):
        if given:
            flags.append(flag)
    return flags


def mapped_ids(runroot: Path) -> int:
    """How many ids, from 0 up, the namespace maps (0: not rootless)."""
    pid = holder_pid(runroot) if is_rootless() else 0
    if not pid:
        return 0
    n = 0
    for inside, _host, size in sorted(_holder.id_maps(pid)[0]):
        if inside != n:
            break
        n += size
    return n


def check_mapped(runroot: Path, user: str, uid: int, gid: int,
                 groups: list[int]) -> list[int]:
    """A user the namespace cannot map is refused before runc's "unable to setup user";
    supplementary groups it cannot map are dropped (a single-id namespace has only 0)."""
    n = mapped_ids(runroot)
    if not n:
        return groups
    for kind, value in (("uid", uid), ("gid", gid)):
        if value >= n:
            hint = (_holder.single_id_warning() if n == 1 else
                    f"the user namespace maps ids 0 to {n - 1} (from /etc/subuid and "
                    "/etc/subgid); ask the administrator for a larger range")
            raise ConfigError(f"--user {user or uid}: {kind} {value} cannot be used in a "
                              f"rootless container: {hint}")
    return [g for g in groups if g < n]
