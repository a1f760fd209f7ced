"""IP address management: one address per container per network, distinct across
processes.

Allocation reads the leases of a network and writes the new one in the same state
store transaction (``BEGIN IMMEDIATE``: one writer at a time, whichever process it
is), and UNIQUE(network_id, ip) in the table backs it up. Addresses go round the
subnet (after the one handed out last), so a released address is not reused at
once. A container gets one address per network, from the network's first subnet,
unless it asked for a static IP (which may be in any of its subnets).
"""

from __future__ import annotations

import ipaddress

from ..state.store import StateStore
from .errors import AddressInUse, NoSuchNetwork
from .networks import Network, Subnet


def _pick(sub: Subnet, taken: set[str], last: str) -> str | None:
    net = sub.network
    first = int(net.network_address) + 1
    # IPv4: the broadcast address is not a host; IPv6: the last address is fine.
    end = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    size = end - first + 1
    if size <= 0:
        return None
    start = first
    if last:
        try:
            lip = ipaddress.ip_address(last)
            if lip.version == net.version and lip in net:
                start = int(lip) + 1
        except ValueError:
            pass
    if start > end:
        start = first
    for i in range(min(size, 1 << 20)):
        cand = str(ipaddress.ip_address(first + (start - first + i) % size))
        if cand not in taken:
            return cand
    return None


def allocate(store: StateStore, container_id: str) -> dict[str, str]:
    """Give a container an address on each network it is connected to (keeping one it
    already holds); network ID -> address. AddressInUse if a static IP is held by
    another container or a subnet is full. All or nothing."""
    out: dict[str, str] = {}
    with store.transaction():
        for att in store.attachments(container_id=container_id):
            if att.ip:
                out[att.network_id] = att.ip
                continue
            rec = store.network(att.network_id)
            if rec is None:
                raise NoSuchNetwork(att.network_id)
            net = Network.from_record(rec)
            leases = store.leases(net.id)
            if att.static_ip:
                holder = leases.get(att.static_ip)
                if holder and holder != container_id:
                    raise AddressInUse(f"requested ip address {att.static_ip} is already "
                                       f"allocated to container ID {holder}")
                ip = att.static_ip
            else:
                if not net.subnets:
                    continue
                sub = net.subnets[0]
                taken = set(leases)
                taken.update(a.static_ip for a in store.attachments(network_id=net.id)
                             if a.static_ip and a.container_id != container_id)
                if sub.gateway:
                    taken.add(sub.gateway)
                picked = _pick(sub, taken, rec.ipam_last)
                if picked is None:
                    raise AddressInUse(f"failed to find free IP in subnet {sub.subnet} of "
                                       f"network {net.name}: every address is in use")
                ip = picked
                store.set_network_ipam_last(net.id, ip)
            if not store.set_lease(container_id, net.id, ip):
                raise AddressInUse(f"requested ip address {ip} is already allocated on "
                                   f"network {net.name}")
            out[net.id] = ip
    return out


def release(store: StateStore, container_id: str) -> int:
    """Give back every address a container holds (its teardown); how many."""
    return store.release_leases(container_id)
