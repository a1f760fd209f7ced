"""What every front end shows, in one place: podman's status words, durations and
sizes, ``ps`` rows, container ``inspect`` JSON, image JSON and pull progress lines.

The CLI, the magics and the server extension all call these functions (one per
shape, with podman's field names), so ``ipy-oci inspect``, ``%oci inspect`` and
``GET /ipy-oci/api/containers/NAME`` cannot drift apart.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..state.records import State
from .gounits import go_human_size
from .networks import network_settings, ps_ports
from .restart import restart_count
from .volumes import mount_views

if TYPE_CHECKING:
    from typing import TextIO

    from ..images.progress import LayerState, PullEvent
    from ..images.store import Image
    from .container import Container
    from .reaping import ReapReport
    from .runtime import Runtime


# -- words: durations, times, sizes, states ----------------------------------------------------
def human_duration(seconds: float) -> str:
    """Like Go's units.HumanDuration, which podman prints."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // (24 * 7)} weeks"
    if h < 24 * 365 * 2:
        return f"{h // (24 * 30)} months"
    return f"{h // (24 * 365)} years"


def ago(ts: float) -> str:
    """"3 minutes ago" ("" for an unset time)."""
    return f"{human_duration(time.time() - ts)} ago" if ts else ""


def iso(ts: float) -> str:
    """RFC 3339 with nanoseconds; Go's zero time when unset (as podman prints it)."""
    if not ts:
        return "0001-01-01T00:00:00Z"
    frac = int(round((ts % 1) * 1e9)) % 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{frac:09d}Z"


def human_size(n: int | float) -> str:
    """Decimal units as podman prints them: 4.2 MB, 812 kB, 96 B."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.3g} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1000
    return f"{int(n)} B"  # not reached


def describe_exit(code: int | None) -> str:
    """137 -> '137 (SIGKILL)'."""
    if code is None or code < 0:
        return "unknown (the process was lost)"
    if code > 128:
        import signal

        try:
            return f"{code} ({signal.Signals(code - 128).name})"
        except ValueError:
            pass
    return str(code)


def status_text(ctr: Container) -> str:
    """The STATUS column in podman 4.3's words: "Up 3 minutes ago", "Paused",
    "Exited (0) 2 seconds ago", "Created", ..."""
    r = ctr.record
    now = time.time()
    if r.state == State.RUNNING:
        return f"Up {human_duration(now - r.started_at)} ago"
    if r.state == State.STOPPING:
        return "Stopping"
    if r.state == State.PAUSED:
        return "Paused"
    if r.state in (State.EXITED, State.STOPPED) and r.finished_at:
        code = r.exit_code if r.exit_code is not None else 0
        return f"Exited ({code}) {ago(r.finished_at)}"
    if r.state == State.CREATED:
        return "Initialized"
    return "Created"


def reap_summary(rep: ReapReport) -> str:
    """What ``system reap`` says it did."""
    return (f"synced {rep.containers_synced} containers and {rep.sessions_synced} running "
            f"exec sessions; reaped {len(rep.orphans_reaped)} orphaned and pruned "
            f"{len(rep.pruned)} finished sessions")


# -- containers ------------------------------------------------------------------------------
def container_summary(ctr: Container, exec_sessions: int,
                      size: tuple[int, int] | None = None) -> dict[str, Any]:
    """One ``ps --format json`` row (also ``%oci ps --format json`` and the server's
    ``GET containers`` item); ``size`` is (rw, rootfs) bytes with ``ps --size``."""
    r = ctr.record
    cfg = r.config
    return {
        "Id": r.id,
        "Names": [r.name],
        "Image": r.image_name,
        "ImageID": r.image_id,
        "Command": r.config.command,
        "Created": int(r.created_at),
        "State": State.display(r.state),
        "Status": status_text(ctr),
        "Pid": r.pid,
        "ExitCode": r.exit_code or 0,
        "Exited": r.state in (State.EXITED, State.STOPPED),
        "StartedAt": int(r.started_at),
        "ExitedAt": int(r.finished_at),
        "Labels": r.config.labels,
        "AutoRemove": r.config.auto_remove,
        "ExecSessions": exec_sessions,
        "OwnerKernel": r.owner_kernel,
        "Ports": ps_ports(r.config),
        "CreatedAt": ago(r.created_at),
        "Mounts": [str(m.get("destination", "")) for m in cfg.mounts],
        "Networks": list(cfg.networks) if cfg.network == "bridge" else [],
        "Size": None if size is None else {"rootFsSize": size[1], "rwSize": size[0]},
        "IsInfra": False,
        "Pod": "",
        "PodName": "",
        # Where a ``run --slurm`` container runs (empty for a local one).
        "Slurm": _slurm_summary(ctr),
    }


def _slurm_summary(ctr: Container) -> dict[str, str]:
    if not ctr.record.config.backend:
        return {"JobId": "", "Node": "", "Partition": ""}
    from .slurm_placement import slurm_view

    view = slurm_view(ctr.runtime, ctr.record)
    return {k: str(view.get(k, "")) for k in ("JobId", "Node", "Partition")}


def container_inspect(ctr: Container) -> dict[str, Any]:
    """Podman-shaped ``inspect`` JSON of a container (``Container.inspect()``)."""
    ctr.refresh()
    rec = ctr.record
    cfg = rec.config
    st = rec.state
    rt = ctr.runtime
    exec_ids = [r.id for r in rt.state.exec_sessions(rec.id)]
    # Type volume with its Name for volumes; tmpfs mounts are HostConfig.Tmpfs (podman)
    mounts = mount_views(rt, [m for m in cfg.mounts if m.get("type", "bind") != "tmpfs"])
    layer_dirs: list[str] = []
    try:
        layer_dirs = [str(p) for p in rt.images.lookup(rec.image_id).layer_dirs]
    except Exception:
        pass  # the image may have been force-removed; inspect still works
    cmd = cfg.command
    sec = _security(ctr)
    return {
        "Id": rec.id,
        "Created": iso(rec.created_at),
        "Path": cmd[0] if cmd else "",
        "Args": cmd[1:],
        "State": {
            "OciVersion": "1.0.2-dev",
            "Status": State.display(st),
            "Running": st in (State.RUNNING, State.STOPPING),
            "Paused": st == State.PAUSED,
            "Restarting": False,
            "OOMKilled": rec.oom_killed,
            "Dead": False,
            "Pid": rec.pid if st in State.LIVE else 0,
            "ConmonPid": rec.conmon_pid if st in State.ACTIVE else 0,
            "ExitCode": rec.exit_code if rec.exit_code is not None else 0,
            "Error": "",
            "StartedAt": iso(rec.started_at),
            "FinishedAt": iso(rec.finished_at),
        },
        "Image": rec.image_id,
        "ImageDigest": _image_digest(ctr),
        "ImageName": rec.image_name,
        "Rootfs": "",
        "Name": rec.name,
        "RestartCount": restart_count(ctr),
        "Driver": "overlay",
        "OCIRuntime": cfg.runtime or ctr.oci.name(),  # as given: a name or a path
        "OCIConfigPath": str(ctr.dir / "config.json"),
        "ConmonPidFile": cfg.conmon_pidfile or str(ctr.dir / "conmon.pid"),
        "PidFile": str(ctr.dir / "pidfile"),
        "LogPath": _log_config(ctr)["Path"],
        "HostnamePath": str(ctr.dir / "hostname"),
        "HostsPath": str(ctr.dir / "hosts"),
        "ResolvConfPath": str(ctr.dir / "resolv.conf"),
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "LowerDir": ":".join(reversed(layer_dirs)),
                "UpperDir": str(ctr.dir / "upper"),
                "WorkDir": str(ctr.dir / "work"),
                "MergedDir": rec.rootfs or str(ctr.dir / "merged"),
            },
        },
        "Mounts": mounts,
        "ExecIDs": exec_ids,
        "EffectiveCaps": sec["effective"],
        "BoundingCaps": sec["bounding"],
        "ProcessLabel": "",  # SELinux is not used
        "MountLabel": "",
        "AppArmorProfile": sec["apparmor"],
        "Config": {
            "Hostname": cfg.hostname or rec.id[:12],
            "User": cfg.user,
            "Env": cfg.env,
            "Cmd": cfg.cmd,
            "Entrypoint": cfg.entrypoint,
            "Image": cfg.image,
            "WorkingDir": cfg.workdir or "/",
            "Labels": cfg.labels,
            "Annotations": cfg.annotations,
            "StopSignal": cfg.stop_signal,
            "StopTimeout": cfg.stop_timeout,
            "Tty": cfg.tty,
            "OpenStdin": cfg.stdin,
            "CreateCommand": cmd,
            "Timezone": cfg.timezone,
            "Timeout": cfg.timeout,
        },
        "HostConfig": {
            "Binds": [f"{m.get('volume') or m['source']}:{m['destination']}"
                      + (":ro" if m.get("readonly") else "") for m in cfg.mounts
                      if m.get("type", "bind") != "tmpfs"],
            "NetworkMode": cfg.network,
            "Privileged": cfg.privileged,
            "ReadonlyRootfs": cfg.read_only,
            "CapAdd": cfg.cap_add,
            "CapDrop": cfg.cap_drop,
            "SecurityOpt": sec["opts"],
            "MaskedPaths": sec["masked"],
            "ReadonlyPaths": sec["readonly"],
            "Memory": cfg.memory or 0,
            "PidsLimit": sec["pids_limit"],
            "NanoCpus": int((cfg.cpus or 0) * 1e9),
            "AutoRemove": cfg.auto_remove,
            "Init": cfg.init,
            "Ulimits": cfg.ulimits,
            **_run_flags(ctr),
        },
        "NetworkSettings": network_settings(ctr),
        "OwnerKernel": rec.owner_kernel,
        **_slurm_inspect(ctr),
    }


def _slurm_inspect(ctr: Container) -> dict[str, Any]:
    """inspect's ``Slurm`` section, only for a container run as a Slurm job."""
    if not ctr.record.config.backend:
        return {}
    from .slurm_placement import slurm_view

    return {"Slurm": slurm_view(ctr.runtime, ctr.record)}


def _log_config(ctr: Container) -> dict[str, Any]:
    """HostConfig.LogConfig: the driver as given (json-file stays json-file), the log
    file ("" when the driver writes none), tag and size cap."""
    cfg = ctr.record.config
    writes = cfg.log_driver not in ("none", "passthrough")
    return {"Type": cfg.log_driver, "Config": None,
            "Path": str(ctr.log_path) if writes else "", "Tag": cfg.log_tag,
            "Size": go_human_size(max(cfg.log_size_max, 0))}


def _run_flags(ctr: Container) -> dict[str, Any]:
    """The HostConfig fields of run/create's flags (restart, tmpfs, devices, ...)."""
    cfg = ctr.record.config
    from ..oci.spec import BindMount
    from ..oci.spec_mountflags import tmpfs_spec_options

    tmpfs = {m["destination"]: ",".join(tmpfs_spec_options(BindMount(**m)))
             for m in cfg.mounts if m.get("type") == "tmpfs"}
    return {
        "RestartPolicy": {"Name": cfg.restart_policy,
                          "MaximumRetryCount": cfg.restart_retries},
        "LogConfig": _log_config(ctr),
        "ContainerIDFile": cfg.cidfile,
        "Tmpfs": tmpfs,
        "CpusetCpus": cfg.cpuset_cpus,
        "CpuShares": cfg.cpu_shares or 0,
        "MemorySwap": cfg.memory_swap or 0,
        "Devices": [{"PathOnHost": d["path_on_host"], "PathInContainer":
                     d["path_in_container"], "CgroupPermissions": d["permissions"]}
                    for d in cfg.devices],
        "DeviceCgroupRules": list(cfg.device_cgroup_rules),
        "GroupAdd": list(cfg.group_add),
        "Sysctls": dict(cfg.sysctls),
    }


def _security(ctr: Container) -> dict[str, Any]:
    """inspect's security fields: podman's SecurityOpt words, the capability sets (from
    config.json once the container has been initialized, else as they will be), docker's
    MaskedPaths/ReadonlyPaths, and the effective pids limit."""
    import json

    from ..oci.spec import build_capabilities, masked_paths
    from .spec_builder import pids_limit, security_options

    cfg = ctr.record.config
    try:
        sec = security_options(cfg.security_opt, check_files=False)
    except Exception:  # a row written by a newer version: show what can be shown
        sec = None
    caps: dict[str, Any] = {}
    try:
        spec = json.loads((ctr.dir / "config.json").read_text())
        caps = spec["process"]["capabilities"]
    except (OSError, ValueError, KeyError, TypeError):
        try:
            user = cfg.user.split(":")[0] if cfg.user else ""
            uid = 0 if user in ("", "root", "0") else 1  # the image's USER is not read here
            caps = build_capabilities(cfg.cap_add, cfg.cap_drop, cfg.privileged, uid)
        except Exception:
            caps = {}
    masked, readonly = masked_paths(cfg.privileged, sec.mask if sec else [],
                                    sec.unmask if sec else [])
    apparmor = sec.apparmor if sec and sec.apparmor != "unconfined" else ""
    if apparmor:
        from ..oci.spec_seccomp import apparmor_enabled

        apparmor = apparmor if apparmor_enabled() else ""
    return {
        "opts": sec.inspect() if sec else list(cfg.security_opt),
        "effective": list(caps.get("effective") or []),
        "bounding": list(caps.get("bounding") or []),
        "masked": masked,
        "readonly": readonly,
        "apparmor": apparmor,
        "pids_limit": pids_limit(cfg.pids_limit),
    }


# -- images ------------------------------------------------------------------------------------
def image_created(img: Image) -> float:
    """The image's creation time as a timestamp (0 when it has none or a bad one)."""
    try:
        return datetime.fromisoformat(img.created.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return 0.0


def image_summary(img: Image, containers: int) -> dict[str, Any]:
    """One ``images --format json`` row (also ``%oci images`` and ``GET images``)."""
    labels = (img.config.get("config") or {}).get("Labels") or {}
    return {
        "Id": img.id,
        "Names": list(img.names),
        "RepoTags": list(img.names),
        "RepoDigests": list(img.repo_digests),
        "Digest": img.digest,
        "Created": int(image_created(img)),
        "CreatedAt": img.created,
        "Size": img.size,
        "Containers": containers,
        "Dangling": not img.names,
        "Labels": labels,
    }


def image_inspect(rt: Runtime, img: Image) -> dict[str, Any]:
    """Podman-shaped ``image inspect`` JSON (also ``inspect IMAGE``, ``%oci inspect``
    and ``GET images/NAME``)."""
    from .images import image_users

    cfg = img.config or {}
    ccfg = cfg.get("config") or {}
    return {
        "Id": img.id,
        "Digest": img.digest,
        "RepoTags": list(img.names),
        "RepoDigests": list(img.repo_digests),
        "Names": list(img.names),
        "Created": img.created,
        "Config": ccfg,
        "Author": cfg.get("author", ""),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Variant": cfg.get("variant", ""),
        "Size": img.size,
        "Labels": ccfg.get("Labels") or {},
        "User": ccfg.get("User", ""),
        "ManifestType": img.media_type,
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(str(p) for p in reversed(img.layer_dirs))}},
        "RootFS": {"Type": "layers",
                   "Layers": list((cfg.get("rootfs") or {}).get("diff_ids") or [])},
        "History": cfg.get("history", []),
        "Containers": len(image_users(rt, img.id)),
    }


# -- pull progress as lines ----------------------------------------------------------------------
class LinePrinter:
    """A pull ProgressCallback writing one line per change of a layer's state (no byte
    counts), as podman does without a terminal: for logs, pipes and notebook cells."""

    def __init__(self, out: TextIO) -> None:
        from .images import PullTracker

        self.out = out
        self.tracker = PullTracker()
        self._said: dict[str, str] = {}

    def __call__(self, ev: PullEvent) -> None:
        st = self.tracker.update(ev)
        line = None
        if ev.kind == "trying":
            line = ev.text or f"Trying to pull {ev.ref}..."
        elif ev.kind == "resolved":
            line = f"Resolved {ev.ref} to {ev.digest}"
        elif ev.kind == "writing":
            line = "Writing manifest to image destination"
        elif ev.kind == "warning":
            line = f"Warning: {ev.text}"
        elif st is not None and self._said.get(st.digest) != st.status:
            self._said[st.digest] = st.status
            line = _layer_words(st)
        if line:
            self.out.write(line + "\n")
            self.out.flush()


def _layer_words(st: LayerState) -> str:
    if st.status == "downloading":
        return f"Copying blob {st.short} ({human_size(st.total)})"
    if st.status == "downloaded":
        return f"Copying blob {st.short} done"
    if st.status == "exists":
        return f"Copying blob {st.short} skipped: already exists"
    if st.status == "extracting":
        return f"Extracting layer {st.short}"
    if st.status == "extracted":
        return f"Extracting layer {st.short} done"
    return f"Waiting for blob {st.short}"


def _image_digest(ctr: Container) -> str:
    """The manifest digest of the container's image (podman's ImageDigest)."""
    from ..errors import OciError

    try:
        return str(ctr.runtime.images.lookup(ctr.record.image_id).digest)
    except OciError:
        return ""


def inspect_refs(rt: Runtime, refs: list[str], latest: bool = False) -> list[str]:
    """The names ``inspect`` looks up: ``refs``, or with ``-l`` the latest container
    (podman's words for the wrong combinations)."""
    from ..errors import UsageError

    if latest:
        if refs:
            raise UsageError("--latest and arguments cannot be used together")
        from .selection import latest_container

        return [latest_container(rt).id]
    if not refs:
        raise UsageError("no names or ids specified")
    return list(refs)


def inspect_any(rt: Runtime, ref: str, kind: str = "all") -> dict[str, Any]:
    """What ``inspect [--type KIND] REF`` shows: the first of container, image, volume,
    network and exec session that ``ref`` names (NotFoundError if none does)."""
    from ..errors import NoSuchContainer, NoSuchExecSession, NoSuchImage, NotFoundError

    if kind in ("all", "container"):
        try:
            return rt.touch(rt.lookup_container(ref)).inspect()
        except NoSuchContainer:
            if kind == "container":
                raise
    if kind in ("all", "image"):
        try:
            return image_inspect(rt, rt.images.lookup(ref))
        except NoSuchImage:
            if kind == "image":
                raise
    if kind in ("all", "volume", "network"):
        from .volumes import inspect_object

        found = inspect_object(rt, ref, kind)
        if found is not None:
            return found
    if kind in ("all", "exec"):
        try:
            return rt.lookup_exec(ref).sync().inspect()
        except NoSuchExecSession:
            pass
    what = "a container, image, volume, network or exec session" if kind == "all" else \
        f"a{'n' if kind[0] in 'aeiou' else ''} {kind}"
    raise NotFoundError(f'no such object: "{ref}" (not {what} known here; '
                        "list them with ps -a, images, volume ls or network ls)")
