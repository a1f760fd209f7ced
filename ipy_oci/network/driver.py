"""NetworkDriver: a container's networks set up and torn down (netns + netavark + IPAM).

One call each way, both safe to repeat:

- ``setup(ctr_id, name, ports=..., dns_servers=...)`` (at init, before ``runc create``):
  a netns bound at ``<runroot>/netns/<ctr_id>``, an address on each network the
  container is connected to (``Networks.connect``), netavark's interfaces, firewall
  rules, port forwarding and aardvark-dns entries. Returns a ``NetworkSetup`` whose
  ``spec_network`` goes in the spec. If anything fails, everything is undone.
- ``teardown(ctr_id)`` (stop/exit cleanup, removal, rollback of a dead ``init``):
  netavark teardown, addresses released, the netns unmounted, the record removed,
  and aardvark-dns stopped once it serves nobody. Nothing set up: nothing to do.

What was set up is recorded in ``<runroot>/networks/containers/<ctr_id>.json`` (the
exact options given to netavark, the ports, the status) before netavark runs, in the
same state-store transaction as the address allocation: whoever finds a record knows
the host may hold that container's network, and tears it down with the same options,
whatever became of the networks meanwhile. The runroot is a tmpfs, so after a reboot
(which took the netns, veths and firewall rules with it) no record is left, and
``recover`` gives back the addresses still marked as held.

Teardown copes with what a crash leaves: a netns already gone (a fresh one stands in),
an interface already gone (a placeholder stands in, so netavark still removes the
bridge and firewall rules of a network it was the last one on), DNS entries already
gone (netavark is not asked to remove them again). All netavark calls of a runroot
take one lock (netavark 1.4 does not serialize its own work).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..state.store import StateStore
from . import aardvark, etc_files, ipam
from .errors import InvalidNetwork, NetworkSetupError
from .netavark import Netavark, config_lock
from .netns import (
    add_placeholder_links,
    create_netns,
    is_netns,
    links,
    list_netns,
    netns_path,
    remove_netns,
)
from .networks import Network, Networks, Subnet
from .ports import PortMapping, check_host_ports
from .status import StatusBlock, first_ipv4


@dataclass(frozen=True)
class NetworkSetup:
    """A container's networks as set up: its netns, ports and netavark's status per
    network (in connection order)."""

    container_id: str
    netns: Path
    status: dict[str, StatusBlock]
    ports: tuple[PortMapping, ...] = ()
    networks: tuple[Network, ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def spec_network(self) -> str:
        """The OCI spec builder's network value (``SpecOptions.network``)."""
        return f"ns:{self.netns}"

    @property
    def ip(self) -> str | None:
        """The first IPv4 address (what /etc/hosts maps the hostname to)."""
        return first_ipv4(self.status)

    def ips(self) -> list[str]:
        return [a.ip for b in self.status.values() for a in b.addresses()]

    def dns_servers(self) -> list[str]:
        return list(dict.fromkeys(s for b in self.status.values() for s in b.dns_server_ips))

    def dns_search(self) -> list[str]:
        return list(dict.fromkeys(s for b in self.status.values()
                                  for s in b.dns_search_domains))

    def bridges(self) -> list[str]:
        return [n.name for n in self.networks if n.driver == "bridge"]

    @property
    def ipv6(self) -> bool:
        return any(not a.is_ipv4 for b in self.status.values() for a in b.addresses())

    def hosts_text(self, *, hostname: str, container_name: str = "",
                   add_hosts: Sequence[str] = (), base: str = "") -> str:
        """The container's /etc/hosts (etc_files.hosts_text): its addresses with its
        hostname and name, host.containers.internal (its bridge's gateway), --add-host."""
        return etc_files.hosts_text(
            hostname=hostname, container_name=container_name,
            ips=[self.ip] if self.ip else self.ips()[:1],
            add_hosts=add_hosts, base=base,
            host_internal_ip=etc_files.host_containers_internal_ip(self.status,
                                                                   self.bridges()))

    def resolv_conf_text(self, *, dns_servers: Sequence[str] = (),
                         dns_search: Sequence[str] = (), dns_options: Sequence[str] = (),
                         host_text: str | None = None) -> str:
        """The container's /etc/resolv.conf (etc_files.resolv_conf_text): aardvark-dns
        first on DNS-enabled networks, --dns/--dns-search/--dns-option as podman."""
        return etc_files.resolv_conf_text(
            network_dns=self.dns_servers(), network_search=self.dns_search(),
            dns_servers=dns_servers, dns_search=dns_search, dns_options=dns_options,
            ipv6=self.ipv6, host_text=host_text)

    def to_json(self) -> dict[str, Any]:
        return {"netns": str(self.netns),
                "status": {k: v.to_json() for k, v in self.status.items()},
                "ports": [p.to_json() for p in self.ports]}


class NetworkDriver:
    """Networks of one storage root (state store) and runroot."""

    def __init__(self, store: StateStore, runroot: Path,
                 netavark: Netavark | None = None) -> None:
        self.store = store
        self.runroot = runroot
        self.config_dir = runroot / "networks"
        self.records_dir = self.config_dir / "containers"
        self.networks = Networks(store)
        self._netavark = netavark

    @property
    def netavark(self) -> Netavark:
        if self._netavark is None:
            self._netavark = Netavark(self.config_dir)
        return self._netavark

    # -- records ---------------------------------------------------------------------
    def _record_path(self, container_id: str) -> Path:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise ValueError(f"bad container id {container_id!r}")
        return self.records_dir / f"{container_id}.json"

    def _read_record(self, container_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._record_path(container_id).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"container_id": container_id, "broken": True}
        return data if isinstance(data, dict) else None

    def _write_record(self, container_id: str, data: dict[str, Any]) -> None:
        self.records_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._record_path(container_id)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)

    def _remove_record(self, container_id: str) -> None:
        try:
            self._record_path(container_id).unlink()
        except FileNotFoundError:
            pass

    def setup_ids(self) -> list[str]:
        """Containers whose network may be set up on the host (a record exists)."""
        try:
            names = os.listdir(self.records_dir)
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("."))

    def status(self, container_id: str) -> NetworkSetup | None:
        """The container's setup as recorded (None if its network is not set up)."""
        rec = self._read_record(container_id)
        if not rec or rec.get("broken") or rec.get("status") is None:
            return None
        return _setup_from_record(container_id, rec)

    def published_ports(self, exclude: str | None = None) -> dict[str, list[PortMapping]]:
        """Container ID -> the ports it publishes now (its network is set up)."""
        out = {}
        for cid in self.setup_ids():
            if cid == exclude:
                continue
            rec = self._read_record(cid)
            if rec and rec.get("ports"):
                out[cid] = [PortMapping.from_json(p) for p in rec["ports"]]
        return out

    # -- setup -----------------------------------------------------------------------
    def setup(self, container_id: str, container_name: str, *,
              ports: Sequence[PortMapping] = (), dns_servers: Sequence[str] = (),
              check_ports: bool = True) -> NetworkSetup:
        """Set up the networks the container is connected to (see the module doc).
        ``ports`` must be resolved (``ports.resolve``: no host port 0). Raises
        InvalidNetwork (not connected to any network), PortInUse, AddressInUse,
        NetworkSetupError; then nothing of it is left."""
        atts = self.store.attachments(container_id=container_id)
        if not atts:
            raise InvalidNetwork(f"container {container_id[:12]} is not connected to any "
                                 "network: connect it first")
        if any(not p.host_port for p in ports):
            raise InvalidNetwork("port mappings must be resolved before setup "
                                 "(ports.resolve picks the free host ports)")
        netavark = self.netavark  # RuntimeMissing now, before anything is made
        with config_lock(self.config_dir):
            self.teardown(container_id)  # whatever an earlier crash left
            if check_ports:
                check_host_ports(ports, self.published_ports(exclude=container_id))
            netns = create_netns(self.runroot, container_id)
            try:
                with self.store.transaction():
                    leases = ipam.allocate(self.store, container_id)
                    nets = {a.network_id: self.networks.get(a.network_id) for a in atts}
                    options = _options(container_id, container_name, atts, nets, leases,
                                       ports, dns_servers)
                    record = {"container_id": container_id, "container_name": container_name,
                              "netns": str(netns), "options": options,
                              "ports": [p.to_json() for p in ports],
                              "networks": [nets[a.network_id].name for a in atts],
                              "status": None}
                    self._write_record(container_id, record)
                status = netavark.setup(netns, options)
                record["status"] = {k: v.to_json() for k, v in status.items()}
                self._write_record(container_id, record)
                for att in atts:
                    block = status.get(nets[att.network_id].name)
                    iface = block.interfaces.get(att.interface) if block else None
                    if iface is not None and att.network_id in leases:
                        self.store.set_lease(container_id, att.network_id,
                                             leases[att.network_id], iface.mac_address)
            except BaseException:
                self.teardown(container_id)
                raise
        return _setup_from_record(container_id, record)

    # -- teardown --------------------------------------------------------------------
    def teardown(self, container_id: str) -> list[str]:
        """Undo ``setup``; safe to call any number of times, and when nothing was set up.
        Returns what could not be undone cleanly (netavark's errors), for a warning;
        never raises for them, so cleanup paths always finish."""
        slirp_rec = self._read_record(container_id)
        if slirp_rec and slirp_rec.get("slirp") is not None:  # a rootless setup
            from .rootless import teardown as slirp_teardown

            return slirp_teardown(self, container_id, slirp_rec)
        warnings: list[str] = []
        with config_lock(self.config_dir):
            rec = self._read_record(container_id)
            if rec and not rec.get("broken") and rec.get("options"):
                warnings += self._netavark_teardown(container_id, rec)
            ipam.release(self.store, container_id)
            warnings += self.remove_netns_of(container_id, rec)
            self._remove_record(container_id)
            aardvark.stop_if_idle(self.config_dir)
        return warnings

    def remove_netns_of(self, container_id: str, rec: dict[str, Any] | None) -> list[str]:
        """Unbind the container's netns (the usual path and the recorded one); the
        errors, for a warning."""
        warnings = []
        for path in {netns_path(self.runroot, container_id),
                     *([Path(rec["netns"])] if rec and rec.get("netns") else [])}:
            try:
                remove_netns(path)
            except NetworkSetupError as exc:
                warnings.append(str(exc))
        return warnings

    def _netavark_teardown(self, container_id: str, rec: dict[str, Any]) -> list[str]:
        options = copy.deepcopy(rec["options"])
        # DNS entries already removed (a teardown that got half-way): netavark would fail
        # on the missing entry, so it is not asked again.
        for name, info in options.get("network_info", {}).items():
            if info.get("dns_enabled") and \
                    not aardvark.has_entry(self.config_dir, name, container_id):
                info["dns_enabled"] = False
        netns = Path(rec.get("netns", ""))
        temp: Path | None = None
        warnings: list[str] = []
        try:
            # A netns unmounted moments ago may not be destroyed yet (the kernel does
            # that later, in a work queue): till then its veth is still a port of the
            # bridge, and netavark keeps the bridge and the network's rules, as it must
            # for a netns a process still holds. The network's next teardown removes them.
            if not is_netns(netns):
                temp = create_netns(self.runroot, f".teardown-{secrets.token_hex(6)}")
                netns = temp
            have = set(links(netns))
            missing = [o["interface_name"] for o in options.get("networks", {}).values()
                       if o.get("interface_name") not in have]
            if missing:
                add_placeholder_links(netns, missing)
            self.netavark.teardown(netns, options)
        except NetworkSetupError as exc:
            warnings.append(str(exc))
        finally:
            if temp is not None:
                remove_netns(temp)
        return warnings

    def forget(self, container_id: str) -> list[str]:
        """The container is being removed: ``teardown`` and drop its connections. The
        warnings of the teardown."""
        warnings = self.teardown(container_id)
        self.networks.disconnect_all(container_id)
        return warnings

    # -- crash recovery --------------------------------------------------------------
    def recover(self, keep: Iterable[str]) -> list[str]:
        """Tear down every container's network but those in ``keep`` (the containers
        whose network may rightly be set up: created, running, paused, stopping, and
        those another live process is initializing), give back addresses held without
        a setup (after a reboot), remove stray netns files and a leftover aardvark-dns.
        The IDs it tore down."""
        keep = set(keep)
        done = []
        for cid in self.setup_ids():
            if cid not in keep:
                self.teardown(cid)
                done.append(cid)
        with config_lock(self.config_dir):
            records = set(self.setup_ids())
            for att in self.store.attachments():
                if att.ip and att.container_id not in keep and \
                        att.container_id not in records:
                    ipam.release(self.store, att.container_id)
            for path in list_netns(self.runroot):
                if path.name not in keep and path.name not in records:
                    remove_netns(path)
            # A record half-written by a process killed before its rename (records
            # are written under this same lock, so none is being written now).
            if self.records_dir.is_dir():
                for tmp in self.records_dir.glob(".*.json.*"):
                    tmp.unlink(missing_ok=True)
            aardvark.stop_if_idle(self.config_dir)
        return done


def _options(container_id: str, container_name: str, atts: Sequence[Any],
             nets: dict[str, Network], leases: dict[str, str],
             ports: Sequence[PortMapping], dns_servers: Sequence[str]) -> dict[str, Any]:
    networks: dict[str, Any] = {}
    info: dict[str, Any] = {}
    for att in atts:
        net = nets[att.network_id]
        per: dict[str, Any] = {"interface_name": att.interface}
        if att.network_id in leases:
            per["static_ips"] = [leases[att.network_id]]
        if net.dns_enabled:
            # podman adds the short ID as an alias on DNS-enabled networks
            per["aliases"] = list(dict.fromkeys([*att.aliases, container_id[:12]]))
        if att.static_mac:
            per["static_mac"] = att.static_mac
        networks[net.name] = per
        info[net.name] = net.netavark_json()
    out: dict[str, Any] = {"container_id": container_id, "container_name": container_name,
                           "networks": networks, "network_info": info,
                           "port_mappings": [p.netavark_json() for p in ports] or None}
    if dns_servers:
        out["dns_servers"] = list(dns_servers)
    return out


def _setup_from_record(container_id: str, rec: dict[str, Any]) -> NetworkSetup:
    status = {k: StatusBlock.from_json(v) for k, v in (rec.get("status") or {}).items()}
    info = rec.get("options", {}).get("network_info", {})
    per = rec.get("options", {}).get("networks", {})
    nets = tuple(_network_from_info(info[n]) for n in rec.get("networks", []) if n in info)
    aliases = {n: tuple(per.get(n, {}).get("aliases") or ()) for n in per}
    return NetworkSetup(container_id, Path(rec["netns"]), status,
                        tuple(PortMapping.from_json(p) for p in rec.get("ports", [])),
                        nets, aliases)


def _network_from_info(d: dict[str, Any]) -> Network:
    return Network(str(d["id"]), str(d["name"]), str(d["driver"]),
                   str(d.get("network_interface") or ""), 0.0,
                   tuple(Subnet(s["subnet"], s.get("gateway")) for s in d.get("subnets") or ()),
                   bool(d.get("ipv6_enabled")), bool(d.get("internal")),
                   bool(d.get("dns_enabled")), {}, dict(d.get("options") or {}),
                   dict(d.get("ipam_options") or {}))
