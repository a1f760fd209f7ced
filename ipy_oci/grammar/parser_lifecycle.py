"""The grammar of ``ps`` and the lifecycle verbs (start, stop, restart, kill, pause,
unpause, rm, wait), and the ``container X`` aliases.

Flags and help texts follow podman 4.3. Every lifecycle verb selects its targets
with the same flags (engine/selection.py): names, ``--all``, ``--latest``,
``--cidfile``, ``--filter`` and ``--ignore``; where podman 4.3 lacks one of them on
a verb it is there long-only (the short letter may mean something else in podman).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..engine.selection import FILTER_KEYS, SORT_KEYS, check_selection_flags
from .parser import CONTAINER_ALIASES

AddFn = Callable[..., Any]

_FILTER_HELP = "filter containers by KEY=VALUE (repeatable; keys: " + ", ".join(FILTER_KEYS) + ")"


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: give whole seconds") \
            from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative: give zero or more seconds")
    return value


def _selection(p: Any, *, all_help: str, all_short: bool = True, ignore_short: bool = False,
               filter_short: bool = True, latest_help: str = "act on the latest container "
               "created (in any state)") -> None:
    """The target-selection flags every lifecycle verb has."""
    p.add_argument(*(["-a"] if all_short else []), "--all", action="store_true",
                   help=all_help)
    p.add_argument("--cidfile", action="append", default=[], metavar="FILE",
                   help="read the container ID from FILE (repeatable)")
    p.add_argument(*(["-f"] if filter_short else []), "--filter", action="append",
                   default=[], metavar="KEY=VALUE", help=_FILTER_HELP)
    p.add_argument(*(["-i"] if ignore_short else []), "--ignore", action="store_true",
                   help="ignore errors when a specified container is missing")
    p.add_argument("-l", "--latest", action="store_true", help=latest_help)
    p.add_argument("containers", nargs="*", metavar="CONTAINER",
                   help="container name, ID or unique ID prefix")


def _time_flag(p: Any) -> None:
    p.add_argument("-t", "--time", "--timeout", dest="time", type=_nonneg_int, default=None,
                   metavar="SECONDS",
                   help="seconds to wait for stop before killing the container")


def add_ps_command(add: AddFn) -> None:
    p = add("ps", "list containers")
    p.add_argument("-a", "--all", action="store_true",
                   help="show all the containers, default is only running containers")
    p.add_argument("--external", action="store_true",
                   help="also show containers made by other tools sharing the storage "
                   "(podman's buildah containers; ipy-oci's storage has none)")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help=_FILTER_HELP)
    p.add_argument("--format", default=None,
                   help="pretty-print containers to JSON or using a Go template "
                   "('{{.Names}}', 'table {{.ID}} {{.Status}}')")
    p.add_argument("-n", "--last", type=int, default=None, metavar="N",
                   help="print the N last created containers (all states)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="show the latest container created (in any state)")
    p.add_argument("--no-trunc", action="store_true", help="display the extended information")
    p.add_argument("--noheading", action="store_true", help="do not print headers")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print the numeric IDs of the containers only")
    p.add_argument("-s", "--size", action="store_true", help="display the total file sizes")
    p.add_argument("--sort", choices=SORT_KEYS, default=None, metavar="KEY",
                   help="sort output by: " + ", ".join(SORT_KEYS))
    p.add_argument("--sync", action="store_true",
                   help="sync container state with the OCI runtime (always done)")


def add_lifecycle_commands(add: AddFn) -> None:
    p = add("start", "start one or more containers")
    p.add_argument("-a", "--attach", action="store_true",
                   help="attach container's STDOUT and STDERR")
    p.add_argument("-i", "--interactive", action="store_true",
                   help="keep STDIN open even if not attached")
    p.add_argument("--detach-keys", default=None, metavar="KEYS",
                   help="key sequence for detaching an attached container with a "
                   "terminal (default ctrl-p,ctrl-q)")
    _selection(p, all_help="start all containers regardless of their state or "
               "configuration", all_short=False)

    p = add("stop", "stop one or more containers (stop signal, timeout, SIGKILL)")
    _selection(p, all_help="stop all running containers", ignore_short=True)
    _time_flag(p)

    p = add("restart", "restart one or more containers")
    _selection(p, all_help="restart all containers")
    p.add_argument("--running", action="store_true",
                   help="restart only running containers (all of them)")
    _time_flag(p)

    p = add("kill", "kill one or more running containers with a specific signal")
    _selection(p, all_help="signal all running containers", filter_short=False)
    p.add_argument("-s", "--signal", default="KILL",
                   help="signal to send to the container (default KILL)")

    p = add("pause", "pause all the processes in one or more containers")
    _selection(p, all_help="pause all running containers")

    p = add("unpause", "unpause the processes in one or more containers")
    _selection(p, all_help="unpause all paused containers")

    p = add("rm", "remove one or more containers")
    _selection(p, all_help="remove all containers", ignore_short=True, filter_short=False)
    p.add_argument("-f", "--force", action="store_true",
                   help="force removal of a running or unusable container")
    _time_flag(p)
    p.add_argument("--depend", action="store_true",
                   help="remove container and all containers that depend on it")
    p.add_argument("-v", "--volumes", action="store_true",
                   help="remove anonymous volumes associated with the container")

    p = add("wait", "block on one or more containers")
    _selection(p, all_help="wait for all containers", all_short=False, filter_short=False)
    p.add_argument("--condition", action="append", default=[], metavar="STATE",
                   help="condition to wait on: a state such as running, paused, exited "
                   "(repeatable; default stopped and exited)")
    p.add_argument("--interval", "-i", dest="interval", default="250ms",
                   help="time interval to wait before polling for completion "
                   "(Go duration, default 250ms)")


def add_container_subcommands(csub: Any) -> None:
    """``container exists`` and a help line for each alias (the aliases themselves
    are rewritten to their top-level command before parsing: see ``parse``)."""
    p = csub.add_parser("exists", help="check if a container exists (exit 0 if it does, "
                        "1 if not)")
    p.add_argument("--external", action="store_true",
                   help="also containers not made by ipy-oci (there are none: ignored)")
    p.add_argument("container", metavar="CONTAINER",
                   help="container name, ID or unique ID prefix")
    choices = getattr(csub, "choices", None)
    if choices is None:
        return  # not the command being parsed (a stand-in parser)
    for alias, target in sorted(CONTAINER_ALIASES.items()):
        if alias not in choices:
            what = f"same as '{target}'" if alias != target else f"same as top-level {alias}"
            csub.add_parser(alias, help=what, add_help=False)


def check_lifecycle_flags(args: argparse.Namespace) -> None:
    """podman's rules for names, --all, --latest, --cidfile and --filter (and start's
    own words)."""
    cmd = args.cmd
    refs = list(getattr(args, "containers", None) or [])
    if cmd == "start":  # podman's own rules: names and --filter may go together
        if not refs and not (args.all or args.latest or args.filter or args.cidfile):
            raise _usage("start requires at least one argument")
        if args.attach and (len(refs) > 1 or args.all or args.filter):
            raise _usage("you cannot start and attach multiple containers at once")
        if args.all and refs:
            raise _usage("either start all containers or the container(s) provided in "
                         "the arguments")
        if args.filter:
            return
    if cmd == "restart" and args.running and refs:
        raise _usage("no arguments are needed with --running")
    if cmd == "wait" and not refs and not (args.all or args.latest or args.filter
                                           or args.cidfile):
        raise _usage('"ipy-oci wait" requires a name, id, or the "--latest" flag')
    if cmd == "rm" and args.time is not None and not args.force:
        raise _usage("--force option must be specified to use the --time option")
    if cmd == "restart" and args.running:
        return
    check_selection_flags(refs, all=args.all, latest=args.latest, cidfiles=args.cidfile,
                          filters=args.filter)


def _usage(message: str) -> Exception:
    from ..errors import UsageError

    return UsageError(message)
