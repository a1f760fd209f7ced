"""The grammar of a container's files and resources: ``cp``, ``top``, ``stats``, ``diff``,
``export``, ``rename``, and ``container prune`` / ``system df`` (wired into their
groups by parser.py)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

AddFn = Callable[[str, str], Any]

# podman's bool flags take ``--flag=false``; argparse cannot give a flag an optional
# value without it swallowing the next word, so the spelled-out values are flags too.
_TRUE = ("true", "True", "TRUE", "t", "T", "1")
_FALSE = ("false", "False", "FALSE", "f", "F", "0")


def _bool_flag(p: Any, short: str | None, long: str, dest: str, default: bool,
               help: str) -> None:
    names = [n for n in (short, long) if n]
    p.add_argument(*names, dest=dest, action="store_true", default=default, help=help)
    for word in _TRUE:
        p.add_argument(*(f"{n}={word}" for n in names), dest=dest, action="store_true",
                       help=argparse.SUPPRESS)
    for word in _FALSE:
        p.add_argument(*(f"{n}={word}" for n in names), dest=dest, action="store_false",
                       help=argparse.SUPPRESS)


def _interval(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid interval {text!r}: a whole number of "
                                         "seconds") from None
    return value


def add_file_commands(add: AddFn) -> None:
    p = add("cp", "copy files/folders between a container and the local filesystem")
    _bool_flag(p, "-a", "--archive", "archive", True,
               "chown copied files to the primary uid/gid of the destination container "
               "(default true; -a=false keeps the archive's owners)")
    p.add_argument("--overwrite", action="store_true",
                   help="allow directories to be overwritten with non-directories and "
                        "vice versa")
    _bool_flag(p, None, "--pause", "pause", True, argparse.SUPPRESS)  # podman: a no-op
    _bool_flag(p, None, "--extract", "extract", False, argparse.SUPPRESS)  # likewise
    p.add_argument("src", metavar="[CONTAINER:]SRC_PATH")
    p.add_argument("dest", metavar="[CONTAINER:]DEST_PATH")

    p = add("top", "display the running processes of a container")
    p.add_argument("-l", "--latest", action="store_true",
                   help="act on the latest container created")
    p.add_argument("container", nargs="?", metavar="CONTAINER")
    p.add_argument("descriptors", nargs="*", metavar="DESCRIPTOR",
                   help="user pid ppid pcpu etime tty time args comm nice vsz rss ... "
                        "(or one comma-separated argument)")

    p = add("stats", "display a live stream of container resource usage statistics")
    p.add_argument("-a", "--all", action="store_true",
                   help="all containers (default: the running ones)")
    p.add_argument("--format", default=None,
                   help="json, or a Go template ('table {{.ID}} {{.CPUPerc}}')")
    p.add_argument("-i", "--interval", type=_interval, default=5,
                   help="seconds between reports (default 5)")
    p.add_argument("-l", "--latest", action="store_true",
                   help="act on the latest container created")
    p.add_argument("--no-reset", action="store_true",
                   help="do not clear the screen between reports")
    p.add_argument("--no-stream", action="store_true", help="one report, then exit")
    p.add_argument("--no-trunc", action="store_true", help="full container IDs")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")

    p = add("diff", "inspect changes on a container's or image's filesystem")
    p.add_argument("--format", default=None, help="json")
    p.add_argument("-l", "--latest", action="store_true",
                   help="act on the latest container created")
    p.add_argument("refs", nargs="*", metavar="CONTAINER|IMAGE")

    p = add("export", "export a container's filesystem contents as a tar archive")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="write to FILE (default: stdout, which must be redirected)")
    p.add_argument("container", metavar="CONTAINER")

    p = add("rename", "rename an existing container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NAME")


def add_container_prune(subparsers: Any) -> None:
    """``container prune`` in the ``container`` group."""
    p = subparsers.add_parser("prune", help="remove all stopped containers")
    p.add_argument("-f", "--force", action="store_true",
                   help="do not ask for confirmation")
    p.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE]")


def add_system_df(subparsers: Any) -> None:
    """``system df`` in the ``system`` group."""
    p = subparsers.add_parser("df", help="show ipy-oci disk usage")
    p.add_argument("--format", default=None,
                   help="json, or a Go template ('{{.Type}} {{.Size}}')")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show detailed information on space usage")
