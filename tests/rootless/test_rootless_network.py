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
