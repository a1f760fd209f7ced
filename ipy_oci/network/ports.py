"""Published ports: ``-p/--publish`` and ``--expose`` values, ``-P`` (every exposed port
on a free host port), the host-port checks, netavark's ``port_mappings`` and podman's
``port`` lines.

``-p`` is ``[[IP:][HOSTPORT]:]CTRPORT[/PROTO]`` with ranges (``8080-8081:80-81``),
IPv6 host addresses in brackets (``[::1]:8080:80``) and protocols tcp, udp, sctp
(comma-separated for several). A missing or empty host port means a free one is picked.
Errors are PortError (exit 125) and name the flag value.
"""

from __future__ import annotations

import builtins
import ipaddress
import random
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from .errors import PortError, PortInUse

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class PortMapping:
    """Host ``host_ip:host_port+i`` -> container ``container_port+i`` for i < ``range``;
    ``host_port`` 0 until ``resolve`` picks one. ``spec`` is the flag value it came from."""

    container_port: int
    host_port: int = 0
    host_ip: str = ""
    protocol: str = "tcp"
    range: int = 1
    spec: str = ""

    def netavark_json(self) -> dict[str, Any]:
        return {"host_ip": self.host_ip, "host_port": self.host_port,
                "container_port": self.container_port, "protocol": self.protocol,
                "range": self.range}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PortMapping:
        return cls(int(data["container_port"]), int(data.get("host_port", 0)),
                   str(data.get("host_ip", "")), str(data.get("protocol", "tcp")),
                   int(data.get("range", 1)), str(data.get("spec", "")))

    def host_ports(self) -> builtins.range:
        return range(self.host_port, self.host_port + self.range)


def _fail(spec: str, flag: str, why: str) -> PortError:
    return PortError(f'invalid value "{spec}" for {flag}: {why}')


def _port(text: str, spec: str, flag: str) -> int:
    if not text.isdigit():
        raise _fail(spec, flag, f'invalid port number "{text}"')
    num = int(text)
    if not 1 <= num <= 65535:
        raise _fail(spec, flag, f"port numbers must be between 1 and 65535 (inclusive), "
                                f"got {num}")
    return num


def _range(text: str, spec: str, flag: str) -> tuple[int, int]:
    """(start, length) of ``80`` or ``80-81``."""
    parts = text.split("-")
    if len(parts) > 2:
        raise _fail(spec, flag, "port ranges are formatted as startPort-stopPort")
    if parts[0] == "":
        raise _fail(spec, flag, "port numbers cannot be negative" if len(parts) > 1
                    else "the container port is missing")
    start = _port(parts[0], spec, flag)
    if len(parts) == 1:
        return start, 1
    if parts[1] == "":
        raise _fail(spec, flag, "must provide ending number for port range")
    end = _port(parts[1], spec, flag)
    if end <= start:
        raise _fail(spec, flag, f"the end port of a range must be higher than the start "
                                f"port - {end} is not higher than {start}")
    return start, end - start + 1


def _protocols(text: str, spec: str, flag: str, sctp: bool = True) -> list[str]:
    out: list[str] = []
    for p in text.split(","):
        p = p.strip().lower() or "tcp"
        if p not in PROTOCOLS or (p == "sctp" and not sctp):
            raise _fail(spec, flag, f'unrecognized protocol "{p}" (use tcp or udp'
                                    f'{", sctp" if sctp else ""})')
        if p not in out:
            out.append(p)
    return out


def parse_publish(spec: str, flag: str = "-p/--publish") -> list[PortMapping]:
    """One ``-p`` value as mappings (one per protocol); the host port is 0 when it is to
    be picked."""
    body, slash, proto = spec.partition("/")
    if "/" in proto:
        raise _fail(spec, flag, "the protocol can only be specified once")
    if slash and not proto:
        raise _fail(spec, flag, "must provide a non-empty protocol to publish")
    protocols = _protocols(proto, spec, flag) if slash else ["tcp"]
    host_ip: str | None = None
    if body.startswith("["):
        end = body.find("]")
        if end < 0:
            raise _fail(spec, flag, "IPv6 addresses must be enclosed by []")
        host_ip = body[1:end]
        rest = body[end + 1:]
        if not rest.startswith(":"):
            raise _fail(spec, flag, "an IPv6 address must be followed by a colon (':')")
        parts = rest[1:].split(":")
        if len(parts) != 2:
            raise _fail(spec, flag, "when an IPv6 address is given, the format is "
                                    "[IPv6]:hostPort:containerPort")
        host_txt: str | None = parts[0]
        ctr_txt = parts[1]
    else:
        parts = body.split(":")
        if len(parts) == 1:
            host_txt, ctr_txt = None, parts[0]
        elif len(parts) == 2:
            host_txt, ctr_txt = parts
        elif len(parts) == 3:
            host_ip, host_txt, ctr_txt = parts
        else:
            raise _fail(spec, flag, "the format is [[hostIP:]hostPort:]containerPort"
                                    "[/protocol]")
    if not ctr_txt:
        raise _fail(spec, flag, "must provide a non-empty container port to publish")
    ctr_start, length = _range(ctr_txt, spec, flag)
    ip = ""
    if host_ip is not None:
        if host_ip == "":
            raise _fail(spec, flag, "must provide a non-empty host IP to publish")
        try:
            ip = str(ipaddress.ip_address(host_ip))
        except ValueError:
            raise _fail(spec, flag, f'cannot parse "{host_ip}" as an IP address') from None
        if ip == "0.0.0.0":
            ip = ""  # all addresses, as podman leaves it
    host_start = 0
    if host_txt:
        host_start, host_len = _range(host_txt, spec, flag)
        if host_len != length:
            raise _fail(spec, flag, f"host and container port ranges have different "
                                    f"lengths: {host_len} vs {length}")
    if ctr_start + length - 1 > 65535 or (host_start and host_start + length - 1 > 65535):
        raise _fail(spec, flag, "the port range exceeds the maximum port number 65535")
    return [PortMapping(ctr_start, host_start, ip, p, length, spec) for p in protocols]


def parse_publishes(specs: Iterable[str], flag: str = "-p/--publish") -> list[PortMapping]:
    return [m for s in specs for m in parse_publish(s, flag)]


def parse_expose(values: Iterable[str], flag: str = "--expose") -> dict[int, list[str]]:
    """``--expose`` values or an image's ExposedPorts keys (``80``, ``80/tcp``,
    ``8000-8001/udp``): container port -> protocols."""
    out: dict[int, list[str]] = {}
    for spec in values:
        body, slash, proto = spec.partition("/")
        if "/" in proto:
            raise _fail(spec, flag, "the protocol can only be specified once")
        protocols = _protocols(proto, spec, flag, sctp=False) if slash else ["tcp"]
        start, length = _range(body, spec, flag)
        for port in range(start, start + length):
            have = out.setdefault(port, [])
            have.extend(p for p in protocols if p not in have)
    return out


def _bind(proto: str, host_ip: str, port: int) -> None:
    """Bind (and close) a socket on the port: OSError if something holds it."""
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    addr = host_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    with socket.socket(family, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr, port))


def free_host_port(proto: str = "tcp", host_ip: str = "", length: int = 1,
                   avoid: Iterable[int] = ()) -> int:
    """A host port (the first of ``length`` in a row) nothing listens on now and not in
    ``avoid``: the kernel's pick for one port, random tries for a range."""
    avoid = set(avoid)
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    for _ in range(64):
        if length == 1:
            with socket.socket(family, kind) as sock:
                sock.bind((host_ip or ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0))
                start = int(sock.getsockname()[1])
        else:
            start = random.randint(32768, 60999 - length)
        ports = range(start, start + length)
        if any(p in avoid for p in ports):
            continue
        try:
            for p in ports:
                if proto != "sctp":
                    _bind(proto, host_ip, p)
        except OSError:
            continue
        return start
    extra = f"with range {length} " if length > 1 else ""
    raise PortInUse(f"failed to find an open port to expose container port {extra}on the host")


def _overlap_ip(a: str, b: str) -> bool:
    return not a or not b or a == b


def resolve(mappings: Sequence[PortMapping],
            exposed: Mapping[int, Sequence[str]] | None = None,
            publish_all: bool = False) -> list[PortMapping]:
    """The final mappings: conflicts refused (one host port for two container ports,
    podman's "conflicting port mappings"), exact duplicates dropped, host port 0 replaced
    by a free port, and with ``publish_all`` (``-P``) every exposed port not yet published
    on a free port."""
    # (host ip, protocol, host port) -> container port
    used: dict[tuple[str, str, int], int] = {}
    ctr_used: set[tuple[str, int]] = set()
    out: list[PortMapping] = []

    def claim(m: PortMapping) -> None:
        for i, hp in enumerate(m.host_ports()):
            for (ip, proto, port), ctr in used.items():
                if port == hp and proto == m.protocol and _overlap_ip(ip, m.host_ip) \
                        and ctr != m.container_port + i:
                    raise _fail(m.spec or str(m.container_port), "-p/--publish",
                                f"conflicting port mappings for host port {hp} "
                                f"(protocol {m.protocol})")
        for i, hp in enumerate(m.host_ports()):
            used[(m.host_ip, m.protocol, hp)] = m.container_port + i

    for m in mappings:
        ctr_used.update((m.protocol, p) for p in range(m.container_port,
                                                       m.container_port + m.range))
        if m.host_port:
            claim(m)
            if all(x != m for x in out):
                out.append(m)
    for m in mappings:
        if not m.host_port:
            taken = {k[2] for k in used if k[1] == m.protocol}
            m = replace(m, host_port=free_host_port(m.protocol, m.host_ip, m.range, taken))
            claim(m)
            out.append(m)
    if publish_all and exposed:
        for port in sorted(exposed):
            for proto in exposed[port]:
                if (proto, port) in ctr_used:
                    continue
                taken = {k[2] for k in used if k[1] == proto}
                m = PortMapping(port, free_host_port(proto, "", 1, taken), "", proto, 1,
                                spec=f"{port}/{proto}")
                claim(m)
                ctr_used.add((proto, port))
                out.append(m)
    return out


def check_host_ports(mappings: Iterable[PortMapping],
                     published: Mapping[str, Iterable[PortMapping]] | None = None) -> None:
    """PortInUse if a host port is published by another container (``published``:
    container ID -> its mappings) or a process on the host holds it (checked by binding,
    as podman does). Call before setting up the network."""
    mine = list(mappings)
    for cid, theirs in (published or {}).items():
        for other in theirs:
            for m in mine:
                if m.protocol != other.protocol or \
                        (m.host_ip and other.host_ip and m.host_ip != other.host_ip):
                    continue
                both = set(m.host_ports()) & set(other.host_ports())
                if both:
                    raise PortInUse(f"host port {min(both)}/{m.protocol} is already "
                                    f"published by container {cid[:12]} (-p/--publish "
                                    f"{m.spec or m.container_port})")
    for m in mine:
        if m.protocol == "sctp":
            continue  # as podman: no reservation check for SCTP
        for hp in m.host_ports():
            try:
                _bind(m.protocol, m.host_ip, hp)
            except OSError as exc:
                fam = "6" if ":" in m.host_ip else "4"
                host = f"[{m.host_ip}]" if fam == "6" else m.host_ip
                why = "address already in use" if exc.errno == 98 else \
                    (exc.strerror or str(exc)).lower()
                raise PortInUse(f"cannot listen on the {m.protocol.upper()} port: listen "
                                f"{m.protocol}{fam} {host}:{hp}: bind: {why} (-p/--publish "
                                f"{m.spec or m.container_port})") from None


def port_lines(mappings: Iterable[PortMapping], port: str | None = None) -> list[str]:
    """podman's ``port`` output: ``80/tcp -> 0.0.0.0:8080`` per published port, or with
    ``port`` (``80`` or ``80/udp``) the ``HOSTIP:HOSTPORT`` it is published on. PortError
    if ``port`` is malformed or not published."""
    maps = list(mappings)
    if port is None:
        out = []
        for m in maps:
            ip = m.host_ip or "0.0.0.0"
            for i in range(m.range):
                out.append(f"{m.container_port + i}/{m.protocol} -> {ip}:{m.host_port + i}")
        return out
    num, _, proto = port.partition("/")
    proto = proto or "tcp"
    if "/" in proto or not num.isdigit():
        raise PortError(f"port formats are port/protocol. '{port}' is invalid")
    want = int(num)
    for m in maps:
        if m.protocol == proto and m.container_port <= want < m.container_port + m.range:
            return [f"{m.host_ip or '0.0.0.0'}:{m.host_port + want - m.container_port}"]
    raise PortError(f'failed to find published port "{port}"')
