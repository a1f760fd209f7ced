"""The throwaway Slurm cluster itself (tests/slurm_cluster.py, docs/SLURM.md §1).

Real munged, slurmctld and slurmd; the clients find them through SLURM_CONF, which
the session fixture sets.
"""

from __future__ import annotations

import re
import subprocess

from helpers import wait_until
from slurm_cluster import SlurmCluster


def slurm(*argv: str) -> subprocess.CompletedProcess[str]:
    """A Slurm client run as the code under test will run it: plain os.environ."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def job_field(job: str, key: str) -> str:
    """One field of ``scontrol -o show job`` ("" once the job is purged)."""
    out = slurm("scontrol", "-o", "show", "job", job).stdout
    m = re.search(rf"(?:^| ){key}=(\S*)", out)
    return m.group(1) if m else ""


def test_nodes_and_partitions(slurm_cluster: SlurmCluster) -> None:
    r = slurm("sinfo", "-h", "-o", "%P %T %N")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["debug* idle n[1-3]", "other idle n3"]
    assert slurm_cluster.nodes == ["n1", "n2", "n3"]


def test_batch_job_on_chosen_node(slurm_cluster: SlurmCluster) -> None:
    r = slurm("sbatch", "--parsable", "-o", "/dev/null", "-w", "n2", "--wrap", "sleep 30")
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split(";")[0]
    try:
        wait_until(lambda: job_field(job, "JobState") == "RUNNING", f"job {job} RUNNING")
        assert job_field(job, "NodeList") == "n2"
        assert slurm_cluster.jobs() == [job]

        step = slurm("srun", "--jobid", job, "--overlap", "-w", "n2",
                     "sh", "-c", "echo $SLURMD_NODENAME")
        assert (step.returncode, step.stdout) == (0, "n2\n"), step.stderr
    finally:
        slurm("scancel", job)
    wait_until(lambda: job not in slurm_cluster.jobs(), f"job {job} to leave the queue",
               timeout=slurm_cluster.kill_wait + 15)
    assert job_field(job, "JobState") == "CANCELLED"


def test_step_in_other_partition(slurm_cluster: SlurmCluster) -> None:
    r = slurm("srun", "-p", "other", "sh", "-c", "echo $SLURMD_NODENAME $SLURM_JOB_PARTITION")
    assert (r.returncode, r.stdout) == (0, "n3 other\n"), r.stderr


def test_bad_partition_fails(slurm_cluster: SlurmCluster) -> None:
    r = slurm("sbatch", "-p", "nosuch", "-o", "/dev/null", "--wrap", "true")
    assert r.returncode == 1
    assert "invalid partition" in r.stderr.lower()
    assert slurm_cluster.jobs() == []
