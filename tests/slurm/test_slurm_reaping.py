"""Slurm containers when their job ends from outside: a holder SIGKILLed (the node is
swept), a time limit (the holder stops the container within KillWait), an attached
client killed mid-run, and ``system reap``."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

from helpers import find_processes


def _job(oci: Any, name: str) -> str:
    return str(oci.cli("inspect", name, "--format", "{{.Slurm.JobId}}").stdout.strip())


def _status(oci: Any, name: str) -> str:
    return str(oci.cli("ps", "-a", "--filter", f"name=^{name}$", "--format",
                       "{{.Status}}").stdout.strip())


def _until(check: Any, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"not within {limit:.0f} s: {what}"
        time.sleep(0.2)


def _processes_of(cid: str) -> list[int]:
    return find_processes(lambda cmd: cid.encode() in cmd)


def test_a_sigkilled_holder_leaves_nothing_on_its_node(slurm_cluster: Any, oci: Any) -> None:
    cid = oci.cli("run", "-d", "--slurm", "--name", "k", "--network", "none", "busybox",
                  "sleep", "1000", check=True).stdout.strip()
    assert _processes_of(cid)  # conmon, on the node
    subprocess.run(["scancel", "--signal=KILL", _job(oci, "k")], check=True)
    # The next look syncs it: the job ended without the holder recording the exit, so
    # a sweep job stops what conmon and the container left on the node.
    _until(lambda: _status(oci, "k").startswith("Exited"), 60, "k exited")
    _until(lambda: not _processes_of(cid), 30, "nothing of k left on the node")
    oci.cli("rm", "k", check=True)


def test_a_time_limit_stops_the_container_with_its_own_code(slurm_cluster: Any,
                                                           oci: Any) -> None:
    # Slurm rounds --time up to a minute and checks limits every ~30 s: this is slow.
    oci.cli("run", "-d", "--slurm", "--slurm-opt=--time=1", "--name", "tl", "--network",
            "none", "busybox", "sh", "-c",
            "trap 'echo got-term; exit 9' TERM; while true; do sleep 0.2; done", check=True)
    job = _job(oci, "tl")
    waited = oci.cli("wait", "tl", timeout=300)
    assert waited.stdout.strip() == "9"
    # The holder exits with the container's code once it cleaned up.
    _until(lambda: _job_state(job) == "TIMEOUT", 60, "the job timed out")
    info = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True,
                          text=True).stdout
    assert "ExitCode=9:0" in info
    assert oci.cli("logs", "tl").stdout == "got-term\n"
    oci.cli("rm", "tl", check=True)


def test_a_killed_attached_client_leaves_the_container_to_its_job(slurm_cluster: Any,
                                                                  oci: Any) -> None:
    proc = oci.spawn("run", "--rm", "--slurm", "--name", "orphan", "--network", "none",
                     "busybox", "sh", "-c", "echo up; sleep 2; echo done")
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # As a local run --rm whose client died: it runs to its end and is removed.
    _until(lambda: oci.cli("ps", "-a", "-q").stdout == "", 60, "orphan removed")
    assert slurm_cluster.jobs() == []


def test_system_reap_syncs_slurm_containers(slurm_cluster: Any, oci: Any) -> None:
    oci.cli("run", "-d", "--slurm", "--name", "sr", "--network", "none", "busybox",
            "sleep", "1000", check=True)
    subprocess.run(["scancel", _job(oci, "sr")], check=True)
    _until(lambda: _job_state(_job(oci, "sr")) not in ("RUNNING", "COMPLETING"), 30,
           "the job ended")
    assert oci.cli("system", "reap").returncode == 0
    raw = oci.cli("inspect", "sr", "--format", "{{.State.Status}} {{.State.ExitCode}}")
    assert raw.stdout.strip() == "exited 137"  # sleep ignores TERM: the stop's SIGKILL
    oci.cli("rm", "sr", check=True)


def _job_state(job: str) -> str:
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", job, "-o", "%T"],
                         capture_output=True, text=True).stdout
    return out.strip()
