"""``%%oci run``: a fresh container per cell, removed after, with provenance metadata."""

from __future__ import annotations

import hashlib
import json
import platform
from datetime import datetime
from typing import Any

from helpers import db_rows
from kernel_helpers import Kernel, one_line_error

import ipy_oci


def _provenance(cell: Any) -> dict[str, Any]:
    records = [o["metadata"]["ipy_oci"]["provenance"] for o in cell.outputs
               if "ipy_oci" in o.get("metadata", {})]
    assert len(records) == 1, cell.outputs
    return records[0]


def test_run_cell_records_provenance(oci: Any, kernel: Kernel) -> None:
    body = "echo hello $FOO\necho warn >&2\n"
    cell = kernel.ok(f"%%oci run -e FOO=bar busybox\n{body}")
    assert cell.streams == [("stdout", "hello bar\n"), ("stderr", "warn\n")]
    rec = _provenance(cell)
    image = oci.runtime().images.lookup("busybox")
    assert rec["schema"] == "ipy-oci/provenance/v1"
    assert rec["image"]["ref"] == "busybox"
    assert rec["image"]["digest"] == image.digest
    assert rec["image"]["id"] == "sha256:" + image.id
    assert rec["image"]["name"] == image.names[0]
    assert rec["command"] == ["sh", "-c", body]
    assert "FOO=bar" in rec["env"] and rec["env_args"] == ["FOO=bar"]
    assert rec["exit_code"] == 0 and rec["interrupted"] is False
    start = datetime.fromisoformat(rec["started_at"])
    end = datetime.fromisoformat(rec["finished_at"])
    assert start <= end and rec["duration_s"] >= 0
    assert rec["runtime"]["name"] == "runc"
    assert rec["runtime"]["version"].startswith("runc version")
    assert rec["runtime"]["conmon"].startswith("conmon version")
    assert rec["ipy_oci_version"] == ipy_oci.__version__
    assert rec["host"]["kernel"] == platform.release()
    assert rec["cell"]["sha256"] == "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    assert rec["cell"]["magic"] == "%%oci run -e FOO=bar busybox"
    assert rec["output"]["stdout"] == {
        "sha256": hashlib.sha256(b"hello bar\n").hexdigest(), "bytes": 10}
    assert rec["output"]["stderr"]["bytes"] == 5
    assert rec["kernel_id"] == kernel.kernel_id
    assert image.digest in rec["reproduce"] and "-e FOO=bar" in rec["reproduce"]
    assert rec["container"]["removed"] is True
    assert db_rows(oci, "SELECT id FROM containers") == []
    # The display carries a summary besides the metadata.
    [out] = [o for o in cell.outputs if "ipy_oci" in o.get("metadata", {})]
    assert "exit 0" in out["data"]["text/plain"]
    assert image.digest in out["data"]["text/html"]

    # %oci provenance shows it again; --json prints exactly the record.
    again = kernel.ok("%oci provenance --json")
    assert json.loads(again.text()) == rec
    shown = kernel.ok("%oci provenance")
    assert shown.outputs[-1]["metadata"]["ipy_oci"]["provenance"] == rec
    by_session = kernel.ok(f"%oci provenance --json {rec['exec_session'][:12]}")
    assert json.loads(by_session.text()) == rec


def test_failing_run_cell_raises_and_still_records(oci: Any, kernel: Kernel) -> None:
    cell = kernel.run("%%oci run --name exp busybox\necho partial\nexit 2\n")
    err = one_line_error(cell)
    assert err["ename"] == "ExecError" and "code 2" in err["traceback"][0]
    rec = _provenance(cell)
    assert rec["exit_code"] == 2 and rec["container"]["name"] == "exp"
    assert db_rows(oci, "SELECT id FROM containers") == []
    # An unknown record is a one-line error too.
    err = one_line_error(kernel.run("%oci provenance nosuch"))
    assert err["ename"] == "NotFoundError"


def test_keep_leaves_the_container_running(oci: Any, kernel: Kernel) -> None:
    try:
        cell = kernel.ok("%%oci run --keep --name kept busybox\necho hi > /tmp/result\n")
        assert "kept container kept" in cell.text("stderr")
        assert _provenance(cell)["container"]["removed"] is False
        assert kernel.ok("%oci exec kept cat /tmp/result").text() == "hi\n"
    finally:
        oci.cli("rm", "-f", "-t", "0", "kept")


def test_line_run_attached_and_detached(oci: Any, kernel: Kernel) -> None:
    cell = kernel.ok("%oci run --rm busybox sh -c 'echo attached; echo e >&2'")
    assert cell.streams == [("stdout", "attached\n"), ("stderr", "e\n")]
    assert cell.outputs == []  # --rm: nothing left to return
    err = one_line_error(kernel.run("%oci run --rm busybox sh -c 'exit 5'"))
    assert "code 5" in err["traceback"][0]
    try:
        cell = kernel.ok("%oci run -d --name d busybox sh -c 'echo from-logs; sleep 1000'")
        assert "<Container d " in cell.result["text/plain"]
        rows = db_rows(oci, "SELECT name, owner_kernel FROM containers")
        assert rows == [("d", kernel.kernel_id)]
    finally:
        oci.cli("rm", "-f", "-t", "0", "d")
