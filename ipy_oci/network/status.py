"""What netavark reports after ``setup``: per network, the interfaces made in the
container (MAC, addresses with their gateways) and the DNS servers and search domains
to put in resolv.conf (aardvark-dns on DNS-enabled networks).

netavark prints ``{"<network name>": StatusBlock}``; these classes parse it and turn
it back into the same JSON (``to_json``), which is what the driver stores per container.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NetAddress:
    """One address of an interface: ``ipnet`` is the address with the subnet's prefix
    (``10.89.240.2/24``); ``gateway`` is None on an internal network without DNS."""

    ipnet: str
    gateway: str | None = None

    @property
    def ip(self) -> str:
        return str(ipaddress.ip_interface(self.ipnet).ip)

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_interface(self.ipnet).network.prefixlen

    @property
    def is_ipv4(self) -> bool:
        return ipaddress.ip_interface(self.ipnet).version == 4


@dataclass(frozen=True)
class NetInterface:
    mac_address: str
    subnets: tuple[NetAddress, ...] = ()


@dataclass(frozen=True)
class StatusBlock:
    """One network's result for one container (netavark's StatusBlock)."""

    interfaces: dict[str, NetInterface] = field(default_factory=dict)
    dns_server_ips: tuple[str, ...] = ()
    dns_search_domains: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusBlock:
        ifaces = {}
        for name, iface in (data.get("interfaces") or {}).items():
            subnets = tuple(NetAddress(str(a["ipnet"]), a.get("gateway"))
                            for a in iface.get("subnets") or ())
            ifaces[str(name)] = NetInterface(str(iface.get("mac_address", "")), subnets)
        return cls(ifaces, tuple(str(s) for s in data.get("dns_server_ips") or ()),
                   tuple(str(s) for s in data.get("dns_search_domains") or ()))

    def to_json(self) -> dict[str, Any]:
        return {
            "dns_search_domains": list(self.dns_search_domains),
            "dns_server_ips": list(self.dns_server_ips),
            "interfaces": {
                name: {"mac_address": i.mac_address,
                       "subnets": [{"ipnet": a.ipnet, "gateway": a.gateway} for a in i.subnets]}
                for name, i in self.interfaces.items()
            },
        }

    def addresses(self) -> list[NetAddress]:
        return [a for i in self.interfaces.values() for a in i.subnets]


def parse_setup_output(data: dict[str, Any]) -> dict[str, StatusBlock]:
    """netavark's setup output: network name -> StatusBlock."""
    return {str(name): StatusBlock.from_json(block or {}) for name, block in data.items()}


def first_ipv4(status: dict[str, StatusBlock]) -> str | None:
    """The container's first IPv4 address over its networks (in their order)."""
    for block in status.values():
        for addr in block.addresses():
            if addr.is_ipv4:
                return addr.ip
    return None
