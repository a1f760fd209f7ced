"""Every front end shows the same JSON for the same container and image.

One real container and the built-in busybox image, seen through ``ipy-oci``,
``%oci`` in a real kernel and the REST API of a real Jupyter server: the same keys
and the same values, except the fields named in TIME_DEPENDENT.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client import KernelManager

# The server fixtures (jp_serverapp, jp_fetch …), as tests/server/conftest.py gets them:
# pytest-jupyter has no entry point.
from pytest_jupyter.jupyter_server import *  # noqa: F403
from traitlets.config import Config

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "kernel"))
from kernel_helpers import Kernel  # noqa: E402

# ps rows: "Up 3 seconds" becomes "Up 4 seconds" between two looks.
TIME_DEPENDENT = {"Status"}
NAME = "agree"


@pytest.fixture
def jp_server_config(oci: Any) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"ipy_oci.server": True}},
        "IpyOciApp": {"root": str(oci.root), "runroot": str(oci.runroot), "runtime": "runc"},
    })


@pytest.fixture
def rest(oci: Any, jp_serverapp: Any, jp_fetch: Any,
         jp_asyncio_loop: Any) -> Iterator[Callable[..., Any]]:
    """``rest("containers", NAME)`` -> the JSON of GET /ipy-oci/api/containers/NAME.
    The extension is stopped before ``oci`` checks for leaks."""
    (ext,) = [app for apps in jp_serverapp.extension_manager.extension_apps.values()
              for app in apps if app.name == "ipy_oci"]

    def get(*path: str) -> Any:
        r = jp_asyncio_loop.run_until_complete(jp_fetch("ipy-oci", "api", *path))
        assert r.code == 200, (path, r.code, r.body)
        return json.loads(r.body)

    yield get
    jp_asyncio_loop.run_until_complete(ext.stop_extension())


@pytest.fixture
def kernel(oci: Any, tmp_path: Path) -> Iterator[Kernel]:
    """A kernel on the test's root with the extension loaded (as tests/kernel's)."""
    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["ipy_oci"]\n')
    env = dict(oci.env, IPYTHONDIR=str(tmp_path / "ipython"),
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    km = KernelManager(connection_file=str(tmp_path / f"kernel-{uuid.uuid4()}.json"))
    km.start_kernel(env=env)
    k = Kernel(km, "")
    try:
        yield k
    finally:
        k.shutdown()


@pytest.fixture
def container(oci: Any, tmp_path: Path) -> Iterator[str]:
    """A running container with labels, env and a mount, so the shapes have content."""
    (tmp_path / "data").mkdir()
    res = oci.cli("run", "-d", "--name", NAME, "-l", "k=v", "--annotation", "a=b",
                  "-e", "A=1", "-v", f"{tmp_path / 'data'}:/mnt:ro", "-w", "/mnt",
                  "busybox", "sleep", "1000", check=True)
    try:
        yield res.stdout.strip()
    finally:
        oci.cli("rm", "-f", "-t", "0", NAME)


def cli_json(oci: Any, *args: str) -> Any:
    return json.loads(oci.cli(*args, check=True).stdout)


def magic(kernel: Kernel, line: str) -> Any:
    """What ``%oci LINE`` returns, as JSON."""
    return kernel.value(f"get_ipython().run_line_magic('oci', {line!r})")


def assert_same(views: dict[str, Any], ignore: Collection[str] = ()) -> None:
    """Every view has the same keys and values as the first one (``ignore``d keys
    must be there, with any value)."""
    (first_name, first), *rest = views.items()
    assert first, f"{first_name} is empty"
    for name, view in rest:
        assert set(view) == set(first), \
            f"{name} vs {first_name}: keys {set(view) ^ set(first)} differ"
        for key in first:
            if key not in ignore:
                assert view[key] == first[key], f"{name} vs {first_name}: {key}"


def test_container_views_agree(oci: Any, container: str, kernel: Kernel,
                               rest: Callable[..., Any]) -> None:
    inspect = {
        "ipy-oci inspect": cli_json(oci, "inspect", NAME)[0],
        "ipy-oci inspect --type container": cli_json(oci, "inspect", "--type", "container",
                                                     container[:12])[0],
        "%oci inspect": magic(kernel, f"inspect {NAME}"),
        "GET containers/NAME": rest("containers", NAME),
    }
    assert_same(inspect)
    data = inspect["ipy-oci inspect"]
    assert data["Id"] == container and data["Name"] == NAME
    assert data["State"]["Status"] == "running" and data["Config"]["Labels"] == {"k": "v"}
    assert data["Config"]["Annotations"] == {"a": "b"} and "A=1" in data["Config"]["Env"]

    def ps_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
        (row,) = [r for r in rows if r["Id"] == container]
        return row

    rows = {
        "ipy-oci ps --format json": ps_row(cli_json(oci, "ps", "-a", "--format", "json")),
        "%oci ps --format json": ps_row(magic(kernel, "ps -a --format json")),
        "GET containers": ps_row(rest("containers")),
    }
    assert_same(rows, ignore=TIME_DEPENDENT)
    row = rows["ipy-oci ps --format json"]
    assert row["Names"] == [NAME] and row["State"] == "running"
    assert row["Status"].startswith("Up ") and row["Labels"] == {"k": "v"}


def test_image_views_agree(oci: Any, container: str, kernel: Kernel,
                           rest: Callable[..., Any]) -> None:
    image_id = cli_json(oci, "inspect", NAME)[0]["Image"]
    inspect = {
        "ipy-oci image inspect": cli_json(oci, "image", "inspect", "busybox")[0],
        "ipy-oci inspect": cli_json(oci, "inspect", "busybox")[0],
        "ipy-oci inspect --type image": cli_json(oci, "inspect", "--type", "image",
                                                 image_id[:12])[0],
        "%oci inspect": magic(kernel, "inspect busybox"),
        "%oci image inspect": magic(kernel, "image inspect busybox"),
        "GET images/NAME": rest("images", "localhost/busybox:latest"),
    }
    assert_same(inspect)
    data = inspect["ipy-oci image inspect"]
    assert data["Id"] == image_id and data["RepoTags"] == ["localhost/busybox:latest"]
    assert data["Containers"] == 1 and data["RootFS"]["Layers"] and data["Size"] > 0

    def image_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
        (row,) = [r for r in rows if r["Id"] == image_id]
        return row

    rows = {
        "ipy-oci images --format json": image_row(cli_json(oci, "images", "--format", "json")),
        "%oci images --format json": image_row(magic(kernel, "images --format json")),
        "GET images": image_row(rest("images")),
    }
    assert_same(rows)
    # A row says what inspect says, in the fields they share (Created: podman's list
    # gives seconds, its inspect the RFC 3339 text, which the row has as CreatedAt).
    row = rows["ipy-oci images --format json"]
    shared = (set(row) & set(data)) - {"Created"}
    assert {"Id", "RepoTags", "Digest", "Size", "Containers", "Labels"} <= shared
    assert {k: row[k] for k in shared} == {k: data[k] for k in shared}
    assert row["CreatedAt"] == data["Created"]
