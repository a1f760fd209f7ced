"""A Jupyter server with the ipy_oci extension on each test's private storage root.

pytest-jupyter has no entry point and a non-root conftest may not set
``pytest_plugins``, so its fixtures and hooks are imported here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403
from srvhelp import REAPER_INTERVAL, remove_quietly, start_container
from traitlets.config import Config

API = ("ipy-oci", "api")


@pytest.fixture
def jp_server_config(oci: Any) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"ipy_oci.server": True,
                                              "jupyter_server_terminals": True}},
        "IpyOciApp": {"root": str(oci.root), "runroot": str(oci.runroot),
                      "runtime": "runc", "reaper_interval": REAPER_INTERVAL},
    })


@pytest.fixture
def ext(oci: Any, jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Any]:
    """The running extension; stopped before ``oci`` checks for leaks."""
    (point,) = [app for apps in jp_serverapp.extension_manager.extension_apps.values()
                for app in apps if app.name == "ipy_oci"]
    yield point
    jp_asyncio_loop.run_until_complete(point.stop_extension())


@pytest.fixture
def api(ext: Any, jp_fetch: Any) -> Callable[..., Any]:
    """``await api("GET", "containers", params=..., body=...)`` -> (status, json)."""

    async def call(method: str, *path: str, body: Any = None, params: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False,
                                  "params": params, "headers": headers}
        if body is not None:
            kwargs["body"] = body if isinstance(body, str | bytes) else json.dumps(body)
        elif method in ("POST", "PUT"):
            kwargs["body"] = b""
        r = await jp_fetch(*API, *path, **kwargs)
        data = json.loads(r.body) if r.body else None
        return r.code, data

    return call


@pytest.fixture
def login_cookie(jp_serverapp: Any, jp_fetch: Any, jp_asyncio_loop: Any) -> str:
    """The login cookie a browser gets by opening the server's URL with its token."""
    token = jp_serverapp.identity_provider.token
    r = jp_asyncio_loop.run_until_complete(
        jp_fetch("ipy-oci", "api", "info", params={"token": token}))
    cookies = [c.split(";", 1)[0] for c in r.headers.get_list("Set-Cookie")]
    login = "; ".join(c for c in cookies if not c.startswith("_xsrf"))
    assert login
    return login


@pytest.fixture
def engine(oci: Any) -> Any:
    return oci.runtime()


@pytest.fixture
def container(engine: Any) -> Iterator[Any]:
    """A running busybox container named ``box``; removed afterwards."""
    ctr = start_container(engine, "box")
    try:
        yield ctr
    finally:
        remove_quietly(ctr)
