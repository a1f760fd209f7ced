"""``%oci run/create`` take the CLI's run/create flags (one grammar): --cidfile,
--replace, --restart, --attach, and the two a kernel refuses (--preserve-fds,
--log-driver passthrough)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import inspect, rm_force, wait_until
from kernel_helpers import Kernel, one_line_error


def test_cidfile_replace_restart_in_a_kernel(oci: Any, kernel: Kernel, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    try:
        kernel.ok(f"%oci run -d --network none --name kc --cidfile {cidfile} busybox "
                  "sleep 1000")
        first = inspect(oci, "kc")["Id"]
        assert cidfile.read_text() == first
        kernel.ok("%oci run -d --network none --replace --name kc --restart on-failure:1 "
                  "busybox sh -c 'sleep 0.2; exit 2'")
        second = inspect(oci, "kc")["Id"]
        assert second != first
        wait_until(lambda: (inspect(oci, "kc")["RestartCount"],
                            inspect(oci, "kc")["State"]["Status"]) == (1, "exited"),
                   "one restart of the replaced container")
        again = kernel.run(f"%oci create --network none --cidfile {cidfile} busybox true")
        assert "container id file exists" in one_line_error(again)["traceback"][0]
        kernel.ok("%oci create --network none --replace --name kc busybox true")
        assert inspect(oci, "kc")["State"]["Status"] == "created"
    finally:
        rm_force(oci, "kc")


def test_attach_and_refused_flags_in_a_kernel(oci: Any, kernel: Kernel) -> None:
    cell = kernel.ok("%oci run --rm --network none -a stderr busybox sh -c "
                     "'echo out; echo err >&2'")
    assert cell.text("stdout") == "" and cell.text("stderr") == "err\n"
    cell = kernel.run("%oci run --rm --network none --preserve-fds 1 busybox true")
    assert "kernel's open files" in one_line_error(cell)["traceback"][0]
    cell = kernel.run("%oci run --rm --network none --log-driver passthrough busybox true")
    assert "a cell has no stdin" in one_line_error(cell)["traceback"][0]
    assert oci.cli("ps", "-a", "-q").stdout == ""


def test_timeout_of_detached_run_and_create(oci: Any, kernel: Kernel) -> None:
    """The magic's --timeout is podman's --timeout where nothing stays attached."""
    try:
        kernel.ok("%oci run -d --network none --name kt --timeout 1 busybox sleep 60")
        assert inspect(oci, "kt")["Config"]["Timeout"] == 1
        wait_until(lambda: inspect(oci, "kt")["State"]["Status"] == "exited",
                   "conmon to kill the container after its timeout")
        assert inspect(oci, "kt")["State"]["ExitCode"] == -1
        kernel.ok("%oci create --network none --name kc2 --timeout 2.5 busybox true")
        assert inspect(oci, "kc2")["Config"]["Timeout"] == 3
    finally:
        rm_force(oci, "kt", "kc2")
