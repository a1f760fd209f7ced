"""A rootless container's network: its own netns with slirp4netns (network/slirp.py).

The same record as a bridge setup (``<runroot>/networks/containers/<id>.json``),
written before slirp4netns starts, so teardown, rollback and ``recover`` find it;
it holds ``"slirp": {pid, start, api_socket}`` instead of netavark's options.
netavark and aardvark-dns need root on the host, so named networks are not offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..userns.enter import prefix as userns_prefix
from . import slirp
from .netns import create_netns
from .ports import PortMapping

if TYPE_CHECKING:
    from .driver import NetworkDriver

MODE = "slirp4netns"


def socket_path(runroot: Path, container_id: str) -> Path:
    # Unix socket paths are short (108 bytes): half the id is unique enough.
    return runroot / "slirp" / f"{container_id[:32]}.sock"


def setup(driver: NetworkDriver, container_id: str, ports: Sequence[PortMapping],
          allow_host_loopback: bool = False) -> Path:
    """The netns (owned by the user namespace) with slirp4netns on it and ``ports``
    forwarded from the host; its path. On failure nothing is left."""
    for p in ports:
        slirp.check_unprivileged_port(p.host_port, rootless=True)
    sock = socket_path(driver.runroot, container_id)
    sock.parent.mkdir(mode=0o700, exist_ok=True)
    teardown(driver, container_id)  # whatever an earlier crash left
    netns = create_netns(driver.runroot, container_id)
    record: dict[str, Any] = {"container_id": container_id, "netns": str(netns),
                              "ports": [p.to_json() for p in ports], "status": {},
                              "slirp": {"pid": 0, "start": 0, "api_socket": str(sock)}}
    try:
        driver._write_record(container_id, record)
        proc = slirp.start_slirp(netns, sock, prefix=userns_prefix(),
                                 allow_host_loopback=allow_host_loopback)
        record["slirp"] = {"pid": proc.pid, "start": proc.start, "api_socket": str(sock)}
        driver._write_record(container_id, record)
        for p in ports:
            for offset in range(p.range):
                slirp.add_port(sock, proto=p.protocol, host_ip=p.host_ip,
                               host_port=p.host_port + offset,
                               guest_port=p.container_port + offset)
    except BaseException:
        teardown(driver, container_id)
        raise
    return netns


def teardown(driver: NetworkDriver, container_id: str,
             rec: dict[str, Any] | None = None) -> list[str]:
    """Stop slirp4netns, remove the netns and the record; idempotent."""
    rec = rec if rec is not None else driver._read_record(container_id)
    warnings: list[str] = []
    info = (rec or {}).get("slirp") or {}
    if info.get("api_socket"):
        slirp.stop_slirp(slirp.SlirpProcess(int(info.get("pid") or 0),
                                            int(info.get("start") or 0),
                                            str(info["api_socket"])))
    warnings += driver.remove_netns_of(container_id, rec)
    driver._remove_record(container_id)
    return warnings


def hosts_internal_ip(allow_host_loopback: bool = False) -> str:
    return slirp.host_gateway_ip(allow_host_loopback)


def resolv_servers() -> list[str]:
    """slirp4netns's DNS forwarder when the host's resolvers are loopback only."""
    servers = slirp.resolv_nameservers()
    return servers if servers == [slirp.DNS_IP] else []


GUEST_IP = slirp.GUEST_IP
