"""The Jupyter server extension run by the user, without --allow-root (docs/ROOTLESS.md §7).

A real ``jupyter server`` from the user's venv (the extension is enabled by the
wheel's jupyter config), reached over loopback: REST for containers, info and exec
sessions, and the websocket attach that starts an exec session and streams it. The
server is threaded, so its engine works from outside the user namespace.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tornado.websocket import websocket_connect
from users import User, container

API = "/ipy-oci/api"


@dataclass
class Server:
    base: str
    token: str
    proc: subprocess.Popen[str]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.base}{API}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                text = resp.read().decode()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read().decode() or "null")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(rl1: User) -> Iterator[Server]:
    port, token = _free_port(), secrets.token_hex(16)
    pairs = [f"{k}={v}" for k, v in rl1.env().items()]
    argv = ["runuser", "-u", rl1.name, "--", "env", "-i", *pairs, "jupyter", "server",
            "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--ServerApp.token={token}", "--ServerApp.port_retries=0"]
    proc = subprocess.Popen(argv, cwd=str(rl1.home), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    srv = Server(f"http://127.0.0.1:{port}", token, proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"jupyter server exited:\n{proc.stdout.read()}"  # type: ignore[union-attr]
            try:
                if srv.call("GET", "/info")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "jupyter server did not answer in 60 s"
            time.sleep(0.2)
        yield srv
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        assert "Running as root is not recommended" not in out


async def _attach(srv: Server, sid: str) -> tuple[str, int | None]:
    url = srv.base.replace("http", "ws", 1) + f"{API}/exec/{sid}/attach"
    req = urllib.request.Request(url, headers={"Authorization": f"token {srv.token}"})
    from tornado.httpclient import HTTPRequest

    ws = await websocket_connect(HTTPRequest(url, headers=dict(req.header_items())))
    out, code = "", None
    while True:
        msg = await asyncio.wait_for(ws.read_message(), 60)
        if msg is None:
            break
        kind, *rest = json.loads(msg)
        if kind == "stdout":
            out += rest[0]
        elif kind == "exit":
            code = rest[0]
    return out, code


def test_server_as_the_user_runs_exec_sessions(rl1: User, server: Server) -> None:
    status, info = server.call("GET", "/info")
    assert status == 200
    assert info["host"]["security"]["rootless"] is True
    assert info["store"]["graphRoot"] == str(rl1.storage)
    name = "srv"
    with container(rl1, name, "--network", "none", "busybox", "sleep", "300"):
        status, rows = server.call("GET", "/containers")
        assert status == 200 and [r["Names"] for r in rows] == [[name]]
        status, created = server.call("POST", f"/containers/{name}/exec",
                                      {"Cmd": ["sh", "-c", "id -u; cat /proc/self/uid_map"],
                                       "AttachStdin": False})
        assert status == 201, created
        out, code = asyncio.run(_attach(server, created["Id"]))
        assert code == 0, out
        lines = out.split()
        assert lines[0] == "0"
        assert lines[1:4] == ["0", str(rl1.uid), "1"]
        status, _ = server.call("POST", f"/containers/{name}/stop?t=0")
        assert status in (200, 204)
        # the stopped container's exec sessions are reaped with it
        status, sessions = server.call("GET", f"/exec?container={name}")
        assert status == 200 and all(s.get("Running") is not True for s in sessions)
