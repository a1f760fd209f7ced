"""The network grammar: ``network`` (create, ls, inspect, rm, prune, connect,
disconnect), ``port``, and the networking flags of ``run``/``create``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

NETWORK_COMMANDS = ("network", "port")

AddFn = Callable[[str, str], Any]


def add_network_flags(p: Any) -> None:
    """``run``/``create``: podman's networking flags."""
    p.add_argument("--network", "--net", action="append", default=[], metavar="MODE",
                   help="bridge (the default network), none, host, container:ID, "
                   "ns:PATH, or network names (NAME[,NAME])")
    p.add_argument("-p", "--publish", action="append", default=[],
                   metavar="[[IP:][HOSTPORT]:]PORT[/PROTO]",
                   help="publish a container port on the host")
    p.add_argument("-P", "--publish-all", action="store_true",
                   help="publish every exposed port on a free host port")
    p.add_argument("--expose", action="append", default=[], metavar="PORT[/PROTO]",
                   help="expose a port (or range) without publishing it")
    p.add_argument("--network-alias", action="append", default=[], metavar="ALIAS",
                   help="another name of the container on its networks (needs DNS on)")
    p.add_argument("--ip", default=None, help="static IPv4 address on the network")
    p.add_argument("--mac-address", default=None, help="static MAC address on the network")
    p.add_argument("--dns", action="append", default=[], metavar="IP",
                   help="DNS server for the container's resolv.conf")
    p.add_argument("--dns-search", action="append", default=[], metavar="DOMAIN")
    p.add_argument("--dns-option", action="append", default=[], metavar="OPT")
    p.add_argument("--add-host", action="append", default=[], metavar="HOST:IP",
                   help="add a line to /etc/hosts")
    p.add_argument("--no-hosts", action="store_true",
                   help="do not write /etc/hosts (keep the image's)")


def _filter_flag(p: Any, short: bool = True) -> None:
    names = ("-f", "--filter") if short else ("--filter",)
    p.add_argument(*names, action="append", default=[], metavar="KEY=VALUE",
                   help="name, id, driver, label, label!, until, dangling")


def add_network_commands(sub: argparse._SubParsersAction, add: AddFn) -> None:
    del sub
    p = add("port", "list a container's published ports")
    p.add_argument("-a", "--all", action="store_true",
                   help="list the port mappings of every running container")
    p.add_argument("-l", "--latest", action="store_true",
                   help="act on the latest container created")
    p.add_argument("container", nargs="?", default=None, metavar="CONTAINER")
    p.add_argument("port", nargs="?", default=None, metavar="PRIVATE_PORT[/PROTO]")

    p = add("network", "manage networks")
    nsub = p.add_subparsers(dest="ncmd", metavar="SUBCOMMAND", parser_class=type(p))
    q = nsub.add_parser("create", help="create a bridge network")
    q.add_argument("-d", "--driver", default="bridge", help="only bridge")
    q.add_argument("--subnet", action="append", default=[], metavar="CIDR")
    q.add_argument("--gateway", action="append", default=[], metavar="IP")
    q.add_argument("--internal", action="store_true", help="no route out of the network")
    q.add_argument("--disable-dns", action="store_true",
                   help="no aardvark-dns names on the network")
    q.add_argument("--label", action="append", default=[], metavar="KEY=VAL")
    q.add_argument("-o", "--opt", action="append", default=[], metavar="KEY=VAL",
                   help="mtu=N, isolate=true|false")
    q.add_argument("--interface-name", default=None, help="the bridge's name")
    q.add_argument("--ignore", action="store_true",
                   help="no error if a network of that name exists")
    q.add_argument("name", nargs="?", default=None, metavar="NAME")

    q = nsub.add_parser("ls", aliases=["list"], help="list networks")
    _filter_flag(q)
    q.add_argument("--format", default=None,
                   help="json, or a Go template ('{{.Name}}', 'table {{.ID}} {{.Name}}')")
    q.add_argument("--noheading", action="store_true", help="no header line")
    q.add_argument("-q", "--quiet", action="store_true", help="names only")
    q.add_argument("--no-trunc", action="store_true")

    q = nsub.add_parser("inspect", help="show networks as JSON")
    q.add_argument("-f", "--format", default=None,
                   help="json, or a Go template per network ('{{.Subnets}}')")
    q.add_argument("networks", nargs="+", metavar="NETWORK")

    q = nsub.add_parser("rm", aliases=["remove"], help="remove networks")
    q.add_argument("-f", "--force", action="store_true",
                   help="also remove the containers that use them")
    q.add_argument("-t", "--time", type=int, default=None,
                   help="seconds before SIGKILL when -f stops containers")
    q.add_argument("networks", nargs="+", metavar="NETWORK")

    q = nsub.add_parser("prune", help="remove networks no container uses")
    q.add_argument("-f", "--force", action="store_true", help="do not ask (always implied)")
    _filter_flag(q, short=False)

    for name, hlp in (("connect", "connect a container to a network (takes effect at the "
                                  "container's next start)"),
                      ("disconnect", "disconnect a container from a network (takes "
                                     "effect at the container's next start)")):
        q = nsub.add_parser(name, help=hlp, description=hlp)
        if name == "connect":
            q.add_argument("--alias", action="append", default=[], metavar="ALIAS")
            q.add_argument("--ip", default=None)
            q.add_argument("--mac-address", default=None)
        else:
            q.add_argument("-f", "--force", action="store_true")
        q.add_argument("network", metavar="NETWORK")
        q.add_argument("container", metavar="CONTAINER")

    q = nsub.add_parser("exists", help="exit 0 if the network exists, else 1")
    q.add_argument("network", metavar="NETWORK")
