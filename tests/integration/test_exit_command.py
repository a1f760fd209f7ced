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
import subprocess

from helpers import OciEnv, db_rows, mount_points, rm_force, wait_until
from leaks import leaked_processes

DEADLINE = 15.0  # seconds; generous, machines are noisy


def _db_row(oci: OciEnv, cid: str) -> tuple[str, int | None] | None:
    rows = db_rows(oci, "SELECT state, exit_code FROM containers WHERE id = ?", (cid,))
    return (rows[0][0], rows[0][1]) if rows else None


def _runc_ids(oci: OciEnv) -> list[str]:
    res = subprocess.run(["runc", "--root", str(oci.runroot / "runc"), "list", "-q"],
                         capture_output=True, text=True, check=True)
    return res.stdout.split()


def _released(oci: OciEnv, cid: str) -> bool:
    """No runtime state, no mount, no exit file, no conmon or container process."""
    return (not (oci.runroot / "runc" / cid).exists()
            and cid not in _runc_ids(oci)
            and not any(cid in mp for mp in mount_points())
            and not (oci.runroot / "exits" / cid).exists()
            and not leaked_processes(oci.root, oci.runroot))


def _running_id(oci: OciEnv, name: str) -> str | None:
    for c in json.loads(oci.cli("ps", "--format", "json", check=True).stdout):
        if name in c["Names"] and c["State"] == "running":
            return str(c["Id"])
    return None


def _kill_client(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def test_sigkilled_attached_run_rm_is_removed(oci: OciEnv) -> None:
    proc = oci.spawn("run", "--rm", "--name", "orphan", "busybox", "sleep", "2")
    try:
        cid = wait_until(lambda: _running_id(oci, "orphan"), "the container to run",
                         timeout=DEADLINE)
        _kill_client(proc)
        # The container outlives its client, exits after its 2 s, and the exit
        # command removes it.
        wait_until(lambda: _db_row(oci, cid) is None and _released(oci, cid),
                   "the exit command to remove the container", timeout=DEADLINE)
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        rm_force(oci, "orphan")


def test_sigkilled_attached_run_keeps_exit_code(oci: OciEnv) -> None:
    """Without --rm: the container finishes, the exit command records its code."""
    proc = oci.spawn("run", "--name", "kept", "busybox", "sh", "-c", "sleep 1; exit 5")
    try:
        cid = wait_until(lambda: _running_id(oci, "kept"), "the container to run",
                         timeout=DEADLINE)
        _kill_client(proc)
        wait_until(lambda: _db_row(oci, cid) == ("exited", 5) and _released(oci, cid),
                   "the exit command to record the exit", timeout=DEADLINE)
        ps = oci.cli("ps", "-a", check=True).stdout
        assert "Exited (5)" in ps and "kept" in ps
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        rm_force(oci, "kept")


def test_detached_rm_disappears_on_its_own(oci: OciEnv) -> None:
    try:
        cid = oci.cli("run", "-d", "--rm", "--name", "brief", "busybox", "sleep", "1",
                      check=True).stdout.strip()
        assert _db_row(oci, cid) is not None
        wait_until(lambda: _db_row(oci, cid) is None and _released(oci, cid),
                   "the --rm container to remove itself", timeout=DEADLINE)
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
        assert not (oci.root / "containers" / cid).exists()
    finally:
        rm_force(oci, "brief")


def test_detached_exit_is_recorded_and_released(oci: OciEnv) -> None:
    """A detached container that exits shows ``Exited (N)`` with everything released."""
    try:
        cid = oci.cli("run", "-d", "--name", "quits", "busybox", "sh", "-c",
                      "sleep 0.5; exit 4", check=True).stdout.strip()
        wait_until(lambda: _db_row(oci, cid) == ("exited", 4) and _released(oci, cid),
                   "the exit command to record the exit and release the container",
                   timeout=DEADLINE)
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
        rm_force(oci, "quits")


def test_detached_killed_container_is_released(oci: OciEnv) -> None:
    """Killed from outside ipy-oci (SIGKILL to the container's PID 1): still recorded."""
    try:
        cid = oci.cli("run", "-d", "--name", "victim", "busybox", "sleep", "1000",
                      check=True).stdout.strip()
        pid = json.loads(oci.cli("inspect", "victim", check=True).stdout)[0]["State"]["Pid"]
        assert pid > 0
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: _db_row(oci, cid) == ("exited", 137) and _released(oci, cid),
                   "the exit command to record the kill", timeout=DEADLINE)
        assert "Exited (137)" in oci.cli("ps", "-a", check=True).stdout
    finally:
        rm_force(oci, "victim")
