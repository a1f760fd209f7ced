"""CLI handlers that read state: ps, logs, inspect, images, info, system reap."""

from __future__ import annotations

import argparse
import json
import sys

from ..engine.records import State
from ..engine.runtime import Runtime
from ..errors import NoSuchContainer, NoSuchExecSession, NoSuchImage, NotFoundError, OciError
from .format import ago, human_duration, table


def _status(ctr_state: str, started: float, finished: float, code: int | None,
            created: float) -> str:
    import time

    if ctr_state in (State.RUNNING, State.STOPPING):
        return f"Up {human_duration(time.time() - started)}"
    if ctr_state == State.PAUSED:
        return f"Up {human_duration(time.time() - started)} (Paused)"
    if ctr_state in (State.EXITED, State.STOPPED) and finished:
        return f"Exited ({code if code is not None else 0}) {ago(finished)}"
    if ctr_state == State.CREATED:
        return "Initialized"
    return "Created"


def cmd_ps(rt: Runtime, args: argparse.Namespace) -> int:
    ctrs = rt.containers(all=args.all)
    rt.touch_all()
    if args.quiet:
        for c in ctrs:
            print(c.id if args.no_trunc else c.id[:12])
        return 0
    if args.format == "json":
        counts = rt.exec_counts()
        out = []
        for c in ctrs:
            r = c.record
            out.append({
                "Id": r.id, "Names": [r.name], "Image": r.image_name, "ImageID": r.image_id,
                "Command": r.config.command, "Created": int(r.created_at),
                "State": State.display(r.state), "Status": _status(
                    r.state, r.started_at, r.finished_at, r.exit_code, r.created_at),
                "Pid": r.pid, "ExitCode": r.exit_code or 0, "Exited": r.state in (
                    State.EXITED, State.STOPPED), "StartedAt": int(r.started_at),
                "ExitedAt": int(r.finished_at), "Labels": r.config.labels,
                "AutoRemove": r.config.auto_remove,
                "ExecSessions": counts.get(r.id, 0),
            })
        print(json.dumps(out, indent=4))
        return 0
    if args.format:
        raise OciError(f"unsupported --format {args.format!r}: use 'json'")
    rows = []
    for c in ctrs:
        r = c.record
        cmd = " ".join(r.config.command)
        if not args.no_trunc and len(cmd) > 20:
            cmd = cmd[:17] + "..."
        rows.append([r.id if args.no_trunc else r.id[:12], r.image_name, cmd,
                     ago(r.created_at),
                     _status(r.state, r.started_at, r.finished_at, r.exit_code, r.created_at),
                     "", r.name])
    print(table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"],
                rows))
    return 0


def cmd_logs(rt: Runtime, args: argparse.Namespace) -> int:
    ctr = rt.touch(rt.lookup_container(args.container))
    for stream, data in ctr.logs(follow=args.follow):
        out = sys.stderr if stream == "stderr" else sys.stdout
        out.buffer.write(data)
        if args.follow:
            out.buffer.flush()
    sys.stdout.flush()
    return 0


def cmd_inspect(rt: Runtime, args: argparse.Namespace) -> int:
    out = []
    rc = 0
    for ref in args.refs:
        try:
            out.append(_inspect_one(rt, ref, args.type))
        except NotFoundError:
            sys.stderr.write(f"Error: no such object: {ref!r} (not a container, image or "
                             "exec session known here)\n")
            rc = 125
    print(json.dumps(out, indent=4))
    return rc


def _inspect_one(rt: Runtime, ref: str, kind: str) -> dict[str, object]:
    if kind in ("all", "container"):
        try:
            return rt.touch(rt.lookup_container(ref)).inspect()
        except NoSuchContainer:
            if kind == "container":
                raise
    if kind in ("all", "image"):
        try:
            return image_json(rt.images.lookup(ref))
        except NoSuchImage:
            if kind == "image":
                raise
    try:
        return rt.lookup_exec(ref).sync().inspect()
    except NoSuchExecSession:
        raise NoSuchContainer(ref) from None


def image_json(img: object) -> dict[str, object]:
    i = img  # an images.store.Image
    cfg = getattr(i, "config", {})
    return {
        "Id": getattr(i, "id", ""),
        "Digest": getattr(i, "digest", ""),
        "RepoTags": list(getattr(i, "names", ())),
        "Created": getattr(i, "created", ""),
        "Size": getattr(i, "size", 0),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Config": cfg.get("config", {}),
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "History": cfg.get("history", []),
    }


def cmd_info(rt: Runtime, args: argparse.Namespace) -> int:
    print(json.dumps(rt.info(), indent=4))
    return 0


def cmd_system(rt: Runtime, args: argparse.Namespace) -> int:
    if args.scmd != "reap":
        raise OciError("missing subcommand: try 'ipy-oci system reap'")
    rep = rt.reap(prune_age=args.prune_age)
    print(f"synced {rep.containers_synced} containers and {rep.sessions_synced} running "
          f"exec sessions; reaped {len(rep.orphans_reaped)} orphaned and pruned "
          f"{len(rep.pruned)} finished sessions")
    return 0
