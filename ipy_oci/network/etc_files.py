"""The text of a networked container's /etc/hosts and /etc/resolv.conf (podman's rules).

/etc/hosts, in podman's order: ``--add-host`` entries, the base file's entries (if
any), localhost, ``host.containers.internal`` (the host's address the container
reaches: its bridge network's gateway), then the container's own addresses with its
hostname and name (and network aliases). A name already listed is not listed again.

/etc/resolv.conf: ``--dns`` servers win over everything; without them the networks'
DNS servers (aardvark-dns on DNS-enabled networks) come first, then the host's (minus
loopback resolvers the container cannot reach; Google's public servers when none is
left). Search domains: ``--dns-search`` or the networks' (``dns.podman``), then the
host's; ``--dns-search .`` means none. Options: ``--dns-option`` then the host's.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable, Mapping, Sequence

from .errors import InvalidNetwork
from .status import StatusBlock

HOST_CONTAINERS_INTERNAL = "host.containers.internal"
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")
FALLBACK_DNS6 = ("2001:4860:4860::8888", "2001:4860:4860::8844")
LOCALHOST = (("127.0.0.1", "localhost localhost.localdomain"),
             ("::1", "localhost localhost.localdomain ip6-localhost ip6-loopback"))


def parse_add_host(spec: str) -> tuple[str, str]:
    """``--add-host NAME:IP`` (IPv6 addresses keep their colons) as (name, ip)."""
    name, sep, ip = spec.partition(":")
    if not sep or not name or not ip:
        raise InvalidNetwork(f'invalid value "{spec}" for --add-host: the format is '
                             "HOSTNAME:IP")
    try:
        ip = str(ipaddress.ip_address(ip.strip("[]")))
    except ValueError:
        raise InvalidNetwork(f'invalid IP address in add-host: "{ip}" (--add-host '
                             f"{spec})") from None
    return name, ip


def host_containers_internal_ip(status: Mapping[str, StatusBlock],
                                bridges: Iterable[str] | None = None) -> str:
    """The address ``host.containers.internal`` names: the first IPv4 gateway of the
    container's bridge networks (``bridges``: their names; None: all), an IPv6 one
    failing that, else the host's main address."""
    want = set(bridges) if bridges is not None else None
    v6 = ""
    for name, block in status.items():
        if want is not None and name not in want:
            continue
        for addr in block.addresses():
            if addr.gateway:
                if ipaddress.ip_address(addr.gateway).version == 4:
                    return addr.gateway
                v6 = v6 or addr.gateway
    return v6 or host_address()


def host_address() -> str:
    """The IPv4 address of the interface the default route goes through ("" if none)."""
    try:
        with open("/proc/net/route", encoding="ascii") as fh:
            next(fh, None)
            for line in fh:
                cols = line.split()
                if len(cols) > 7 and cols[1] == "00000000" and cols[7] == "00000000":
                    return _iface_address(cols[0])
    except OSError:
        pass
    return ""


def _iface_address(ifname: str) -> str:
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            res = fcntl.ioctl(sock.fileno(), siocgifaddr,
                              struct.pack("256s", ifname[:15].encode()))
        except OSError:
            return ""
    return socket.inet_ntoa(res[20:24])


def _parse_hosts(text: str) -> list[tuple[str, list[str]]]:
    out = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            out.append((words[0], words[1:]))
    return out


def hosts_text(*, hostname: str, container_name: str = "",
               ips: Sequence[str] = (), aliases: Sequence[str] = (),
               add_hosts: Sequence[str] = (), host_internal_ip: str = "",
               base: str = "") -> str:
    """The container's /etc/hosts. ``ips``: its addresses (each line gets the hostname,
    the name and ``aliases``); ``add_hosts``: ``--add-host`` values; ``base``: entries
    to copy (e.g. the image's /etc/hosts), none by default."""
    entries: list[tuple[str, list[str]]] = [
        (ip, [name]) for name, ip in (parse_add_host(h) for h in add_hosts)]
    entries += _parse_hosts(base)
    seen = {n for _, names in entries for n in names}
    special: list[tuple[str, list[str]]] = [(ip, names.split()) for ip, names in LOCALHOST]
    if host_internal_ip:
        special.append((host_internal_ip, [HOST_CONTAINERS_INTERNAL]))
    own = list(dict.fromkeys(n for n in (hostname, container_name, *aliases) if n))
    special += [(ip, own) for ip in ips if own]
    if not ips and hostname:
        special.append(("127.0.0.1", [hostname]))
    given = set(seen)
    for ip, names in special:
        fresh = [n for n in names if n not in seen]
        if ip in ("127.0.0.1", "::1") and names[0] == "localhost":
            if "localhost" in given:
                continue  # the base file or --add-host has its own
            fresh = names
        if fresh:
            entries.append((ip, fresh))
            seen.update(fresh)
    return "".join(f"{ip}\t{' '.join(names)}\n" for ip, names in entries)


def _lines(text: str) -> list[list[str]]:
    return [ln.split("#", 1)[0].split(";", 1)[0].split() for ln in text.splitlines()]


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def host_resolv_conf(path: str = "/etc/resolv.conf") -> str:
    """The host's resolv.conf as a container with its own netns should see it: with a
    local stub resolver (systemd-resolved's 127.0.0.53, NetworkManager's 127.0.0.1)
    as the only server, the file listing the real upstream servers."""
    text = _read(path)
    servers = [w[1] for w in _lines(text) if len(w) > 1 and w[0] == "nameserver"]
    if len(servers) == 1:
        real = {"127.0.0.53": "/run/systemd/resolve/resolv.conf",
                "127.0.0.1": "/run/NetworkManager/no-stub-resolv.conf"}.get(servers[0])
        if real:
            text = _read(real) or text
    return text


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def resolv_conf_text(*, network_dns: Sequence[str] = (), network_search: Sequence[str] = (),
                     dns_servers: Sequence[str] = (), dns_search: Sequence[str] = (),
                     dns_options: Sequence[str] = (), ipv6: bool = False,
                     host_text: str | None = None) -> str:
    """The container's /etc/resolv.conf. ``network_dns``/``network_search``: from the
    network status (``dns_server_ips``, ``dns_search_domains``); ``dns_*``: the
    ``--dns``, ``--dns-search``, ``--dns-option`` values; ``host_text``: the host's
    file (default: ``host_resolv_conf()``)."""
    host = _lines(host_resolv_conf() if host_text is None else host_text)
    host_ns = [w[1] for w in host if len(w) > 1 and w[0] == "nameserver"
               and not _is_loopback(w[1]) and (ipv6 or ":" not in w[1])]
    if not host_ns:
        host_ns = list(FALLBACK_DNS) + (list(FALLBACK_DNS6) if ipv6 else [])
    host_search: list[str] = []
    host_opts: list[str] = []
    for w in host:
        if w[:1] == ["search"]:
            host_search = w[1:]
        elif w[:1] == ["options"]:
            host_opts = w[1:]
    keep_host = not dns_servers
    servers = list(dns_servers) or list(network_dns)
    if not servers or keep_host:
        servers += host_ns
    asked = list(dns_search) or (list(network_search) if keep_host else [])
    search = [] if "." in asked else asked
    if not asked or (keep_host and search):
        search += host_search
    options = list(dns_options)
    if not options or keep_host:
        options += host_opts
    out = ""
    if search:
        out += f"search {' '.join(dict.fromkeys(search))}\n"
    out += "".join(f"nameserver {s}\n" for s in dict.fromkeys(servers))
    if options:
        out += f"options {' '.join(dict.fromkeys(options))}\n"
    return out
