"""Container networking for real (netavark, aardvark-dns, iptables), through the CLI.

Published ports reached from the host on loopback, names and aliases between
containers on a user network, ``host.containers.internal``, ``--network none`` and
``container:ID``, many containers at once, and the bad inputs (exit 125, or 2 for a
network in use). The ``oci`` fixture checks that no veth, netns, aardvark-dns,
iptables rule or record is left. Traffic stays on loopback and the test's bridges.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import OciEnv, free_port, http_get, needs_network

pytestmark = needs_network


def ok(oci: OciEnv, *args: str) -> str:
    return oci.cli(*args, check=True).stdout


def httpd(oci: OciEnv, *flags: str) -> str:
    """A detached busybox httpd serving its /etc (so /hostname names it)."""
    return ok(oci, "run", "-d", *flags, "busybox", "httpd", "-f", "-p", "80",
              "-h", "/etc").strip()


def test_published_port_reaches_httpd_and_port_inspect_ps(oci: OciEnv) -> None:
    port = free_port()
    cid = httpd(oci, "--name", "web", "-p", f"127.0.0.1:{port}:80")
    assert http_get(f"http://127.0.0.1:{port}/hostname").strip() == cid[:12]
    assert ok(oci, "port", "web").splitlines() == [f"80/tcp -> 127.0.0.1:{port}"]
    assert ok(oci, "port", "web", "80").strip() == f"127.0.0.1:{port}"
    ns = json.loads(ok(oci, "inspect", "web"))[0]["NetworkSettings"]
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert ns["IPAddress"].startswith("10.89.240.") and ns["Gateway"] == "10.89.240.1"
    assert ns["MacAddress"] and set(ns["Networks"]) == {"ipy-oci"}
    assert ns["SandboxKey"] == str(oci.runroot / "netns" / cid)
    ps = json.loads(ok(oci, "ps", "--format", "json"))[0]
    assert ps["Ports"] == [{"host_ip": "127.0.0.1", "container_port": 80,
                            "host_port": port, "range": 1, "protocol": "tcp"}]
    assert f"127.0.0.1:{port}->80/tcp" in ok(oci, "ps")
    # stop tears the network down; start sets it up again on the same port
    ok(oci, "stop", "-t", "0", "web")
    assert not os.listdir(oci.runroot / "netns")
    assert json.loads(ok(oci, "inspect", "web"))[0]["NetworkSettings"]["IPAddress"] == ""
    ok(oci, "start", "web")
    assert http_get(f"http://127.0.0.1:{port}/hostname").strip() == cid[:12]
    ok(oci, "rm", "-f", "-t", "0", "web")


def test_publish_all_publishes_exposed_ports(oci: OciEnv) -> None:
    httpd(oci, "--name", "pall", "-P", "--expose", "80")
    lines = ok(oci, "port", "pall").splitlines()
    assert len(lines) == 1 and lines[0].startswith("80/tcp -> 0.0.0.0:")
    port = int(lines[0].rsplit(":", 1)[1])
    assert http_get(f"http://127.0.0.1:{port}/hostname").strip()
    ok(oci, "rm", "-f", "-t", "0", "pall")


def test_names_and_aliases_on_a_user_network(oci: OciEnv) -> None:
    ok(oci, "network", "create", "--subnet", "10.89.251.0/24", "tnet")
    httpd(oci, "--name", "srv", "--network", "tnet", "--network-alias", "web-alias")
    # busybox's own resolver (nslookup) through aardvark-dns; static busybox's wget
    # crashes in glibc's NSS, so nc talks HTTP to the address found
    script = ("for n in srv web-alias; do ip=$(nslookup $n | "
              "sed -n 's/^Address: *\\(10\\.89\\.251\\.[0-9]*\\).*/\\1/p' | tail -1); "
              "echo $ip; printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc $ip 80 | tail -1; done")
    out = oci.cli("run", "--rm", "--network", "tnet", "busybox", "sh", "-c", script)
    assert out.returncode == 0, out.stderr
    words = out.stdout.split()
    srv_ip = json.loads(ok(oci, "inspect", "srv"))[0]["NetworkSettings"]["Networks"][
        "tnet"]["IPAddress"]
    assert words[0] == words[2] == srv_ip and words[1] == words[3], out.stdout
    # in use: podman's message and exit 2; -f removes the container too
    res = oci.cli("network", "rm", "tnet")
    assert res.returncode == 2
    assert '"tnet" has associated containers with it. Use -f to forcibly delete ' \
        "containers and pods: network is being used" in res.stderr
    assert ok(oci, "network", "rm", "-f", "-t", "0", "tnet").strip() == "tnet"
    assert ok(oci, "ps", "-aq") == ""
    assert "tnet" not in ok(oci, "network", "ls")


@pytest.fixture
def host_server() -> Iterator[int]:
    """A Python http.server on the host (all addresses, a free port)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"hello from the host\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()


def test_host_containers_internal_reaches_the_host(oci: OciEnv, host_server: int) -> None:
    # the address from /etc/hosts, then HTTP over nc (static busybox's wget crashes
    # in glibc's NSS)
    script = ("cat /etc/hosts; ip=$(awk '$2 == \"host.containers.internal\" {print $1}' "
              f"/etc/hosts); printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc $ip {host_server}")
    out = oci.cli("run", "--rm", "--add-host", "extra.example:10.1.2.3", "busybox", "sh",
                  "-c", script)
    assert out.returncode == 0, out.stderr
    assert "10.89.240.1\thost.containers.internal" in out.stdout
    assert "10.1.2.3\textra.example" in out.stdout
    assert "hello from the host" in out.stdout


def test_none_has_only_lo_and_container_shares_a_netns(oci: OciEnv) -> None:
    out = ok(oci, "run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert out.split() == ["lo"]
    cid = httpd(oci, "--name", "first")
    ip = json.loads(ok(oci, "inspect", "first"))[0]["NetworkSettings"]["IPAddress"]
    out = ok(oci, "run", "--rm", "--network", "container:first", "busybox", "sh", "-c",
             "ip -4 -o addr show eth0; "
             "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 80")
    assert f"inet {ip}/" in out and cid[:12] in out
    ok(oci, "rm", "-f", "-t", "0", "first")


def test_many_containers_at_once_get_distinct_addresses(oci: OciEnv) -> None:
    n = 12

    def start(i: int) -> str:
        return ok(oci, "run", "-d", "--name", f"c{i}", "busybox", "sleep", "1000").strip()

    with ThreadPoolExecutor(n) as pool:
        ids = list(pool.map(start, range(n)))
    ips = {json.loads(ok(oci, "inspect", c))[0]["NetworkSettings"]["IPAddress"]
           for c in ids}
    assert len(ips) == n and all(ip.startswith("10.89.240.") for ip in ips)
    ok(oci, "rm", "-f", "-a", "-t", "0")


def test_run_rm_and_exit_tear_down(oci: OciEnv) -> None:
    ok(oci, "run", "-d", "--rm", "--name", "short", "busybox", "true")
    ok(oci, "run", "-d", "--name", "exits", "-p", "127.0.0.1::80", "busybox", "true")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (os.listdir(oci.runroot / "netns")
                                           or "short" in ok(oci, "ps", "-a")):
        time.sleep(0.1)
    assert not os.listdir(oci.runroot / "netns")
    assert not os.listdir(oci.runroot / "networks" / "containers")
    ok(oci, "rm", "exits")


def test_system_reap_recovers_a_leftover_setup(oci: OciEnv) -> None:
    ok(oci, "create", "--name", "left", "busybox", "true")
    rt = oci.runtime()
    try:
        ctr = rt.lookup_container("left")
        rt.network.setup(ctr.id, "left")  # as if a cleanup had died half-way
        assert rt.network.setup_ids() == [ctr.id]
    finally:
        rt.close()
    ok(oci, "system", "reap")
    assert not os.listdir(oci.runroot / "netns")
    ok(oci, "rm", "left")


@pytest.mark.parametrize("flags, words", [
    (["-p", "80:80:80:80"], "invalid value"),
    (["-p", "127.0.0.1:99999:80"], "port numbers must be between"),
    (["--network", "none", "--network", "host"], "conflicting --network values"),
    (["--network", "none", "-P"], "conflicting options"),
    (["--network", "host", "-p", "80:80:80:80"], "invalid value"),
    (["--network", "nosuchnet"], "unable to find network with name or ID nosuchnet"),
    (["--no-hosts", "--add-host", "a:1.2.3.4"], "--no-hosts and --add-host"),
    (["--dns", "not-an-ip"], "invalid --dns"),
])
def test_bad_input_exits_125_and_leaves_nothing(oci: OciEnv, flags: list[str],
                                                words: str) -> None:
    res = oci.cli("run", "--rm", *flags, "busybox", "true")
    assert res.returncode == 125, res.stderr
    assert words in res.stderr
    assert ok(oci, "ps", "-aq") == ""


@pytest.mark.parametrize("mode", ["host", "none"])
def test_publish_without_bridge_is_discarded_with_podmans_warning(oci: OciEnv,
                                                                   mode: str) -> None:
    # podman 4.3 (030-run.bats): the mappings are dropped, the container runs.
    res = oci.cli("run", "--rm", "--network", mode, "-p", "8080", "busybox", "echo", "ran")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ("Port mappings have been discarded as one of the Host, Container, "
                          "Pod, and None network modes are in use\n")
    assert res.stdout == "ran\n"
    assert ok(oci, "ps", "-aq") == ""


def test_host_port_in_use_exits_125(oci: OciEnv) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = oci.cli("run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert res.returncode == 125
    assert "address already in use" in res.stderr
    assert ok(oci, "ps", "-aq") == ""


def test_overlapping_subnet_and_network_commands(oci: OciEnv) -> None:
    ok(oci, "network", "create", "--subnet", "10.89.252.0/24", "--label", "k=v", "n1")
    res = oci.cli("network", "create", "--subnet", "10.89.252.128/25", "n2")
    assert res.returncode == 125 and "already used" in res.stderr
    assert json.loads(ok(oci, "network", "inspect", "n1"))[0]["subnets"] == [
        {"subnet": "10.89.252.0/24", "gateway": "10.89.252.1"}]
    assert ok(oci, "network", "ls", "-q", "--filter", "label=k=v").split() == ["n1"]
    names = [n["name"] for n in json.loads(ok(oci, "network", "ls", "--format", "json"))]
    assert names == ["ipy-oci", "n1"]
    ok(oci, "create", "--name", "c", "busybox", "true")
    ok(oci, "network", "connect", "n1", "c")
    assert json.loads(ok(oci, "inspect", "c"))[0]["NetworkSettings"]["Networks"].keys() \
        == {"ipy-oci", "n1"}
    ok(oci, "network", "disconnect", "n1", "c")
    assert ok(oci, "network", "prune", "-f").split() == ["n1"]
    ok(oci, "rm", "c")
