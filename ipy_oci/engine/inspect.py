"""Podman-shaped ``inspect`` JSON for containers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .records import State

if TYPE_CHECKING:
    from .container import Container


def iso(ts: float) -> str:
    """RFC 3339 with nanoseconds; Go's zero time when unset (as podman prints it)."""
    if not ts:
        return "0001-01-01T00:00:00Z"
    frac = int(round((ts % 1) * 1e9)) % 1_000_000_000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{frac:09d}Z"


def inspect_container(ctr: Container) -> dict[str, Any]:
    ctr.refresh()
    rec = ctr.record
    cfg = rec.config
    st = rec.state
    rt = ctr.runtime
    exec_ids = [r["id"] for r in rt.db.query(
        "SELECT id FROM exec_sessions WHERE container_id = ? ORDER BY created_at", (rec.id,))]
    mounts = [{
        "Type": "bind", "Source": m["source"], "Destination": m["destination"],
        "Driver": "", "Mode": "", "Options": ["rbind"], "RW": not m.get("readonly", False),
        "Propagation": "rprivate",
    } for m in cfg.mounts]
    layer_dirs: list[str] = []
    try:
        layer_dirs = [str(p) for p in rt.images.lookup(rec.image_id).layer_dirs]
    except Exception:
        pass  # the image may have been force-removed; inspect still works
    cmd = cfg.command
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
        "ImageName": rec.image_name,
        "Rootfs": "",
        "Name": rec.name,
        "RestartCount": 0,
        "Driver": "overlay",
        "OCIRuntime": ctr.oci.name(),
        "OCIConfigPath": str(ctr.dir / "config.json"),
        "ConmonPidFile": str(ctr.dir / "conmon.pid"),
        "PidFile": str(ctr.dir / "pidfile"),
        "LogPath": str(ctr.log_path),
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
        },
        "HostConfig": {
            "Binds": [f"{m['source']}:{m['destination']}" + (":ro" if m.get("readonly")
                                                              else "") for m in cfg.mounts],
            "NetworkMode": cfg.network,
            "Privileged": cfg.privileged,
            "ReadonlyRootfs": cfg.read_only,
            "CapAdd": cfg.cap_add,
            "CapDrop": cfg.cap_drop,
            "Memory": cfg.memory or 0,
            "PidsLimit": cfg.pids_limit or 0,
            "NanoCpus": int((cfg.cpus or 0) * 1e9),
            "AutoRemove": cfg.auto_remove,
            "Init": cfg.init,
            "Ulimits": cfg.ulimits,
        },
        "OwnerKernel": rec.owner_kernel,
    }
