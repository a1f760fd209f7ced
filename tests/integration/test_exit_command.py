"""conmon's exit command (``ipy-oci container cleanup [--rm] ID``) keeps state right
when nobody is watching: after the client was SIGKILLed, or for detached containers.

These tests deliberately avoid running any ``ipy-oci`` command while they wait for
the release (every command that reads a container also syncs it): they watch the
runtime state dir, the mount table, conmon's process and the database instead, so
what they see is the exit command's work.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from leaks import leaked_processes

T = TypeVar("T")
DEADLINE = 15.0  # seconds; generous, machines are noisy


def _rm(oci: Any, *names: str) -> None:
    oci.cli("rm", "-f", "-t", "0", *names)


def _wait_for(fn: Callable[[], T], what: str, timeout: float = DEADLINE) -> T:
    """Poll ``fn`` until it returns something truthy (bounded); return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _db_row(oci: Any, cid: str) -> tuple[str, int | None] | None:
    conn = sqlite3.connect(str(oci.root / "state.db"), timeout=30)
    try:
        row = conn.execute("SELECT state, exit_code FROM containers WHERE id = ?",
                           (cid,)).fetchone()
    finally:
        conn.close()
    return None if row is None else (row[0], row[1])


def _runc_ids(oci: Any) -> list[str]:
    res = subprocess.run(["runc", "--root", str(oci.runroot / "runc"), "list", "-q"],
                         capture_output=True, text=True, check=True)
    return res.stdout.split()


def _mounted(cid: str) -> bool:
    with open("/proc/self/mountinfo") as fh:
        return any(cid in line.split()[4] for line in fh)


def _released(oci: Any, cid: str) -> bool:
    """No runtime state, no mount, no exit file, no conmon or container process."""
    return (not (oci.runroot / "runc" / cid).exists()
            and cid not in _runc_ids(oci)
            and not _mounted(cid)
            and not (oci.runroot / "exits" / cid).exists()
            and not leaked_processes(oci.root, oci.runroot))


def _running_id(oci: Any, name: str) -> str | None:
    for c in json.loads(oci.cli("ps", "--format", "json", check=True).stdout):
        if name in c["Names"] and c["State"] == "running":
            return str(c["Id"])
    return None


def _start_attached(oci: Any, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ipy_oci", "run", *args], env=oci.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _kill_client(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_sigkilled_attached_run_rm_is_removed(oci) -> None:  # type: ignore[no-untyped-def]
    proc = _start_attached(oci, "--rm", "--name", "orphan", "busybox", "sleep", "2")
    try:
        cid = _wait_for(lambda: _running_id(oci, "orphan"), "the container to run")
        _kill_client(proc)
        # The container outlives its client, exits after its 2 s, and the exit
        # command removes it.
        _wait_for(lambda: _db_row(oci, cid) is None and _released(oci, cid),
                    "the exit command to remove the container")
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _rm(oci, "orphan")


def test_sigkilled_attached_run_keeps_exit_code(oci) -> None:  # type: ignore[no-untyped-def]
    """Without --rm: the container finishes, the exit command records its code."""
    proc = _start_attached(oci, "--name", "kept", "busybox", "sh", "-c", "sleep 1; exit 5")
    try:
        cid = _wait_for(lambda: _running_id(oci, "kept"), "the container to run")
        _kill_client(proc)
        _wait_for(lambda: _db_row(oci, cid) == ("exited", 5) and _released(oci, cid),
                    "the exit command to record the exit")
        ps = oci.cli("ps", "-a", check=True).stdout
        assert "Exited (5)" in ps and "kept" in ps
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _rm(oci, "kept")


def test_detached_rm_disappears_on_its_own(oci) -> None:  # type: ignore[no-untyped-def]
    try:
        cid = oci.cli("run", "-d", "--rm", "--name", "brief", "busybox", "sleep", "1",
                      check=True).stdout.strip()
        assert _db_row(oci, cid) is not None
        _wait_for(lambda: _db_row(oci, cid) is None and _released(oci, cid),
                    "the --rm container to remove itself")
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
        assert not (oci.root / "containers" / cid).exists()
    finally:
        _rm(oci, "brief")


def test_detached_exit_is_recorded_and_released(oci) -> None:  # type: ignore[no-untyped-def]
    """A detached container that exits shows ``Exited (N)`` with everything released."""
    try:
        cid = oci.cli("run", "-d", "--name", "quits", "busybox", "sh", "-c",
                      "sleep 0.5; exit 4", check=True).stdout.strip()
        _wait_for(lambda: _db_row(oci, cid) == ("exited", 4) and _released(oci, cid),
                  "the exit command to record the exit and release the container")
        ps = oci.cli("ps", "-a", check=True).stdout
        line = next(ln for ln in ps.splitlines() if ln.startswith(cid[:12]))
        assert "Exited (4)" in line and line.endswith("quits")
        st = json.loads(oci.cli("inspect", "quits", check=True).stdout)[0]["State"]
        assert st["Status"] == "exited" and st["ExitCode"] == 4 and st["Pid"] == 0
        # the record stays until rm
        assert (oci.root / "containers" / cid).is_dir()
        oci.cli("rm", "quits", check=True)
        assert _db_row(oci, cid) is None
    finally:
        _rm(oci, "quits")


def test_detached_killed_container_is_released(oci) -> None:  # type: ignore[no-untyped-def]
    """Killed from outside ipy-oci (SIGKILL to the container's PID 1): still recorded."""
    try:
        cid = oci.cli("run", "-d", "--name", "victim", "busybox", "sleep", "1000",
                      check=True).stdout.strip()
        pid = json.loads(oci.cli("inspect", "victim", check=True).stdout)[0]["State"]["Pid"]
        assert pid > 0
        os.kill(pid, signal.SIGKILL)
        _wait_for(lambda: _db_row(oci, cid) == ("exited", 137) and _released(oci, cid),
                    "the exit command to record the kill")
        assert "Exited (137)" in oci.cli("ps", "-a", check=True).stdout
    finally:
        _rm(oci, "victim")
