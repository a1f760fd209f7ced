"""A container's ``NetworkSettings`` as podman's ``inspect`` shows them, from its
connections (``Networks.attachments``) and, while it is set up, its ``NetworkSetup``.

podman's rules: ``Networks`` has one entry per connected network (``NetworkID`` is the
network's name, a podman quirk kept here); the top-level address fields are filled
only when the default network is the one network; ``Ports`` maps ``80/tcp`` to its
host bindings (``HostPort`` a string), exposed ports that are not published to None.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .networks import DEFAULT_NETWORK, Attachment
from .ports import PortMapping
from .status import StatusBlock


def _basic(block: StatusBlock | None) -> dict[str, Any]:
    out: dict[str, Any] = {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                           "IPv6Gateway": "", "GlobalIPv6Address": "",
                           "GlobalIPv6PrefixLen": 0, "MacAddress": ""}
    if block is None:
        return out
    for name in sorted(block.interfaces):
        iface = block.interfaces[name]
        out["MacAddress"] = out["MacAddress"] or iface.mac_address
        for addr in iface.subnets:
            if addr.is_ipv4 and not out["IPAddress"]:
                out.update(IPAddress=addr.ip, IPPrefixLen=addr.prefix_len,
                           Gateway=addr.gateway or "")
            elif not addr.is_ipv4 and not out["GlobalIPv6Address"] and \
                    not ipaddress.ip_address(addr.ip).is_link_local:
                out.update(GlobalIPv6Address=addr.ip, GlobalIPv6PrefixLen=addr.prefix_len,
                           IPv6Gateway=addr.gateway or "")
    return out


def port_bindings(ports: Iterable[PortMapping],
                  exposed: Mapping[int, Sequence[str]] | None = None
                  ) -> dict[str, list[dict[str, str]] | None]:
    """``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "443/tcp": None}``."""
    out: dict[str, list[dict[str, str]] | None] = {}
    for m in ports:
        for i in range(m.range):
            key = f"{m.container_port + i}/{m.protocol}"
            binding = {"HostIp": m.host_ip, "HostPort": str(m.host_port + i)}
            have = out.get(key)
            out[key] = [*(have or []), binding]
    for port, protocols in (exposed or {}).items():
        for proto in protocols:
            out.setdefault(f"{port}/{proto}", None)
    return out


def network_settings(attachments: Sequence[Attachment],
                     status: Mapping[str, StatusBlock] | None = None,
                     netns: str = "", ports: Iterable[PortMapping] = (),
                     exposed: Mapping[int, Sequence[str]] | None = None,
                     aliases: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """podman's NetworkSettings. ``status``/``netns``/``aliases``: from the container's
    ``NetworkSetup`` while it is set up (else None and "": addresses stay empty)."""
    status = status or {}
    nets: dict[str, Any] = {}
    for att in attachments:
        entry = _basic(status.get(att.network))
        entry.update(NetworkID=att.network, DriverOpts=None, IPAMConfig=None, Links=None,
                     Aliases=list((aliases or {}).get(att.network) or att.aliases) or None)
        nets[att.network] = entry
    out: dict[str, Any] = {**_basic(None), "Bridge": "", "SandboxID": "",
                           "HairpinMode": False, "LinkLocalIPv6Address": "",
                           "LinkLocalIPv6PrefixLen": 0,
                           "Ports": port_bindings(ports, exposed), "SandboxKey": netns}
    if [a.network for a in attachments] == [DEFAULT_NETWORK]:
        out.update(_basic(status.get(DEFAULT_NETWORK)))
    if nets:
        out["Networks"] = nets
    return out
