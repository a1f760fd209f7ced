"""``build`` FROM registry images: what the store lacks is pulled into it first (and
listed by ``images`` after, as podman does), docker schema 2 and OCI alike, also as
``COPY --from=IMAGE``; ``--pull never`` then builds offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import Pushed


def test_build_from_registry_images(oci: Any, pushed: Pushed, tmp_path: Path) -> None:
    (tmp_path / "Containerfile").write_text(
        f"ARG BASE={pushed.refs['docker']}\n"
        "FROM ${BASE} AS d\n"
        # The final stage is busybox: buildah commits nothing on top of the test images
        # (their history has one entry for several layers, which buildah refuses).
        "FROM busybox\n"
        "COPY --from=d /hello /hello\n"
        f"COPY --from={pushed.refs['layered']} /etc/new /new\n"
        "RUN cat /hello /new > /both\n")
    res = oci.cli("build", "--network", "none", "-t", "fromreg", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("Trying to pull") == 2
    run = oci.cli("run", "--rm", "--network", "none", "fromreg", "cat", "/both")
    assert run.stdout == "docker schema2new", run.stderr
    names = oci.cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert pushed.refs["docker"] in names and pushed.refs["layered"] in names

    again = oci.cli("build", "-q", "--pull", "never", "--network", "none", str(tmp_path))
    assert again.returncode == 0, again.stderr
    assert "Trying" not in again.stderr
    missing = oci.cli("build", "--pull=never", "--network", "none", str(tmp_path),
                      "--build-arg", f"BASE={pushed.host}/test/nosuch:1")
    assert missing.returncode == 125
    assert "not known" in missing.stderr and "--pull=never" in missing.stderr
