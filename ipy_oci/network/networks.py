"""Networks as objects: create, list (filters), inspect (podman's JSON), remove, prune,
the default network, and connect/disconnect bookkeeping (which containers use which
network, with their aliases, static IP and MAC).

Everything lives in the state database of the storage root (tables ``networks`` and
``network_attachments``), never in /etc/containers/networks. Checks and writes that
must not interleave with another process (a subnet picked while another process picks
one) run in one state-store transaction.

The default network is podman's (bridge, DNS off) under names that never collide
with a podman on the same host: ``ipy-oci``, bridge ``ipyoci0``, subnet 10.89.240.0/24.
It is created on first use and cannot be removed.
"""

from __future__ import annotations

import builtins
import hashlib
import ipaddress
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..errors import AmbiguousRef
from ..state.records import AttachmentRecord, NetworkConfig, NetworkRecord
from ..state.store import StateStore
from .errors import AddressInUse, InvalidNetwork, NetworkExists, NetworkInUse, NoSuchNetwork
from .subnets import (
    DEFAULT_SUBNET,
    PODMAN_NETWORK_DIRS,
    IPNetwork,
    check_free,
    check_gateway,
    default_gateway,
    free_subnet,
    host_subnets,
    parse_subnet,
    podman_subnets,
)

DEFAULT_NETWORK = "ipy-oci"
DEFAULT_INTERFACE = "ipyoci0"
# Fixed, as podman's default network ID is, but not podman's.
DEFAULT_NETWORK_ID = hashlib.sha256(b"ipy-oci default network").hexdigest()
# Networks created without a name are called ipyoci1, ipyoci2 ... (bridge of the same name).
INTERFACE_PREFIX = "ipyoci"
DRIVERS = ("bridge",)
BRIDGE_OPTIONS = ("mtu", "isolate")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_IFNAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,14}$")
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


@dataclass(frozen=True)
class Subnet:
    subnet: str
    gateway: str | None = None

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network(self.subnet)


@dataclass(frozen=True)
class Network:
    """A network as the engine and the front ends see it."""

    id: str
    name: str
    driver: str
    interface: str
    created: float
    subnets: tuple[Subnet, ...] = ()
    ipv6_enabled: bool = False
    internal: bool = False
    dns_enabled: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    ipam_options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_record(cls, rec: NetworkRecord) -> Network:
        c = rec.config
        return cls(rec.id, rec.name, rec.driver, rec.interface, rec.created_at,
                   tuple(Subnet(s["subnet"], s.get("gateway") or None) for s in c.subnets),
                   c.ipv6_enabled, c.internal, c.dns_enabled, dict(c.labels), dict(c.options),
                   dict(c.ipam_options))

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NETWORK

    def inspect(self) -> dict[str, Any]:
        """podman's ``network inspect`` JSON for this network (empty maps left out, as
        podman's omitempty does)."""
        out: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "driver": self.driver,
            "network_interface": self.interface,
            "created": go_time(self.created),
            "subnets": [_subnet_json(s) for s in self.subnets],
            "ipv6_enabled": self.ipv6_enabled,
            "internal": self.internal,
            "dns_enabled": self.dns_enabled,
        }
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.options:
            out["options"] = dict(self.options)
        if self.ipam_options:
            out["ipam_options"] = dict(self.ipam_options)
        return out

    def netavark_json(self) -> dict[str, Any]:
        """The network as netavark takes it in ``network_info``."""
        return {
            "name": self.name,
            "id": self.id,
            "driver": self.driver,
            "network_interface": self.interface,
            "subnets": [_subnet_json(s) for s in self.subnets],
            "ipv6_enabled": self.ipv6_enabled,
            "internal": self.internal,
            "dns_enabled": self.dns_enabled,
            "options": dict(self.options) or None,
            "ipam_options": dict(self.ipam_options) or None,
        }


def _subnet_json(s: Subnet) -> dict[str, str]:
    return {"subnet": s.subnet, **({"gateway": s.gateway} if s.gateway else {})}


@dataclass(frozen=True)
class Attachment:
    """A container connected to a network. ``ip``/``mac`` are set while the network is
    set up for it (the lease), else empty."""

    container_id: str
    network: str
    network_id: str
    interface: str
    aliases: tuple[str, ...] = ()
    static_ip: str = ""
    static_mac: str = ""
    ip: str = ""
    mac: str = ""


def go_time(ts: float) -> str:
    """A timestamp as Go's RFC3339Nano in local time, as podman prints ``created``."""
    dt = datetime.fromtimestamp(ts).astimezone()
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{dt.microsecond:06d}".rstrip("0")
    if frac:
        text += "." + frac
    off = dt.utcoffset() or timedelta(0)
    if not off:
        return text + "Z"
    mins = int(off.total_seconds()) // 60
    sign = "+" if mins >= 0 else "-"
    return f"{text}{sign}{abs(mins) // 60:02d}:{abs(mins) % 60:02d}"


class Networks:
    """Network objects of one storage root (its state store)."""

    def __init__(self, store: StateStore,
                 podman_dirs: Sequence[str] = PODMAN_NETWORK_DIRS) -> None:
        self.store = store
        self.podman_dirs = tuple(podman_dirs)

    # -- create ----------------------------------------------------------------------
    def create(self, name: str | None = None, *, driver: str = "bridge",
               subnets: Sequence[str] = (), gateways: Sequence[str] = (),
               internal: bool = False, dns: bool = True, ipv6: bool = False,
               labels: Mapping[str, str] | None = None,
               options: Mapping[str, str] | None = None,
               interface: str | None = None, ignore: bool = False) -> Network:
        """``network create``: podman's defaults (bridge, DNS on, a free subnet when none
        is given, the first address as gateway unless internal without DNS).

        ``gateways[i]`` goes with ``subnets[i]``. ``ignore`` returns an existing network
        of that name instead of failing (podman's ``--ignore``).
        """
        if driver not in DRIVERS:
            raise InvalidNetwork(f"unsupported driver {driver}: invalid argument (supported: "
                                 f"{', '.join(DRIVERS)})")
        if name is not None and not NAME_RE.match(name):
            raise InvalidNetwork(f"network name {name} invalid: names must match "
                                 "[a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument")
        if name == DEFAULT_NETWORK:
            if ignore:
                return self.ensure_default()
            raise NetworkExists(name)
        if len(gateways) > len(subnets):
            raise InvalidNetwork("cannot set more gateways than subnets")
        if interface is not None and not _IFNAME_RE.match(interface):
            raise InvalidNetwork(f"bridge name {interface} invalid: names must match "
                                 "[a-zA-Z0-9][a-zA-Z0-9_.-]* and have at most 15 characters")
        opts = _check_options(options or {})
        nets = [parse_subnet(s) for s in subnets]
        for i, a in enumerate(nets):
            for b in nets[i + 1:]:
                if a.version == b.version and a.overlaps(b):
                    raise InvalidNetwork(f"subnet {a} overlaps subnet {b}")
        if any(n.version == 6 for n in nets):
            ipv6 = True
        elif ipv6:
            raise InvalidNetwork("ipv6 needs an explicit IPv6 --subnet (ipy-oci does not "
                                 "pick IPv6 subnets)")
        with_gateway = not internal or dns
        host = host_subnets()
        with self.store.transaction():
            existing = [Network.from_record(r) for r in self.store.networks()]
            if name is not None:
                for other in existing:
                    if other.name == name:
                        if ignore:
                            return other
                        raise NetworkExists(name)
            used = {n.name: [s.network for s in n.subnets] for n in existing}
            # the default network's subnet is taken even before its first use
            used.setdefault(DEFAULT_NETWORK, [ipaddress.ip_network(DEFAULT_SUBNET)])
            for sub in nets:
                check_free(sub, used, host)
            if not nets:
                pick = [*(s for v in used.values() for s in v), *host,
                        *podman_subnets(self.podman_dirs)]
                nets = [free_subnet(pick)]
            subnet_list = []
            for i, sub in enumerate(nets):
                gw: str | None = None
                if i < len(gateways) and gateways[i]:
                    gw = str(check_gateway(sub, gateways[i]))
                elif with_gateway:
                    gw = str(default_gateway(sub))
                subnet_list.append({"subnet": str(sub), **({"gateway": gw} if gw else {})})
            taken_ifaces = {n.interface for n in existing} | {DEFAULT_INTERFACE}
            if name is None or interface is None:
                free = _free_device(taken_ifaces, {n.name for n in existing})
                name = name or free
                interface = interface or free
            elif interface in taken_ifaces:
                raise InvalidNetwork(f"bridge name {interface} already in use")
            rec = NetworkRecord(
                id=_new_id({n.id for n in existing}), name=name, driver=driver,
                interface=interface, created_at=time.time(),
                config=NetworkConfig(subnets=subnet_list, ipv6_enabled=ipv6, internal=internal,
                                     dns_enabled=dns, labels=dict(labels or {}), options=opts,
                                     ipam_options={"driver": "host-local"}))
            if not self.store.add_network(rec):
                raise NetworkExists(name)
        return Network.from_record(rec)

    def ensure_default(self) -> Network:
        """The default network, created on first use (never validated against used
        subnets, as podman's: it must always be creatable)."""
        rec = self.store.network(DEFAULT_NETWORK)
        if rec is None:
            cand = NetworkRecord(
                id=DEFAULT_NETWORK_ID, name=DEFAULT_NETWORK, driver="bridge",
                interface=DEFAULT_INTERFACE, created_at=time.time(),
                config=NetworkConfig(
                    subnets=[{"subnet": DEFAULT_SUBNET, "gateway": str(
                        default_gateway(ipaddress.ip_network(DEFAULT_SUBNET)))}],
                    dns_enabled=False, ipam_options={"driver": "host-local"}))
            self.store.add_network(cand)  # False: another process made it meanwhile
            rec = self.store.network(DEFAULT_NETWORK)
            if rec is None:  # pragma: no cover - a name clash with a user network
                raise InvalidNetwork(f"cannot create the default network {DEFAULT_NETWORK}")
        return Network.from_record(rec)

    # -- read ------------------------------------------------------------------------
    def get(self, ref: str) -> Network:
        """By name, ID or unique ID prefix; the default network is made on first use."""
        if ref == DEFAULT_NETWORK:
            return self.ensure_default()
        try:
            rec = self.store.network(ref)
        except AmbiguousRef:
            raise InvalidNetwork(f"more than one result for network ID {ref}: give more "
                                 "characters of the ID") from None
        if rec is None:
            raise NoSuchNetwork(ref)
        return Network.from_record(rec)

    def exists(self, ref: str) -> bool:
        try:
            self.get(ref)
        except (NoSuchNetwork, InvalidNetwork):
            return False
        return True

    def list(self, filters: Mapping[str, Sequence[str]] | None = None) -> builtins.list[Network]:
        """``network ls``: every network by name (the default one included, made on first
        use), keeping those that match all ``filters``: name and id (regular expressions, any
        value), driver, label / label! (``key`` or ``key=value``, all values), until
        (a time or a duration ago), dangling (true: no container connected)."""
        self.ensure_default()
        preds = _filters(filters or {}, self.store)
        nets = sorted((Network.from_record(r) for r in self.store.networks()),
                      key=lambda n: n.name)
        return [n for n in nets if all(p(n) for p in preds)]

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.get(ref).inspect()

    def containers_using(self, ref: str) -> builtins.list[str]:
        """IDs of the containers connected to a network, oldest connection first."""
        net = self.get(ref)
        return [a.container_id for a in self.store.attachments(network_id=net.id)]

    # -- remove ----------------------------------------------------------------------
    def remove(self, ref: str, force: bool = False) -> tuple[Network, builtins.list[str]]:
        """``network rm``: the network and the IDs of the containers that were connected.

        In use: NetworkInUse (exit 2) unless ``force``. podman's ``-f`` removes those
        containers: the engine does that first (``containers_using``), then calls this
        with ``force=True``, which drops whatever connections are left.
        """
        net = self.get(ref)
        if net.is_default:
            raise InvalidNetwork(f"default network {net.name} cannot be removed")
        users = [a.container_id for a in self.store.attachments(network_id=net.id)]
        if users and not force:
            raise NetworkInUse(net.name, users)
        return net, self.store.delete_network(net.id)

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> builtins.list[str]:
        """``network prune``: remove networks no container is connected to (never the
        default network), among those matching ``filters`` (label, label!, until)."""
        bad = set(filters or {}) - {"label", "label!", "until"}
        if bad:
            raise InvalidNetwork(f"invalid filter {sorted(bad)[0]!r}")
        counts = self.store.network_use_counts()
        removed = []
        for net in self.list(filters):
            if net.is_default or counts.get(net.id):
                continue
            with self.store.transaction():
                if self.store.attachments(network_id=net.id):
                    continue  # connected meanwhile
                self.store.delete_network(net.id)
            removed.append(net.name)
        return removed

    # -- connect / disconnect (bookkeeping) ------------------------------------------
    def connect(self, container_id: str, ref: str, *, aliases: Iterable[str] = (),
                static_ip: str | None = None, static_mac: str | None = None,
                interface: str | None = None) -> Attachment:
        """Record that a container uses a network (``--network NAME`` at create, or
        ``network connect``). The interface in the container is eth0, eth1 ... in
        connection order unless given. Nothing is set up here (see driver.py)."""
        net = self.get(ref)
        aliases = tuple(dict.fromkeys(a for a in aliases if a))
        if aliases and not net.dns_enabled:
            raise InvalidNetwork(f"cannot set network aliases for network {net.name!r} "
                                 "because dns is disabled")
        ip = ""
        if static_ip:
            ip = _check_static_ip(net, static_ip)
        mac = ""
        if static_mac:
            if not _MAC_RE.match(static_mac):
                raise InvalidNetwork(f"invalid MAC address {static_mac!r}")
            mac = static_mac.lower()
        with self.store.transaction():
            mine = self.store.attachments(container_id=container_id)
            if any(a.network_id == net.id for a in mine):
                raise InvalidNetwork(
                    f"container {container_id} is already connected to network "
                    f"{net.name!r}: network is already connected")
            if ip:
                for other in self.store.attachments(network_id=net.id):
                    if ip in (other.static_ip, other.ip):
                        raise AddressInUse(f"requested ip address {ip} is already allocated "
                                           f"to container ID {other.container_id}")
            names = {a.interface for a in mine}
            if interface is None:
                interface = next(f"eth{i}" for i in range(len(names) + 1)
                                 if f"eth{i}" not in names)
            elif not _IFNAME_RE.match(interface) or interface in names:
                raise InvalidNetwork(f"interface name {interface!r} is invalid or already "
                                     "used in this container")
            rec = AttachmentRecord(container_id=container_id, network_id=net.id,
                                   interface=interface, created_at=time.time(),
                                   aliases=list(aliases), static_ip=ip, static_mac=mac)
            self.store.add_attachment(rec)
        return _attachment(rec, net.name)

    def disconnect(self, container_id: str, ref: str) -> None:
        """Forget one connection (the engine tears it down first if it is set up)."""
        net = self.get(ref)
        if not self.store.delete_attachments(container_id, net.id):
            raise InvalidNetwork(f"container {container_id} is not connected to network "
                                 f"{net.name}")

    def disconnect_all(self, container_id: str) -> int:
        """Forget every connection of a container (its removal); how many there were."""
        return self.store.delete_attachments(container_id)

    def attachments(self, container_id: str) -> builtins.list[Attachment]:
        """A container's connections in order (eth0 first), with their leases."""
        names = {r.id: r.name for r in self.store.networks()}
        return [_attachment(a, names.get(a.network_id, a.network_id))
                for a in self.store.attachments(container_id=container_id)]


# -- helpers ---------------------------------------------------------------------------


def _attachment(a: AttachmentRecord, name: str) -> Attachment:
    return Attachment(a.container_id, name, a.network_id, a.interface, tuple(a.aliases),
                      a.static_ip, a.static_mac, a.ip or "", a.mac)


def _new_id(taken: set[str]) -> str:
    while True:
        nid = secrets.token_hex(32)
        if nid not in taken and nid != DEFAULT_NETWORK_ID:
            return nid


def _free_device(ifaces: set[str], names: set[str]) -> str:
    for i in range(1, 100000):
        cand = f"{INTERFACE_PREFIX}{i}"
        if cand not in ifaces and cand not in names:
            return cand
    raise InvalidNetwork("could not find free device name, to many iterations")


def _check_options(options: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for key, value in options.items():
        if key == "mtu":
            try:
                if int(value) < 0:
                    raise ValueError
            except ValueError:
                raise InvalidNetwork(f"mtu {value} is not a number >= 0") from None
            out[key] = str(int(value))
        elif key == "isolate":
            low = str(value).lower()
            if low not in ("true", "false", "1", "0"):
                raise InvalidNetwork(f"isolate {value!r} is not true or false")
            out[key] = "true" if low in ("true", "1") else "false"
        else:
            raise InvalidNetwork(f"unsupported bridge network option {key} (supported: "
                                 f"{', '.join(BRIDGE_OPTIONS)})")
    return out


def _check_static_ip(net: Network, text: str) -> str:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        raise InvalidNetwork(f"{text!r} is not an IP address") from None
    for s in net.subnets:
        n = s.network
        if ip.version == n.version and ip in n:
            if ip == n.network_address or (n.version == 4 and ip == n.broadcast_address) \
                    or (s.gateway and ip == ipaddress.ip_address(s.gateway)):
                raise InvalidNetwork(f"requested static ip {ip} is the network, broadcast or "
                                     f"gateway address of network {net.name}")
            return str(ip)
    raise InvalidNetwork(f"requested static ip {ip} not in any subnet on network {net.name}")


def _label_match(want: Sequence[str], labels: Mapping[str, str]) -> bool:
    for item in want:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def _regex_any(values: Sequence[str], text: str) -> bool:
    for v in values:
        try:
            if v == text or re.search(v, text):
                return True
        except re.error:
            if v == text:
                return True
    return False


def parse_until(values: Sequence[str]) -> float:
    """podman's ``until``: a Unix time, an RFC 3339 time or a duration ago (``10m``)."""
    text = values[-1].strip() if values else ""
    try:
        return float(text)
    except ValueError:
        pass
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if text and m and any(m.groups()):
        h, mi, s = (int(g or 0) for g in m.groups())
        return time.time() - (h * 3600 + mi * 60 + s)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidNetwork(f"invalid until filter {text!r}: give a time or a duration "
                             "such as 10m") from None
    return dt.timestamp()  # a time without a zone is local time


def _filters(filters: Mapping[str, Sequence[str]], store: StateStore) -> list[Any]:
    preds: list[Any] = []
    for key, raw in filters.items():
        values = [raw] if isinstance(raw, str) else list(raw)
        k = key.lower()
        if k == "name":
            preds.append(lambda n, v=values: _regex_any(v, n.name))
        elif k == "id":
            preds.append(lambda n, v=values: _regex_any(v, n.id))
        elif k == "driver":
            preds.append(lambda n, v=values: n.driver in v)
        elif k == "label":
            preds.append(lambda n, v=values: _label_match(v, n.labels))
        elif k == "label!":
            preds.append(lambda n, v=values: not _label_match(v, n.labels))
        elif k == "until":
            ts = parse_until(values)
            preds.append(lambda n, t=ts: n.created < t)
        elif k == "dangling":
            want = values[-1].lower() in ("true", "1") if values else True
            used = set(store.network_use_counts())
            preds.append(lambda n, w=want, u=used: (n.id not in u) == w)
        else:
            raise InvalidNetwork(f"invalid filter {key!r}")
    return preds
