"""Cells against containers that run as Slurm jobs (the session's throwaway cluster)."""

from __future__ import annotations

from typing import Any

from helpers import db_rows, exec_rows, extra_processes, wait_until
from kernel_helpers import Kernel, one_line_error


def test_slurm_run_cell_streams_and_records_where_it_ran(slurm_cluster: Any, oci: Any,
                                                         kernel: Kernel) -> None:
    cell = kernel.ok("%%oci run --slurm --slurm-opt=--nodelist=n3 --network none busybox\n"
                     "echo on-node; echo warn >&2; cat /etc/hostname >/dev/null\n")
    assert ("stdout", "on-node\n") in cell.streams and ("stderr", "warn\n") in cell.streams
    [out] = [o for o in cell.outputs if "ipy_oci" in o.get("metadata", {})]
    rec = out["metadata"]["ipy_oci"]["provenance"]
    assert rec["slurm"]["node"] == "n3" and rec["slurm"]["partition"] == "debug"
    assert rec["slurm"]["job_id"].isdigit() and rec["exit_code"] == 0
    assert rec["container"]["removed"] is True
    assert db_rows(oci, "SELECT id FROM containers") == []
    assert db_rows(oci, "SELECT id FROM slurm_jobs") == []
    assert slurm_cluster.job_states().get(rec["slurm"]["job_id"], "gone") != "RUNNING"


def test_a_failing_slurm_cell_raises_with_the_code(slurm_cluster: Any, oci: Any,
                                                   kernel: Kernel) -> None:
    cell = kernel.run("%%oci run --slurm --network none busybox\necho before; exit 5\n")
    err = cell.error
    assert err is not None and "5" in err["evalue"]
    assert ("stdout", "before\n") in cell.streams
    assert db_rows(oci, "SELECT id FROM containers") == []


def test_exec_cell_and_line_magics_on_a_slurm_container(slurm_cluster: Any, oci: Any,
                                                       kernel: Kernel) -> None:
    oci.cli("run", "-d", "--slurm", "--name", "far", "--network", "none", "busybox",
            "sleep", "1000", check=True)
    try:
        cell = kernel.ok("%%oci exec far\necho in-$((6*7))\n")
        assert cell.text() == "in-42\n"
        failing = kernel.run("%%oci exec far\nexit 3\n")
        assert failing.error is not None and "3" in failing.error["evalue"]
        node = kernel.ok("%oci inspect far --format '{{.Slurm.Node}}'").text()
        assert node.strip() in ("n1", "n2", "n3")
        listed = kernel.ok("%oci ps --format '{{.Names}} {{.Slurm.Node}}'")
        assert "far n" in listed.text()
    finally:
        oci.cli("rm", "-f", "-t", "0", "far")
    assert db_rows(oci, "SELECT id FROM exec_sessions") == []


def test_container_table_says_where_a_slurm_container_runs(slurm_cluster: Any, oci: Any,
                                                           kernel: Kernel) -> None:
    oci.cli("run", "-d", "--slurm", "--slurm-opt=--nodelist=n2", "--name", "far",
            "--network", "none", "busybox", "sleep", "1000", check=True)
    try:
        job = oci.cli("inspect", "far", "--format", "{{.Slurm.JobId}}").stdout.strip()
        kernel.ok("from ipy_oci.widgets import ContainerTable\nt = ContainerTable()\n"
                  "t.refresh()")
        names = kernel.value("[c.value for c in t._grid.children if 'far' in "
                             "getattr(c, 'value', '')]")
        assert any(f"n2 · job {job}" in str(v) for v in names), names
        kernel.ok("t.close()")
    finally:
        oci.cli("rm", "-f", "-t", "0", "far")


def _started(kernel: Kernel, msg_id: str) -> None:
    kernel.wait_for(lambda m: m["parent_header"].get("msg_id") == msg_id
                    and m["msg_type"] == "stream" and "started" in m["content"]["text"],
                    "the command to start")


def test_interrupting_a_slurm_exec_cell_forwards_sigint_then_reaps(
        slurm_cluster: Any, oci: Any, kernel: Kernel) -> None:
    oci.cli("run", "-d", "--slurm", "--name", "far", "--network", "none", "busybox",
            "sleep", "1000", check=True)
    try:
        # The first cell's shell traps SIGINT: it must reach it, on the node.
        msg_id = kernel.send("%%oci exec far\ntrap 'echo got-int; exit 4' INT\n"
                             "echo started\nwhile true; do sleep 0.1; done\n")
        _started(kernel, msg_id)
        kernel.km.interrupt_kernel()
        cell = kernel.finish(msg_id)
        assert "got-int" in cell.text()
        assert one_line_error(cell)["ename"] == "ExecInterrupted"
        # The second ignores it: after the grace period it is stopped and reaped.
        msg_id = kernel.send("%%oci exec far\ntrap '' INT\necho started\nsleep 1000\n")
        _started(kernel, msg_id)
        kernel.km.interrupt_kernel()
        err = one_line_error(kernel.finish(msg_id))
        assert err["ename"] == "ExecInterrupted"
        wait_until(lambda: exec_rows(oci) == [], "the sessions reaped on the node",
                   timeout=30)
        assert extra_processes(oci, "far") == []
    finally:
        oci.cli("rm", "-f", "-t", "0", "far")
