"""CLI handlers: ``network create|ls|inspect|rm|prune|connect|disconnect|exists``, ``port``."""

from __future__ import annotations

import argparse
import sys

from ..engine import networks as nets
from ..engine.runtime import Runtime
from ..errors import NotFoundError, OciError, UsageError
from ..grammar.network_text import network_inspect_text, network_ls_text
from ..grammar.options import parse_kv


def _err(exc: Exception) -> None:
    sys.stderr.write(f"Error: {exc}\n")


def cmd_port(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.port_listing import port_listing

    for line in port_listing(rt, args.container, args.port, all=args.all,
                             latest=args.latest):
        print(line)
    return 0


def cmd_network(rt: Runtime, args: argparse.Namespace) -> int:
    sub = args.ncmd
    if sub is None:
        raise UsageError("missing subcommand: try 'ipy-oci network --help'")
    sub = {"list": "ls", "remove": "rm"}.get(sub, sub)
    result: int = globals()[f"_net_{sub}"](rt, args)
    return result


def _net_create(rt: Runtime, args: argparse.Namespace) -> int:
    net = nets.create_network(
        rt, args.name, driver=args.driver, subnets=args.subnet, gateways=args.gateway,
        internal=args.internal, dns=not args.disable_dns,
        labels=parse_kv(args.label, "label"), options=parse_kv(args.opt, "option"),
        interface=args.interface_name, ignore=args.ignore)
    print(net.name)
    return 0


def _net_ls(rt: Runtime, args: argparse.Namespace) -> int:
    found = sorted(nets.list_networks(rt, nets.parse_filters(args.filter)),
                   key=lambda n: n.name)  # podman sorts by name
    if args.quiet:
        for n in found:
            print(n.name)
        return 0
    sys.stdout.write(network_ls_text(found, args.format, args.noheading, args.no_trunc))
    return 0


def _net_inspect(rt: Runtime, args: argparse.Namespace) -> int:
    out, rc = [], 0
    for ref in args.networks:
        try:
            out.append(nets.inspect_network(rt, ref))
        except OciError as exc:
            _err(exc)
            rc = exc.exit_code
    sys.stdout.write(network_inspect_text(out, args.format))
    return rc


def _net_rm(rt: Runtime, args: argparse.Namespace) -> int:
    rc = 0
    for ref in args.networks:
        try:
            print(nets.remove_network(rt, ref, force=args.force, timeout=args.time))
        except OciError as exc:
            _err(exc)
            rc = exc.exit_code if rc == 0 else rc
    return rc


def _net_prune(rt: Runtime, args: argparse.Namespace) -> int:
    for name in nets.prune_networks(rt, nets.parse_filters(args.filter)):
        print(name)
    return 0


def _net_connect(rt: Runtime, args: argparse.Namespace) -> int:
    nets.connect(rt, args.container, args.network, aliases=args.alias,
                 static_ip=args.ip, static_mac=args.mac_address)
    return 0


def _net_disconnect(rt: Runtime, args: argparse.Namespace) -> int:
    nets.disconnect(rt, args.container, args.network)
    return 0


def _net_exists(rt: Runtime, args: argparse.Namespace) -> int:
    try:
        return 0 if nets.network_exists(rt, args.network) else 1
    except NotFoundError:
        return 1
