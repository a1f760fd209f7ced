"""Rootless networking: slirp4netns by default, ``-p`` to the host (docs/ROOTLESS.md §5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import free_port, http_get
from users import User, container, inspect, processes

SERVE = ("mkdir -p /www && echo hello-rootless > /www/index.html && "
         "exec httpd -f -p 80 -h /www")


def test_published_port_serves_the_host(rl1: User) -> None:
    port = free_port()
    with container(rl1, "web", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c", SERVE):
        # the default rootless network is slirp4netns, run by the user
        slirps = [cmd for _pid, _uid, cmd in processes({rl1.uid})
                  if cmd.split(" ", 1)[0].endswith("slirp4netns")]
        assert slirps, "no slirp4netns process of the user"
        # inside, port 80 is bound by container root; on the host the user's port serves
        assert http_get(f"http://127.0.0.1:{port}/") == "hello-rootless\n"
        assert f"127.0.0.1:{port}" in rl1.oci_ok("port", "web")
        ports = inspect(rl1, "web")["NetworkSettings"]["Ports"]
        assert ports["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]


def test_privileged_host_port_is_refused(rl1: User) -> None:
    start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    if start <= 80:
        pytest.skip(f"ip_unprivileged_port_start is {start}: port 80 is not privileged here")
    for verb in ("run", "create"):
        res = rl1.oci(verb, "-p", "127.0.0.1:80:80", "busybox", "true")
        assert res.returncode == 125, res.stderr
        assert "80" in res.stderr and "ip_unprivileged_port_start" in res.stderr, res.stderr
    assert rl1.oci_ok("ps", "-aq") == ""


def test_bridge_networks_are_refused(rl1: User) -> None:
    res = rl1.oci("network", "create", "rl-net")
    assert res.returncode == 125, res.stderr
    assert "rootless" in res.stderr.lower()


def test_host_network_runs(rl1: User) -> None:
    """runc cannot mount a fresh sysfs in the host's netns: /sys is bound instead (§4)."""
    out = rl1.oci_ok("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    assert "lo" in out.split()


def test_host_containers_internal_reaches_the_host(rl1: User) -> None:
    """A server on the host's own address answers the container at
    host.containers.internal (the host's first non-loopback IPv4, as podman)."""
    import http.server
    import threading

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            body = b"hello-from-the-host\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Hello)
    port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        # static busybox's wget crashes in glibc's NSS: the address comes from
        # /etc/hosts (what a resolver reads), and nc speaks the HTTP.
        out = rl1.oci_ok("run", "--rm", "busybox", "sh", "-c",
                         "grep host.containers.internal /etc/hosts; "
                         "ip=$(awk '/host.containers.internal/ {print $1}' /etc/hosts); "
                         f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 10 $ip {port}")
        line, reply = out.splitlines()[0], out.splitlines()[-1]
        assert not line.startswith(("127.", "10.0.2.2")), line
        assert reply == "hello-from-the-host"
    finally:
        httpd.shutdown()
        httpd.server_close()
