"""Running netavark: ``netavark --config DIR --aardvark-binary PATH setup|teardown NETNS``
with the container's network options as JSON on stdin.

The options (netavark's NetworkOptions):

    {"container_id": ..., "container_name": ...,          # the name is its DNS name
     "networks": {NAME: {"interface_name": "eth0", "static_ips": [...],
                         "aliases": [...], "static_mac": ...}},
     "network_info": {NAME: <the network, Network.netavark_json()>},
     "port_mappings": [{"host_ip", "host_port", "container_port", "protocol", "range"}],
     "dns_servers": [...]}                                  # what aardvark forwards to

``setup`` prints ``{NAME: StatusBlock}`` (status.py); on failure netavark prints
``{"error": "..."}`` and exits non-zero. Every call runs under one flock per config
dir (``netavark.lock``): netavark 1.4 does not serialize bridge creation, firewall
chains or its aardvark-dns files across concurrent calls.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from ..config import find_binary
from ..errors import RuntimeMissing
from .errors import NetworkSetupError
from .status import StatusBlock, parse_setup_output

NETAVARK_CANDIDATES = ("/usr/lib/podman/netavark", "/usr/libexec/podman/netavark",
                       "/usr/local/libexec/podman/netavark")
AARDVARK_CANDIDATES = ("/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns",
                       "/usr/local/libexec/podman/aardvark-dns")
TIMEOUT = 120.0


def find_netavark() -> str:
    path = os.environ.get("IPY_OCI_NETAVARK") or \
        find_binary("netavark", NETAVARK_CANDIDATES)
    if not path:
        raise RuntimeMissing("netavark is not installed (looked in "
                             f"{', '.join(NETAVARK_CANDIDATES)} and PATH): install it with "
                             "'apt-get install netavark', or set IPY_OCI_NETAVARK")
    return path


def find_aardvark() -> str | None:
    """aardvark-dns, or None: then networks work but without name resolution."""
    return os.environ.get("IPY_OCI_AARDVARK_DNS") or \
        find_binary("aardvark-dns", AARDVARK_CANDIDATES)


_depths: dict[str, threading.local] = {}
_depths_guard = threading.Lock()


@contextmanager
def config_lock(config_dir: Path) -> Iterator[None]:
    """Hold the netavark lock of a config dir (``<config>/netavark.lock``, flock): other
    processes and threads wait; nested holds in the same thread do not take it again
    (a second flock of the same file from this process would wait for itself)."""
    key = str(config_dir)
    with _depths_guard:
        local = _depths.setdefault(key, threading.local())
    depth = getattr(local, "n", 0)
    if depth:
        local.n = depth + 1
        try:
            yield
        finally:
            local.n = depth
        return
    config_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(config_dir / "netavark.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        local.n = 1
        try:
            yield
        finally:
            local.n = 0
    finally:
        os.close(fd)


class Netavark:
    """netavark with one config dir (``<runroot>/networks``: aardvark-dns's files live
    in its ``aardvark-dns/`` subdirectory)."""

    def __init__(self, config_dir: Path, binary: str | None = None,
                 aardvark_binary: str | None = None) -> None:
        self.config_dir = config_dir
        self.binary = binary or find_netavark()
        # netavark only starts aardvark-dns when this path exists.
        self.aardvark_binary = aardvark_binary if aardvark_binary is not None else \
            (find_aardvark() or "/nonexistent/aardvark-dns")

    def locked(self) -> AbstractContextManager[None]:
        return config_lock(self.config_dir)

    def _run(self, command: str, netns: Path, options: dict[str, Any]) -> str:
        argv = [self.binary, "--config", str(self.config_dir), "--rootless", "false",
                "--aardvark-binary", self.aardvark_binary, command, str(netns)]
        # NETAVARK_FW (iptables, firewalld) and NETAVARK_DNS_PORT pass through as set.
        env = dict(os.environ)
        env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/usr/bin:/sbin:/bin"
        with self.locked():
            try:
                res = subprocess.run(argv, input=json.dumps(options).encode(),
                                     capture_output=True, timeout=TIMEOUT, env=env,
                                     cwd="/")
            except subprocess.TimeoutExpired:
                raise NetworkSetupError(f"netavark {command} did not finish in "
                                        f"{TIMEOUT:.0f}s") from None
            except OSError as exc:
                raise NetworkSetupError(f"cannot run {self.binary}: {exc}") from None
        out = res.stdout.decode(errors="replace").strip()
        if res.returncode != 0:
            raise NetworkSetupError(f"netavark {command} failed: {_error_text(out, res)}")
        return out

    def setup(self, netns: Path, options: dict[str, Any]) -> dict[str, StatusBlock]:
        """Create the interfaces, firewall rules and DNS entries; the per-network status.
        netavark undoes what it did itself when it fails half-way."""
        out = self._run("setup", netns, options)
        try:
            data = json.loads(out or "{}")
        except ValueError:
            raise NetworkSetupError(f"netavark setup printed something that is not "
                                    f"JSON: {out[:200]!r}") from None
        return parse_setup_output(data)

    def teardown(self, netns: Path, options: dict[str, Any]) -> None:
        """Undo ``setup`` (the same options): the container's veth, its DNS entries, its
        port forwarding, and the bridge and the network's firewall rules when it was the
        last container on it. NetworkSetupError lists what failed (netavark goes on past
        each failure)."""
        self._run("teardown", netns, options)


def _error_text(out: str, res: subprocess.CompletedProcess[bytes]) -> str:
    try:
        msg = json.loads(out).get("error")
        if msg:
            return str(msg).replace("\n\t", "; ").replace("\n", "; ")
    except (ValueError, AttributeError):
        pass
    err = res.stderr.decode(errors="replace").strip()
    lines = [ln for ln in err.splitlines() if "failed to connect to syslog" not in ln]
    return "; ".join(lines[-5:]) or out or f"exit status {res.returncode}"
