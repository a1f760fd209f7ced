"""``%%oci build``: the cell body is the Containerfile, output streams live, the
image goes into the output metadata and runs; failures and Ctrl-C leave nothing
(a real kernel, real buildah)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from helpers import wait_until
from kernel_helpers import Kernel, one_line_error
from leaks import leaked_processes


def buildah_containers(oci: Any) -> list[str]:
    res = subprocess.run(["buildah", "--root", str(oci.root / "buildah" / "storage"),
                          "--runroot", str(oci.runroot / "buildah"), "--storage-driver",
                          "vfs", "containers", "-q"], capture_output=True, text=True,
                         check=True)
    return res.stdout.split()


def _build_record(cell: Any) -> dict[str, Any]:
    records = [o["metadata"]["ipy_oci"]["build"] for o in cell.outputs
               if "ipy_oci" in o.get("metadata", {})]
    assert len(records) == 1, cell.outputs
    return records[0]


def test_build_cell_streams_records_and_runs(oci: Any, kernel: Kernel, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("from the context\n")
    kernel.ok(f"%cd {ctx}")  # the context is the notebook's directory
    body = ("FROM busybox\nCOPY hello.txt /hello.txt\n"
            "RUN echo marker-one; sleep 2; echo marker-two\n"
            'CMD ["cat", "/hello.txt"]\n')
    cell = kernel.ok(f"%%oci build -t cellimg --network none\n{body}")
    # Live: the RUN step's lines reached the cell as they came, in separate messages.
    texts = [m["content"]["text"] for m in cell.messages if m["msg_type"] == "stream"]
    first = next(i for i, t in enumerate(texts) if t.startswith("marker-one"))
    second = next(i for i, t in enumerate(texts) if t.startswith("marker-two"))
    assert first < second, texts
    assert "STEP 1/4: FROM busybox" in cell.text()
    rec = _build_record(cell)
    image = oci.runtime().images.lookup("cellimg")
    assert rec["image"] == image.id and rec["digest"] == image.digest
    assert rec["tags"] == ["localhost/cellimg:latest"]
    assert rec["context"] == str(ctx)
    assert rec["containerfile_sha256"].startswith("sha256:")
    assert rec["image"][:12] in cell.result["text/plain"]
    run = kernel.ok("%oci run --rm --network none cellimg")
    assert run.text() == "from the context\n"
    assert buildah_containers(oci) == []


def test_build_cell_failure_is_one_line(oci: Any, kernel: Kernel, tmp_path: Path) -> None:
    cell = kernel.run(f"%%oci build --network none --context {tmp_path}\n"
                      "FROM busybox\nRUN echo before\nRUN false\n")
    err = one_line_error(cell)
    assert 'building at STEP "RUN false"' in err["traceback"][0]
    assert "before" in cell.text()
    err = one_line_error(kernel.run("%%oci build -t x -f Containerfile\nFROM busybox\n"))
    assert "the cell body is the Containerfile" in err["traceback"][0]
    assert buildah_containers(oci) == []


def test_build_cell_interrupt_cleans_up(oci: Any, kernel: Kernel, tmp_path: Path) -> None:
    msg_id = kernel.send(f"%%oci build --network none --context {tmp_path}\n"
                         "FROM busybox\nRUN echo started; sleep 97\n")
    kernel.wait_for(lambda m: m["parent_header"].get("msg_id") == msg_id
                    and m["msg_type"] == "stream" and "started" in m["content"]["text"],
                    "the RUN step to start")
    kernel.km.interrupt_kernel()
    cell = kernel.finish(msg_id)
    assert cell.status == "error" and cell.error is not None
    assert cell.error["ename"] == "KeyboardInterrupt"
    wait_until(lambda: not leaked_processes(oci.root, oci.runroot),
               "buildah and its RUN step to be gone")
    assert buildah_containers(oci) == []
    kernel.ok("%oci images -q")  # the kernel goes on


def test_build_line_magic_uses_the_context_file(oci: Any, kernel: Kernel,
                                                tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text("FROM busybox\nRUN echo from-file > /f\n")
    cell = kernel.ok(f"%oci build -q --network none -t lineimg {tmp_path}")
    assert cell.text() == ""  # -q: nothing streamed
    rec = _build_record(cell)
    assert rec["tags"] == ["localhost/lineimg:latest"] and "containerfile_sha256" not in rec
    assert kernel.value("_['Id']") == rec["image"]  # the value is the image's inspect data
    assert buildah_containers(oci) == []
