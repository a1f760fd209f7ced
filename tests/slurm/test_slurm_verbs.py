"""The rest of the verbs on Slurm containers: create + start (a new job each time),
start -a, restart, pause/unpause, and the commands that read the running container
(top, stats, cp, export) run on its node."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any


def _status(oci: Any, name: str) -> str:
    return str(oci.cli("ps", "-a", "--filter", f"name=^{name}$", "--format",
                       "{{.Status}}").stdout.strip())


def test_create_start_and_start_again_as_new_jobs(slurm_cluster: Any, oci: Any) -> None:
    oci.cli("create", "--slurm", "--name", "cr", "--network", "none", "busybox", "sh", "-c",
            "echo run-$$-$RANDOM; exit 2", check=True)
    assert _status(oci, "cr").startswith("Created")
    assert oci.cli("start", "cr").returncode == 0
    first = oci.cli("inspect", "cr", "--format", "{{.Slurm.JobId}}").stdout.strip()
    oci.cli("wait", "cr", check=True)
    assert _status(oci, "cr").startswith("Exited (2)")
    again = oci.cli("start", "-a", "cr")  # attached: a second job, streamed
    assert again.returncode == 2 and again.stdout.startswith("run-")
    second = oci.cli("inspect", "cr", "--format", "{{.Slurm.JobId}}").stdout.strip()
    assert second != first and len(oci.cli("logs", "cr").stdout.splitlines()) == 2
    assert oci.cli("rm", "cr").returncode == 0


def test_created_but_never_started_is_removed_without_a_job(slurm_cluster: Any,
                                                            oci: Any) -> None:
    oci.cli("create", "--slurm", "--name", "cf", "--network", "none", "busybox", "true",
            check=True)
    assert oci.cli("inspect", "cf", "--format", "{{.Slurm.JobId}}").stdout.strip() == ""
    assert oci.cli("rm", "cf").returncode == 0
    assert slurm_cluster.jobs() == []


def test_pause_restart_and_node_side_reads(slurm_cluster: Any, oci: Any,
                                           tmp_path: Path) -> None:
    oci.cli("run", "-d", "--slurm", "--name", "p", "--network", "none", "busybox", "sh",
            "-c", "echo hi > /tmp/made; sleep 1000", check=True)
    try:
        assert oci.cli("pause", "p").returncode == 0
        assert oci.cli("inspect", "p", "--format", "{{.State.Status}}").stdout.strip() \
            == "paused"
        assert oci.cli("unpause", "p").returncode == 0
        top = oci.cli("top", "p")
        assert top.returncode == 0 and "sleep 1000" in top.stdout
        stats = oci.cli("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "p")
        # The shell execs its last command: one process, counted in its node's cgroup.
        assert stats.returncode == 0 and stats.stdout.split() == ["p", "1"]
        host = tmp_path / "in.txt"
        host.write_text("from-host\n")
        assert oci.cli("cp", str(host), "p:/tmp/in.txt").returncode == 0
        got = oci.cli("exec", "p", "cat", "/tmp/in.txt", "/tmp/made")
        assert got.stdout == "from-host\nhi\n"
        out = tmp_path / "made"
        assert oci.cli("cp", "p:/tmp/made", str(out)).returncode == 0
        assert out.read_text() == "hi\n"
        exported = oci.cli_bytes("export", "p")
        with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
            names = tar.getnames()
        assert "tmp/made" in names and "bin/busybox" in names
        first = oci.cli("inspect", "p", "--format", "{{.Slurm.JobId}}").stdout.strip()
        assert oci.cli("restart", "-t", "0", "p").returncode == 0
        assert oci.cli("inspect", "p", "--format", "{{.State.Status}}").stdout.strip() \
            == "running"
        assert oci.cli("inspect", "p", "--format", "{{.Slurm.JobId}}").stdout.strip() \
            != first
    finally:
        oci.cli("rm", "-f", "-t", "0", "p")
