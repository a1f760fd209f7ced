"""The network driver for real: netns under the runroot, netavark, iptables, aardvark-dns.

Each test plays containers with bare network namespaces (the engine wiring comes
later) and reaches into them with ``nsenter --net=PATH busybox ...``: ping and HTTP
between two namespaces, names through aardvark-dns, a port forwarded from 127.0.0.1,
20 attachments at once, teardown after a lost netns or interface, recovery. After
every test: no new veth, no bridge or iptables rule of the test's networks, no netns
mount under the runroot, no aardvark-dns of the runroot, no record, no lease.
Traffic stays on loopback and the test's own bridges. Needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipy_oci.network import aardvark
from ipy_oci.network.driver import NetworkDriver, NetworkSetup
from ipy_oci.network.errors import NetworkSetupError, PortInUse
from ipy_oci.network.etc_files import host_containers_internal_ip
from ipy_oci.network.inspect import network_settings
from ipy_oci.network.netavark import Netavark, find_aardvark, find_netavark
from ipy_oci.network.netns import create_netns, is_netns, links, remove_netns
from ipy_oci.network.networks import DEFAULT_INTERFACE, DEFAULT_NETWORK, DEFAULT_SUBNET
from ipy_oci.network.ports import free_host_port, parse_publishes, port_lines, resolve
from ipy_oci.state.store import StateStore


def _have_tools() -> bool:
    try:
        find_netavark()
    except Exception:
        return False
    return bool(find_aardvark() and shutil.which("busybox") and shutil.which("nsenter")
                and shutil.which("iptables-save"))


pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not _have_tools(),
                                reason="needs root, netavark, aardvark-dns, busybox, iptables")


def cid(n: int) -> str:
    return f"{n:02x}" * 32


def sh(*argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def in_ns(netns: Path, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return sh("nsenter", f"--net={netns}", *argv, timeout=timeout)


def veths() -> set[str]:
    out = sh("ip", "-o", "link", "show", "type", "veth").stdout
    return {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ":" in ln}


def iptables_chains() -> set[str]:
    return {ln.split()[0][1:] for ln in sh("iptables-save").stdout.splitlines()
            if ln.startswith(":")}


def link_exists(name: str) -> bool:
    return sh("ip", "link", "show", name).returncode == 0


def bridge_ports(bridge: str) -> set[str]:
    """The bridge's ports as ``INDEX:NAME`` (the index tells a new veth0 from an old)."""
    out = sh("ip", "-o", "link", "show", "master", bridge).stdout
    return {f"{ln.split(':')[0]}:{ln.split(':')[1].strip().split('@')[0]}"
            for ln in out.splitlines() if ":" in ln}


def wait_ports_gone(bridge: str, ports: set[str]) -> None:
    """Wait until none of ``ports`` is on the bridge any more. A namespace whose last
    mount is gone is destroyed by the kernel later, in a work queue, and its veths (whose
    host ends are still bridge ports till then) go only with it."""
    deadline = time.monotonic() + 20
    while (left := ports & bridge_ports(bridge)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, f"the kernel did not destroy the lost netns: {left} still on {bridge}"


def iptables_lines(needles: list[str]) -> list[str]:
    out = sh("iptables-save").stdout
    return [ln for ln in out.splitlines() if any(n in ln for n in needles)]


def mounts_under(d: Path) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [ln.split()[4] for ln in fh if ln.split()[4].startswith(str(d) + "/")]


@dataclass
class World:
    base: Path
    root: Path
    runroot: Path
    store: StateStore
    driver: NetworkDriver
    subnets: set[str]
    bridges: set[str]

    def new_driver(self) -> tuple[StateStore, NetworkDriver]:
        """Another process's view: its own store and driver on the same roots."""
        st = StateStore(self.root / "state.db")
        return st, NetworkDriver(st, self.runroot)

    def network(self, name: str, **kw: object) -> str:
        net = self.driver.networks.create(name, **kw)
        self.subnets.update(s.subnet for s in net.subnets)
        self.bridges.add(net.interface)
        return net.name

    def start(self, n: int, name: str, network: str, **kw: object) -> NetworkSetup:
        if network == DEFAULT_NETWORK:
            self.subnets.add(DEFAULT_SUBNET)
            self.bridges.add(DEFAULT_INTERFACE)
        self.driver.networks.connect(cid(n), network, aliases=kw.pop("aliases", ()))
        return self.driver.setup(cid(n), name, **kw)


def find_leaks(w: World, veths_before: set[str], chains_before: set[str]
               ) -> dict[str, list[str]]:
    leaks = {
        "veths": sorted(veths() - veths_before),
        "iptables chains": sorted(iptables_chains() - chains_before),
        "bridges": sorted(b for b in w.bridges if link_exists(b)),
        "iptables": iptables_lines(sorted(w.subnets)),
        "netns mounts": mounts_under(w.runroot),
        "netns files": sorted(os.listdir(w.runroot / "netns"))
        if (w.runroot / "netns").is_dir() else [],
        "aardvark-dns": [str(p) for p in aardvark.processes(w.driver.config_dir)],
        "records": w.driver.setup_ids(),
        "leases": [f"{a.container_id[:12]} {a.ip}" for a in w.store.attachments() if a.ip],
    }
    return {k: v for k, v in leaks.items() if v}


@pytest.fixture
def world() -> Iterator[World]:
    base = Path(tempfile.mkdtemp(prefix="ionet-", dir="/tmp"))
    root, runroot = base / "root", base / "run"
    root.mkdir()
    runroot.mkdir()
    store = StateStore(root / "state.db")
    w = World(base, root, runroot, store, NetworkDriver(store, runroot), set(), set())
    before, chains = veths(), iptables_chains()
    try:
        yield w
    finally:
        left = w.driver.setup_ids()
        for c in left:
            w.driver.teardown(c)
        deadline = time.monotonic() + 5
        while (leaks := find_leaks(w, before, chains)) and time.monotonic() < deadline:
            time.sleep(0.1)
        store.close()
        if not leaks:
            shutil.rmtree(base, ignore_errors=True)
    if left or leaks:
        pytest.fail(f"left set up: {left}; leaked: {leaks}")


@pytest.fixture
def httpd_dir(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("hello from the netns\n")
    return tmp_path


class Httpd:
    """busybox httpd in the foreground inside a netns (stopped by its pid)."""

    def __init__(self, netns: Path, docroot: Path, port: int = 80) -> None:
        self.proc = subprocess.Popen(["nsenter", f"--net={netns}", "busybox", "httpd", "-f",
                                      "-p", str(port), "-h", str(docroot)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while in_ns(netns, "busybox", "wget", "-q", "-O", "-",
                    f"http://127.0.0.1:{port}/").returncode != 0:
            assert self.proc.poll() is None, "httpd exited"
            assert time.monotonic() < deadline, "httpd did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def test_two_netns_on_a_network_reach_each_other(world: World, httpd_dir: Path) -> None:
    net = world.network("ipyt-web")
    a = world.start(1, "alpha", net)
    b = world.start(2, "beta", net)
    assert a.spec_network == f"ns:{world.runroot}/netns/{cid(1)}"
    assert a.ip and b.ip and a.ip != b.ip
    iface = a.status[net].interfaces["eth0"]
    assert a.ip in in_ns(a.netns, "ip", "-o", "addr", "show", "eth0").stdout
    assert iface.mac_address in in_ns(a.netns, "ip", "link", "show", "eth0").stdout
    assert [x.ip for x in world.driver.networks.attachments(cid(1))] == [a.ip]
    assert world.driver.status(cid(2)) == b
    res = in_ns(a.netns, "busybox", "ping", "-c", "1", "-W", "5", b.ip)
    assert res.returncode == 0, res.stdout + res.stderr
    httpd = Httpd(a.netns, httpd_dir)
    try:
        res = in_ns(b.netns, "busybox", "wget", "-q", "-O", "-", f"http://{a.ip}/")
        assert res.stdout == "hello from the netns\n", res.stderr
    finally:
        httpd.stop()
    assert world.driver.teardown(cid(1)) == []
    assert world.driver.teardown(cid(1)) == []  # idempotent
    assert not a.netns.exists()
    assert in_ns(b.netns, "busybox", "ping", "-c", "1", "-W", "1", a.ip).returncode != 0
    world.driver.teardown(cid(2))


def test_names_resolve_through_aardvark_dns(world: World) -> None:
    net = world.network("ipyt-dns")
    a = world.start(1, "alpha", net)
    b = world.start(2, "beta", net, aliases=["db"])
    gateway = a.status[net].interfaces["eth0"].subnets[0].gateway
    assert a.dns_servers() == [gateway] and a.dns_search() == ["dns.podman"]
    assert len(aardvark.processes(world.driver.config_dir)) == 1
    for name in ("beta", "db", "beta.dns.podman", cid(2)[:12]):
        res = in_ns(a.netns, "busybox", "nslookup", name, gateway)
        assert res.returncode == 0 and b.ip in res.stdout, (name, res.stdout, res.stderr)
    res = in_ns(b.netns, "busybox", "nslookup", "alpha", gateway)
    assert a.ip in res.stdout
    assert a.resolv_conf_text(host_text="search corp.example\nnameserver 192.0.2.53\n") == (
        f"search dns.podman corp.example\nnameserver {gateway}\nnameserver 192.0.2.53\n")
    assert b.aliases[net] == ("db", cid(2)[:12])
    world.driver.teardown(cid(2))
    res = in_ns(a.netns, "busybox", "nslookup", "beta", gateway)
    assert b.ip not in res.stdout
    assert len(aardvark.processes(world.driver.config_dir)) == 1  # alpha is still served
    world.driver.teardown(cid(1))
    deadline = time.monotonic() + 5
    while aardvark.processes(world.driver.config_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert aardvark.processes(world.driver.config_dir) == []
    assert aardvark.entries(world.driver.config_dir) == {}
    assert not (aardvark.aardvark_dir(world.driver.config_dir) / aardvark.PID_FILE).exists()


def test_an_aardvark_dns_left_serving_nobody_is_stopped(world: World) -> None:
    net = world.network("ipyt-dns2")
    world.start(1, "alpha", net)
    pids = aardvark.processes(world.driver.config_dir)
    assert len(pids) == 1 and aardvark.running_pid(world.driver.config_dir) == pids[0]
    # a teardown killed after removing the last entry, before aardvark-dns was told
    (aardvark.aardvark_dir(world.driver.config_dir) / net).unlink()
    assert world.driver.teardown(cid(1)) == []
    assert aardvark.processes(world.driver.config_dir) == []


def test_netns_files(world: World) -> None:
    path = create_netns(world.runroot, "probe")
    assert path == world.runroot / "netns" / "probe" and is_netns(path)
    assert links(path) == ["lo"]
    with pytest.raises(NetworkSetupError, match="already exists"):
        create_netns(world.runroot, "probe")
    with pytest.raises(ValueError):
        create_netns(world.runroot, "../escape")
    remove_netns(path)
    remove_netns(path)  # nothing left to do is fine
    assert not path.exists() and not is_netns(path)
    assert not is_netns(world.runroot)  # a plain directory is no namespace


def test_port_forwarding_from_loopback_on_the_default_network(world: World,
                                                                httpd_dir: Path) -> None:
    port = free_host_port("tcp", "127.0.0.1")
    ports = resolve(parse_publishes([f"127.0.0.1:{port}:80"]))
    a = world.start(1, "web", DEFAULT_NETWORK, ports=ports)
    assert link_exists(DEFAULT_INTERFACE) and a.dns_servers() == []
    assert a.ip is not None and a.ip.startswith("10.89.240.")
    assert port_lines(a.ports) == [f"80/tcp -> 127.0.0.1:{port}"]
    assert host_containers_internal_ip(a.status, a.bridges()) == "10.89.240.1"
    hosts = a.hosts_text(hostname="webhost", container_name="web", add_hosts=["db:10.0.0.5"])
    assert f"{a.ip}\twebhost web\n" in hosts and "10.0.0.5\tdb\n" in hosts
    assert "10.89.240.1\thost.containers.internal\n" in hosts
    resolv = a.resolv_conf_text(host_text="nameserver 192.0.2.53\n")
    assert resolv == "nameserver 192.0.2.53\n"  # DNS off on the default network
    settings = network_settings(world.driver.networks.attachments(cid(1)), a.status,
                                str(a.netns), a.ports)
    assert settings["IPAddress"] == a.ip and settings["Gateway"] == "10.89.240.1"
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    # the same host port for another container: refused before anything is set up
    world.driver.networks.connect(cid(2), DEFAULT_NETWORK)
    with pytest.raises(PortInUse, match=f"published by container {cid(1)[:12]}"):
        world.driver.setup(cid(2), "other", ports=ports)
    assert world.driver.status(cid(2)) is None
    httpd = Httpd(a.netns, httpd_dir)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.read() == b"hello from the netns\n"
    finally:
        httpd.stop()
    world.driver.teardown(cid(1))
    assert not link_exists(DEFAULT_INTERFACE)
    assert iptables_lines([f"--dport {port} "]) == []


def test_twenty_concurrent_attachments_get_distinct_ips(world: World) -> None:
    net = world.network("ipyt-many")
    results: dict[int, str] = {}
    errors: list[str] = []

    def one(n: int, teardown: bool) -> None:
        st, drv = world.new_driver()
        try:
            if teardown:
                drv.teardown(cid(n))
            else:
                drv.networks.connect(cid(n), net)
                setup = drv.setup(cid(n), f"c{n}")
                results[n] = setup.ip or ""
        except Exception as exc:
            errors.append(f"{n}: {exc}")
        finally:
            st.close()

    for teardown in (False, True):
        threads = [threading.Thread(target=one, args=(n, teardown)) for n in range(1, 21)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        if not teardown:
            assert len(set(results.values())) == 20 and "" not in results.values()
            bridge = world.driver.networks.get(net).interface
            ports = sh("ip", "-o", "link", "show", "master", bridge).stdout.splitlines()
            assert len(ports) == 20
            assert len(world.driver.setup_ids()) == 20
    assert world.driver.setup_ids() == []


def test_teardown_after_the_netns_or_interface_is_gone(world: World) -> None:
    net = world.network("ipyt-lost")
    bridge = world.driver.networks.get(net).interface
    ports = resolve(parse_publishes([f"127.0.0.1:{free_host_port()}:80"]))
    a = world.start(1, "alpha", net, ports=ports)
    ports_a = bridge_ports(bridge)
    assert len(ports_a) == 1  # alpha's veth
    # The netns vanished under us; the bridge and rules are still there. Its veth goes
    # when the kernel has destroyed it, which is after umount returns: until then the
    # bridge has a port, and netavark rightly keeps a bridge that has one (as for a
    # netns some process still holds), so the lost netns must be really gone first.
    remove_netns(a.netns)
    wait_ports_gone(bridge, ports_a)
    assert link_exists(bridge) and iptables_lines(sorted(world.subnets))
    assert world.driver.teardown(cid(1)) == []
    assert not link_exists(bridge) and iptables_lines(sorted(world.subnets)) == []
    # the interface was deleted inside a netns that is still there
    b = world.start(2, "beta", net)
    assert in_ns(b.netns, "ip", "link", "del", "eth0").returncode == 0
    assert world.driver.teardown(cid(2)) == []
    assert not link_exists(bridge) and not b.netns.exists()


def test_failed_setup_leaves_nothing(world: World) -> None:
    net = world.network("ipyt-fail")
    world.driver.networks.connect(cid(1), net)
    broken = NetworkDriver(world.store, world.runroot,
                           Netavark(world.driver.config_dir, binary="/bin/false"))
    with pytest.raises(NetworkSetupError, match="netavark setup failed"):
        broken.setup(cid(1), "alpha")
    assert broken.setup_ids() == [] and broken.status(cid(1)) is None
    assert not (world.runroot / "netns" / cid(1)).exists()
    assert [a.ip for a in world.store.attachments()] == [None]
    # and the real one still works afterwards
    a = world.driver.setup(cid(1), "alpha")
    assert a.ip
    world.driver.teardown(cid(1))


def test_recover_keeps_only_what_is_live(world: World) -> None:
    net = world.network("ipyt-recover")
    a = world.start(1, "alpha", net)
    world.start(2, "beta", net)
    stray = create_netns(world.runroot, "stray")
    # a lease without a setup record: what a reboot leaves in the state database
    world.driver.networks.connect(cid(3), net)
    world.store.set_lease(cid(3), world.driver.networks.get(net).id, "10.255.255.1")
    assert world.driver.recover(keep={cid(1)}) == [cid(2)]
    assert world.driver.setup_ids() == [cid(1)] and not stray.exists()
    assert [a.ip for a in world.store.attachments() if a.ip] == [a.ip]
    assert in_ns(a.netns, "ip", "link", "show", "eth0").returncode == 0
    assert world.driver.forget(cid(1)) == []
    assert world.driver.networks.attachments(cid(1)) == []
