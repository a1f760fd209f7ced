"""The slirp4netns driver (ipy_oci/network/slirp.py) with the real slirp4netns.

Run as root here, on bare network namespaces under a temp runroot: the driver is
meant for rootless containers, but nothing in it needs a user namespace. Each test
checks that no slirp4netns, no netns mount and no socket or log file is left.
The resolv.conf, host address and port-sysctl helpers run without root.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import free_port, wait_until
from leaks import leaked_mounts, leaked_processes

from ipy_oci.network import slirp
from ipy_oci.network.errors import NetworkSetupError
from ipy_oci.network.netns import create_netns, remove_netns
from ipy_oci.state.procs import start_time

needs_slirp = pytest.mark.skipif(
    os.geteuid() != 0 or slirp.slirp_binary() is None or shutil.which("nsenter") is None,
    reason="needs root (to create network namespaces), slirp4netns and nsenter")

# A TCP server for inside the namespace: says "ready" once listening, then answers
# every connection with one line.
SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(8)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    c.sendall(b"hello from the netns " + peer[0].encode() + b"\\n")
    c.close()
"""

# A client for inside the namespace: prints the line the server at argv[1]:argv[2]
# sends, or "failed: ..." (exit 1).
CLIENT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as c:
        print(c.makefile().readline().strip())
except OSError as exc:
    print("failed:", exc)
    sys.exit(1)
"""


def in_ns(netns: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={netns}", *argv], capture_output=True,
                          text=True, timeout=30)


@pytest.fixture
def runroot() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="islirp-", dir="/tmp"))
    try:
        yield base
        left = leaked_processes(base) + leaked_mounts(base)
        left += [str(p) for p in base.rglob("*") if p.name != "netns"]
        assert not left, f"test leaked: {left}"
    finally:
        for mp in leaked_mounts(base):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def netns(runroot: Path) -> Iterator[Path]:
    path = create_netns(runroot, "c1")
    try:
        yield path
    finally:
        remove_netns(path)


@pytest.fixture
def slirp_proc(runroot: Path, netns: Path) -> Iterator[slirp.SlirpProcess]:
    proc = slirp.start_slirp(netns, runroot / "slirp4netns-c1.sock")
    try:
        yield proc
    finally:
        slirp.stop_slirp(proc)


@pytest.fixture
def netns_server(netns: Path, slirp_proc: slirp.SlirpProcess) -> Iterator[int]:
    """The port (8080) of SERVER running inside the namespace."""
    server = subprocess.Popen(["nsenter", f"--net={netns}", sys.executable, "-c", SERVER,
                               "8080"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline().strip()
        assert line == "ready", server.stderr.read() if server.stderr else line
        yield 8080
    finally:
        server.kill()
        server.communicate()


def connect_and_read(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=10) as conn:
        return conn.makefile().readline().strip()


# -- start and stop ---------------------------------------------------------------------


@needs_slirp
def test_start_configures_tap0_and_stop_ends_it(runroot: Path, netns: Path) -> None:
    sock = runroot / "slirp4netns-c1.sock"
    proc = slirp.start_slirp(netns, sock)
    try:
        assert proc.api_socket == str(sock)
        assert proc.start == start_time(proc.pid) != 0
        assert sock.is_socket()
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--disable-host-loopback" in cmdline and b"--mtu=65520" in cmdline
        # its own session: a terminal's ^C to us does not reach it
        assert os.getsid(proc.pid) == proc.pid
        out = in_ns(netns, "ip", "-4", "-o", "addr", "show", "tap0").stdout
        assert "10.0.2.100/24" in out
        routes = in_ns(netns, "ip", "-4", "route", "show", "default").stdout
        assert "via 10.0.2.2 dev tap0" in routes
        assert "mtu 65520" in in_ns(netns, "ip", "-o", "link", "show", "tap0").stdout
        # a second slirp4netns on a live API socket is refused, the first one unharmed
        with pytest.raises(NetworkSetupError, match="already serves"):
            slirp.start_slirp(netns, sock)
        assert start_time(proc.pid) == proc.start
    finally:
        slirp.stop_slirp(proc)
    assert start_time(proc.pid) == 0  # gone and reaped (it was our child)
    assert not sock.exists() and not Path(proc.log_path).exists()
    assert "tap0" not in in_ns(netns, "ip", "-o", "link").stdout
    slirp.stop_slirp(proc)  # again: nothing to do


@needs_slirp
def test_stale_api_socket_is_replaced_and_prefix_works(runroot: Path, netns: Path) -> None:
    sock = runroot / "slirp4netns-c1.sock"
    with socket.socket(socket.AF_UNIX) as dead:  # bound, never listening: a dead server
        dead.bind(str(sock))
    # through a prefix (rootless runs slirp4netns through one): the ready fd passes
    proc = slirp.start_slirp(netns, sock, prefix=["env", "IPY_OCI_TEST=1"])
    try:
        assert slirp.list_ports(sock) == []
        assert Path(f"/proc/{proc.pid}/exe").resolve().name == "slirp4netns"
    finally:
        slirp.stop_slirp(proc)


@needs_slirp
def test_stop_skips_a_different_process_with_the_pid(runroot: Path, netns: Path) -> None:
    proc = slirp.start_slirp(netns, runroot / "slirp4netns-c1.sock")
    try:
        wrong = slirp.SlirpProcess(pid=proc.pid, start=proc.start + 1,
                                   api_socket=proc.api_socket)
        slirp.stop_slirp(wrong)  # the start time does not match: no signal
        assert start_time(proc.pid) == proc.start
    finally:
        slirp.stop_slirp(proc)
    assert start_time(proc.pid) == 0


@needs_slirp
def test_stop_of_a_process_that_is_not_our_child(runroot: Path, netns: Path) -> None:
    # Another process started it (as the CLI that ran the container would have) and
    # exited; we only have the record. stop_slirp signals it and waits until it is
    # gone; init reaps it.
    sock = runroot / "slirp4netns-c1.sock"
    starter = f"""
import sys
from pathlib import Path
from ipy_oci.network import slirp
p = slirp.start_slirp(Path({str(netns)!r}), Path({str(sock)!r}))
print(p.pid, p.start, flush=True)
slirp._children.clear()  # leave it running when this process exits
"""
    res = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    pid, start = (int(x) for x in res.stdout.split())
    proc = slirp.SlirpProcess(pid=pid, start=start, api_socket=str(sock))
    try:
        assert start_time(pid) == start
        assert "10.0.2.100/24" in in_ns(netns, "ip", "-4", "-o", "addr", "show",
                                        "tap0").stdout
    finally:
        slirp.stop_slirp(proc)
    wait_until(lambda: start_time(pid) != start, "the orphaned slirp4netns reaped")
    assert not sock.exists()


@needs_slirp
def test_start_failure_carries_slirp_stderr(runroot: Path) -> None:
    sock = runroot / "slirp4netns-x.sock"
    with pytest.raises(NetworkSetupError) as err:
        slirp.start_slirp(runroot / "netns" / "missing", sock)
    msg = str(err.value)
    assert "exited before the network was ready" in msg
    assert "existing path expected" in msg  # slirp4netns's own words
    assert not sock.exists() and not Path(slirp.log_path(sock)).exists()


@needs_slirp
def test_not_ready_in_time_is_killed(runroot: Path, netns: Path) -> None:
    # The prefix stands in for a slirp4netns that never signals readiness: a shell
    # that records its PID and becomes a sleep, never running slirp4netns.
    pidfile = runroot / "hang.pid"
    prefix = ["sh", "-c", f'echo $$ > {pidfile}; exec sleep 600', "hang"]
    sock = runroot / "slirp4netns-c1.sock"
    with pytest.raises(NetworkSetupError, match="not ready after 0.5 seconds"):
        slirp.start_slirp(netns, sock, prefix=prefix, timeout=0.5)
    pid = int(pidfile.read_text())
    pidfile.unlink()
    assert start_time(pid) == 0  # killed and reaped
    assert not Path(slirp.log_path(sock)).exists()


# -- ports ------------------------------------------------------------------------------


@needs_slirp
def test_published_port_reaches_the_netns(runroot: Path, slirp_proc: slirp.SlirpProcess,
                                          netns_server: int) -> None:
    sock = Path(slirp_proc.api_socket)
    host_port = free_port()
    slirp.add_port(sock, proto="tcp", host_ip="127.0.0.1", host_port=host_port,
                   guest_port=netns_server)
    # The server sees slirp4netns's gateway as the peer: traffic arrives through tap0.
    assert connect_and_read("127.0.0.1", host_port) == "hello from the netns 10.0.2.2"
    assert slirp.list_ports(sock) == [
        {"id": 1, "proto": "tcp", "host_addr": "127.0.0.1", "host_port": host_port,
         "guest_addr": "10.0.2.100", "guest_port": 8080}]

    with pytest.raises(NetworkSetupError) as err:
        slirp.add_port(sock, proto="tcp", host_ip="127.0.0.1", host_port=host_port,
                       guest_port=9090)
    assert f"127.0.0.1:{host_port}" in str(err.value)
    assert f"host port {host_port} is already in use" in str(err.value)
    with pytest.raises(NetworkSetupError, match=f"host port {host_port} is already in use"):
        slirp.add_port(sock, proto="tcp", host_ip="", host_port=host_port, guest_port=9090)
    # the failed attempts changed nothing
    assert connect_and_read("127.0.0.1", host_port) == "hello from the netns 10.0.2.2"
    assert len(slirp.list_ports(sock)) == 1


@needs_slirp
def test_port_held_by_another_process(slirp_proc: slirp.SlirpProcess) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with pytest.raises(NetworkSetupError, match=f"host port {port} is already in use"):
            slirp.add_port(Path(slirp_proc.api_socket), proto="tcp", host_ip="127.0.0.1",
                           host_port=port, guest_port=80)


def test_add_port_rejects_other_protocols(tmp_path: Path) -> None:
    with pytest.raises(NetworkSetupError, match="tcp and udp only"):
        slirp.add_port(tmp_path / "none.sock", proto="sctp", host_ip="", host_port=8080,
                       guest_port=80)


def test_add_port_without_slirp(tmp_path: Path) -> None:
    with pytest.raises(NetworkSetupError, match="did not answer"):
        slirp.add_port(tmp_path / "none.sock", proto="tcp", host_ip="", host_port=8080,
                       guest_port=80)


# -- the host as seen from the container ------------------------------------------------


@needs_slirp
def test_host_gateway_ip_reaches_the_host(slirp_proc: slirp.SlirpProcess,
                                          netns: Path) -> None:
    # host.containers.internal with --disable-host-loopback: the host's own address
    # works, 10.0.2.2 (the host's loopback) does not.
    addr = slirp.host_gateway_ip()
    with socket.socket() as server:
        server.bind((addr, 0))
        server.listen(4)
        port = server.getsockname()[1]

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"hello from the host\n")

        import threading
        t = threading.Thread(target=answer, daemon=True)
        t.start()
        res = in_ns(netns, sys.executable, "-c", CLIENT, addr, str(port))
        assert res.stdout.strip() == "hello from the host", res.stdout + res.stderr
        t.join(10)
    with socket.socket() as lo_server:
        lo_server.bind(("127.0.0.1", 0))
        lo_server.listen(1)
        res = in_ns(netns, sys.executable, "-c", CLIENT, "10.0.2.2",
                    str(lo_server.getsockname()[1]))
        assert res.returncode == 1 and "failed" in res.stdout


@needs_slirp
def test_allow_host_loopback(runroot: Path, netns: Path) -> None:
    proc = slirp.start_slirp(netns, runroot / "slirp4netns-c1.sock",
                             allow_host_loopback=True)
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"--disable-host-loopback" not in cmdline
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            port = server.getsockname()[1]
            # connecting is enough: the kernel completes the handshake from the backlog
            res = in_ns(netns, sys.executable, "-c",
                        "import socket, sys; socket.create_connection(('10.0.2.2', "
                        f"{port}), timeout=5).close()")
            assert res.returncode == 0, res.stderr
    finally:
        slirp.stop_slirp(proc)


def test_host_gateway_ip_is_a_host_address() -> None:
    addr = slirp.host_gateway_ip()
    if not addr:
        pytest.skip("this host has no non-loopback IPv4 address")
    ip = ipaddress.IPv4Address(addr)
    assert not ip.is_loopback and not ip.is_link_local
    assert addr in slirp._host_ipv4_addresses()
    assert addr in slirp._ioctl_ipv4_addresses()  # the fallback agrees it is ours
    assert slirp.host_gateway_ip(allow_host_loopback=True) == "10.0.2.2"


# -- resolv.conf ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "want"), [
    ("nameserver 127.0.0.53\noptions edns0\n", ["10.0.2.3"]),
    ("nameserver 127.0.0.1\nnameserver ::1\n", ["10.0.2.3"]),
    ("search example.com\n", ["10.0.2.3"]),
    ("", ["10.0.2.3"]),
    ("nameserver 192.0.2.53\nnameserver 127.0.0.53\nnameserver 198.51.100.1\n",
     ["192.0.2.53", "198.51.100.1"]),
    ("# nameserver 192.0.2.9\nnameserver 192.0.2.53 # comment\nnameserver bogus\n",
     ["192.0.2.53"]),
    # IPv6 resolvers are unreachable: slirp4netns gives the container no IPv6
    ("nameserver 2001:db8::53\nnameserver fe80::1%eth0\n", ["10.0.2.3"]),
    ("nameserver 2001:db8::53\nnameserver 192.0.2.53\n", ["192.0.2.53"]),
    ("nameserver 192.0.2.53\nnameserver 192.0.2.53\n", ["192.0.2.53"]),
])
def test_resolv_nameservers(tmp_path: Path, text: str, want: list[str]) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    assert slirp.resolv_nameservers(str(path)) == want


def test_resolv_nameservers_without_a_file(tmp_path: Path) -> None:
    assert slirp.resolv_nameservers(str(tmp_path / "missing")) == ["10.0.2.3"]


# -- privileged ports -------------------------------------------------------------------


def test_check_unprivileged_port() -> None:
    start = slirp.unprivileged_port_start()
    assert start == int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if start == 0:
        pytest.skip("every port is unprivileged on this host")
    low = start - 1
    with pytest.raises(NetworkSetupError) as err:
        slirp.check_unprivileged_port(low, rootless=True)
    assert str(err.value) == (f"rootless: cannot publish privileged port {low} "
                              f"(net.ipv4.ip_unprivileged_port_start={start})")
    assert err.value.exit_code == 125
    slirp.check_unprivileged_port(low, rootless=False)  # root on the host may
    slirp.check_unprivileged_port(start, rootless=True)
    slirp.check_unprivileged_port(65535, rootless=True)
