"""The volume grammar: ``volume create|ls|inspect|rm|prune|exists`` (podman's flags)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

AddFn = Callable[[str, str], Any]


def add_volume_commands(add: AddFn) -> None:
    p = add("volume", "manage volumes")
    vsub = p.add_subparsers(dest="vcmd", metavar="SUBCOMMAND", parser_class=type(p))

    q = vsub.add_parser("create", help="create a volume")
    q.add_argument("-d", "--driver", default="local", help="only local")
    q.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    q.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="type=bind, device=DIR, o=bind|uid=N|gid=N, copy, nocopy")
    q.add_argument("name", nargs="?", default=None, metavar="NAME",
                   help="default: a random name")

    q = vsub.add_parser("ls", aliases=["list"], help="list volumes")
    q.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="name (regex), label, label!, driver, dangling, scope, opt, until")
    q.add_argument("--format", default=None,
                   help="json, or a Go template ('{{.Name}}', 'table {{.Name}} {{.Driver}}')")
    q.add_argument("--noheading", action="store_true", help="no header line")
    q.add_argument("-q", "--quiet", action="store_true", help="names only")

    q = vsub.add_parser("inspect", help="show volumes as JSON")
    q.add_argument("-a", "--all", action="store_true", help="every volume")
    q.add_argument("-f", "--format", default=None,
                   help="json, or a Go template per volume ('{{.Mountpoint}}')")
    q.add_argument("names", nargs="*", metavar="VOLUME")

    q = vsub.add_parser("rm", aliases=["remove"], help="remove volumes")
    q.add_argument("-a", "--all", action="store_true", help="every volume")
    q.add_argument("-f", "--force", action="store_true",
                   help="also remove the containers using them; unknown names are no error")
    q.add_argument("-t", "--time", type=int, default=None,
                   help="seconds before SIGKILL when -f stops containers")
    q.add_argument("names", nargs="*", metavar="VOLUME")

    q = vsub.add_parser("prune", help="remove volumes no container uses")
    q.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    q.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="label, label!, until")

    q = vsub.add_parser("exists", help="exit 0 if the volume exists, else 1")
    q.add_argument("name", metavar="VOLUME")
