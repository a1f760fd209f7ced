"""Containers as Slurm jobs through the real ``ipy-oci`` command (engine/slurm*.py).

Every container runs as a job of the session's throwaway cluster (n1..n3,
partitions ``debug`` and ``other``); the ``oci`` fixture fails a test that leaves
processes, mounts or records, and ``no_jobs_left`` one that leaves a job. Slurm's
clients find the cluster through SLURM_CONF, already in os.environ.
"""

from __future__ import annotations

import json
import re

from helpers import OciEnv, find_processes, rm_force, run_in_pty, wait_until
from slurm_cluster import SlurmCluster

NET = ("--network", "none")


# -- helpers ----------------------------------------------------------------------------
def job_field(cluster: SlurmCluster, job: str, key: str) -> str:
    """One field of ``scontrol -o show job`` ("" once the job is purged)."""
    out = cluster.run("scontrol", "-o", "show", "job", job).stdout
    m = re.search(rf"(?:^| ){key}=(\S*)", out)
    return m.group(1) if m else ""


def fmt(oci: OciEnv, name: str, template: str) -> str:
    """``inspect NAME --format TEMPLATE``, stripped."""
    return oci.cli("inspect", name, "--format", template, check=True).stdout.strip()


def ps_status(oci: OciEnv, name: str) -> str:
    """The Status column of ``ps -a`` for ``name`` ("" when it is not listed)."""
    for c in json.loads(oci.cli("ps", "-a", "--format", "json", check=True).stdout):
        if name in c["Names"]:
            return str(c["Status"])
    return ""


def run_detached(oci: OciEnv, name: str, *command: str, opts: tuple[str, ...] = ()) -> str:
    """``run -d --slurm --name NAME busybox COMMAND``: the container id."""
    res = oci.cli("run", "-d", "--slurm", *opts, *NET, "--name", name, "busybox", *command)
    assert res.returncode == 0, res.stderr
    cid = res.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), res.stdout
    return cid


def container_processes(cid: str) -> list[int]:
    """Live processes naming the container id (its conmon, runc, holder, steps)."""
    return find_processes(lambda cmd: cid.encode() in cmd)


# -- run ------------------------------------------------------------------------------
def test_run_rm_attached(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    res = oci.cli("run", "--rm", "--slurm", *NET, "busybox", "echo", "hello")
    assert (res.returncode, res.stdout) == (0, "hello\n"), res.stderr
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    wait_until(lambda: slurm_cluster.jobs() == [], "the job to leave the queue",
               timeout=slurm_cluster.kill_wait + 15)


def test_run_attached_exit_code_and_streams(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    res = oci.cli("run", "--rm", "--slurm", *NET, "busybox", "sh", "-c",
                  "echo out; echo err >&2; exit 3")
    assert res.returncode == 3, res.stderr
    assert res.stdout == "out\n"
    assert "err\n" in res.stderr, res.stderr
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


def test_run_interactive_stdin(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    res = oci.cli("run", "--rm", "-i", "--slurm", *NET, "busybox", "cat", input=b"hi\n")
    assert (res.returncode, res.stdout) == (0, "hi\n"), res.stderr
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


def test_run_tty(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    rc, out = run_in_pty(oci, ["run", "--rm", "-it", "--slurm", *NET, "busybox", "sh", "-c",
                               "tty; exit 4"], timeout=60)
    assert rc == 4, out
    assert b"/dev/pts/" in out, out
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


# -- detached: placement, stop, rm ----------------------------------------------------------
def test_detached_on_chosen_node_stop_rm(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    try:
        run_detached(oci, "x", "sleep", "1000", opts=("--slurm-opt=--nodelist=n2",))
        assert fmt(oci, "x", "{{.Slurm.Node}}") == "n2"
        job = fmt(oci, "x", "{{.Slurm.JobId}}")
        assert job.isdigit(), job
        assert job_field(slurm_cluster, job, "JobState") == "RUNNING"
        assert job_field(slurm_cluster, job, "NodeList") == "n2"
        assert ps_status(oci, "x").startswith("Up"), ps_status(oci, "x")

        # busybox sleep as PID 1 ignores TERM: SIGKILL after the 1 s timeout.
        res = oci.cli("stop", "-t", "1", "x")
        assert res.returncode == 0, res.stderr
        assert job_field(slurm_cluster, job, "JobState") not in ("RUNNING", "PENDING")
        assert ps_status(oci, "x").startswith("Exited (137)"), ps_status(oci, "x")

        res = oci.cli("rm", "x")
        assert res.returncode == 0, res.stderr
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    finally:
        rm_force(oci, "x")


def test_rm_force_running(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    try:
        cid = run_detached(oci, "rf", "sleep", "1000")
        job = fmt(oci, "rf", "{{.Slurm.JobId}}")
        res = oci.cli("rm", "-f", "-t", "0", "rf")
        assert res.returncode == 0, res.stderr
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
        assert job_field(slurm_cluster, job, "JobState") not in ("RUNNING", "PENDING")
        wait_until(lambda: container_processes(cid) == [], "no process of the container")
    finally:
        rm_force(oci, "rf")


def test_scancel_from_outside(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    try:
        # The trap gives the container its own exit code on the holder's stop signal.
        cid = run_detached(oci, "sc", "sh", "-c",
                           "trap 'exit 9' TERM; echo ready; while :; do sleep 0.1; done")
        wait_until(lambda: "ready" in oci.cli("logs", "sc").stdout, "the trap to be set")
        job = fmt(oci, "sc", "{{.Slurm.JobId}}")
        res = slurm_cluster.run("scancel", job)
        assert res.returncode == 0, res.stderr
        wait_until(lambda: ps_status(oci, "sc").startswith("Exited"), "sc to exit",
                   timeout=slurm_cluster.kill_wait + 15)
        assert ps_status(oci, "sc").startswith("Exited (9)"), ps_status(oci, "sc")
        wait_until(lambda: job_field(slurm_cluster, job, "JobState") == "CANCELLED",
                   "the job to be CANCELLED")
        wait_until(lambda: container_processes(cid) == [], "no process of the container",
                   timeout=slurm_cluster.kill_wait + 5)
        assert job_field(slurm_cluster, job, "ExitCode") == "9:0"
    finally:
        rm_force(oci, "sc")


# -- exec -----------------------------------------------------------------------------------
def test_exec(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    try:
        run_detached(oci, "ex", "sleep", "1000")
        res = oci.cli("exec", "ex", "sh", "-c", "exit 7")
        assert res.returncode == 7, res.stderr

        res = oci.cli("exec", "-i", "ex", "cat", input=b"through srun\n")
        assert (res.returncode, res.stdout) == (0, "through srun\n"), res.stderr

        res = oci.cli("exec", "-d", "ex", "sleep", "5")
        assert res.returncode == 0, res.stderr
        assert re.fullmatch(r"[0-9a-f]{64}", res.stdout.strip()), res.stdout

        res = oci.cli("exec", "nosuch", "true")
        assert res.returncode == 125
        assert 'no container with name or ID "nosuch"' in res.stderr, res.stderr

        assert oci.cli("stop", "-t", "0", "ex").returncode == 0
        res = oci.cli("exec", "ex", "true")
        assert res.returncode == 125
        assert "can only create exec sessions on running containers" in res.stderr, \
            res.stderr
    finally:
        rm_force(oci, "ex")


# -- logs -----------------------------------------------------------------------------------
def test_logs(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    try:
        run_detached(oci, "lg", "sh", "-c", "echo one; echo two")
        wait_until(lambda: ps_status(oci, "lg").startswith("Exited"), "lg to exit")
        res = oci.cli("logs", "lg")
        assert (res.returncode, res.stdout) == (0, "one\ntwo\n"), res.stderr
    finally:
        rm_force(oci, "lg")


def test_logs_follow_until_exit(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    try:
        run_detached(oci, "lf", "sh", "-c", "echo first; sleep 2; echo last")
        res = oci.cli("logs", "-f", "lf", timeout=60)
        assert (res.returncode, res.stdout) == (0, "first\nlast\n"), res.stderr
        assert ps_status(oci, "lf").startswith("Exited (0)"), ps_status(oci, "lf")
    finally:
        rm_force(oci, "lf")


# -- errors ---------------------------------------------------------------------------------
def test_errors(oci: OciEnv, slurm_cluster: SlurmCluster) -> None:
    cases = [
        (("--rm", "--slurm-opt=--partition=nosuch"), ("partition", "nosuch")),
        (("--rm", "--slurm-opt=--bogus"), ("'--bogus'",)),
        (("--rm", "--slurm-opt=notanoption"), ("'notanoption'",)),  # ipy-oci's own check
        # Without --rm: that would be refused for --restart always on its own.
        (("-d", "--restart", "always"), ("--restart", "--slurm")),
    ]
    for opts, words in cases:
        res = oci.cli("run", "--slurm", *opts, *NET, "busybox", "true")
        assert res.returncode == 125, (opts, res.stdout, res.stderr)
        assert res.stderr.startswith("Error: "), (opts, res.stderr)
        assert all(w in res.stderr for w in words), (opts, res.stderr)
        assert oci.cli("ps", "-a", "-q", check=True).stdout == "", opts
    assert slurm_cluster.jobs() == []
