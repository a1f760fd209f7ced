"""Leak detection for tests that run real containers.

After a test, nothing of an ipy-oci root may remain: no conmon, runc or
container process, no mount, no runtime state dir, no bundle dir, no exit
file, no DB row. Zombies are ignored: in this VM PID 1 reaps orphans a few
seconds late, and a zombie holds no resources but its PID.
"""

from __future__ import annotations

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
    finally:
        conn.close()
    return out


def find_leaks(root: Path, runroot: Path) -> dict[str, list[str]]:
    leaks = {
        "processes": leaked_processes(root, runroot),
        "mounts": leaked_mounts(root, runroot),
        "files": leaked_files(root, runroot),
        "rows": leaked_rows(root),
    }
    return {k: v for k, v in leaks.items() if v}


def wait_for_no_leaks(root: Path, runroot: Path, timeout: float = 10.0
                      ) -> dict[str, list[str]]:
    """Exit commands finish a moment after a test: give them a bounded grace period."""
    deadline = time.monotonic() + timeout
    while True:
        leaks = find_leaks(root, runroot)
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
    for mp in sorted(leaked_mounts(root, runroot), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True, check=False)
