"""``%oci rerun``, the Re-run button and ``ipy-oci rerun FILE``: a ``%%oci run`` cell
again from its provenance record, in a fresh container, compared with the first run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from helpers import db_rows, exec_rows, wait_until
from kernel_helpers import Kernel, one_line_error

SAME = "%%oci run --network none -e WHO=world busybox\necho hello $WHO\necho note >&2\n"
RANDOM = "%%oci run --network none busybox\nhead -c8 /dev/urandom | od -An -tx1\n"


def _nothing_left(oci: Any) -> None:
    assert db_rows(oci, "SELECT id FROM containers") == []
    assert exec_rows(oci) == []


def test_rerun_without_records_is_a_clear_error(oci: Any, kernel: Kernel) -> None:
    err = one_line_error(kernel.run("%oci rerun"))
    assert err["ename"] == "NotFoundError"
    assert "no provenance recorded in this kernel yet" in err["traceback"][0]
    err = one_line_error(kernel.run("%oci provenance --export /tmp/never-written.json"))
    assert "no provenance recorded" in err["traceback"][0]
    assert not Path("/tmp/never-written.json").exists()
    err = one_line_error(kernel.run("%oci rerun a b"))
    assert err["ename"] == "UsageError" and "%oci rerun" in err["traceback"][0]


def test_rerun_compares_a_deterministic_and_a_random_cell(oci: Any, kernel: Kernel) -> None:
    first = kernel.ok(SAME)
    assert first.streams == [("stdout", "hello world\n"), ("stderr", "note\n")]
    kernel.ok("p = %oci provenance")
    rec = kernel.value("p.record")
    assert rec["schema"] == "ipy-oci/provenance/v1"  # fields added compatibly
    assert rec["output"]["stdout"] == {  # the digests' shape is unchanged
        "sha256": hashlib.sha256(b"hello world\n").hexdigest(), "bytes": 12}
    assert rec["body"] == "echo hello $WHO\necho note >&2\n"
    assert rec["run_config"]["env"] == ["WHO=world"]
    assert rec["run_config"]["network"] == "none"
    assert rec["captured"]["stdout"] == {"text": "hello world\n", "truncated": False,
                                         "lossy": False}
    # The live Re-run button sits under the provenance summary.
    buttons = [m for m in kernel.comm_messages() if m["msg_type"] == "comm_open"
               and m["content"]["data"]["state"].get("description") == "Re-run"]
    assert len(buttons) == 1
    kernel.ok(RANDOM)
    _nothing_left(oci)

    # The last record: random bytes, so not identical, with a unified diff.
    cell = kernel.ok("c = %oci rerun\nc")
    html = cell.result["text/html"]
    assert "different" in html and "<pre" in html and "original/stdout" in html
    assert kernel.value("c.identical") is False
    diff = kernel.value("c.stdout_diff")
    assert diff.startswith("--- original/stdout\n+++ rerun/stdout\n@@ ")
    assert kernel.value("c.stderr_diff") == ""
    assert kernel.value("c.original['stdout']['sha256'] != c.rerun['stdout']['sha256']")
    assert kernel.value("c.original['exit_code'] == c.rerun['exit_code'] == 0")
    _nothing_left(oci)

    # Record 0 (as '%oci provenance 0' numbers it): identical, equal digests.
    cell = kernel.ok("d = %oci rerun 0\nd")
    assert "identical" in cell.result["text/html"]
    assert "identical" in cell.result["text/plain"]
    assert kernel.value("d.identical") is True
    assert kernel.value("d.original == d.rerun")
    assert kernel.value("d.rerun['stdout']['sha256']") == rec["output"]["stdout"]["sha256"]
    assert kernel.value("d.stdout_diff + d.stderr_diff") == ""
    # A record by its exec session, as %oci provenance finds it; -1 is the last.
    kernel.ok(f"e = %oci rerun {rec['exec_session'][:12]}")
    assert kernel.value("e.identical") is True
    kernel.ok("f = %oci rerun -1")
    assert kernel.value("f.identical") is False
    err = one_line_error(kernel.run("%oci rerun 7"))
    assert "no provenance record #7: this kernel has 2" in err["traceback"][0]
    _nothing_left(oci)

    # A click on the first cell's button re-runs it and shows the comparison.
    mark = len(kernel.log)
    kernel.send_comm(buttons[0]["content"]["comm_id"],
                     {"method": "custom", "content": {"event": "click"}})
    kernel.wait_for(lambda m: m["msg_type"] == "comm_msg"
                    and "identical: the re-run" in str(m["content"]["data"].get("state", {})
                                                       .get("value", "")),
                    "the button's comparison", timeout=60, start=mark)
    _nothing_left(oci)


def test_export_and_cli_rerun(oci: Any, kernel: Kernel, tmp_path: Path) -> None:
    kernel.ok(SAME)
    kernel.ok(RANDOM)
    path = tmp_path / "prov.json"
    cell = kernel.ok(f"%oci provenance --export {path}")
    assert f"exported 2 provenance record(s) to {path}" in cell.text()
    doc = json.loads(path.read_text())
    assert doc["schema"] == "ipy-oci/provenance-export/v1" and len(doc["records"]) == 2
    assert doc["records"] == kernel.value("__import__('ipy_oci.kernel.context', "
                                          "fromlist=['x']).get_context().provenance")

    res = oci.cli("rerun", "--index", "0", str(path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("record 0: identical (localhost/busybox@sha256:")
    assert "---" not in res.stdout

    res = oci.cli("rerun", str(path))
    assert res.returncode == 1, res.stderr
    assert "record 0: identical" in res.stdout and "record 1: different" in res.stdout
    assert "--- original/stdout\n+++ rerun/stdout\n@@ " in res.stdout

    res = oci.cli("rerun", "--index", "-1", "--json", str(path))
    assert res.returncode == 1
    [comp] = json.loads(res.stdout)
    assert comp["identical"] is False and comp["streams"][0]["diff"]
    _nothing_left(oci)

    # Bad input: 125 with a message naming the problem, nothing run.
    for args, message in [
        (("--index", "2", str(path)), "no record 2 in"),
        ((str(tmp_path / "missing.json"),), "no such file"),
    ]:
        res = oci.cli("rerun", *args)
        assert res.returncode == 125 and message in res.stderr, res.stderr
    bad = tmp_path / "bad.json"
    for content, message in [("{oops", "is not valid JSON"),
                             ('{"schema": "nope", "records": [{}]}', "has schema 'nope'"),
                             ('[{"schema": "ipy-oci/provenance/v0"}]', "record 0 of")]:
        bad.write_text(content)
        res = oci.cli("rerun", str(bad))
        assert res.returncode == 125 and message in res.stderr, res.stderr
    _nothing_left(oci)


def test_rerun_of_a_body_that_went_in_on_stdin(oci: Any, kernel: Kernel) -> None:
    """A body over the argv limit is the process's stdin: the record keeps it."""
    filler = "#" + "x" * 100_000
    kernel.ok(f"%%oci run --network none busybox\n{filler}\necho big | tr a-z A-Z\n")
    kernel.ok("p = %oci provenance")
    assert kernel.value("p.record['script_on_stdin']") is True
    cell = kernel.ok("c = %oci rerun\nc")
    assert "identical" in cell.result["text/plain"]
    assert kernel.value("c.rerun['stdout']") == {
        "sha256": hashlib.sha256(b"BIG\n").hexdigest(), "bytes": 4}
    _nothing_left(oci)


def test_interrupted_rerun_removes_its_container(oci: Any, kernel: Kernel,
                                                 tmp_path: Path) -> None:
    """The body waits on a file of a bind mount: fast the first time, stuck in the
    re-run until the kernel is interrupted."""
    kernel.ok(f"%%oci run --network none -v {tmp_path}:/w busybox\n"
              "if [ -e /w/slow ]; then sleep 1000; fi\necho done\n")
    (tmp_path / "slow").write_text("")
    msg_id = kernel.send("%oci rerun")
    wait_until(lambda: len(exec_rows(oci)) == 1, "the re-run's exec session", timeout=60)
    kernel.km.interrupt_kernel()
    err = one_line_error(kernel.finish(msg_id))
    assert err["ename"] == "ExecInterrupted"
    assert "the re-run of record 0" in err["traceback"][0]
    wait_until(lambda: db_rows(oci, "SELECT id FROM containers") == [], "its removal",
               timeout=30)
    _nothing_left(oci)
