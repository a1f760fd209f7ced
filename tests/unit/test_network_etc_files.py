"""/etc/hosts and /etc/resolv.conf of a networked container, netavark's status JSON."""

from __future__ import annotations

import pytest

from ipy_oci.network.errors import InvalidNetwork
from ipy_oci.network.etc_files import (
    host_containers_internal_ip,
    hosts_text,
    parse_add_host,
    resolv_conf_text,
)
from ipy_oci.network.status import StatusBlock, first_ipv4, parse_setup_output

OUT = {"net1": {"dns_search_domains": ["dns.podman"], "dns_server_ips": ["10.89.241.1"],
                "interfaces": {"eth0": {"mac_address": "7e:25:60:52:24:c5", "subnets": [
                    {"gateway": "10.89.241.1", "ipnet": "10.89.241.2/24"}]}}},
       "ipy-oci": {"interfaces": {"eth1": {"mac_address": "aa:bb:cc:dd:ee:ff", "subnets": [
           {"gateway": "10.89.240.1", "ipnet": "10.89.240.7/24"}]}}}}


def test_status_parse_and_round_trip() -> None:
    status = parse_setup_output(OUT)
    eth0 = status["net1"].interfaces["eth0"]
    assert eth0.mac_address == "7e:25:60:52:24:c5"
    assert eth0.subnets[0].ip == "10.89.241.2" and eth0.subnets[0].prefix_len == 24
    assert status["net1"].dns_server_ips == ("10.89.241.1",)
    assert status["ipy-oci"].dns_server_ips == ()
    assert first_ipv4(status) == "10.89.241.2"
    assert StatusBlock.from_json(status["net1"].to_json()) == status["net1"]


def test_host_containers_internal_is_the_bridge_gateway() -> None:
    status = parse_setup_output(OUT)
    assert host_containers_internal_ip(status) == "10.89.241.1"
    assert host_containers_internal_ip(status, ["ipy-oci"]) == "10.89.240.1"
    # no bridge network: the host's own address (whatever it is, not a gateway above)
    assert host_containers_internal_ip(status, []) not in ("10.89.241.1", "10.89.240.1")


def test_parse_add_host() -> None:
    assert parse_add_host("db:10.0.0.5") == ("db", "10.0.0.5")
    assert parse_add_host("v6:fd00::1") == ("v6", "fd00::1")
    assert parse_add_host("v6:[fd00::2]") == ("v6", "fd00::2")
    with pytest.raises(InvalidNetwork, match="HOSTNAME:IP"):
        parse_add_host("nocolon")
    with pytest.raises(InvalidNetwork, match='invalid IP address in add-host: "x.y"'):
        parse_add_host("db:x.y")


def test_hosts_text() -> None:
    text = hosts_text(hostname="c1host", container_name="c1", ips=["10.89.241.2"],
                      aliases=["web"], add_hosts=["db:10.0.0.5"],
                      host_internal_ip="10.89.241.1")
    assert text.splitlines() == [
        "10.0.0.5\tdb",
        "127.0.0.1\tlocalhost localhost.localdomain",
        "::1\tlocalhost localhost.localdomain ip6-localhost ip6-loopback",
        "10.89.241.1\thost.containers.internal",
        "10.89.241.2\tc1host c1 web",
    ]
    # a name given by --add-host is not listed twice; hostname == name once
    text = hosts_text(hostname="c1", container_name="c1", ips=["10.1.0.2"],
                      add_hosts=["host.containers.internal:1.2.3.4"],
                      host_internal_ip="10.1.0.1")
    assert "10.1.0.1" not in text and "1.2.3.4\thost.containers.internal" in text
    assert "10.1.0.2\tc1\n" in text
    # a base file with its own localhost keeps it; no address: the hostname on loopback
    text = hosts_text(hostname="h", base="127.0.0.1 localhost\n# comment\n10.9.9.9 x y\n")
    assert text == "127.0.0.1\tlocalhost\n10.9.9.9\tx y\n127.0.0.1\th\n"


HOST = "search corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.53\n" \
       "nameserver fd00::53\noptions edns0\n"


def test_resolv_conf_network_dns_first_then_host() -> None:
    text = resolv_conf_text(network_dns=["10.89.241.1"], network_search=["dns.podman"],
                            host_text=HOST)
    assert text == ("search dns.podman corp.example\nnameserver 10.89.241.1\n"
                    "nameserver 192.0.2.53\noptions edns0\n")


def test_resolv_conf_user_dns_wins() -> None:
    text = resolv_conf_text(network_dns=["10.89.241.1"], network_search=["dns.podman"],
                            dns_servers=["1.1.1.1"], dns_search=["a.example"],
                            dns_options=["ndots:2"], host_text=HOST)
    assert text == "search a.example\nnameserver 1.1.1.1\noptions ndots:2\n"
    text = resolv_conf_text(dns_search=["."], host_text=HOST)
    assert "search" not in text


def test_resolv_conf_fallbacks() -> None:
    text = resolv_conf_text(host_text="nameserver 127.0.0.53\n")
    assert text == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    text = resolv_conf_text(host_text=HOST, ipv6=True)
    assert "nameserver fd00::53" in text and "127.0.0.53" not in text
