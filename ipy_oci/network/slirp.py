"""slirp4netns: the rootless network (docs/ROOTLESS.md section 5).

slirp4netns joins a network namespace by path, creates ``tap0`` in it with the fixed
10.0.2.0/24 network (guest 10.0.2.100, gateway 10.0.2.2, DNS 10.0.2.3) and relays the
guest's traffic through ordinary sockets of its own, so it needs no privilege on the
host. Readiness comes as one byte on the ``-r`` fd; published ports are added later
through its JSON API socket.

The process is our child (no double fork) in a session of its own, so a terminal's
signals do not reach it. A long-lived caller reaps it in ``stop_slirp``; when the
starting process exits first, init adopts and reaps it. ``stop_slirp`` signals it only
while its start time still matches, so a recycled PID is never hit.

Everything here also works as root, which is how the tests run it.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import select
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import find_binary
from ..state.procs import is_zombie, start_time
from .errors import NetworkSetupError

GUEST_IP = "10.0.2.100"
GATEWAY_IP = "10.0.2.2"  # reaches the host's 127.0.0.1 unless --disable-host-loopback
DNS_IP = "10.0.2.3"  # slirp4netns forwards it to the host's resolvers
DEFAULT_MTU = 65520
INTERFACE = "tap0"

_UNPRIVILEGED_PORT_SYSCTL = "/proc/sys/net/ipv4/ip_unprivileged_port_start"
_LOG_TAIL = 4000  # characters of slirp4netns's stderr quoted in an error

# The Popen objects of the slirp4netns processes this process started, by PID: held so
# they are not garbage-collected while running (Popen warns and defers reaping then),
# and so stop_slirp can wait on them.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class SlirpProcess:
    """A running slirp4netns: its identity (PID + start time) and its API socket."""

    pid: int
    start: int
    api_socket: str

    @property
    def log_path(self) -> str:
        return log_path(self.api_socket)


def slirp_binary() -> str | None:
    return find_binary("slirp4netns")


def log_path(api_socket: Path | str) -> str:
    """Where slirp4netns's stderr goes: beside its API socket."""
    return f"{api_socket}.log"


def start_slirp(netns: Path, api_socket: Path, *, prefix: Sequence[str] = (),
                allow_host_loopback: bool = False, mtu: int = DEFAULT_MTU,
                timeout: float = 10.0) -> SlirpProcess:
    """Start slirp4netns on the namespace at ``netns`` and wait until ``tap0`` is up.

    ``prefix`` goes before the command (e.g. a helper that enters the user namespace);
    it must keep the ready fd open and should exec slirp4netns. Raises
    NetworkSetupError with slirp4netns's stderr when it fails or is not ready within
    ``timeout`` seconds; nothing is left running then.
    """
    binary = slirp_binary()
    if binary is None:
        raise NetworkSetupError("slirp4netns is not installed: install the slirp4netns "
                                "package (rootless containers use it for their network)")
    _clear_stale_socket(Path(api_socket))
    log = log_path(api_socket)
    read_fd, write_fd = os.pipe()
    try:
        argv = [*prefix, binary, "--configure", f"--mtu={mtu}"]
        if not allow_host_loopback:
            argv.append("--disable-host-loopback")
        argv += ["--enable-sandbox", "--enable-seccomp", "--api-socket", str(api_socket),
                 "-r", str(write_fd), "--netns-type=path", str(netns), INTERFACE]
        # A file, not a pipe, for stderr: nobody drains it while slirp4netns runs.
        with open(log, "wb") as errfile:
            try:
                popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=errfile,
                                         pass_fds=(write_fd,), start_new_session=True)
            except OSError as exc:
                _unlink(log)
                raise NetworkSetupError(f"cannot run slirp4netns ({argv[0]}): "
                                        f"{exc.strerror or exc}") from None
        os.close(write_fd)
        write_fd = -1
        _children[popen.pid] = popen
        # Read the start time now, while the process surely exists (a slirp4netns that
        # failed at once is a zombie until reaped below: its start time is still there).
        proc = SlirpProcess(pid=popen.pid, start=start_time(popen.pid),
                            api_socket=str(api_socket))
        problem = _wait_ready(read_fd, timeout)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    if problem is None:
        return proc
    _kill_group(popen)
    popen.wait()
    _children.pop(popen.pid, None)
    text = _read_log(log)
    _unlink(log)
    if popen.returncode is not None and popen.returncode != -signal.SIGKILL:
        problem = f"{problem} (exit status {popen.returncode})"
    raise NetworkSetupError(f"slirp4netns failed to set up the network of {netns}: "
                            f"{problem}" + (f": {text}" if text else ""))


def _wait_ready(fd: int, timeout: float) -> str | None:
    """None once the ready byte arrives; otherwise why not."""
    deadline = time.monotonic() + timeout
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return f"not ready after {timeout:g} seconds"
        if not poller.poll(left * 1000):
            continue
        data = os.read(fd, 16)
        # slirp4netns writes "1"; EOF means it exited (or closed the fd) without it.
        return None if data else "it exited before the network was ready"


def _clear_stale_socket(path: Path) -> None:
    """Remove a socket a dead slirp4netns left (slirp4netns cannot bind over it);
    refuse when a live one still answers on it."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise NetworkSetupError(f"cannot use {path} as the slirp4netns API socket: "
                                "something else is in the way; remove it")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            path.unlink(missing_ok=True)
            return
    raise NetworkSetupError(f"a slirp4netns already serves the API socket {path}: "
                            "stop it first (the container's network teardown does)")


def _kill_group(popen: subprocess.Popen[bytes]) -> None:
    # Its own session, so its PID is its process group: this also ends whatever the
    # prefix may have forked.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        popen.kill()


def _read_log(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode(errors="replace").strip()
    except OSError:
        return ""
    return text if len(text) <= _LOG_TAIL else "..." + text[-_LOG_TAIL:]


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def stop_slirp(proc: SlirpProcess, timeout: float = 10.0) -> None:
    """Stop slirp4netns (SIGTERM, SIGKILL after ``timeout``), reap it if it is our
    child, and remove its API socket and log. Finding it already gone is fine."""
    if proc.start and start_time(proc.pid) == proc.start:
        _signal(proc.pid, signal.SIGTERM)
        if not _wait_gone(proc, timeout):
            if start_time(proc.pid) == proc.start:
                _signal(proc.pid, signal.SIGKILL)
            _wait_gone(proc, timeout)
    popen = _children.get(proc.pid)
    if popen is not None and popen.poll() is not None:  # reaps it, whoever ended it
        del _children[proc.pid]
    _unlink(proc.api_socket)
    _unlink(proc.log_path)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)  # the group leader's start time was checked by the caller
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(proc: SlirpProcess, timeout: float) -> bool:
    """Wait until the process has exited: reaped when it is our child, a zombie or
    gone otherwise (init reaps orphans). True when it has."""
    deadline = time.monotonic() + timeout
    popen = _children.get(proc.pid)
    while True:
        if popen is not None:
            if popen.poll() is not None:
                return True
        else:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc.pid, os.WNOHANG)
            if start_time(proc.pid) != proc.start or is_zombie(proc.pid):
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _api_call(api_socket: Path | str, request: dict[str, Any], what: str,
              timeout: float = 10.0) -> dict[str, Any]:
    """One request on the API socket and its decoded reply; errors name ``what``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(api_socket))
            sock.sendall(json.dumps(request).encode())
            sock.shutdown(socket.SHUT_WR)  # the request is complete: slirp4netns replies
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError as exc:
            raise NetworkSetupError(f"cannot {what}: the slirp4netns API socket "
                                    f"{api_socket} did not answer: {exc}") from None
    raw = b"".join(chunks).decode(errors="replace").strip()
    try:
        reply = json.loads(raw)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise NetworkSetupError(f"cannot {what}: slirp4netns answered {raw[:200]!r}")
    if "error" in reply:
        err = reply["error"]
        desc = err.get("desc", err) if isinstance(err, dict) else err
        raise NetworkSetupError(f"cannot {what}: slirp4netns: {desc}")
    return reply


def add_port(api_socket: Path, *, proto: str, host_ip: str, host_port: int,
             guest_port: int) -> None:
    """Forward ``host_ip:host_port`` on the host to the container's ``guest_port``
    (on 10.0.2.100). An empty ``host_ip`` means all IPv4 addresses."""
    if proto not in ("tcp", "udp"):
        raise NetworkSetupError(f"cannot publish port {host_port}/{proto}: slirp4netns "
                                "forwards tcp and udp only")
    host_addr = host_ip or "0.0.0.0"
    request = {"execute": "add_hostfwd",
               "arguments": {"proto": proto, "host_addr": host_addr,
                             "host_port": host_port, "guest_port": guest_port}}
    shown = f"[{host_addr}]" if ":" in host_addr else host_addr
    what = f"publish port {shown}:{host_port} -> {guest_port}/{proto}"
    try:
        _api_call(api_socket, request, what)
    except NetworkSetupError as exc:
        # slirp4netns only says "slirp_add_hostfwd failed": find out why by trying
        # the same bind here (slirp4netns binds in this same network namespace).
        why = _bind_problem(proto, host_addr, host_port)
        if why:
            raise NetworkSetupError(f"cannot {what}: {why} ({exc})") from None
        raise


def _bind_problem(proto: str, host_addr: str, host_port: int) -> str:
    family = socket.AF_INET6 if ":" in host_addr else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    try:
        with socket.socket(family, kind) as sock:
            sock.bind((host_addr, host_port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return f"host port {host_port} is already in use"
        if exc.errno == errno.EACCES:
            return (f"host port {host_port} is privileged "
                    f"(net.ipv4.ip_unprivileged_port_start={unprivileged_port_start()})")
        if exc.errno == errno.EADDRNOTAVAIL:
            return f"{host_addr} is not an address of this host"
        return f"binding {host_addr}:{host_port}: {exc.strerror or exc}"
    return ""


def list_ports(api_socket: Path) -> list[dict[str, Any]]:
    """The forwards slirp4netns holds, as it reports them (``id``, ``proto``,
    ``host_addr``, ``host_port``, ``guest_addr``, ``guest_port``)."""
    reply = _api_call(api_socket, {"execute": "list_hostfwd"}, "list the published ports")
    # slirp4netns 1.2 answers {"entries": [...]} here, not inside "return".
    body = reply.get("return", reply)
    entries = body.get("entries", []) if isinstance(body, dict) else []
    return [e for e in entries if isinstance(e, dict)]


def host_gateway_ip(allow_host_loopback: bool = False) -> str:
    """The address ``host.containers.internal`` names under slirp4netns: 10.0.2.2 when
    it reaches the host's loopback, else the host's first non-loopback IPv4 address
    (the container reaches it through slirp4netns's sockets). "" when there is none."""
    if allow_host_loopback:
        return GATEWAY_IP
    for addr in _host_ipv4_addresses():
        ip = ipaddress.IPv4Address(addr)
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
            return addr
    return ""


def _host_ipv4_addresses() -> list[str]:
    """The host's IPv4 addresses in interface order: from ``ip -4 -o addr``, or one per
    interface through SIOCGIFADDR when ``ip`` is missing."""
    ip_bin = find_binary("ip")
    if ip_bin is not None:
        try:
            res = subprocess.run([ip_bin, "-4", "-o", "addr", "show"], capture_output=True,
                                 text=True, timeout=10, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            res = None
        if res is not None and res.returncode == 0:
            found = []
            for line in res.stdout.splitlines():
                cols = line.split()
                # "2: eth0    inet 192.0.2.2/24 brd ... scope global eth0"
                if "inet" in cols and cols.index("inet") + 1 < len(cols):
                    found.append(cols[cols.index("inet") + 1].split("/")[0])
            return found
    return _ioctl_ipv4_addresses()


def _ioctl_ipv4_addresses() -> list[str]:
    import fcntl
    import struct

    siocgifaddr = 0x8915
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                req = struct.pack("256s", name.encode()[:15])
                res = fcntl.ioctl(sock.fileno(), siocgifaddr, req)
            except OSError:  # no IPv4 address on this interface
                continue
            found.append(socket.inet_ntoa(res[20:24]))
    return found


def resolv_nameservers(host_resolv: str = "/etc/resolv.conf") -> list[str]:
    """The nameservers for a container's resolv.conf under slirp4netns: the host's
    IPv4 ones that are not loopback (a loopback resolver, like systemd-resolved's
    127.0.0.53, is the container's own loopback inside; slirp4netns gives the
    container no IPv6); ``["10.0.2.3"]`` (slirp4netns's DNS forwarder, which asks the
    host's resolvers) when none is left."""
    try:
        with open(host_resolv, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    found: list[str] = []
    for line in lines:
        cols = line.split()
        if len(cols) < 2 or cols[0] != "nameserver":
            continue
        try:
            ip = ipaddress.ip_address(cols[1].split("%")[0])
        except ValueError:
            continue
        if ip.version == 4 and not ip.is_loopback and not ip.is_unspecified \
                and str(ip) not in found:
            found.append(str(ip))
    return found or [DNS_IP]


def unprivileged_port_start() -> int:
    """``net.ipv4.ip_unprivileged_port_start`` of this network namespace (1024 when it
    cannot be read: the kernel's default)."""
    try:
        with open(_UNPRIVILEGED_PORT_SYSCTL, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return 1024


def check_unprivileged_port(host_port: int, *, rootless: bool) -> None:
    """Refuse a host port slirp4netns could not bind: below the sysctl, when we are
    not root on the host. ``rootless`` says which (inside a user namespace euid is 0,
    so os.geteuid() cannot tell)."""
    if not rootless or host_port <= 0:
        return
    start = unprivileged_port_start()
    if host_port < start:
        raise NetworkSetupError(f"rootless: cannot publish privileged port {host_port} "
                                f"(net.ipv4.ip_unprivileged_port_start={start})")
