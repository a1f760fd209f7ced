"""CLI handlers for watching: logs, events, attach."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from ..engine.runtime import Runtime

if TYPE_CHECKING:
    from ..engine.container import Container


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def log_targets(rt: Runtime, refs: list[str], latest: bool) -> list[Container]:
    """The containers of ``logs`` (each checked for a log before any is printed)."""
    from ..engine.logs import check_readable
    from ..engine.selection import latest_container

    ctrs = [latest_container(rt)] if latest else [rt.lookup_container(r) for r in refs]
    for ctr in ctrs:
        rt.touch(ctr)
        check_readable(ctr)
    return ctrs


def cmd_logs(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.logs import container_lines, follow_logs, format_line
    from ..grammar.parser_logs import check_logs_args, log_options

    check_logs_args(args)
    opts = log_options(args)
    ctrs = log_targets(rt, args.containers, args.latest)
    multi = len(ctrs) > 1
    lines = follow_logs(ctrs, opts) if opts.follow else container_lines(ctrs, opts)
    sys.stdout.flush()
    for line in lines:
        _write(2 if line.stream == "stderr" else 1, format_line(line, opts, multi))
    return 0


def cmd_events(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.events import parse_query, read_events
    from ..grammar.events_output import check_format, format_event

    query = parse_query(args.filter, args.since, args.until)
    check_format(args.format)
    for ev in read_events(rt, query, stream=args.stream):
        sys.stdout.write(format_event(ev, args.format, truncate=not args.no_trunc) + "\n")
        if args.stream:
            sys.stdout.flush()
    return 0


def cmd_attach(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.attach import attach_container, attach_exec, attach_target
    from ..engine.container import Container
    from ..engine.options import parse_detach_keys
    from ..engine.selection import latest_container
    from ..grammar.parser_logs import check_attach_args
    from .terminal import RawWhenStarted, write_stream

    check_attach_args(args)
    keys = parse_detach_keys(args.detach_keys)  # a bad value fails before attaching
    target = rt.touch(latest_container(rt)) if args.latest else attach_target(rt, args.container)
    if isinstance(target, Container):
        cfg = target.record.config
        tty, wants_stdin, name = cfg.tty, cfg.stdin, target.id[:12]
    else:
        c = target.record.config
        tty, wants_stdin, name = c.tty, c.attach_stdin, target.id[:12]
    stdin_fd = None
    if not args.no_stdin:
        fd = sys.stdin.fileno()
        # A terminal is read for the detach keys even when the process has no stdin.
        if wants_stdin or (tty and os.isatty(fd)):
            stdin_fd = fd
    tty_fd = stdin_fd if stdin_fd is not None and tty and os.isatty(stdin_fd) else None
    keys = keys if tty and stdin_fd is not None else b""
    sys.stdout.flush()
    with RawWhenStarted(tty_fd, target.resize) as term:
        if isinstance(target, Container):
            res = attach_container(target, write_stream, stdin_fd=stdin_fd, detach_keys=keys,
                                   sig_proxy=args.sig_proxy, on_started=term.started)
        else:
            res = attach_exec(target, write_stream, stdin_fd=stdin_fd, detach_keys=keys,
                              sig_proxy=args.sig_proxy, on_started=term.started)
    if res.detached:
        sys.stderr.write(f"\ndetached from {name}: it keeps running (attach again with "
                         f"'ipy-oci attach {name}')\n")
        return 0
    code = res.exit_code
    if code is None:
        sys.stderr.write(f"Error: {name} has exited, but its exit code is unknown (it "
                         "was removed before it could be read)\n")
        return 125
    return code if code >= 0 else 125
