"""``%oci logs``, ``%oci events`` and ``%oci attach``: what the CLI prints, printed
into the cell. Following (``logs -f``, ``events`` without ``--stream=false``,
``attach``) goes on until it ends or the cell is interrupted; an interrupt stops
following (and detaches ``attach``: the container keeps running)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from .streams import STDERR, STDOUT, CellOutput

if TYPE_CHECKING:
    from ..engine.container import Container
    from .commands import Call


def cmd_logs(c: Call) -> None:
    from ..engine.logs import check_readable, container_lines, follow_logs, format_line
    from ..engine.selection import latest_container
    from ..grammar.parser_logs import check_logs_args, log_options

    args, rt = c.args, c.rt
    check_logs_args(args)
    opts = log_options(args)
    ctrs: list[Container] = ([latest_container(rt)] if args.latest
                             else [rt.lookup_container(r) for r in args.containers])
    for ctr in ctrs:
        rt.touch(ctr)
        check_readable(ctr)
    multi = len(ctrs) > 1
    out = CellOutput()
    try:
        lines = follow_logs(ctrs, opts) if opts.follow else container_lines(ctrs, opts)
        for line in lines:
            out(STDERR if line.stream == "stderr" else STDOUT, format_line(line, opts, multi))
    except KeyboardInterrupt:
        pass  # stop following
    finally:
        out.close()


def cmd_events(c: Call) -> None:
    from ..engine.events import parse_query, read_events
    from ..grammar.events_output import check_format, format_event

    args = c.args
    query = parse_query(args.filter, args.since, args.until)
    check_format(args.format)
    try:
        for ev in read_events(c.rt, query, stream=args.stream):
            print(format_event(ev, args.format, truncate=not args.no_trunc), flush=True)
    except KeyboardInterrupt:
        pass  # stop following


def cmd_attach(c: Call) -> Any:
    """No terminal in a cell: the output streams in until the process exits; an
    interrupt detaches. A non-zero exit raises ExecError as ``%oci exec`` does."""
    from ..engine.attach import attach_container, attach_exec, attach_target
    from ..engine.container import Container
    from ..engine.selection import latest_container
    from ..grammar.parser_logs import check_attach_args
    from .execs import raise_for

    args, rt = c.args, c.rt
    check_attach_args(args)
    target = rt.touch(latest_container(rt)) if args.latest else attach_target(rt, args.container)
    out = CellOutput()
    try:
        if isinstance(target, Container):
            res = attach_container(target, out, sig_proxy=False)
            what = shlex.join(target.record.config.command)
        else:
            res = attach_exec(target, out, sig_proxy=False)
            what = shlex.join(target.record.config.command)
    finally:
        out.close()
    res.output = out.digests()
    if res.detached:
        where = (f"container {res.container_name}" if not res.session_id
                 else f"exec session {res.session_id[:12]}")
        print(f"detached from {where}: it keeps running")
        return None
    c.ctx.last = res
    raise_for(res, what, c.opts.no_raise)
    return None


LOGS_HANDLERS = {"logs": cmd_logs, "events": cmd_events, "attach": cmd_attach}
