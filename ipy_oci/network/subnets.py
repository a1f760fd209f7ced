"""Subnets: the default network's, the pools new networks get theirs from, overlap
checks against other networks and against the host.

Ranges are picked to stay clear of podman on the same host: podman's default network is
10.88.0.0/16 and its new networks count up from 10.89.0.0/24 (then 10.90.0.0/15 ...).
ipy-oci's default network takes 10.89.240.0/24 and new networks the next /24s of
10.89.240.0/20 (far from where podman's count starts), then 10.86.0.0/16, which no
podman pool contains. A subnet already routed on the host (any interface, VPN route)
or used by a podman network config (/etc/containers/networks, read only) is skipped.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

from .errors import InvalidNetwork, SubnetInUse

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_SUBNET = "10.89.240.0/24"
# (pool, prefix length of the subnets cut from it), tried in order.
SUBNET_POOLS: tuple[tuple[str, int], ...] = (("10.89.240.0/20", 24), ("10.86.0.0/16", 24))
# Never handed out automatically: podman's default network.
RESERVED_SUBNETS: tuple[str, ...] = ("10.88.0.0/16",)
PODMAN_NETWORK_DIRS = ("/etc/containers/networks",)


def parse_subnet(text: str) -> IPNetwork:
    """``10.1.2.0/24`` (host bits must be zero, as podman: "subnet invalid")."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise InvalidNetwork(f"subnet invalid: {text!r}: {exc}") from None
    if "/" not in text:
        raise InvalidNetwork(f"subnet invalid: {text!r}: give it in CIDR form, e.g. "
                             "10.89.241.0/24")
    if net.num_addresses < 4 and net.version == 4:
        raise InvalidNetwork(f"subnet invalid: {text!r} is too small (at most /30)")
    return net


def default_gateway(net: IPNetwork) -> IPAddress:
    """The first host address, as podman."""
    return net.network_address + 1


def check_gateway(net: IPNetwork, gateway: str) -> IPAddress:
    try:
        gw = ipaddress.ip_address(gateway.strip())
    except ValueError:
        raise InvalidNetwork(f"gateway {gateway!r} is not an IP address") from None
    if gw not in net or gw == net.network_address or \
            (net.version == 4 and gw == net.broadcast_address):
        raise InvalidNetwork(f"gateway {gw} not in subnet {net}")
    return gw


def host_subnets() -> list[IPNetwork]:
    """Subnets routed on this host: IPv4 routes (the main table, default route aside)
    and the IPv6 interface prefixes (link-local and loopback aside)."""
    out: list[IPNetwork] = []
    try:
        with open("/proc/net/route", encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                cols = line.split()
                if len(cols) < 8:
                    continue
                dest = socket.inet_ntoa(struct.pack("<I", int(cols[1], 16)))
                mask = socket.inet_ntoa(struct.pack("<I", int(cols[7], 16)))
                net = ipaddress.ip_network(f"{dest}/{mask}", strict=False)
                if net.prefixlen:
                    out.append(net)
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as fh:
            for line in fh:
                cols = line.split()
                if len(cols) < 6:
                    continue
                addr = ipaddress.ip_address(":".join(cols[0][i:i + 4] for i in range(0, 32, 4)))
                if addr.is_link_local or addr.is_loopback:
                    continue
                out.append(ipaddress.ip_network(f"{addr}/{int(cols[2], 16)}", strict=False))
    except (OSError, ValueError):
        pass
    return out


def podman_subnets(dirs: Iterable[str] = PODMAN_NETWORK_DIRS) -> list[IPNetwork]:
    """Subnets of podman's network configs on this host (read only, best effort)."""
    out: list[IPNetwork] = []
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            if not name.endswith(".json"):
                continue
            try:
                data = json.loads(Path(d, name).read_text())
                for s in data.get("subnets") or ():
                    out.append(ipaddress.ip_network(s["subnet"], strict=False))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
    return out


def overlapping(net: IPNetwork, used: Iterable[IPNetwork]) -> IPNetwork | None:
    for other in used:
        if other.version == net.version and net.overlaps(other):
            return other
    return None


def check_free(net: IPNetwork, networks: dict[str, list[IPNetwork]],
               host: Iterable[IPNetwork]) -> None:
    """SubnetInUse if ``net`` overlaps a subnet of another network (name -> subnets) or
    one routed on the host."""
    for name, subnets in networks.items():
        other = overlapping(net, subnets)
        if other is not None:
            raise SubnetInUse(f"subnet {net} is already used on the host or by another "
                              f"config: it overlaps {other} of network {name} (choose "
                              "another --subnet, or leave it out to get a free one)")
    other = overlapping(net, host)
    if other is not None:
        raise SubnetInUse(f"subnet {net} is already used on the host or by another config: "
                          f"it overlaps {other}, routed on this host (choose another "
                          "--subnet, or leave it out to get a free one)")


def free_subnet(used: Iterable[IPNetwork],
                pools: Iterable[tuple[str, int]] = SUBNET_POOLS) -> IPNetwork:
    """The first subnet of the pools that overlaps nothing in ``used`` (the default
    network's subnet and RESERVED_SUBNETS always count as used)."""
    taken = [*used, ipaddress.ip_network(DEFAULT_SUBNET),
             *(ipaddress.ip_network(s) for s in RESERVED_SUBNETS)]
    for pool_text, prefix in pools:
        pool = ipaddress.ip_network(pool_text)
        for cand in pool.subnets(new_prefix=prefix):
            if overlapping(cand, taken) is None:
                return cand
    raise InvalidNetwork("could not find free subnet from subnet pools "
                         f"({', '.join(p for p, _ in pools)}): remove unused networks "
                         "('ipy-oci network prune') or give --subnet")
