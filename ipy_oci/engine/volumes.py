"""Volumes in the engine: ``volume create|ls|inspect|rm|prune|exists`` and the volumes
containers mount (``-v NAME:/path``, ``-v /path``, ``--mount type=volume``).

A volume is a row in the state store (``VolumeRecord``) and a directory,
``<root>/volumes/<name>/_data``, as podman lays them out. Only podman's ``local``
driver exists, without mounting filesystems: a volume is that directory, or a host
directory given with ``-o type=bind -o device=PATH``. When a container is created,
its volume mounts are resolved here (a missing named volume is created, as podman
does), so the spec builder sees plain binds; the first container that mounts a new
volume copies the image's files at the mount point into it (podman's copy-up,
``nocopy`` turns it off).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NoSuchVolume, UsageError, VolumeInUse
from ..state.records import ContainerConfig, VolumeConfig, VolumeRecord
from ..storage.fsops import fchown
from ..userns.enter import in_userns
from .events import emit

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime

__all__ = [
    "LS_FILTERS", "PRUNE_FILTERS", "VolumeRecord", "create_volume", "data_dir", "get_volume",
    "list_volumes", "parse_filters", "prune_volumes", "remove_anonymous_volumes",
    "remove_volume", "resolve_mounts", "volume_inspect", "volume_ls_row", "volume_names",
]

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
# Mount options a volume of podman's local driver takes in -o o=...: only these need no
# filesystem mount (bind is what every volume is; uid/gid set its directory's owner).
_O_SUPPORTED = ("bind", "rbind", "uid", "gid")
LS_FILTERS = ("name", "label", "label!", "driver", "dangling", "scope", "opt", "until")
PRUNE_FILTERS = ("label", "label!", "until")
# podman mounts named volumes nosuid and nodev.
_VOLUME_MOUNT_OPTIONS = ("nosuid", "nodev")



def _random_name() -> str:
    """podman's name for a volume given none: 64 random hex digits."""
    import secrets  # loaded on use: listings read this module, few create volumes

    return secrets.token_hex(32)

def volumes_dir(rt: Runtime) -> Path:
    return rt.root / "volumes"


def data_dir(rt: Runtime, rec: VolumeRecord) -> Path:
    """Where a volume's files are: its ``_data`` dir, or a bind volume's device."""
    if rec.config.device:
        return Path(rec.config.device)
    return volumes_dir(rt) / rec.name / "_data"


# -- create -------------------------------------------------------------------------------
def _parse_options(options: Mapping[str, str], driver: str) -> VolumeConfig:
    """podman's local driver options, minus those that mount a filesystem (refused)."""
    cfg = VolumeConfig(options=dict(options))
    kind = ""
    binding = False
    for key, value in options.items():
        if key == "type":
            kind = value
        elif key == "device":
            cfg.device = value
        elif key in ("copy", "nocopy"):
            if value not in ("", "true", "false"):
                raise UsageError(f"invalid volume option {key}={value!r}: {key} takes no "
                                 "value")
        elif key == "o":
            for opt in value.split(","):
                name, eq, val = opt.partition("=")
                if name in ("uid", "gid"):
                    try:
                        num = int(val)
                        if num < 0 or not eq:
                            raise ValueError
                    except ValueError:
                        raise UsageError(f"invalid volume option o={value!r}: {name} needs "
                                         "a number >= 0") from None
                    setattr(cfg, name, num)
                elif name in ("bind", "rbind") and not eq:
                    binding = True
                else:
                    raise UsageError(
                        f"unsupported volume option o={value!r}: {name!r} would mount a "
                        f"filesystem, which ipy-oci volumes do not do (supported in o=: "
                        f"{', '.join(_O_SUPPORTED)}); use a bind volume (-o type=bind -o "
                        "device=DIR) or --tmpfs for a tmpfs")
        else:
            raise UsageError(f"invalid mount option {key} for driver '{driver}': the local "
                             "driver takes type, device, o, copy and nocopy")
    if kind not in ("", "none", "bind"):
        raise UsageError(f"unsupported volume type {kind!r}: ipy-oci volumes do not mount "
                         "filesystems; use a bind volume (-o type=bind -o device=DIR), or "
                         "--tmpfs PATH on run/create for a tmpfs")
    if cfg.device:
        if not (kind in ("none", "bind") or binding):
            raise UsageError(f"volume option device={cfg.device!r} needs type=bind (a host "
                             "directory): ipy-oci volumes do not mount devices")
        if not cfg.device.startswith("/"):
            raise UsageError(f"invalid volume option device for driver '{driver}': "
                             f"{cfg.device!r} must be an absolute path")
        if not os.path.isdir(cfg.device):
            why = "not a directory" if os.path.exists(cfg.device) else \
                "no such file or directory"
            raise UsageError(f"invalid volume option device for driver '{driver}': stat "
                             f"{cfg.device}: {why}")
        cfg.device = os.path.normpath(cfg.device)
    elif kind or binding:
        raise UsageError("a bind volume needs -o device=DIR (the host directory it binds)")
    return cfg


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise UsageError(f"invalid volume name {name!r}: names must match "
                         "[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def create_volume(rt: Runtime, name: str | None = None, driver: str = "local",
                  labels: Mapping[str, str] | None = None,
                  options: Mapping[str, str] | None = None, *, anonymous: bool = False,
                  ignore: bool = False) -> VolumeRecord:
    """Make a volume (a random 64-hex name if none is given); with ``ignore`` an
    existing one of that name is returned instead of an error."""
    if driver != "local":
        raise UsageError(f"volume driver {driver!r} is not available: ipy-oci has only the "
                         "'local' driver (volume plugins are not supported)")
    if name:
        _check_name(name)
    cfg = _parse_options(options or {}, driver)
    cfg.labels = dict(labels or {})
    cfg.anonymous = anonymous
    nocopy = "nocopy" in cfg.options and cfg.options["nocopy"] != "false"
    for _attempt in range(5):
        rec = VolumeRecord(name=name or _random_name(), driver=driver,
                           created_at=time.time(), config=cfg,
                           needs_copy_up=not nocopy and not cfg.device)
        if rt.state.add_volume(rec):
            break
        if name:
            existing = rt.state.volume(name)
            if ignore and existing is not None:
                return existing
            raise UsageError(f"volume with name {name} already exists: volume already "
                             "exists")
    else:
        raise UsageError("could not pick an unused volume name: give one")
    try:
        _make_dirs(rt, rec)
    except BaseException:
        rt.state.delete_volume(rec.name)
        raise
    emit(rt, "volume", "create", name=rec.name)
    return rec


def _make_dirs(rt: Runtime, rec: VolumeRecord) -> None:
    """``<root>/volumes/<name>/_data`` (private above _data, as podman's)."""
    base = volumes_dir(rt)
    base.mkdir(mode=0o700, exist_ok=True)
    vdir = base / rec.name
    vdir.mkdir(mode=0o700, exist_ok=True)
    data = vdir / "_data"
    if not rec.config.device:
        try:
            data.mkdir(mode=0o755)
            os.chmod(data, 0o755)  # independent of the umask
        except FileExistsError:
            pass
    target = data_dir(rt, rec)
    if rec.config.uid >= 0 or rec.config.gid >= 0:
        _chown(target, rec.config.uid, rec.config.gid)


@in_userns
def _chown(path: Path, uid: int, gid: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fchown(fd, uid, gid)
    finally:
        os.close(fd)


def get_volume(rt: Runtime, name: str) -> VolumeRecord:
    rec = rt.state.volume(name)
    if rec is None:
        raise NoSuchVolume(name)
    return rec


def volume_names(rt: Runtime) -> list[str]:
    return [v.name for v in rt.state.volumes()]


# -- what front ends show -------------------------------------------------------------------
def _go_time(ts: float) -> str:
    """Go's time.Time String() (what a template prints for CreatedAt)."""
    frac = int(round((ts % 1) * 1e9)) % 1_000_000_000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f".{frac:09d} +0000 UTC"


def _rfc3339(ts: float) -> str:
    frac = int(round((ts % 1) * 1e9)) % 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{frac:09d}Z"


def volume_inspect(rt: Runtime, rec: VolumeRecord, mount_count: int = 0) -> dict[str, Any]:
    """podman's InspectVolumeData JSON (``volume inspect``, ``volume ls --format json``).

    MountCount is podman's count of host mounts the volume holds: ipy-oci volumes
    are plain directories and never mounted on the host, so it is 0 (``mount_count``
    may say otherwise for a caller that knows better).
    """
    cfg = rec.config
    out: dict[str, Any] = {
        "Name": rec.name, "Driver": rec.driver, "Mountpoint": str(data_dir(rt, rec)),
        "CreatedAt": _rfc3339(rec.created_at), "Labels": dict(cfg.labels),
        "Scope": "local", "Options": dict(cfg.options),
    }
    if cfg.uid >= 0:
        out["UID"] = cfg.uid
    if cfg.gid >= 0:
        out["GID"] = cfg.gid
    if cfg.anonymous:
        out["Anonymous"] = True
    out["MountCount"] = mount_count
    if rec.needs_copy_up:
        out["NeedsCopyUp"] = True
    if rec.needs_copy_up and not cfg.device:
        out["NeedsChown"] = True
    return out


def volume_ls_row(rt: Runtime, rec: VolumeRecord) -> dict[str, Any]:
    """A volume as ``volume ls``/``volume inspect`` templates see it: podman's fields
    (every field of the inspect data, with zero values, and CreatedAt as Go prints a
    time). Labels and Options are Go maps to the template engine (by their names)."""
    data = volume_inspect(rt, rec)
    return {
        **data, "CreatedAt": _go_time(rec.created_at), "UID": max(rec.config.uid, 0),
        "GID": max(rec.config.gid, 0), "Anonymous": rec.config.anonymous,
        "NeedsCopyUp": rec.needs_copy_up,
        "NeedsChown": rec.needs_copy_up and not rec.config.device,
        "Timeout": 0, "StorageID": "",
    }


# -- list, filters ----------------------------------------------------------------------------
def parse_filters(values: Sequence[str], allowed: Sequence[str] = LS_FILTERS
                  ) -> dict[str, list[str]]:
    """``--filter KEY=VALUE`` (repeatable; values of one key are alternatives)."""
    out: dict[str, list[str]] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"invalid filter {item!r}: use KEY=VALUE ({', '.join(allowed)})")
        if key not in allowed:
            raise UsageError(f"{key!r} is an invalid volume filter: use "
                             f"{', '.join(allowed)}")
        out.setdefault(key, []).append(value)
    return out


def _labels_match(want: str, labels: Mapping[str, str]) -> bool:
    key, eq, value = want.partition("=")
    return key in labels and (not eq or labels[key] == value)


def _matches(key: str, values: list[str], rec: VolumeRecord, used: set[str]) -> bool:
    cfg = rec.config
    if key == "name":
        return any(v == rec.name or _search(v, rec.name) for v in values)
    if key == "label":
        return all(_labels_match(v, cfg.labels) for v in values)
    if key == "label!":
        return not any(_labels_match(v, cfg.labels) for v in values)
    if key == "driver":
        return rec.driver in values
    if key == "scope":
        return "local" in values
    if key == "opt":
        return any(_labels_match(v, cfg.options) for v in values)
    if key == "dangling":
        wants = set()
        for v in values:
            low = v.lower()
            if low not in ("true", "false", "1", "0"):
                raise UsageError(f"invalid dangling filter {v!r}: use true or false")
            wants.add(low in ("true", "1"))
        return (rec.name not in used) in wants
    if key == "until":
        from .timeparse import filter_timestamp as timestamp

        return rec.created_at < min(timestamp(v) for v in values)
    raise UsageError(f"{key!r} is an invalid volume filter")


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        raise UsageError(f"invalid name filter {pattern!r}: not a regular expression") \
            from None


def list_volumes(rt: Runtime, filters: Mapping[str, list[str]] | None = None
                 ) -> list[VolumeRecord]:
    """Volumes (by name) matching every filter key (any of its values)."""
    filters = filters or {}
    for key, values in filters.items():  # bad values fail even when nothing is listed
        for v in values:
            if key == "dangling" and v.lower() not in ("true", "false", "1", "0"):
                raise UsageError(f"invalid dangling filter {v!r}: use true or false")
            if key == "name":
                _search(v, "")
            if key == "until":
                from .timeparse import filter_timestamp as timestamp

                timestamp(v)
    vols = rt.state.volumes()
    used = set(rt.state.volume_users()) if "dangling" in filters else set()
    return [v for v in vols if all(_matches(k, vs, v, used) for k, vs in filters.items())]


# -- remove, prune ------------------------------------------------------------------------------
def remove_volume(rt: Runtime, name: str, force: bool = False,
                  timeout: float | None = None) -> str:
    """Remove a volume; one in use is refused (exit 2), or with ``force`` removed
    together with the containers using it, as podman does."""
    get_volume(rt, name)
    users = rt.state.delete_volume(name)
    if users and not force:
        # podman's words exactly (its tests compare them); -f is what to do.
        raise VolumeInUse(
            f"volume {name} is being used by the following container(s): "
            f"{', '.join(cid for cid, _ in users)}: volume is being used")
    if users:
        from ..errors import NoSuchContainer

        for cid, _cname in users:
            try:
                rt.lookup_container(cid).remove(force=True, timeout=timeout)
            except NoSuchContainer:
                pass  # removed meanwhile
        users = rt.state.delete_volume(name)
        if users:
            raise VolumeInUse(f"volume {name} is being used by the following container(s): "
                              f"{', '.join(cid for cid, _ in users)}: volume is being used "
                              "(a container was created with it meanwhile)")
    _remove_dirs(rt, name)
    emit(rt, "volume", "remove", name=name)
    return name


def _remove_dirs(rt: Runtime, name: str) -> None:
    from ..storage.fsops import remove_tree

    # A bind volume's device is the user's directory: only our own dir goes.
    vdir = volumes_dir(rt) / name
    if vdir.exists():
        remove_tree(vdir)


def prune_volumes(rt: Runtime, filters: Mapping[str, list[str]] | None = None
                  ) -> list[str]:
    """Remove every volume no container uses (that matches the filters); their names."""
    users = rt.state.volume_users()
    removed = []
    for rec in list_volumes(rt, filters):
        if rec.name in users:
            continue
        if rt.state.delete_volume(rec.name):
            continue  # a container started using it meanwhile
        _remove_dirs(rt, rec.name)
        emit(rt, "volume", "prune", name=rec.name)
        removed.append(rec.name)
    return removed


def unused_volumes(rt: Runtime, filters: Mapping[str, list[str]] | None = None
                   ) -> list[str]:
    """What ``prune`` would remove now (podman lists them before asking)."""
    users = rt.state.volume_users()
    return [v.name for v in list_volumes(rt, filters) if v.name not in users]


# -- containers' volumes ----------------------------------------------------------------------
def resolve_mounts(rt: Runtime, config: ContainerConfig) -> list[str]:
    """Point every volume mount of a new container at its volume's directory, making
    missing named volumes and the anonymous ones; returns the names it made (the
    caller removes them if the container is not created after all)."""
    made: list[str] = []
    for m in config.mounts:
        name = str(m.get("volume") or "")
        if not name and not m.get("anonymous"):
            continue
        rec = rt.state.volume(name) if name else None
        if rec is None:
            rec = create_volume(rt, name or None, anonymous=bool(m.get("anonymous")),
                                ignore=bool(name))
            made.append(rec.name)
        else:
            _make_dirs(rt, rec)  # heals a row whose directory went missing
        m["volume"] = rec.name
        m["source"] = str(data_dir(rt, rec))
        opts = list(m.get("options") or [])
        m["options"] = [*(o for o in _VOLUME_MOUNT_OPTIONS if o not in opts and
                          o.removeprefix("no") not in opts), *opts]
    return made


def discard(rt: Runtime, names: Sequence[str]) -> None:
    """Remove volumes ``resolve_mounts`` made for a container that was not created."""
    for name in names:
        if not rt.state.delete_volume(name):
            _remove_dirs(rt, name)


def copy_up(ctr: Container, rootfs: Path) -> None:
    """podman's copy-up, when a container's root filesystem is mounted: a volume that
    still needs it gets the image's files at its mount point, once, if it is empty
    (and the owner and mode of that directory). The image's directory is opened
    without following symlinks, so nothing outside the root filesystem is read."""
    rt = ctr.runtime
    for m in ctr.record.config.mounts:
        name = str(m.get("volume") or "")
        if not name or m.get("nocopy"):
            continue
        rec = rt.state.volume(name)
        if rec is None or not rec.needs_copy_up:
            continue
        rt.state.set_volume_copied_up(name)  # first come: never copied twice
        _copy_image_dir(rootfs, str(m["destination"]), data_dir(rt, rec))


@in_userns
def _copy_image_dir(rootfs: Path, destination: str, data: Path) -> None:
    """The image's directory ``destination`` into an empty volume directory."""
    from ..storage import fsops
    from ..storage.layercopy import copy_dir_contents

    if any(os.scandir(data)):
        return
    root_fd = os.open(rootfs, fsops.O_DIR)
    try:
        try:
            src_fd = fsops.open_dir_at(root_fd, fsops.split_rel(destination), create=False)
        except (OSError, fsops.UnsafePath):
            return  # not a plain directory in the image (a symlink ...): nothing
        if src_fd is None:
            return
        try:
            dst_fd = os.open(data, fsops.O_DIR)
            try:
                st = os.fstat(src_fd)
                fchown(dst_fd, st.st_uid, st.st_gid)
                os.fchmod(dst_fd, st.st_mode & 0o7777)
                copy_dir_contents(src_fd, dst_fd)
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)
    finally:
        os.close(root_fd)


def remove_anonymous_volumes(rt: Runtime, config: ContainerConfig) -> list[str]:
    """After a container is removed with ``rm -v`` or ``--rm``: its anonymous volumes
    that no other container uses go too."""
    removed = []
    for m in config.mounts:
        name = str(m.get("volume") or "")
        if not name or not m.get("anonymous"):
            continue
        rec = rt.state.volume(name)
        if rec is None or not rec.config.anonymous:
            continue
        if not rt.state.delete_volume(name):
            _remove_dirs(rt, name)
            removed.append(name)
    return removed


def mount_views(rt: Runtime, mounts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """inspect's Mounts entries, with podman's Type volume and Name for volumes."""
    out = []
    for m in mounts:
        opts = [o for o in (m.get("options") or []) if o not in ("rw", "ro")]
        if m.get("volume"):
            out.append({"Type": "volume", "Name": m["volume"], "Source": m["source"],
                        "Destination": m["destination"], "Driver": "local", "Mode": "",
                        "Options": [*opts, "rbind"], "RW": not m.get("readonly", False),
                        "Propagation": "rprivate"})
        else:
            out.append({"Type": "bind", "Source": m["source"],
                        "Destination": m["destination"], "Driver": "", "Mode": "",
                        "Options": ["rbind"], "RW": not m.get("readonly", False),
                        "Propagation": "rprivate"})
    return out


def inspect_object(rt: Runtime, ref: str, kind: str) -> dict[str, Any] | None:
    """``inspect [--type volume|network] REF``: the volume's, else the network's JSON;
    None when ``kind`` is "all" and neither exists (NotFoundError for the one asked)."""
    from ..errors import NotFoundError

    if kind in ("all", "volume"):
        rec = rt.state.volume(ref)
        if rec is not None:
            return volume_inspect(rt, rec)
        if kind == "volume":
            raise NoSuchVolume(ref)
    if kind in ("all", "network"):
        from .networks import inspect_network

        try:
            return inspect_network(rt, ref)
        except NotFoundError:
            if kind == "network":
                raise
    return None
