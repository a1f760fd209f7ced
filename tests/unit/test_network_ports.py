"""Published ports: -p parsing (ranges, IPs, protocols), errors naming the flag value,
conflicts, free host ports for -p CTR and -P, the bind check, podman's port lines."""

from __future__ import annotations

import socket

import pytest

from ipy_oci.network.errors import PortError, PortInUse
from ipy_oci.network.ports import (
    PortMapping,
    check_host_ports,
    free_host_port,
    parse_expose,
    parse_publish,
    parse_publishes,
    port_lines,
    resolve,
)


@pytest.mark.parametrize(("spec", "want"), [
    ("80", [PortMapping(80, 0, "", "tcp", 1, "80")]),
    ("8080:80", [PortMapping(80, 8080, "", "tcp", 1, "8080:80")]),
    ("127.0.0.1:8080:80", [PortMapping(80, 8080, "127.0.0.1", "tcp", 1, "127.0.0.1:8080:80")]),
    ("127.0.0.1::80/udp", [PortMapping(80, 0, "127.0.0.1", "udp", 1, "127.0.0.1::80/udp")]),
    ("0.0.0.0:8080:80", [PortMapping(80, 8080, "", "tcp", 1, "0.0.0.0:8080:80")]),
    ("8080-8081:80-81", [PortMapping(80, 8080, "", "tcp", 2, "8080-8081:80-81")]),
    ("[::1]:8080:80", [PortMapping(80, 8080, "::1", "tcp", 1, "[::1]:8080:80")]),
    ("53:53/tcp,udp", [PortMapping(53, 53, "", "tcp", 1, "53:53/tcp,udp"),
                       PortMapping(53, 53, "", "udp", 1, "53:53/tcp,udp")]),
    ("9000:90/SCTP", [PortMapping(90, 9000, "", "sctp", 1, "9000:90/SCTP")]),
])
def test_parse_publish(spec: str, want: list[PortMapping]) -> None:
    assert parse_publish(spec) == want


@pytest.mark.parametrize(("spec", "why"), [
    ("", "non-empty container port"),
    ("abc", 'invalid port number "abc"'),
    ("8080:abc", 'invalid port number "abc"'),
    ("0:80", "between 1 and 65535"),
    ("70000:80", "between 1 and 65535"),
    ("8080-8082:80-81", "different lengths: 3 vs 2"),
    ("81-80", "must be higher than the start port"),
    ("80-", "ending number"),
    ("1:2:3:4", "the format is"),
    ("80/tcp/udp", "only be specified once"),
    ("80/", "non-empty protocol"),
    ("80/icmp", 'unrecognized protocol "icmp"'),
    ("300.1.1.1:80:80", 'cannot parse "300.1.1.1"'),
    (":8080:80", "non-empty host IP"),
    ("[::1:8080:80", "enclosed by []"),
    ("[::1]8080:80", "followed by a colon"),
    ("65535-65536:80-81", "between 1 and 65535"),
])
def test_parse_publish_errors_name_the_value(spec: str, why: str) -> None:
    with pytest.raises(PortError) as err:
        parse_publish(spec)
    assert f'"{spec}"' in str(err.value) and "-p/--publish" in str(err.value)
    assert why in str(err.value)
    assert err.value.exit_code == 125


def test_parse_expose() -> None:
    assert parse_expose(["80", "53/udp", "53/tcp", "8000-8001/tcp"]) == {
        80: ["tcp"], 53: ["udp", "tcp"], 8000: ["tcp"], 8001: ["tcp"]}
    with pytest.raises(PortError, match="--expose"):
        parse_expose(["80/sctp"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_resolve_picks_free_host_ports_and_publishes_exposed() -> None:
    maps = resolve(parse_publishes(["127.0.0.1::80", "8081:81"]),
                   exposed={80: ["tcp"], 443: ["tcp"], 53: ["udp"]}, publish_all=True)
    by_ctr = {(m.container_port, m.protocol): m for m in maps}
    assert set(by_ctr) == {(80, "tcp"), (81, "tcp"), (443, "tcp"), (53, "udp")}
    assert by_ctr[(81, "tcp")].host_port == 8081
    assert all(m.host_port > 0 for m in maps)
    assert by_ctr[(80, "tcp")].host_ip == "127.0.0.1"
    assert len({(m.host_port, m.protocol) for m in maps}) == 4
    # without -P, exposed ports stay unpublished
    assert len(resolve(parse_publishes(["8081:81"]), {443: ["tcp"]}, False)) == 1


def test_resolve_refuses_conflicts_keeps_duplicates() -> None:
    with pytest.raises(PortError, match="conflicting port mappings for host port 8080"):
        resolve(parse_publishes(["8080:80", "8080:81"]))
    with pytest.raises(PortError, match="conflicting port mappings for host port 8081"):
        resolve(parse_publishes(["8080-8081:80-81", "127.0.0.1:8081:90"]))
    assert len(resolve(parse_publishes(["8080:80", "8080:80"]))) == 1
    # one host port for tcp and udp is fine, and two addresses for one port too
    assert len(resolve(parse_publishes(["8080:80/tcp,udp"]))) == 2
    assert len(resolve(parse_publishes(["127.0.0.1:8080:80", "127.0.0.2:8080:81"]))) == 2


def test_free_host_port_range() -> None:
    start = free_host_port("tcp", "127.0.0.1", length=3)
    for p in range(start, start + 3):
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_check_host_ports_by_binding() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        spec = f"127.0.0.1:{port}:80"
        with pytest.raises(PortInUse) as err:
            check_host_ports(parse_publish(spec))
        msg = str(err.value)
        assert f"127.0.0.1:{port}: bind: address already in use" in msg and spec in msg
        assert err.value.exit_code == 125
    check_host_ports(parse_publish(spec))  # free again


def test_check_host_ports_published_by_another_container() -> None:
    port = _free_port()
    theirs = {"c" * 64: parse_publish(f"{port}-{port + 1}:80-81")}
    with pytest.raises(PortInUse, match=f"host port {port + 1}/tcp is already published by "
                                         f"container {'c' * 12}"):
        check_host_ports(parse_publish(f"127.0.0.1:{port + 1}:90"), theirs)
    check_host_ports(parse_publish(f"127.0.0.1:{port + 1}:90/udp"), theirs)


def test_port_lines() -> None:
    maps = [PortMapping(80, 8080, "127.0.0.1"), PortMapping(53, 5353, "", "udp"),
            PortMapping(90, 9090, "", "tcp", 2)]
    assert port_lines(maps) == ["80/tcp -> 127.0.0.1:8080", "53/udp -> 0.0.0.0:5353",
                                "90/tcp -> 0.0.0.0:9090", "91/tcp -> 0.0.0.0:9091"]
    assert port_lines(maps, "80") == ["127.0.0.1:8080"]
    assert port_lines(maps, "91/tcp") == ["0.0.0.0:9091"]
    assert port_lines(maps, "53/udp") == ["0.0.0.0:5353"]
    with pytest.raises(PortError, match='failed to find published port "53"'):
        port_lines(maps, "53")
    with pytest.raises(PortError, match="port formats are port/protocol"):
        port_lines(maps, "x/tcp")


def test_netavark_json_and_round_trip() -> None:
    m = parse_publish("127.0.0.1:8080-8081:80-81/udp")[0]
    assert m.netavark_json() == {"host_ip": "127.0.0.1", "host_port": 8080,
                                 "container_port": 80, "protocol": "udp", "range": 2}
    assert PortMapping.from_json(m.to_json()) == m
