"""The driver without netavark: teardown and recover with nothing set up need no binary,
setup says what is missing before making anything, the netavark options it builds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipy_oci.errors import RuntimeMissing
from ipy_oci.network import driver as driver_mod
from ipy_oci.network import netavark as netavark_mod
from ipy_oci.network.driver import NetworkDriver
from ipy_oci.network.errors import InvalidNetwork
from ipy_oci.network.networks import DEFAULT_NETWORK, Networks
from ipy_oci.network.ports import PortMapping
from ipy_oci.state.records import AttachmentRecord
from ipy_oci.state.store import StateStore

CID = "ab" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    st = StateStore(tmp_path / "root" / "state.db")
    yield st
    st.close()


def test_nothing_to_undo_needs_no_netavark(store: StateStore, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> str:
        raise RuntimeMissing("netavark is not installed")

    monkeypatch.setattr(netavark_mod, "find_netavark", missing)
    drv = NetworkDriver(store, tmp_path / "run")
    assert drv.teardown(CID) == [] and drv.teardown(CID) == []
    assert drv.recover(keep=()) == []
    assert drv.status(CID) is None and drv.setup_ids() == []
    with pytest.raises(InvalidNetwork, match="not connected to any network"):
        drv.setup(CID, "c")
    drv.networks.connect(CID, DEFAULT_NETWORK)
    with pytest.raises(InvalidNetwork, match="must be resolved"):
        drv.setup(CID, "c", ports=[PortMapping(80)])
    with pytest.raises(RuntimeMissing, match="netavark is not installed"):
        drv.setup(CID, "c")
    assert not (tmp_path / "run" / "netns").exists()
    assert [a.ip for a in store.attachments()] == [None]


def test_netavark_options(store: StateStore) -> None:
    nets = Networks(store)
    web = nets.create("web", subnets=["10.86.30.0/24"])
    dflt = nets.get(DEFAULT_NETWORK)
    a0 = AttachmentRecord(CID, dflt.id, "eth0", time.time(), static_mac="aa:bb:cc:dd:ee:ff")
    a1 = AttachmentRecord(CID, web.id, "eth1", time.time(), aliases=["www"])
    opts = driver_mod._options(CID, "box", [a0, a1], {dflt.id: dflt, web.id: web},
                               {dflt.id: "10.89.240.9", web.id: "10.86.30.2"},
                               [PortMapping(80, 8080, "127.0.0.1")], ["192.0.2.53"])
    assert opts["container_id"] == CID and opts["container_name"] == "box"
    assert opts["networks"] == {
        DEFAULT_NETWORK: {"interface_name": "eth0", "static_ips": ["10.89.240.9"],
                          "static_mac": "aa:bb:cc:dd:ee:ff"},
        "web": {"interface_name": "eth1", "static_ips": ["10.86.30.2"],
                "aliases": ["www", CID[:12]]}}
    assert opts["network_info"]["web"] == {
        "name": "web", "id": web.id, "driver": "bridge", "network_interface": web.interface,
        "subnets": [{"subnet": "10.86.30.0/24", "gateway": "10.86.30.1"}],
        "ipv6_enabled": False, "internal": False, "dns_enabled": True, "options": None,
        "ipam_options": {"driver": "host-local"}}
    assert opts["port_mappings"] == [{"host_ip": "127.0.0.1", "host_port": 8080,
                                      "container_port": 80, "protocol": "tcp", "range": 1}]
    assert opts["dns_servers"] == ["192.0.2.53"]
