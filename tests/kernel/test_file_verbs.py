"""``%oci cp/top/stats/diff/export/rename``, ``container prune`` and ``system df`` in a
real kernel: the same engine calls as the CLI, and the same text."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from helpers import running_container
from kernel_helpers import Kernel


def test_file_verbs_in_a_kernel(oci: Any, kernel: Kernel, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("from the host\n")
    with running_container(oci, "fv", "sleep", "1000") as cid:
        kernel.ok(f"%oci cp {src} fv:/tmp/in.txt")
        assert oci.cli("exec", "fv", "cat", "/tmp/in.txt").stdout == "from the host\n"
        data = kernel.value("len(get_ipython().run_line_magic('oci', 'cp fv:/tmp/in.txt -'))")
        assert isinstance(data, int) and data >= 512  # a tar archive, as bytes

        top = kernel.ok("%oci top fv pid args").text()
        assert top.splitlines()[0].split() == ["PID", "COMMAND"]
        assert "sleep 1000" in top

        stats = kernel.ok("%oci stats --no-stream --format '{{.Name}} {{.PIDs}}' fv").text()
        assert stats == oci.cli("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}",
                                "fv").stdout == "fv 1\n"

        assert "A /tmp/in.txt" in kernel.ok("%oci diff fv").text().splitlines()

        out = tmp_path / "fv.tar"
        kernel.ok(f"%oci export -o {out} fv")
        with tarfile.open(out) as tar:
            assert "tmp/in.txt" in tar.getnames()
        refused = kernel.run("%oci export fv")
        assert refused.status == "error" and "-o FILE" in refused.text("stderr") + str(
            refused.error)

        kernel.ok("%oci rename fv fv2")
        assert oci.cli("inspect", "-f", "{{.Name}}", cid).stdout == "fv2\n"
        kernel.ok("%oci rename fv2 fv")

    df = kernel.ok("%oci system df").text()
    assert df.splitlines()[0].split()[:2] == ["TYPE", "TOTAL"]
    oci.cli("create", "--name", "gone", "--network", "none", "busybox", "true", check=True)
    refused = kernel.run("%oci container prune")
    assert refused.status == "error"
    pruned = kernel.value("get_ipython().run_line_magic('oci', 'container prune -f')")
    assert len(pruned) == 1 and oci.cli("ps", "-a", "-q").stdout == ""
