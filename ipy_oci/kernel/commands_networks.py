"""``%oci network …`` and ``%oci port …``: the CLI's network commands, returning Python
objects (names, podman's JSON as InspectData, ``port`` lines)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine import networks as nets
from ..errors import NotFoundError, UsageError
from ..grammar.gotemplate import is_json
from ..grammar.options import parse_kv
from .handles import InspectData

if TYPE_CHECKING:
    from .commands import Call


def cmd_port(c: Call) -> list[str]:
    from ..engine.port_listing import port_listing

    a = c.args
    return port_listing(c.rt, a.container, a.port, all=a.all, latest=a.latest)


def cmd_network(c: Call) -> Any:
    a, rt = c.args, c.rt
    sub = {"list": "ls", "remove": "rm"}.get(a.ncmd, a.ncmd)
    if sub == "create":
        return nets.create_network(
            rt, a.name, driver=a.driver, subnets=a.subnet, gateways=a.gateway,
            internal=a.internal, dns=not a.disable_dns, labels=parse_kv(a.label, "label"),
            options=parse_kv(a.opt, "option"), interface=a.interface_name,
            ignore=a.ignore).name
    if sub == "ls":
        found = sorted(nets.list_networks(rt, nets.parse_filters(a.filter)),
                       key=lambda n: n.name)
        if a.quiet:
            return [n.name for n in found]
        if a.format and not is_json(a.format):  # a template: what the CLI prints
            from ..grammar.network_text import network_ls_text

            print(network_ls_text(found, a.format, a.noheading, a.no_trunc), end="")
            return None
        return [InspectData(n.inspect()) for n in found]
    if sub == "inspect":
        data = [InspectData(nets.inspect_network(rt, ref)) for ref in a.networks]
        if a.format and not is_json(a.format):  # a template: what the CLI prints
            from ..grammar.network_text import network_inspect_text

            print(network_inspect_text(data, a.format), end="")
            return None
        return data[0] if len(data) == 1 else data
    if sub == "rm":
        return [nets.remove_network(rt, ref, force=a.force, timeout=a.time)
                for ref in a.networks]
    if sub == "prune":
        return nets.prune_networks(rt, nets.parse_filters(a.filter))
    if sub == "connect":
        nets.connect(rt, a.container, a.network, aliases=a.alias, static_ip=a.ip,
                     static_mac=a.mac_address)
        return None
    if sub == "disconnect":
        nets.disconnect(rt, a.container, a.network)
        return None
    if sub == "exists":
        try:
            return nets.network_exists(rt, a.network)
        except NotFoundError:
            return False
    raise UsageError("missing subcommand: try '%oci network --help'")


NETWORK_HANDLERS = {"network": cmd_network, "port": cmd_port}
