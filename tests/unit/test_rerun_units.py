"""Re-runs without containers: the record -> config rebuild, the bounded capture, the
comparison and its diffs, export files, and the escaping of every HTML view."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.engine.attached import ProcessResult
from ipy_oci.engine.rerun import (
    EXPORT_SCHEMA,
    PROVENANCE_SCHEMA,
    BadRecord,
    OutputCapture,
    compare,
    load_export,
    plan,
    write_export,
)
from ipy_oci.errors import UsageError
from ipy_oci.kernel.provenance import Provenance
from ipy_oci.kernel.rerun import RerunComparison

DIGEST = "sha256:" + "ab" * 32
BODY = "echo hi\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record(stdout: bytes = b"hi\n", stderr: bytes = b"", code: int = 0,
           **extra: Any) -> dict[str, Any]:
    """A record as kernel/provenance.build_record makes it (the fields a re-run reads)."""
    cap = OutputCapture()
    cap(2, stdout)
    cap(3, stderr)
    rec: dict[str, Any] = {
        "schema": PROVENANCE_SCHEMA,
        "cell": {"sha256": "sha256:" + _sha(BODY.encode()), "bytes": len(BODY),
                 "magic": "%%oci run -e A=1 busybox"},
        "image": {"ref": "busybox", "digest": DIGEST,
                  "pinned": f"localhost/busybox@{DIGEST}"},
        "command": ["sh", "-c", BODY], "script_on_stdin": False,
        "env": ["PATH=/bin", "A=1"], "env_args": ["A=1"],
        "container": {"id": "c" * 64, "name": "first", "removed": True,
                      "config": {"network": "none", "user": "", "workdir": "",
                                 "mounts": [], "ports": [{"host_port": 8080}]}},
        "exec_session": "e" * 64, "exit_code": code, "output": cap.digests(),
        "body": BODY, "exec_env": [],
        "run_config": {"image": "busybox", "command": [], "env": ["A=1"],
                       "network": "none", "cidfile": "/tmp/x.cid", "user": "1000"},
        "captured": cap.captured(),
    }
    rec.update(extra)
    return rec


def result(stdout: bytes = b"hi\n", stderr: bytes = b"", code: int | None = 0
           ) -> tuple[ProcessResult, OutputCapture]:
    cap = OutputCapture()
    cap(2, stdout)
    cap(3, stderr)
    res = ProcessResult(kind="run", container_id="d" * 64, container_name="again",
                        exit_code=code, started_at=1.0, finished_at=2.5)
    res.output = cap.digests()
    return res, cap


# -- capture ----------------------------------------------------------------------------------
def test_capture_digests_every_byte_and_keeps_a_bounded_prefix() -> None:
    seen: list[tuple[int, bytes]] = []
    cap = OutputCapture(limit=4, tee=lambda s, d: seen.append((s, d)))
    cap(2, b"abc")
    cap(2, b"def")
    cap(3, b"\xff\xfe")
    cap(1, b"x")  # any stream but stderr counts as stdout, as in the cell
    assert seen == [(2, b"abc"), (2, b"def"), (3, b"\xff\xfe"), (1, b"x")]
    assert cap.digests() == {"stdout": {"sha256": _sha(b"abcdefx"), "bytes": 7},
                             "stderr": {"sha256": _sha(b"\xff\xfe"), "bytes": 2}}
    kept = cap.captured()
    assert kept["limit"] == 4
    assert kept["stdout"] == {"text": "abcd", "truncated": True, "lossy": False}
    assert kept["stderr"]["truncated"] is False and kept["stderr"]["lossy"] is True
    assert kept["stderr"]["text"] == "\ufffd\ufffd"


# -- the rebuild ------------------------------------------------------------------------------
def test_plan_takes_the_config_as_asked_with_the_image_pinned_by_digest() -> None:
    p = plan(record(), "record 0")
    cfg = p.config
    assert cfg.image == f"localhost/busybox@{DIGEST}" and p.image_digest == DIGEST
    assert cfg.env == ["A=1"] and cfg.user == "1000" and cfg.network == "none"
    assert cfg.idle and cfg.auto_remove and cfg.entrypoint is None and cfg.cmd is None
    assert cfg.cidfile == ""  # the first run's file is not written again
    assert p.exec_config.command == ["sh", "-c", BODY] and p.stdin is None


def test_plan_of_a_body_on_stdin_and_of_an_older_record() -> None:
    rec = record(command=["python3"], script_on_stdin=True, exec_env=["PYTHONUNBUFFERED=1"])
    p = plan(rec)
    assert p.stdin == BODY.encode() and p.exec_config.attach_stdin
    assert p.exec_config.env == ["PYTHONUNBUFFERED=1"]
    # Before run_config/body/captured: rebuilt from container.config and env_args;
    # resolved ports are not asked again.
    old = record()
    for key in ("run_config", "body", "exec_env", "captured"):
        del old[key]
    p = plan(old)
    assert p.config.env == ["A=1"] and p.config.network == "none" and p.config.ports == []
    old.update(script_on_stdin=True, command=["python3"])
    with pytest.raises(BadRecord, match="keeps only its sha256"):
        plan(old)


@pytest.mark.parametrize(("change", "message"), [
    ({"schema": "ipy-oci/provenance/v0"}, "has schema 'ipy-oci/provenance/v0'"),
    ({"image": {"ref": "busybox"}}, "has no image.digest"),
    ({"image": {"digest": "latest"}}, "is not a sha256 digest"),
    ({"command": []}, "command must be a non-empty list"),
    ({"body": "echo changed\n"}, "does not match cell.sha256"),
])
def test_plan_refuses_a_bad_record(change: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRecord, match=message) as info:
        plan(record(**change), "record 3")
    assert str(info.value).startswith("record 3") and info.value.exit_code == 125


# -- the comparison ---------------------------------------------------------------------------
def test_identical_run() -> None:
    comp = compare(record(), *result(), "record 0")
    assert comp.identical and comp.stream("stdout").diff == "" == comp.stream("stderr").diff
    assert comp.text().startswith("record 0: identical (localhost/busybox@sha256:")
    rc = RerunComparison(comp)
    assert rc.identical and rc.original == rc.rerun
    assert rc.original["stdout"] == {"sha256": _sha(b"hi\n"), "bytes": 3}
    assert "identical" in repr(rc) and "identical" in rc._repr_html_()


def test_different_output_has_a_unified_diff_per_stream() -> None:
    comp = compare(record(b"a\nb\n", b"w1\n"), *result(b"a\nc", b"w1\n"), "record 1")
    assert not comp.identical
    out = comp.stream("stdout")
    assert not out.same and comp.stream("stderr").same
    assert out.diff.splitlines() == [
        "--- original/stdout", "+++ rerun/stdout", "@@ -1,2 +1,2 @@", " a", "-b", "+c",
        "\\ No newline at end of file"]
    assert comp.stream("stderr").diff == ""
    text = comp.text()
    assert text.startswith("record 1: different") and "-b\n+c\n" in text
    rc = RerunComparison(comp)
    assert rc.stdout_diff == out.diff and rc.stderr_diff == ""
    assert "different" in repr(rc) and "stderr same" in repr(rc)


def test_exit_code_alone_makes_a_difference() -> None:
    comp = compare(record(code=0), *result(code=3))
    assert not comp.identical and all(s.same for s in comp.streams)
    assert "exit code: 0 -> 3  (differs)" in comp.text()


def test_older_record_without_text_compares_digests_only() -> None:
    rec = record()
    del rec["captured"]
    comp = compare(rec, *result(b"other\n"))
    assert not comp.identical and comp.stream("stdout").diff == ""
    assert "keeps only the digest" in comp.stream("stdout").note


def test_truncated_output_says_so() -> None:
    rec = record()
    rec["captured"]["stdout"]["truncated"] = True
    comp = compare(rec, *result(b"hi\nmore\n"))
    assert "first 1024 KiB" in comp.stream("stdout").note and comp.stream("stdout").diff


# -- HTML escaping ----------------------------------------------------------------------------
def test_comparison_html_escapes_everything() -> None:
    evil = b"<script>alert('x')</script>&\n"
    rec = record(b"ok\n", command=["sh", "-c", "<b>body</b>"])
    rec["image"]["pinned"] = "<img src=x onerror=alert(1)>"
    comp = compare(rec, *result(evil), "record <i>0</i>")
    html = RerunComparison(comp)._repr_html_()
    assert "<script>" not in html and "<img" not in html and "<b>body" not in html
    assert "<i>0" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;" in html
    assert "<pre" in html and "different" in html
    assert _sha(evil) in html and _sha(b"ok\n") in html


def test_provenance_html_has_an_escaped_copy_button() -> None:
    rec = record(reproduce="ipy-oci run --rm busybox sh -c 'echo \"<x>\" & true'",
                 exit="0", interrupted=False, timed_out=False, started_at="s",
                 finished_at="f", duration_s=0.5, ipy_oci_version="v",
                 runtime={"version": "runc", "conmon": "conmon"},
                 host={"os": "os", "kernel": "k", "machine": "m"})
    rec["image"]["name"] = "busybox"
    rec["captured"]["stdout"]["text"] = "KEPT-OUTPUT"
    html = Provenance(rec)._repr_mimebundle_()[0]["text/html"]
    # The kept output is in the metadata only: the page shows its size.
    assert "KEPT-OUTPUT" not in html and "11 characters kept for diffs" in html
    assert "Copy reproduce command" in html and "navigator.clipboard" in html
    assert ("data-cmd=\"ipy-oci run --rm busybox sh -c &#x27;echo &quot;&lt;x&gt;&quot; "
            "&amp; true&#x27;\"") in html
    assert "%oci rerun eeeeeeeeeeee" in html
    # A long body has no reproduce line: the button copies the export's re-run.
    del rec["reproduce"]
    assert 'data-cmd="ipy-oci rerun provenance.json"' in \
        Provenance(rec)._repr_mimebundle_()[0]["text/html"]


# -- export files -----------------------------------------------------------------------------
def test_export_round_trip_and_accepted_shapes(tmp_path: Path) -> None:
    recs = [record(), record(b"x\n")]
    out = write_export(tmp_path / "p.json", recs, "kid")
    doc = json.loads(out.read_text())
    assert doc["schema"] == EXPORT_SCHEMA and doc["record_schema"] == PROVENANCE_SCHEMA
    assert doc["kernel_id"] == "kid" and load_export(out) == recs
    (tmp_path / "list.json").write_text(json.dumps(recs))
    assert load_export(tmp_path / "list.json") == recs
    (tmp_path / "one.json").write_text(json.dumps(recs[0]))
    assert load_export(tmp_path / "one.json") == recs[:1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.json", "one.json", "p.json"]


def test_export_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no provenance recorded"):
        write_export(tmp_path / "p.json", [])
    with pytest.raises(UsageError, match="is a directory"):
        write_export(tmp_path, [record()])
    with pytest.raises(UsageError, match="cannot write"):
        write_export(tmp_path / "missing" / "p.json", [record()])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("{not json", "is not valid JSON: .* line 1 column 2"),
    ('{"schema": "other/v1", "records": []}', "has schema 'other/v1': expected"),
    ("[]", "holds no provenance records"),
    ('"text"', "holds no provenance records"),
    ('[{"schema": "ipy-oci/provenance/v9"}]', "record 0 of .* has schema"),
    ("[1]", "record 0 of .* is a JSON int"),
])
def test_load_export_refuses_bad_input(tmp_path: Path, content: str | None,
                                       message: str) -> None:
    path = tmp_path / "p.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BadRecord, match=message) as info:
        load_export(path)
    assert info.value.exit_code == 125
