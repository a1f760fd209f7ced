"""Networks as objects (state store only, nothing set up): create with podman's defaults
and a free subnet, overlap and name errors, list filters, inspect's JSON, remove in use,
prune, the default network, connect/disconnect bookkeeping, the tables in old databases."""

from __future__ import annotations

import ipaddress
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipy_oci.network.errors import (
    AddressInUse,
    InvalidNetwork,
    NetworkExists,
    NetworkInUse,
    NoSuchNetwork,
    SubnetInUse,
)
from ipy_oci.network.networks import (
    DEFAULT_INTERFACE,
    DEFAULT_NETWORK,
    DEFAULT_NETWORK_ID,
    Networks,
    go_time,
)
from ipy_oci.network.subnets import DEFAULT_SUBNET, free_subnet, host_subnets
from ipy_oci.state.store import StateStore

CID1, CID2 = "a1" * 32, "b2" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    st = StateStore(tmp_path / "state.db")
    yield st
    st.close()


@pytest.fixture
def nets(store: StateStore, tmp_path: Path) -> Networks:
    return Networks(store, podman_dirs=[str(tmp_path / "podman-networks")])


def test_create_defaults(nets: Networks) -> None:
    net = nets.create("web", labels={"team": "a"})
    assert net.driver == "bridge" and net.dns_enabled and not net.internal
    sub = ipaddress.ip_network(net.subnets[0].subnet)
    assert sub.prefixlen == 24 and not sub.overlaps(ipaddress.ip_network(DEFAULT_SUBNET))
    assert net.subnets[0].gateway == str(sub.network_address + 1)
    assert net.interface.startswith("ipyoci") and net.interface != DEFAULT_INTERFACE
    assert len(net.id) == 64 and nets.get(net.id[:10]) == net
    # the next one gets another subnet and another bridge
    other = nets.create("db")
    assert not ipaddress.ip_network(other.subnets[0].subnet).overlaps(sub)
    assert other.interface != net.interface


def test_create_unnamed_and_explicit(nets: Networks) -> None:
    net = nets.create(None)
    assert net.name == net.interface == "ipyoci1"
    net = nets.create("internal", subnets=["10.86.200.0/24"], internal=True, dns=False,
                      options={"mtu": "1400", "isolate": "1"})
    assert net.subnets[0].gateway is None and net.internal
    assert dict(net.options) == {"mtu": "1400", "isolate": "true"}
    net = nets.create("gw", subnets=["10.86.201.0/24"], gateways=["10.86.201.254"])
    assert net.subnets[0].gateway == "10.86.201.254"


@pytest.mark.parametrize(("kwargs", "err", "match"), [
    ({"name": "bad name"}, InvalidNetwork, "names must match"),
    ({"name": "x", "driver": "macvlan"}, InvalidNetwork, "unsupported driver macvlan"),
    ({"name": "x", "subnets": ["10.86.1.0"]}, InvalidNetwork, "CIDR"),
    ({"name": "x", "subnets": ["nope/24"]}, InvalidNetwork, "subnet invalid"),
    ({"name": "x", "subnets": ["10.86.1.0/24"], "gateways": ["10.86.2.1"]},
     InvalidNetwork, "gateway 10.86.2.1 not in subnet 10.86.1.0/24"),
    ({"name": "x", "options": {"vlan": "3"}}, InvalidNetwork, "unsupported bridge network"),
    ({"name": "x", "ipv6": True}, InvalidNetwork, "explicit IPv6"),
    ({"name": DEFAULT_NETWORK}, NetworkExists, "already used"),
])
def test_create_errors(nets: Networks, kwargs: dict, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        nets.create(**kwargs)


def test_subnet_overlap_is_a_clear_error(nets: Networks) -> None:
    nets.create("one", subnets=["10.86.10.0/24"])
    with pytest.raises(SubnetInUse, match="10.86.10.128/25 is already used on the host or by "
                                          "another config: it overlaps 10.86.10.0/24 of "
                                          "network one"):
        nets.create("two", subnets=["10.86.10.128/25"])
    with pytest.raises(NetworkExists, match="network name one already used"):
        nets.create("one", subnets=["10.86.11.0/24"])
    assert nets.create("one", ignore=True).name == "one"
    with pytest.raises(SubnetInUse, match="of network ipy-oci"):  # not even made yet
        nets.create("four", subnets=["10.89.240.0/25"])
    routed = [n for n in host_subnets() if n.version == 4 and n.prefixlen >= 8]
    if routed:
        with pytest.raises(SubnetInUse, match="routed on this host"):
            nets.create("three", subnets=[str(routed[0])])


def test_free_subnet_skips_used_reserved_and_podman(nets: Networks, tmp_path: Path) -> None:
    assert str(free_subnet([])) == "10.89.241.0/24"
    used = [ipaddress.ip_network("10.89.241.0/24"), ipaddress.ip_network("10.89.242.0/23")]
    assert str(free_subnet(used)) == "10.89.244.0/24"
    assert str(free_subnet([ipaddress.ip_network("10.89.240.0/20")])) == "10.86.0.0/24"
    # a podman network config's subnet is skipped when picking
    pdir = tmp_path / "podman-networks"
    pdir.mkdir()
    (pdir / "p.json").write_text('{"name": "p", "subnets": [{"subnet": "10.89.241.0/24"}]}')
    (pdir / "broken.json").write_text("{")
    net = nets.create("x")
    assert net.subnets[0].subnet != "10.89.241.0/24"


def test_default_network(nets: Networks, store: StateStore) -> None:
    assert store.networks() == []
    net = nets.get(DEFAULT_NETWORK)  # made on first use
    assert (net.id, net.interface, net.subnets[0].subnet, net.subnets[0].gateway) == \
        (DEFAULT_NETWORK_ID, DEFAULT_INTERFACE, DEFAULT_SUBNET, "10.89.240.1")
    assert not net.dns_enabled and net.driver == "bridge"
    assert nets.ensure_default() == net
    with pytest.raises(InvalidNetwork, match="default network ipy-oci cannot be removed"):
        nets.remove(DEFAULT_NETWORK)
    assert DEFAULT_NETWORK not in nets.prune()
    assert [n.name for n in nets.list()] == [DEFAULT_NETWORK]


def test_inspect_shape(nets: Networks) -> None:
    net = nets.create("web", subnets=["10.86.3.0/24"], labels={"a": "b"})
    data = nets.inspect("web")
    assert list(data) == ["name", "id", "driver", "network_interface", "created", "subnets",
                          "ipv6_enabled", "internal", "dns_enabled", "labels", "ipam_options"]
    assert data["subnets"] == [{"subnet": "10.86.3.0/24", "gateway": "10.86.3.1"}]
    assert data["ipam_options"] == {"driver": "host-local"} and data["labels"] == {"a": "b"}
    assert data["id"] == net.id and data["network_interface"] == net.interface
    assert "labels" not in nets.inspect(DEFAULT_NETWORK)
    assert go_time(0.5).startswith("1970-01-01T") or go_time(0.5).startswith("1969-12-31T")
    assert ".5" in go_time(0.5)


def test_list_filters(nets: Networks) -> None:
    nets.create("web1", labels={"app": "web", "tier": "front"})
    nets.create("web2", labels={"app": "web"})
    db = nets.create("db", labels={"app": "db"})
    names = lambda f: [n.name for n in nets.list(f)]  # noqa: E731
    assert names(None) == ["db", DEFAULT_NETWORK, "web1", "web2"]
    assert names({"name": ["web"]}) == ["web1", "web2"]
    assert names({"name": ["^web1$", "db"]}) == ["db", "web1"]
    assert names({"id": [db.id[:8]]}) == ["db"]
    assert names({"label": ["app=web"]}) == ["web1", "web2"]
    assert names({"label": ["app=web", "tier"]}) == ["web1"]
    assert names({"label!": ["app"]}) == [DEFAULT_NETWORK]
    assert names({"driver": ["bridge"], "label": ["app=db"]}) == ["db"]
    assert names({"driver": ["macvlan"]}) == []
    assert len(names({"until": [str(time.time() + 60)]})) == 4
    assert names({"until": ["1h"]}) == []
    nets.connect(CID1, "web2")
    assert names({"dangling": ["true"]}) == ["db", DEFAULT_NETWORK, "web1"]
    with pytest.raises(InvalidNetwork, match="invalid filter"):
        nets.list({"color": ["red"]})


def test_remove_in_use_and_prune(nets: Networks) -> None:
    nets.create("used")
    nets.create("free")
    nets.connect(CID1, "used")
    with pytest.raises(NetworkInUse) as err:
        nets.remove("used")
    assert str(err.value) == ('"used" has associated containers with it. Use -f to forcibly '
                              "delete containers and pods: network is being used")
    assert err.value.exit_code == 2 and err.value.containers == [CID1]
    assert nets.containers_using("used") == [CID1]
    assert nets.prune() == ["free"]
    net, gone = nets.remove("used", force=True)
    assert net.name == "used" and gone == [CID1] and nets.attachments(CID1) == []
    with pytest.raises(NoSuchNetwork, match="unable to find network with name or ID used: "
                                            "network not found"):
        nets.get("used")


def test_prune_filters(nets: Networks) -> None:
    nets.create("keep", labels={"keep": "1"})
    nets.create("drop")
    assert nets.prune({"label!": ["keep"]}) == ["drop"]
    with pytest.raises(InvalidNetwork, match="invalid filter"):
        nets.prune({"name": ["x"]})


def test_connect_bookkeeping(nets: Networks) -> None:
    nets.create("web", subnets=["10.86.4.0/24"])
    a = nets.connect(CID1, DEFAULT_NETWORK)
    b = nets.connect(CID1, "web", aliases=["www", "www"], static_ip="10.86.4.9",
                     static_mac="AA:BB:CC:DD:EE:01")
    assert (a.interface, b.interface) == ("eth0", "eth1")
    assert b.aliases == ("www",) and b.static_ip == "10.86.4.9"
    assert b.static_mac == "aa:bb:cc:dd:ee:01"
    assert [x.network for x in nets.attachments(CID1)] == [DEFAULT_NETWORK, "web"]
    with pytest.raises(InvalidNetwork, match="already connected to network 'web'"):
        nets.connect(CID1, "web")
    with pytest.raises(AddressInUse, match="10.86.4.9 is already allocated to container "
                                           f"ID {CID1}"):
        nets.connect(CID2, "web", static_ip="10.86.4.9")
    with pytest.raises(InvalidNetwork, match="not in any subnet on network web"):
        nets.connect(CID2, "web", static_ip="10.86.5.9")
    with pytest.raises(InvalidNetwork, match="gateway"):
        nets.connect(CID2, "web", static_ip="10.86.4.1")
    with pytest.raises(InvalidNetwork, match="because dns is disabled"):
        nets.connect(CID2, DEFAULT_NETWORK, aliases=["x"])
    with pytest.raises(InvalidNetwork, match="invalid MAC"):
        nets.connect(CID2, "web", static_mac="nope")
    with pytest.raises(NoSuchNetwork):
        nets.connect(CID2, "nope")
    nets.disconnect(CID1, DEFAULT_NETWORK)
    with pytest.raises(InvalidNetwork, match="is not connected to network ipy-oci"):
        nets.disconnect(CID1, DEFAULT_NETWORK)
    c = nets.connect(CID1, DEFAULT_NETWORK)
    assert c.interface == "eth0"  # the free name again
    assert nets.disconnect_all(CID1) == 2 and nets.attachments(CID1) == []


def test_tables_are_added_to_an_old_database(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    StateStore(db).close()
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE network_attachments")
    conn.execute("DROP TABLE networks")
    conn.commit()
    conn.close()
    st = StateStore(db)
    try:
        net = Networks(st).create("late", subnets=["10.86.9.0/24"])
        assert Networks(st).get("late") == net
    finally:
        st.close()
