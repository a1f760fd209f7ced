"""The grammar of a container's output and of watching the engine: ``logs``,
``events`` and ``attach`` (podman's flag names and defaults)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine.options import DEFAULT_DETACH_KEYS
from ..errors import UsageError

if TYPE_CHECKING:
    from ..engine.logs import LogOptions

AddFn = Callable[[str, str], Any]

_TIME_HELP = ("RFC3339 time (2006-01-02T15:04:05Z), 2006-01-02, Unix seconds, or a "
              "duration such as 10m")


def go_bool(text: str) -> bool:
    """A Go boolean flag's value: ``--stream=false``."""
    low = text.strip().lower()
    if low in ("true", "t", "1"):
        return True
    if low in ("false", "f", "0"):
        return False
    raise UsageError(f"invalid boolean {text!r}: write true or false (e.g. --stream=false)")


def _bool_flag(p: Any, name: str, default: bool, help: str) -> None:
    p.add_argument(name, nargs="?", const=True, default=default, type=go_bool,
                   metavar="BOOL", help=f"{help} (default {str(default).lower()})")


def add_logs_commands(add: AddFn) -> None:
    p = add("logs", "show the output of one or more containers")
    p.add_argument("-f", "--follow", action="store_true",
                   help="follow the output until the containers exit")
    p.add_argument("--since", default=None, metavar="TIMESTAMP",
                   help=f"only lines after TIMESTAMP: {_TIME_HELP} (that long ago)")
    p.add_argument("--until", default=None, metavar="TIMESTAMP",
                   help=f"only lines before TIMESTAMP: {_TIME_HELP} (from now)")
    p.add_argument("--tail", type=int, default=-1, metavar="LINES",
                   help="only the last LINES lines (-1: all)")
    p.add_argument("-t", "--timestamps", action="store_true",
                   help="show each line's timestamp")
    p.add_argument("-n", "--names", action="store_true",
                   help="prefix lines with container names rather than IDs (several "
                   "containers)")
    p.add_argument("--color", action="store_true",
                   help="a color per container (several containers)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="the container created last")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")

    p = add("events", "show the engine's events (container, image, network, volume)")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="container, event (status), image, label, network, type, volume, "
                   "since, until; repeatable (the same key: either; different keys: all)")
    p.add_argument("--format", default=None,
                   help="json, or a Go template ('{{.Time}} {{.Status}} {{.Name}}')")
    p.add_argument("--since", default=None, metavar="TIMESTAMP",
                   help=f"events after TIMESTAMP: {_TIME_HELP} (that long ago)")
    p.add_argument("--until", default=None, metavar="TIMESTAMP",
                   help=f"events before TIMESTAMP: {_TIME_HELP} (from now)")
    _bool_flag(p, "--stream", True, "follow new events; --stream=false prints the log "
               "and exits")
    _bool_flag(p, "--no-trunc", True, "full IDs in the default format")

    p = add("attach", "attach to a running container (or a detached exec session)")
    p.add_argument("--detach-keys", default=DEFAULT_DETACH_KEYS, metavar="KEYS",
                   help="the keys that detach (a character or ctrl-<key>, comma "
                   f"separated; default {DEFAULT_DETACH_KEYS}; '' disables)")
    p.add_argument("--no-stdin", action="store_true", help="do not attach stdin")
    _bool_flag(p, "--sig-proxy", True, "forward Ctrl-C (SIGINT) to the process; "
               "--sig-proxy=false: Ctrl-C detaches")
    p.add_argument("-l", "--latest", action="store_true",
                   help="the container created last")
    p.add_argument("container", nargs="?", default=None, metavar="CONTAINER|SESSION")


def check_logs_args(args: argparse.Namespace) -> None:
    """podman's rules for the container arguments of ``logs``."""
    if args.latest and args.containers:
        raise UsageError("--latest and containers cannot be used together")
    if not args.latest and not args.containers:
        raise UsageError("specify at least one container name or ID to log (or --latest)")


def check_attach_args(args: argparse.Namespace) -> None:
    if args.latest and args.container:
        raise UsageError("--latest and a container cannot be used together")
    if not args.latest and not args.container:
        raise UsageError("attach requires the name or id of one running container or "
                         "the latest flag")


def log_options(args: argparse.Namespace) -> LogOptions:
    """``logs`` flags -> engine ``LogOptions`` (times parsed: UsageError names the flag)."""
    from ..engine.logs import LogOptions
    from ..engine.timeparse import parse_input_time

    opts = LogOptions(follow=args.follow, timestamps=args.timestamps, names=args.names,
                      colors=args.color, tail=args.tail if args.tail >= 0 else None)
    for flag in ("since", "until"):
        text = getattr(args, flag)
        if text:
            try:
                setattr(opts, flag, parse_input_time(text, since=flag == "since"))
            except UsageError as exc:
                raise UsageError(f"parsing --{flag}: {exc}") from None
    return opts
