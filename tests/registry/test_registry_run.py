"""``run``/``create`` pull what they miss (``--pull``), once wired into the CLI."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from conftest import Pushed

from ipy_oci.engine.runtime import Runtime

pytestmark = pytest.mark.skipif(
    "pull" not in inspect.signature(Runtime.create_container).parameters,
    reason="Runtime.create_container does not call engine.images.ensure_image yet",
)


def test_run_pulls_missing_image(oci: Any, pushed: Pushed) -> None:
    res = oci.cli("run", "--rm", pushed.refs["layered"], "/bin/cat", "/etc/new")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "new"
    assert "Trying to pull" in res.stderr and "Copying blob" in res.stderr
    res = oci.cli("run", "--rm", pushed.refs["layered"], "/bin/cat", "/etc/keep")
    assert res.stdout == "keep" and "Trying" not in res.stderr
    res = oci.cli("create", "--pull=never", f"{pushed.host}/test/docker:nosuch")
    assert res.returncode == 125 and "not known" in res.stderr
    res = oci.cli("run", "--rm", "--pull=always", "--platform", "linux/amd64",
                  pushed.refs["multi"], "/bin/cat", "/platform")
    assert res.stdout == "amd64", res.stderr
    res = oci.cli("pull", "-q", pushed.refs["docker"])
    assert res.returncode == 0 and len(res.stdout.strip()) == 64
    res = oci.cli("images", "--format", "json")
    assert res.returncode == 0 and len(json.loads(res.stdout)) == 3
    res = oci.cli("run", "--rm", "127.0.0.1:1/x:1", "true")
    assert res.returncode == 125 and "cannot reach registry" in res.stderr
