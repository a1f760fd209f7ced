"""Turn a container record plus its image into a mounted rootfs and a config.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipy_oci.userns.enter import in_userns

from ..config import find_binary
from ..errors import CommandNotExecutable, RuntimeMissing
from ..oci.fsutil import write_private
from ..oci.spec import (
    DEFAULT_PIDS_LIMIT,
    BindMount,
    ProcessOptions,
    SecurityOptions,
    SpecOptions,
    build_env,
    build_spec,
    check_default_profile,
    parse_security_opts,
    resolve_groups,
    resolve_user,
    write_etc_files,
    write_localtime,
)
from .rootless import cgroups_path, check_mapped, rootless_mode

if TYPE_CHECKING:
    from .container import Container

INIT_CANDIDATES = ("catatonit", "tini-static", "tini")
DEFAULT_SHM_SIZE = 64 << 20  # podman's default /dev/shm


def find_init() -> str:
    for name in INIT_CANDIDATES:
        path = find_binary(name, (f"/usr/bin/{name}", f"/usr/libexec/podman/{name}"))
        if path:
            return path
    raise RuntimeMissing("--init needs catatonit or tini on the host: "
                         "install one with 'apt-get install catatonit'")


def find_idle_init() -> str:
    """Only catatonit has a pause mode (-P)."""
    path = find_binary("catatonit", ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit"))
    if path is None:
        raise RuntimeMissing("an idle container needs catatonit on the host: "
                             "install it with 'apt-get install catatonit'")
    return path


def security_options(values: list[str], privileged: bool = False,
                     check_files: bool = True) -> SecurityOptions:
    """``--security-opt`` values read and checked (UsageError naming the bad one).

    The grammar calls this when a container is created, so a bad value or profile
    fails ``create``/``run`` up front; ``.normalized()`` is what the config stores,
    ``.notes`` what the user should be told.
    """
    sec = parse_security_opts(values, check_files=check_files)
    if privileged and sec.seccomp not in (None, "unconfined"):
        sec.notes.append(f"--privileged runs without seccomp: the profile {sec.seccomp} is "
                         "not applied (as in podman); drop --privileged to use it")
    if check_files and sec.seccomp is None and not privileged:
        check_default_profile()  # fail closed now if it is missing (read once)
    return sec


def pids_limit(configured: int | None) -> int:
    """The pids limit a container gets: podman's default 2048, 0 for unlimited."""
    if configured is None:
        return DEFAULT_PIDS_LIMIT
    return max(configured, 0)


@in_userns
def check_workdir(rootfs: str, workdir: str, mounts: list[dict[str, Any]], ctr_id: str) -> None:
    """A --workdir the user gave must exist (podman: the runtime would create it on the
    rootfs); the image's own WorkingDir is created. A path on, under or above a mount
    destination is left to the runtime, and a symlink is taken as it is."""
    path = os.path.normpath(workdir)
    for m in mounts:
        dest = os.path.normpath(m.get("destination", "/"))
        if path == dest or path.startswith(dest.rstrip("/") + "/") \
                or dest.startswith(path.rstrip("/") + "/"):
            return
    host = os.path.join(rootfs, path.lstrip("/"))
    if os.path.isdir(host) or os.path.islink(host):
        return
    if os.path.lexists(host):
        raise CommandNotExecutable(
            f'workdir "{workdir}" exists on container {ctr_id}, but is not a directory')
    raise CommandNotExecutable(f'workdir "{workdir}" does not exist on container {ctr_id}')


def prepare_bundle(ctr: Container, network: str | None = None,
                   etc_texts: dict[str, str] | None = None) -> Path:
    """Mount the rootfs and write config.json; returns the rootfs path.

    ``network``: the spec's network mode (engine/networks.py ``setup_for_init``;
    default the config's); ``etc_texts``: /etc/hosts and /etc/resolv.conf texts that
    replace the defaults (container path -> text).

    On failure the caller unmounts (``Container._undo_init``).
    """
    from ..storage.rootfs import mount_rootfs

    rec = ctr.record
    cfg = rec.config
    image = ctr.runtime.images.lookup(rec.image_id)
    init_path = find_idle_init() if cfg.idle else (find_init() if cfg.init else None)
    rootfs = mount_rootfs(image.layer_dirs, ctr.dir,
                          min_free=ctr.runtime.config.min_free_space)
    if any(m.get("volume") for m in cfg.mounts):
        from .volumes import copy_up

        copy_up(ctr, Path(rootfs))  # podman's copy-up into new volumes, once each
    img_cfg = image.config.get("config") or {}
    uid, gid, groups, _home = resolve_user(str(rootfs), cfg.user or img_cfg.get("User", ""))
    groups = check_mapped(ctr.runtime.runroot, cfg.user or img_cfg.get("User", ""),
                          uid, gid, groups)
    if cfg.group_add:  # --group-add: after the user's own groups, names from the image
        groups += [g for g in resolve_groups(str(rootfs), cfg.group_add) if g not in groups]
    hostname = cfg.hostname or rec.id[:12]
    env = build_env(img_cfg.get("Env") or [], cfg.env, hostname, cfg.tty)
    workdir = cfg.workdir or img_cfg.get("WorkingDir") or "/"
    net_mode = network or cfg.network
    etc_files = write_etc_files(ctr.dir, hostname, net_mode)
    for dest, text in (etc_texts or {}).items():
        if dest in etc_files:
            write_private(Path(etc_files[dest]), text.encode())
            os.chmod(etc_files[dest], 0o644)
    if cfg.no_hosts:
        etc_files.pop("/etc/hosts", None)  # the image's own stays
    if cfg.timezone:
        etc_files["/etc/localtime"] = write_localtime(ctr.dir, cfg.timezone)
    annotations = {**(img_cfg.get("Labels") or {}), **cfg.labels, **cfg.annotations}
    sec = parse_security_opts(cfg.security_opt, check_files=False)
    cgroup = cgroups_path(rec.id)
    cgroups = bool(cgroup)
    spec = build_spec(SpecOptions(
        rootfs=str(rootfs),
        process=ProcessOptions(
            args=list(cfg.command), env=env, cwd=workdir, uid=uid, gid=gid,
            additional_gids=groups, terminal=cfg.tty, privileged=cfg.privileged,
            cap_add=list(cfg.cap_add), cap_drop=list(cfg.cap_drop),
            no_new_privileges=sec.no_new_privileges,
        ),
        hostname=hostname,
        network=net_mode,
        mounts=[BindMount(**m) for m in cfg.mounts],
        etc_files=etc_files,
        annotations=annotations,
        init_path=init_path,
        idle=cfg.idle,
        read_only=cfg.read_only,
        memory=cfg.memory,
        pids_limit=(pids_limit(cfg.pids_limit) or -1) if cgroups else None,
        cpus=cfg.cpus,
        cpu_shares=cfg.cpu_shares,
        cpuset_cpus=cfg.cpuset_cpus,
        memory_swap=cfg.memory_swap,
        devices=list(cfg.devices),
        device_cgroup_rules=list(cfg.device_cgroup_rules),
        sysctls=[f"{k}={v}" for k, v in cfg.sysctls.items()],
        cgroups_path=cgroup,
        cgroups=cgroups,
        rootless=rootless_mode(ctr.runtime.runroot),
        ulimits=list(cfg.ulimits),
        shm_size=cfg.shm_size or DEFAULT_SHM_SIZE,
        seccomp=sec.seccomp,
        mask=sec.mask,
        unmask=sec.unmask,
        apparmor=sec.apparmor,
    ))
    if cfg.workdir:
        check_workdir(str(rootfs), cfg.workdir, spec.get("mounts") or [], rec.id)
    tmp = ctr.dir / "config.json.tmp"
    # Compact, as podman writes it: the exec hot path parses this file on every exec.
    write_private(tmp, json.dumps(spec, separators=(",", ":")).encode())  # -e values
    os.replace(tmp, ctr.dir / "config.json")
    return Path(rootfs)
