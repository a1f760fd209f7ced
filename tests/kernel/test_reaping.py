"""Reaping in the kernel: interrupts, shutdown and restart leave nothing behind."""

from __future__ import annotations

import signal
from typing import Any

from helpers import db_rows, exec_rows, extra_processes, running_container, wait_until
from kernel_helpers import Kernel, one_line_error


def _started(kernel: Kernel, msg_id: str) -> None:
    kernel.wait_for(lambda m: m["parent_header"].get("msg_id") == msg_id
                    and m["msg_type"] == "stream" and "started" in m["content"]["text"],
                    "the command to start")


def test_interrupt_forwards_sigint_then_reaps(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        # The shell waits on a child, as in a terminal: both must go.
        msg_id = kernel.send("%%oci exec c\necho started\nsleep 1000\necho never\n")
        _started(kernel, msg_id)
        assert len(extra_processes(oci, "c")) == 2  # sh and its sleep
        kernel.km.interrupt_kernel()
        cell = kernel.finish(msg_id)
        err = one_line_error(cell)
        assert err["ename"] == "ExecInterrupted"
        line = err["traceback"][0]
        assert "stopped by the interrupt: exit code 130 (SIGINT)" in line
        assert "never" not in cell.text()
        assert exec_rows(oci) == []
        assert extra_processes(oci, "c") == []
        # The kernel is still usable and the result is recorded.
        assert kernel.value("get_ipython().run_line_magic('oci', 'last').interrupted") is True


def test_interrupt_kills_a_command_that_ignores_sigint(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        msg_id = kernel.send("%%oci exec c\ntrap '' INT\necho started\nsleep 1000\n")
        _started(kernel, msg_id)
        kernel.km.interrupt_kernel()  # ignored by both; after the grace period: SIGKILL
        err = one_line_error(kernel.finish(msg_id))
        assert err["ename"] == "ExecInterrupted"
        assert "137 (SIGKILL)" in err["traceback"][0]
        assert exec_rows(oci) == []
        assert extra_processes(oci, "c") == []


def test_interrupt_during_run_cell_removes_its_container(oci: Any, kernel: Kernel) -> None:
    msg_id = kernel.send("%%oci run busybox\necho started\nsleep 1000\n")
    _started(kernel, msg_id)
    assert len(db_rows(oci, "SELECT id FROM containers")) == 1
    kernel.km.interrupt_kernel()
    cell = kernel.finish(msg_id)
    err = one_line_error(cell)
    assert err["ename"] == "ExecInterrupted"
    record = cell.outputs[-1]["metadata"]["ipy_oci"]["provenance"]
    assert record["interrupted"] is True and record["exit_code"] == 130
    assert record["container"]["removed"] is True
    wait_until(lambda: db_rows(oci, "SELECT id FROM containers") == [], "container removal",
               timeout=30)


def test_restart_reaps_the_kernels_sessions_and_rm_containers(
        oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        kernel.ok("%oci exec -d c sleep 1001")  # detached, running
        kernel.ok("%oci exec -it c sh")  # created, waiting for a terminal
        kernel.ok("%oci run -d --rm --name tmp busybox sleep 1002")
        kernel.ok("%oci run -d --name kept busybox sleep 1003")  # no --rm: stays
        try:
            owners = {r[2] for r in exec_rows(oci)}
            assert owners == {kernel.kernel_id} and len(exec_rows(oci)) == 2
            kernel.shutdown(restart=True)
            assert exec_rows(oci) == []
            assert extra_processes(oci, "c") == []
            names = {r[0] for r in db_rows(oci, "SELECT name FROM containers")}
            assert names == {"c", "kept"}
            # The restarted kernel loaded the extension again.
            assert "kept" in kernel.ok("%oci ps").result["text/html"]
        finally:
            oci.cli("rm", "-f", "-t", "0", "kept")


def test_shutdown_while_a_cell_runs_reaps_it(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        kernel.ok("%oci exec -d c sleep 1001")
        msg_id = kernel.send("%%oci exec c\necho started\nsleep 1000\n")
        _started(kernel, msg_id)
        assert len(exec_rows(oci)) == 2
        kernel.shutdown()
        assert not kernel.km.is_alive()
        assert exec_rows(oci) == []
        assert extra_processes(oci, "c") == []


def test_sigterm_reaps_the_kernels_sessions(oci: Any, kernel: Kernel) -> None:
    """What jupyter_client sends a kernel that does not exit in time."""
    with running_container(oci):
        kernel.ok("%oci exec -d c sleep 1001")
        msg_id = kernel.send("%%oci exec c\necho started\nsleep 1000\n")
        _started(kernel, msg_id)
        kernel.km.signal_kernel(signal.SIGTERM)
        wait_until(lambda: not kernel.km.is_alive(), "the kernel to exit", timeout=30)
        assert exec_rows(oci) == []
        assert extra_processes(oci, "c") == []
