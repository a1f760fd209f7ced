"""podman's NetworkSettings for a container: per network, top-level fields for the
default network alone, port bindings with exposed-only ports as null."""

from __future__ import annotations

from ipy_oci.network.inspect import network_settings, port_bindings
from ipy_oci.network.networks import DEFAULT_NETWORK, Attachment
from ipy_oci.network.ports import PortMapping
from ipy_oci.network.status import parse_setup_output

CID = "c" * 64
STATUS = parse_setup_output({
    DEFAULT_NETWORK: {"interfaces": {"eth0": {"mac_address": "aa:bb:cc:dd:ee:01", "subnets": [
        {"gateway": "10.89.240.1", "ipnet": "10.89.240.5/24"}]}}},
    "web": {"dns_server_ips": ["10.89.241.1"], "interfaces": {"eth1": {
        "mac_address": "aa:bb:cc:dd:ee:02", "subnets": [
            {"gateway": "10.89.241.1", "ipnet": "10.89.241.7/24"},
            {"gateway": "fd00::1", "ipnet": "fd00::7/64"}]}}},
})


def test_port_bindings() -> None:
    got = port_bindings([PortMapping(80, 8080, "127.0.0.1"), PortMapping(90, 9090, "", "udp", 2)],
                        exposed={80: ["tcp"], 443: ["tcp"]})
    assert got == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                   "90/udp": [{"HostIp": "", "HostPort": "9090"}],
                   "91/udp": [{"HostIp": "", "HostPort": "9091"}],
                   "443/tcp": None}


def test_default_network_alone_fills_the_top_level() -> None:
    atts = [Attachment(CID, DEFAULT_NETWORK, "id0", "eth0")]
    got = network_settings(atts, STATUS, "/run/ipy-oci/netns/x")
    assert (got["IPAddress"], got["IPPrefixLen"], got["Gateway"], got["MacAddress"]) == \
        ("10.89.240.5", 24, "10.89.240.1", "aa:bb:cc:dd:ee:01")
    assert got["SandboxKey"] == "/run/ipy-oci/netns/x"
    assert got["Networks"][DEFAULT_NETWORK]["NetworkID"] == DEFAULT_NETWORK
    assert got["Networks"][DEFAULT_NETWORK]["Aliases"] is None


def test_several_networks_and_not_set_up() -> None:
    atts = [Attachment(CID, DEFAULT_NETWORK, "id0", "eth0"),
            Attachment(CID, "web", "id1", "eth1", aliases=("www",))]
    got = network_settings(atts, STATUS, "/ns", aliases={"web": ["www", CID[:12]]})
    assert got["IPAddress"] == ""  # not only the default network
    web = got["Networks"]["web"]
    assert (web["IPAddress"], web["GlobalIPv6Address"], web["IPv6Gateway"]) == \
        ("10.89.241.7", "fd00::7", "fd00::1")
    assert web["Aliases"] == ["www", CID[:12]]
    stopped = network_settings(atts)
    assert stopped["Networks"]["web"]["IPAddress"] == "" and stopped["SandboxKey"] == ""
    assert stopped["Networks"]["web"]["Aliases"] == ["www"]
    assert "Networks" not in network_settings([])
