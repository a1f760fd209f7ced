"""``ps``: podman's checks, rows and default table, the same for ``ipy-oci`` and ``%oci``.

Which containers: engine/selection.py (filters, -a, -n, -l, --sort). Rows are
podman's ``ps --format`` fields (``.ID``, ``.Names``, ``.Status``, ``.Size`` ...);
``--format json`` prints engine/views.py's ``container_summary`` (podman's JSON).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.networks import ps_ports_text
from ..engine.selection import list_containers, sort_containers
from ..engine.timeparse import go_time
from ..engine.views import ago, container_summary, status_text
from ..errors import UsageError

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.runtime import Runtime
    from ..engine.sizes import ContainerSize

# podman's ps column titles where they are not the field's name in capitals.
PS_HEADERS = {"ID": "CONTAINER ID", "CreatedHuman": "CREATED", "Pod": "POD ID",
              "PodName": "PODNAME"}
PS_TABLE = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t"
            "{{.Ports}}\t{{.Names}}")


@dataclass
class PsListing:
    containers: list[Container]
    exec_counts: dict[str, int]
    sizes: dict[str, ContainerSize] = field(default_factory=dict)


def check_ps_flags(args: argparse.Namespace) -> None:
    """podman's conflicts between ps flags (exit 125)."""
    if args.last is not None and args.latest:
        raise UsageError("last and latest are mutually exclusive")
    if args.quiet and args.size:
        raise UsageError("quiet conflicts with size and namespace")


def _needs_size(args: argparse.Namespace) -> bool:
    return bool(args.size or args.sort == "size" or (args.format and "Size" in args.format))


def ps_listing(rt: Runtime, args: argparse.Namespace) -> PsListing:
    """The containers ``ps ARGS`` shows, synced and in order, with what rows need."""
    check_ps_flags(args)
    ctrs = list_containers(rt, all=args.all, filters=args.filter, last=args.last,
                           latest=args.latest)
    rt.touch_all()
    listing = PsListing(ctrs, rt.exec_counts())
    if _needs_size(args) and not args.quiet:
        from ..engine.sizes import container_size

        listing.sizes = {c.id: container_size(c) for c in ctrs}
    if args.sort:
        listing.containers = sort_containers(
            ctrs, args.sort, {k: v.rootfs for k, v in listing.sizes.items()})
    return listing


def human_size_short(n: int) -> str:
    """go-units' HumanSizeWithPrecision(n, 3), as ps -s prints it: "12B", "1.99MB"."""
    from ..engine.gounits import go_human_size

    return go_human_size(n, 3)


def ps_row(ctr: Container, exec_sessions: int, no_trunc: bool,
           size: ContainerSize | None = None) -> dict[str, Any]:
    """One container as ``ps --format`` templates see it (podman's field names)."""
    from .gotemplate import GoMap

    r = ctr.record
    row = container_summary(ctr, exec_sessions, _pair(size))
    cmd = " ".join(r.config.command)
    if not no_trunc and len(cmd) > 17:
        cmd = cmd[:17] + "..."
    created = go_time(int(r.created_at * 1e9))
    row.update({
        "ID": r.id if no_trunc else r.id[:12], "Names": r.name, "Image": r.image_name,
        "ImageID": r.image_id if no_trunc else r.image_id.removeprefix("sha256:")[:12],
        "Command": cmd, "Created": created, "CreatedAt": created,
        "CreatedHuman": ago(r.created_at), "RunningFor": ago(r.created_at),
        "Status": status_text(ctr), "Ports": ps_ports_text(r.config),
        "Labels": GoMap(r.config.labels), "Networks": ",".join(row["Networks"]),
        "Size": _size_text(size),
        "SizeRw": size.rw if size else 0, "SizeRootFs": size.rootfs if size else 0,
        "Namespaces": {},
    })
    return row


def _pair(size: ContainerSize | None) -> tuple[int, int] | None:
    return None if size is None else (size.rw, size.rootfs)


def ps_json(listing: PsListing) -> list[dict[str, Any]]:
    """``ps --format json``: podman's JSON rows."""
    return [container_summary(c, listing.exec_counts.get(c.id, 0),
                              _pair(listing.sizes.get(c.id))) for c in listing.containers]


def ps_text(listing: PsListing, args: argparse.Namespace) -> str:
    """What ``ps ARGS`` prints (IDs with -q, else the table or the user's template)."""
    fmt = args.format
    if args.quiet and not fmt:
        return "".join((c.id if args.no_trunc else c.id[:12]) + "\n"
                       for c in listing.containers)
    if not fmt:
        return _default_table(listing, args)
    from .gotemplate import is_json
    from .output import render_listing

    if is_json(fmt):
        return render_listing([], "", fmt, json_rows=ps_json(listing))
    rows = [ps_row(c, listing.exec_counts.get(c.id, 0), args.no_trunc,
                   listing.sizes.get(c.id)) for c in listing.containers]
    default = PS_TABLE + ("\t{{.Size}}" if args.size else "")
    return render_listing(rows, default, fmt, name="ps", headers=PS_HEADERS,
                          noheading=args.noheading)


def _default_table(listing: PsListing, args: argparse.Namespace) -> str:
    """PS_TABLE's output without the template engine: the same cells as ``ps_row``
    gives those columns, aligned by the same tabwriter (``ps -a`` of a thousand
    containers is a benchmark)."""
    from .tabwriter import tabwrite

    lines = [] if args.noheading else [
        ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
         *(["SIZE"] if args.size else [])]]
    for ctr in listing.containers:
        r = ctr.record
        cmd = " ".join(r.config.command)
        if not args.no_trunc and len(cmd) > 17:
            cmd = cmd[:17] + "..."
        line = [r.id if args.no_trunc else r.id[:12], r.image_name, cmd, ago(r.created_at),
                status_text(ctr), ps_ports_text(r.config), r.name]
        if args.size:
            line.append(_size_text(listing.sizes.get(ctr.id)))
        lines.append(line)
    return tabwrite("".join("\t".join(line) + "\n" for line in lines))


def _size_text(size: ContainerSize | None) -> str:
    """podman's ps SIZE column: "12B (virtual 2.23MB)"."""
    if size is None:
        return ""
    return f"{human_size_short(size.rw)} (virtual {human_size_short(size.rootfs)})"
