"""CLI handlers that read state: ps, inspect, info, system."""

from __future__ import annotations

import argparse
import json
import sys

from ..engine.container import Container
from ..engine.networks import ps_ports_text
from ..engine.runtime import Runtime
from ..engine.views import (
    ago,
    container_summary,
    image_inspect,
    reap_summary,
    status_text,
)
from ..errors import NoSuchContainer, NoSuchExecSession, NoSuchImage, NotFoundError, OciError
from .format import table

# podman's ps column titles where they are not the field's name in capitals.
PS_HEADERS = {"ID": "CONTAINER ID", "CreatedAt": "CREATED AT", "CreatedHuman": "CREATED",
              "RunningFor": "CREATED"}


def ps_template_row(ctr: Container, exec_sessions: int, no_trunc: bool) -> dict[str, object]:
    """One container as ``ps --format`` templates see it (podman's field names)."""
    from ..grammar.gotemplate import GoMap

    r = ctr.record
    row = container_summary(ctr, exec_sessions)
    row.update({
        "ID": r.id if no_trunc else r.id[:12], "Names": r.name, "Image": r.image_name,
        "Command": " ".join(r.config.command), "CreatedAt": _created_at(r.created_at),
        "CreatedHuman": ago(r.created_at), "RunningFor": ago(r.created_at),
        "Status": status_text(ctr), "Ports": ps_ports_text(r.config),
        "Labels": GoMap(r.config.labels), "Size": "",
    })
    return row


def _created_at(ts: float) -> str:
    """podman's CreatedAt: Go's time.Time String()."""
    import time as _time

    return _time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", _time.gmtime(ts))


def cmd_ps(rt: Runtime, args: argparse.Namespace) -> int:
    ctrs = rt.containers(all=args.all)
    rt.touch_all()
    if args.quiet:
        for c in ctrs:
            print(c.id if args.no_trunc else c.id[:12])
        return 0
    if args.format == "json":
        counts = rt.exec_counts()
        out = [container_summary(c, counts.get(c.id, 0)) for c in ctrs]
        print(json.dumps(out, indent=4))
        return 0
    if args.format:
        from ..grammar.gotemplate import render_rows

        counts = rt.exec_counts()
        rows_data = [ps_template_row(c, counts.get(c.id, 0), args.no_trunc) for c in ctrs]
        sys.stdout.write(render_rows(args.format, rows_data, heading=not args.noheading,
                                     name="ps", headers=PS_HEADERS))
        return 0
    rows = []
    for c in ctrs:
        r = c.record
        cmd = " ".join(r.config.command)
        if not args.no_trunc and len(cmd) > 20:
            cmd = cmd[:17] + "..."
        rows.append([r.id if args.no_trunc else r.id[:12], r.image_name, cmd,
                     ago(r.created_at),
                     status_text(c),
                     ps_ports_text(r.config), r.name])
    header = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    text = table(header, rows)
    print(text.split("\n", 1)[1] if args.noheading and "\n" in text
          else ("" if args.noheading else text))
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
    fmt = args.format
    if fmt and fmt != "json":
        from ..grammar.gotemplate import render_rows

        sys.stdout.write(render_rows(fmt, out, heading=False, name="inspect"))
        return rc
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
            return image_inspect(rt, rt.images.lookup(ref))
        except NoSuchImage:
            if kind == "image":
                raise
    try:
        return rt.lookup_exec(ref).sync().inspect()
    except NoSuchExecSession:
        raise NoSuchContainer(ref) from None


def cmd_info(rt: Runtime, args: argparse.Namespace) -> int:
    print(json.dumps(rt.info(), indent=4))
    return 0


def cmd_system(rt: Runtime, args: argparse.Namespace) -> int:
    if args.scmd != "reap":
        raise OciError("missing subcommand: try 'ipy-oci system reap'")
    rep = rt.reap(prune_age=args.prune_age)
    print(reap_summary(rep))
    return 0
