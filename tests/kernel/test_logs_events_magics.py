"""``%oci logs``, ``%oci events`` and ``%oci attach`` in a real kernel: what the CLI
prints, printed into the cell; an interrupt stops following and detaches."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from helpers import rm_force, wait_until
from kernel_helpers import Kernel, one_line_error


def _stdout_has(kernel: Kernel, msg_id: str, text: str) -> None:
    kernel.wait_for(lambda m: m["parent_header"].get("msg_id") == msg_id
                    and m["msg_type"] == "stream" and text in m["content"]["text"],
                    f"{text!r} in the cell")


def test_logs_and_events_print_what_the_cli_prints(oci: Any, kernel: Kernel) -> None:
    try:
        oci.cli("run", "--network", "none", "--name", "k1", "busybox", "sh", "-c",
                "echo one; echo two; echo err >&2", check=True)
        oci.cli("run", "--network", "none", "--name", "k2", "busybox", "echo", "three",
                check=True)
        for line in ("logs --tail 1 -t k1", "logs -n k1 k2", "logs k1 k2",
                     "events --stream=false --filter container=k1 --format {{.Status}}",
                     "events --stream=false --filter type=container --format json"):
            cli = oci.cli(*line.split(), check=True)
            cell = kernel.ok(f"%oci {line}")
            assert cell.text() == cli.stdout, line
            assert cell.text("stderr") == cli.stderr, line
        assert kernel.ok("%oci logs -n k1 k2").text() == "k1 one\nk1 two\nk2 three\n"
        fmt = kernel.ok("%oci events --stream=false --filter container=k2 "
                        "--format '{{.Name}} {{.Status}}'").text()
        assert fmt.splitlines()[0] == "k2 create"
        err = one_line_error(kernel.run("%oci events --filter bogus"))
        assert err["ename"] == "UsageError" and "invalid filter 'bogus'" in err["evalue"]
        err = one_line_error(kernel.run("%oci logs --since bogus k1"))
        assert "parsing --since" in err["evalue"]
    finally:
        rm_force(oci, "k1", "k2")


def test_following_stops_at_an_interrupt(oci: Any, kernel: Kernel) -> None:
    try:
        oci.cli("run", "-d", "--network", "none", "--name", "kf", "busybox", "sh", "-c",
                "echo first; sleep 1000", check=True)
        wait_until(lambda: "first" in oci.cli("logs", "kf").stdout, "first line")
        msg_id = kernel.send("%oci logs -f kf")
        _stdout_has(kernel, msg_id, "first")
        kernel.km.interrupt_kernel()
        assert kernel.finish(msg_id).status == "ok"
        msg_id = kernel.send("%oci events --filter container=kf --format '{{.Status}}' "
                             "--since 5m")
        _stdout_has(kernel, msg_id, "start")
        kernel.km.interrupt_kernel()
        assert kernel.finish(msg_id).status == "ok"
    finally:
        rm_force(oci, "kf")


def test_attach_streams_into_the_cell(oci: Any, kernel: Kernel, tmp_path: Path) -> None:
    try:
        oci.cli("run", "-d", "--network", "none", "--name", "ka", "-v", f"{tmp_path}:/gate",
                "busybox", "sh", "-c", "echo ready; while [ ! -e /gate/go ]; do sleep 0.05; "
                "done; echo later; exit 3", check=True)
        wait_until(lambda: "ready" in oci.cli("logs", "ka").stdout, "ready")
        # An interrupt detaches; the container keeps running.
        msg_id = kernel.send("%oci attach ka")
        wait_until(lambda: oci.cli("events", "--stream=false", "--filter", "event=attach",
                                   "--filter", "container=ka").stdout, "attached")
        kernel.km.interrupt_kernel()
        cell = kernel.finish(msg_id)
        assert cell.status == "ok" and "detached from container ka" in cell.text()
        assert oci.cli("inspect", "--format", "{{.State.Status}}", "ka").stdout == "running\n"
        # Attached until it exits: its output, and its exit code raises as exec's does.
        msg_id = kernel.send("%oci attach ka")
        wait_until(lambda: len(oci.cli("events", "--stream=false", "--filter",
                                       "event=attach", "--filter",
                                       "container=ka").stdout.splitlines()) == 2,
                   "attached again")
        (tmp_path / "go").touch()
        cell = kernel.finish(msg_id)
        assert "later\n" in cell.text()
        err = one_line_error(cell)
        assert err["ename"] == "ExecError" and re.search(r"exited with code 3", err["evalue"])
        err = one_line_error(kernel.run("%oci attach ka"))
        assert "you can only attach to running containers" in err["evalue"]
    finally:
        rm_force(oci, "ka")
