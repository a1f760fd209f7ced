"""Containers' networking, as podman does it for root: the engine side of the network
driver (ipy_oci/network/).

- grammar: ``network_flags`` checks the ``run``/``create`` networking flags (modes
  that conflict, malformed ``-p``/``--expose``/``--dns``/``--add-host``) before
  anything is made;
- create: ``prepare_create`` (networks exist, ports resolved, ``container:`` target
  found) before the record is added, ``connect_created`` after (undone on failure);
- init: ``setup_for_init`` (the spec's network mode and the texts of /etc/hosts and
  /etc/resolv.conf); every way out of a running or half-made container calls
  ``teardown`` (cleanup, init rollback), removal ``forget``, ``system reap``
  ``recover``;
- views: ``network_settings`` (inspect), ``ps_ports``/``ps_ports_text`` (ps);
- commands: ``network create/ls/inspect/rm/prune/connect/disconnect`` and ``port``.

Network modes in ``ContainerConfig.network``: "bridge" (connected to
``config.networks``, the default network when empty), "none", "host",
"container:<full id>" (the other container's netns), "ns:<path>".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidState, UsageError
from .events import emit

if TYPE_CHECKING:
    from ..network import Network, PortMapping
    from ..state.records import ContainerConfig
    from .container import Container
    from .runtime import Runtime

BRIDGE = "bridge"
# A netns of its own with slirp4netns: the rootless default (root may choose it).
SLIRP = "slirp4netns"
_MODES = ("none", "host")
_UNSUPPORTED = ("pasta",)
NO_ROOTLESS_BRIDGE = ("rootless bridge networks are not supported: netavark needs root "
                      "on the host (use the default slirp4netns network, host or none)")


# -- the grammar's checks --------------------------------------------------------------------


@dataclass
class NetworkFlags:
    network: str
    networks: list[str]
    ports: list[dict[str, Any]]
    expose: list[str]


def parse_network_mode(values: Sequence[str]) -> tuple[str, list[str]]:
    """``--network`` values (repeatable, ``NAME[,NAME]``) as (mode, network names)."""
    modes: list[str] = []
    names: list[str] = []
    for value in values:
        if value.startswith(("container:", "ns:")) or value in (*_MODES, *_UNSUPPORTED, SLIRP):
            modes.append(value)
            continue
        for name in value.split(","):
            name = name.strip()
            if not name:
                raise UsageError(f"invalid --network value {value!r}: empty network name")
            if name in (*_MODES, *_UNSUPPORTED, SLIRP) or \
                    name.startswith(("container:", "ns:")):
                modes.append(name)  # a mode inside a list: refused as a conflict below
                continue
            if name in (BRIDGE, "private", "default"):
                from ..network import DEFAULT_NETWORK

                name = DEFAULT_NETWORK
            if name in names:
                raise UsageError(f"--network {name} given more than once")
            names.append(name)
    if len(modes) > 1 or (modes and names):
        given = ", ".join([*modes, *names])
        raise UsageError(f"conflicting --network values ({given}): none, host, container:ID "
                         "and ns:PATH cannot be combined with each other or with networks")
    if not modes:
        return BRIDGE, names
    mode = modes[0]
    if mode in _UNSUPPORTED:
        raise UsageError(f"--network {mode} is not supported: use bridge, slirp4netns, "
                         "none, host, container:ID, ns:PATH or a network name")
    if mode.startswith("container:") and not mode[len("container:"):]:
        raise UsageError("--network container: needs a container name or ID")
    if mode.startswith("ns:") and not mode[3:].startswith("/"):
        raise UsageError(f"--network {mode}: ns: needs an absolute path to a network "
                         "namespace")
    return mode, []


def network_flags(args: Any) -> NetworkFlags:
    """The networking flags of ``run``/``create`` checked (UsageError, exit 125)."""
    from ..network import ports as netports
    from ..network.errors import InvalidNetwork
    from ..network.etc_files import parse_add_host

    mode, names = parse_network_mode(args.network)
    mode = _rootless_mode(mode, names)
    bridge = mode in (BRIDGE, SLIRP)
    publish = list(args.publish)
    if publish and (mode in ("host", "none") or mode.startswith("container:")):
        # podman goes on without them (once they parse), with this warning (its
        # exact words).
        import sys

        netports.parse_publishes(publish)
        sys.stderr.write("Port mappings have been discarded as one of the Host, Container, "
                         "Pod, and None network modes are in use\n")
        publish = []
    if not bridge:
        used = [f for f, v in (("-p/--publish", publish), ("-P/--publish-all",
                                                                args.publish_all),
                               ("--ip", args.ip), ("--mac-address", args.mac_address),
                               ("--network-alias", args.network_alias)) if v]
        if mode.startswith(("container:", "ns:")):
            used += [f for f, v in (("--dns", args.dns), ("--dns-search", args.dns_search),
                                    ("--dns-option", args.dns_option),
                                    ("--add-host", args.add_host)) if v]
        if used:
            raise UsageError(f"conflicting options: {', '.join(used)} cannot be used with "
                             f"--network {mode} (they need bridge networking)")
    if args.ip and len(names) > 1:
        raise UsageError("--ip can only be used with a single network")
    if args.mac_address and len(names) > 1:
        raise UsageError("--mac-address can only be used with a single network")
    if args.no_hosts and args.add_host:
        raise UsageError("conflicting options: --no-hosts and --add-host cannot be set "
                         "together")
    if args.ip:
        try:
            if ipaddress.ip_address(args.ip).version != 4:
                raise ValueError
        except ValueError:
            raise UsageError(f"invalid --ip {args.ip!r}: give an IPv4 address") from None
    for server in args.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise UsageError(f"invalid --dns {server!r}: give an IP address") from None
    for host in args.add_host:
        try:
            parse_add_host(host)
        except InvalidNetwork as exc:
            raise UsageError(str(exc)) from None
    mappings = netports.parse_publishes(publish)
    exposed = netports.parse_expose(args.expose)
    return NetworkFlags(mode, names, [m.to_json() for m in mappings],
                        [f"{p}/{proto}" for p, protos in exposed.items() for proto in protos])


def _rootless_mode(mode: str, names: Sequence[str]) -> str:
    """A normal user's default network is slirp4netns; bridge networks need root."""
    from ..config import is_rootless

    if mode != BRIDGE or not is_rootless():
        return mode
    if names:
        raise UsageError(f"--network {','.join(names)}: {NO_ROOTLESS_BRIDGE}")
    return SLIRP


# -- create ---------------------------------------------------------------------------------


def prepare_create(rt: Runtime, config: ContainerConfig,
                   image_config: Mapping[str, Any]) -> None:
    """Before the record is added: the networks exist, the ports are resolved (free
    host ports picked, ``-P`` publishes the exposed ones), a ``container:`` target is
    found (and named by its full ID)."""
    mode = config.network = _rootless_mode(config.network, config.networks)
    if mode.startswith("container:"):
        target = rt.lookup_container(mode[len("container:"):])
        config.network = f"container:{target.id}"
        return
    if mode not in (BRIDGE, SLIRP):
        return
    from ..network import DEFAULT_NETWORK
    from ..network import ports as netports

    if mode == BRIDGE:
        nets = rt.network.networks
        config.networks = [nets.get(n).name for n in (config.networks or [DEFAULT_NETWORK])]
    exposed = netports.parse_expose([*(image_config.get("ExposedPorts") or {}),
                                     *config.expose])
    config.expose = [f"{p}/{proto}" for p, protos in exposed.items() for proto in protos]
    mappings = [netports.PortMapping.from_json(p) for p in config.ports]
    resolved = netports.resolve(mappings, exposed, config.publish_all)
    config.ports = [m.to_json() for m in resolved]
    if mode == SLIRP:
        from ..config import is_rootless
        from ..network.slirp import check_unprivileged_port

        for m in resolved:
            check_unprivileged_port(m.host_port, rootless=is_rootless())


def connect_created(rt: Runtime, ctr_id: str, config: ContainerConfig) -> None:
    """After the record is added: its connections (undone if one fails)."""
    if config.network != BRIDGE:
        return
    nets = rt.network.networks
    try:
        for name in config.networks:
            nets.connect(ctr_id, name, aliases=config.network_aliases,
                         static_ip=config.static_ip or None,
                         static_mac=config.static_mac or None)
    except BaseException:
        nets.disconnect_all(ctr_id)
        raise


# -- lifecycle -------------------------------------------------------------------------------


def _mappings(config: ContainerConfig) -> list[PortMapping]:
    from ..network import PortMapping

    return [PortMapping.from_json(p) for p in config.ports]


def _etc_texts_plain(ctr: Container, hostname: str) -> dict[str, str]:
    """/etc/hosts and resolv.conf of a none/host container with --add-host or --dns*."""
    from ..network import etc_files

    cfg = ctr.record.config
    out: dict[str, str] = {}
    if cfg.add_hosts:
        base = etc_files._read("/etc/hosts") if cfg.network == "host" else ""
        out["/etc/hosts"] = etc_files.hosts_text(hostname=hostname, add_hosts=cfg.add_hosts,
                                                 base=base)
    if cfg.dns_servers or cfg.dns_search or cfg.dns_options:
        out["/etc/resolv.conf"] = etc_files.resolv_conf_text(
            dns_servers=cfg.dns_servers, dns_search=cfg.dns_search,
            dns_options=cfg.dns_options)
    return out


def setup_for_init(ctr: Container, hostname: str) -> tuple[str, dict[str, str]]:
    """Called by init after its intent is written: the network set up. Returns the
    spec's network mode and the texts of /etc/hosts and /etc/resolv.conf to write
    (container path -> text; missing ones keep spec_builder's defaults)."""
    cfg = ctr.record.config
    mode = cfg.network
    if mode in _MODES:
        return mode, _etc_texts_plain(ctr, hostname)
    if mode.startswith("ns:"):
        return mode, {}
    if mode.startswith("container:"):
        return _shared_netns(ctr, mode[len("container:"):])
    if mode == SLIRP:
        return _slirp_for_init(ctr, hostname)
    if mode != BRIDGE:
        raise UsageError(f"unsupported network mode {mode!r}")
    _ensure_connected(ctr)
    s = ctr.runtime.network.setup(ctr.id, ctr.name, ports=_mappings(cfg),
                                  dns_servers=cfg.dns_servers)
    texts = {"/etc/resolv.conf": s.resolv_conf_text(
        dns_servers=cfg.dns_servers, dns_search=cfg.dns_search, dns_options=cfg.dns_options)}
    if not cfg.no_hosts:
        aliases = [a for names in s.aliases.values() for a in names if a != ctr.id[:12]]
        text = s.hosts_text(hostname=hostname, container_name=ctr.name,
                            add_hosts=cfg.add_hosts)
        if aliases and s.ip:
            text += f"{s.ip}\t{' '.join(dict.fromkeys(aliases))}\n"
        texts["/etc/hosts"] = text
    return s.spec_network, texts


def _slirp_for_init(ctr: Container, hostname: str) -> tuple[str, dict[str, str]]:
    from ..network import etc_files
    from ..network import rootless as slirp_net

    cfg = ctr.record.config
    netns = slirp_net.setup(ctr.runtime.network, ctr.id, _mappings(cfg))
    texts = {"/etc/resolv.conf": etc_files.resolv_conf_text(
        network_dns=slirp_net.resolv_servers(), dns_servers=cfg.dns_servers,
        dns_search=cfg.dns_search, dns_options=cfg.dns_options)}
    if not cfg.no_hosts:
        texts["/etc/hosts"] = etc_files.hosts_text(
            hostname=hostname, container_name=ctr.name, ips=[slirp_net.GUEST_IP],
            add_hosts=cfg.add_hosts, host_internal_ip=slirp_net.hosts_internal_ip())
    return f"ns:{netns}", texts


def _ensure_connected(ctr: Container) -> None:
    """A ``create`` killed between adding the record and connecting it left the
    container with fewer connections than its config names: make them now."""
    cfg = ctr.record.config
    nets = ctr.runtime.network.networks
    have = {a.network for a in nets.attachments(ctr.id)}
    for name in cfg.networks:
        if name not in have:
            nets.connect(ctr.id, name, aliases=cfg.network_aliases,
                         static_ip=cfg.static_ip or None, static_mac=cfg.static_mac or None)


def _shared_netns(ctr: Container, target_id: str) -> tuple[str, dict[str, str]]:
    from ..errors import NoSuchContainer
    from ..state.procs import is_alive
    from ..state.records import State

    rt = ctr.runtime
    try:
        target = rt.lookup_container(target_id)
    except NoSuchContainer:
        raise InvalidState(f"the container whose network namespace {ctr.name} shares "
                           f"({target_id[:12]}) no longer exists") from None
    target.refresh()
    rec = target.record
    if rec.state not in State.ACTIVE or not is_alive(rec.pid, rec.pid_start):
        raise InvalidState(f"cannot share the network namespace of container {rec.name}: "
                           "it is not running (start it first)")
    texts: dict[str, str] = {}
    for dest, name in (("/etc/hosts", "hosts"), ("/etc/resolv.conf", "resolv.conf")):
        try:
            texts[dest] = (target.dir / name).read_text()
        except OSError:
            pass
    netns = rt.network.status(target.id) if rec.config.network == BRIDGE else None
    if netns is not None and netns.netns.exists():
        return netns.spec_network, texts
    return f"ns:/proc/{rec.pid}/ns/net", texts


def _may_be_set_up(ctr: Container) -> bool:
    if ctr.record.config.network in (BRIDGE, SLIRP):
        return True
    return (ctr.runtime.runroot / "networks" / "containers" / f"{ctr.id}.json").exists()


def teardown(ctr: Container) -> None:
    """Cleanup (stop, exit) and init rollback: the network goes; never raises for
    netavark's errors (they are printed as warnings)."""
    if _may_be_set_up(ctr):
        _warn(ctr.runtime.network.teardown(ctr.id))


def forget(ctr: Container) -> None:
    """Removal: teardown, then the container's connections go."""
    if _may_be_set_up(ctr) or ctr.record.config.networks:
        _warn(ctr.runtime.network.forget(ctr.id))


def _warn(warnings: Sequence[str]) -> None:
    import sys

    for w in warnings:
        sys.stderr.write(f"Warning: network teardown: {w}\n")


def recover(rt: Runtime, keep: set[str]) -> list[str]:
    """``system reap``: networks set up for containers that are not live go."""
    if not any((rt.runroot / d).exists() for d in ("networks", "netns")):
        return []
    return rt.network.recover(keep)


# -- views ----------------------------------------------------------------------------------


def network_settings(ctr: Container) -> dict[str, Any]:
    """podman's ``NetworkSettings`` of a container."""
    from ..network.inspect import network_settings as settings
    from ..network.ports import parse_expose

    cfg = ctr.record.config
    exposed = parse_expose(cfg.expose)
    if cfg.network == SLIRP:
        from ..network.netns import netns_path

        return settings([], None, str(netns_path(ctr.runtime.runroot, ctr.id)),
                        _mappings(cfg), exposed)
    if cfg.network != BRIDGE:
        return settings([], None, "", (), exposed)
    driver = ctr.runtime.network
    s = driver.status(ctr.id)
    return settings(driver.networks.attachments(ctr.id),
                    s.status if s else None, str(s.netns) if s else "",
                    _mappings(cfg), exposed, s.aliases if s else None)


def ps_ports(config: ContainerConfig) -> list[dict[str, Any]]:
    """``ps --format json``'s Ports (podman's shape)."""
    return [{"host_ip": p.get("host_ip", ""), "container_port": p["container_port"],
             "host_port": p.get("host_port", 0), "range": p.get("range", 1),
             "protocol": p.get("protocol", "tcp")} for p in config.ports]


def ps_ports_text(config: ContainerConfig) -> str:
    """The PORTS column: ``0.0.0.0:8080->80/tcp, 127.0.0.1:8081-8082->81-82/tcp``."""
    out = []
    for p in config.ports:
        ip = p.get("host_ip") or "0.0.0.0"
        n = int(p.get("range", 1))
        hp, cp = int(p["host_port"]), int(p["container_port"])
        host = f"{hp}" if n == 1 else f"{hp}-{hp + n - 1}"
        ctr = f"{cp}" if n == 1 else f"{cp}-{cp + n - 1}"
        out.append(f"{ip}:{host}->{ctr}/{p.get('protocol', 'tcp')}")
    return ", ".join(out)


def port_lines(ctr: Container, port: str | None = None) -> list[str]:
    """``port CONTAINER [PRIVATE_PORT[/PROTO]]``: podman's lines."""
    from ..network.ports import port_lines as lines

    return lines(_mappings(ctr.record.config), port)


# -- network commands ------------------------------------------------------------------------


def parse_filters(values: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"invalid filter {item!r}: use KEY=VALUE")
        out.setdefault(key, []).append(value)
    return out


def create_network(rt: Runtime, name: str | None, *, driver: str = "bridge",
                   subnets: Sequence[str] = (), gateways: Sequence[str] = (),
                   internal: bool = False, dns: bool = True,
                   labels: Mapping[str, str] | None = None,
                   options: Mapping[str, str] | None = None,
                   interface: str | None = None, ignore: bool = False) -> Network:
    from ..config import is_rootless

    if is_rootless():
        raise UsageError(f"network create: {NO_ROOTLESS_BRIDGE}")
    net = rt.network.networks.create(name, driver=driver, subnets=subnets,
                                     gateways=gateways, internal=internal, dns=dns,
                                     labels=labels, options=options, interface=interface,
                                     ignore=ignore)
    emit(rt, "network", "create", id=net.id, name=net.name, network=net.name)
    return net


def list_networks(rt: Runtime, filters: Mapping[str, Sequence[str]] | None = None
                  ) -> list[Network]:
    return rt.network.networks.list(filters)


def inspect_network(rt: Runtime, ref: str) -> dict[str, Any]:
    """podman's ``network inspect`` JSON, with the containers connected to it."""
    nets = rt.network.networks
    out = nets.inspect(ref)
    out["containers"] = {}
    for cid in nets.containers_using(ref):
        rec = rt.state.container(cid)
        out["containers"][cid] = {"name": rec.name if rec else ""}
    if not out["containers"]:
        del out["containers"]
    return out


def network_exists(rt: Runtime, ref: str) -> bool:
    return rt.network.networks.exists(ref)


def remove_network(rt: Runtime, ref: str, force: bool = False,
                   timeout: float | None = None) -> str:
    """``network rm``: NetworkInUse (exit 2) when used, unless ``force``, which removes
    the containers using it first (as podman does). The network's name."""
    from ..errors import NoSuchContainer

    nets = rt.network.networks
    net = nets.get(ref)
    if force:
        for cid in nets.containers_using(net.id):
            try:
                rt.lookup_container(cid).remove(force=True, timeout=timeout)
            except NoSuchContainer:
                pass
    removed, _ = nets.remove(net.id, force=force)
    emit(rt, "network", "remove", id=removed.id, name=removed.name, network=removed.name)
    return removed.name


def prune_networks(rt: Runtime, filters: Mapping[str, Sequence[str]] | None = None
                   ) -> list[str]:
    pruned = rt.network.networks.prune(filters)
    for name in pruned:
        emit(rt, "network", "remove", name=name, network=name)
    return pruned


def connect(rt: Runtime, ctr_ref: str, net_ref: str, *, aliases: Sequence[str] = (),
            static_ip: str | None = None, static_mac: str | None = None) -> None:
    """``network connect``: bookkeeping; the connection is set up at the next start."""
    ctr = rt.lookup_container(ctr_ref)
    cfg = ctr.record.config
    if cfg.network != BRIDGE:
        raise UsageError(f"container {ctr.name} uses --network {cfg.network}: only "
                         "containers on bridge networks can be connected to networks")
    net = rt.network.networks.connect(ctr.id, net_ref, aliases=aliases,
                                      static_ip=static_ip, static_mac=static_mac)
    emit(rt, "network", "connect", id=ctr.id, name=ctr.name, network=net.network)
    with ctr.lock.held():
        ctr._reload()
        cfg = ctr.record.config
        if net.network not in cfg.networks:
            cfg.networks = [*cfg.networks, net.network]
            ctr._save(config=cfg)


def disconnect(rt: Runtime, ctr_ref: str, net_ref: str) -> None:
    """``network disconnect``: bookkeeping; takes effect at the next start."""
    ctr = rt.lookup_container(ctr_ref)
    net = rt.network.networks.get(net_ref)
    rt.network.networks.disconnect(ctr.id, net.id)
    emit(rt, "network", "disconnect", id=ctr.id, name=ctr.name, network=net.name)
    with ctr.lock.held():
        ctr._reload()
        cfg = ctr.record.config
        if net.name in cfg.networks:
            cfg.networks = [n for n in cfg.networks if n != net.name]
            ctr._save(config=cfg)


def netns_path(rt: Runtime, ctr_id: str) -> Path | None:
    s = rt.network.status(ctr_id)
    return s.netns if s else None
