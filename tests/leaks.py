"""Leak detection for tests that run real containers.

After a test, nothing of an ipy-oci root may remain: no conmon, runc or
container process, no mount, no runtime state dir, no bundle dir, no exit
file, no DB row. Zombies are ignored: in this VM PID 1 reaps orphans a few
seconds late, and a zombie holds no resources but its PID.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from helpers import is_live, mount_points, pids, proc_cmdline


def leaked_processes(*dirs: Path) -> list[str]:
    """Processes whose command line or root directory lies under one of ``dirs``."""
    needles = [str(d).encode() for d in dirs]
    found = []
    me = os.getpid()
    for pid in pids():
        if pid == me or not is_live(pid):
            continue
        cmd = proc_cmdline(pid)
        try:
            root = os.readlink(f"/proc/{pid}/root").encode()
        except OSError:
            root = b""
        if any(n in cmd or root.startswith(n) for n in needles):
            text = cmd.replace(b"\0", b" ").decode(errors="replace")[:160]
            found.append(f"{pid}: {text}")
    return found


def leaked_mounts(*dirs: Path) -> list[str]:
    """Mount points at or under one of ``dirs``."""
    return [mp for mp in mount_points()
            if any(mp == str(d) or mp.startswith(str(d) + "/") for d in dirs)]


def leaked_files(root: Path, runroot: Path) -> list[str]:
    out = []
    for d in (root / "containers", runroot / "runc", runroot / "exec", runroot / "exits",
              runroot / "locks"):
        if d.is_dir():
            out += [str(d / e) for e in os.listdir(d)]
    return out


def leaked_rows(root: Path) -> list[str]:
    db = root / "state.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        out = [f"container {r[0][:12]} {r[1]} ({r[2]})" for r in
               conn.execute("SELECT id, name, state FROM containers")]
        out += [f"exec session {r[0][:12]} ({r[1]})" for r in
                conn.execute("SELECT id, state FROM exec_sessions")]
        try:
            out += [f"network attachment {r[0][:12]}" for r in
                    conn.execute("SELECT container_id FROM network_attachments")]
        except sqlite3.OperationalError:
            pass  # made before the network tables existed
    finally:
        conn.close()
    return out


# -- networking (ipy_oci/network/) ---------------------------------------------------------
DEFAULT_SUBNET = "10.89.240.0/24"
DEFAULT_BRIDGE = "ipyoci0"


def _output(*argv: str) -> str:
    """A tool's output; "" where it cannot run (unit tests may hide the host's tools)."""
    for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        if os.access(f"{d}/{argv[0]}", os.X_OK):
            try:
                return subprocess.run([f"{d}/{argv[0]}", *argv[1:]], capture_output=True,
                                      text=True, check=False, timeout=30).stdout
            except (OSError, subprocess.SubprocessError):
                return ""
    return ""


def veths() -> set[str]:
    """The host's veth interfaces (netavark makes one per container and network)."""
    out = _output("ip", "-o", "link", "show", "type", "veth")
    return {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ":" in ln}


def _networks(root: Path) -> tuple[list[str], list[str]]:
    """Subnets and bridges of the root's networks (the default network's always)."""
    subnets, bridges = [DEFAULT_SUBNET], [DEFAULT_BRIDGE]
    db = root / "state.db"
    if db.exists():
        conn = sqlite3.connect(str(db), timeout=30)
        try:
            for iface, config in conn.execute("SELECT interface, config FROM networks"):
                bridges.append(iface)
                subnets += [s["subnet"] for s in json.loads(config).get("subnets", [])]
        except sqlite3.OperationalError:
            pass  # no network table: the root never had a network
        finally:
            conn.close()
    return sorted(set(subnets)), sorted(set(bridges))


def leaked_network(root: Path, runroot: Path, veths_before: set[str] | None
                   ) -> dict[str, list[str]]:
    """New veths, netns mounts under the runroot, aardvark-dns of the runroot, iptables
    rules naming the root's subnets or bridges, and container network records."""
    subnets, bridges = _networks(root)
    needles = [*subnets, *(f" {b} " for b in bridges), *(f" {b}\n" for b in bridges)]
    rules = _output("iptables-save")
    config = runroot / "networks"
    records = config / "containers"
    out = {
        "veths": sorted(veths() - veths_before) if veths_before is not None else [],
        "netns": [mp for mp in mount_points() if mp.startswith(str(runroot / "netns") + "/")],
        "aardvark-dns": [e for e in leaked_processes(config) if "aardvark" in e],
        "iptables": [ln for ln in rules.splitlines()
                     if any(n in ln + "\n" for n in needles)],
        "network records": sorted(os.listdir(records)) if records.is_dir() else [],
    }
    return {k: v for k, v in out.items() if v}


def find_leaks(root: Path, runroot: Path, veths_before: set[str] | None = None
               ) -> dict[str, list[str]]:
    leaks = {
        "processes": leaked_processes(root, runroot),
        "mounts": leaked_mounts(root, runroot),
        "files": leaked_files(root, runroot),
        "rows": leaked_rows(root),
        **leaked_network(root, runroot, veths_before),
    }
    return {k: v for k, v in leaks.items() if v}


def wait_for_no_leaks(root: Path, runroot: Path, timeout: float = 10.0,
                      veths_before: set[str] | None = None) -> dict[str, list[str]]:
    """Exit commands finish a moment after a test: give them a bounded grace period."""
    deadline = time.monotonic() + timeout
    while True:
        leaks = find_leaks(root, runroot, veths_before)
        if not leaks or time.monotonic() > deadline:
            return leaks
        time.sleep(0.1)


def force_clean(root: Path, runroot: Path) -> None:
    """After a detected leak: kill and unmount everything so later tests start clean."""
    for entry in leaked_processes(root, runroot):
        try:
            os.kill(int(entry.split(":")[0]), signal.SIGKILL)
        except OSError:
            pass
    state = runroot / "runc"
    if state.is_dir():
        for cid in os.listdir(state):
            subprocess.run(["runc", "--root", str(state), "delete", "--force", cid],
                           capture_output=True, check=False)
    records = runroot / "networks" / "containers"
    if records.is_dir():  # the driver tears down what its records name
        from ipy_oci.network.driver import NetworkDriver
        from ipy_oci.state.store import StateStore

        store = StateStore(root / "state.db")
        try:
            driver = NetworkDriver(store, runroot)
            for cid in driver.setup_ids():
                driver.teardown(cid)
        finally:
            store.close()
    for mp in sorted(leaked_mounts(root, runroot), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True, check=False)
