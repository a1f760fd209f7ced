"""``%oci pull`` in a cell: a progress bar per layer that collapses into one summary
line, and an image handle with a compact repr (a real kernel, a real loopback
registry from tests/registry)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import reg, registry_module
from kernel_helpers import Kernel


@pytest.fixture(scope="module")
def pushed_ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    regconf = registry_module("conftest")
    ri = registry_module("regimages")
    if not os.access(regconf.REGISTRY_BIN, os.X_OK) or not shutil.which("skopeo"):
        pytest.skip("needs: apt-get install docker-registry skopeo")
    from ipy_oci.images.builtin import host_platform

    server = regconf._start_registry(tmp_path_factory.mktemp("pull-cell-registry"))
    try:
        base: Path = tmp_path_factory.mktemp("pull-cell-layout")
        img = ri.image([ri.layer(ri.busybox_entries()),
                        ri.layer([reg("hello", b"from the registry")])],
                       arch=host_platform()[0], label="pull-cell")
        layout = ri.write_layout(base, "t", img)
        ref = f"{server.host}/cells/pulled:1"
        ri.push(layout, "t", ref)
        yield ref
    finally:
        server.stop()


def test_pull_shows_bars_then_a_summary_and_returns_a_handle(
        oci: Any, kernel: Kernel, pushed_ref: str) -> None:
    cell = kernel.ok(f"img = %oci pull {pushed_ref}\nimg")
    # no progress lines on stderr: the widget shows it
    assert cell.text("stderr") == ""
    progress = [m for m in kernel.log if m["msg_type"] == "comm_open"
                and m["content"]["data"]["state"].get("_model_name") == "IntProgressModel"]
    assert len(progress) == 2, "one bar per layer"
    # the title ends as a one-line summary
    summaries = [str(m["content"]["data"].get("state", {}).get("value", ""))
                 for m in kernel.log if m["msg_type"] == "comm_msg"]
    assert any(s.startswith("pulled <code>") and "2 layers" in s for s in summaries)
    # the result: a compact handle, still the inspect dict underneath
    assert kernel.value("repr(img)").startswith(f"<Image {pushed_ref} ")
    assert kernel.value("img['RepoTags']") == [pushed_ref]
    assert re.fullmatch(r"[0-9a-f]{64}", json.loads(kernel.value("img.to_json()"))["Id"])
    # -q: no widget at all
    mark = len(kernel.log)
    kernel.ok(f"%oci pull -q {pushed_ref}")
    assert not [m for m in kernel.log[mark:] if m["msg_type"] == "comm_open"]
