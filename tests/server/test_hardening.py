"""Hostile and oversized input against the real server (issue 11): privileged exec,
exec body limits, nested JSON, body and message sizes, the server-wide stdin budget.

Every refused request must leave nothing behind: each test checks that no exec
session was created, and the ``oci`` fixture's leak check runs after each test.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.websocket import WebSocketClosedError
from traitlets.config import Config
from wsterm import Term

MiB = 1 << 20
DEEP = 100_000  # past the JSON parser's recursion limit


@pytest.fixture
def server_limits() -> dict[str, Any]:
    """Extra IpyOciApp settings; a test parametrizes this to change them."""
    return {}


@pytest.fixture
def jp_server_config(jp_server_config: Config, server_limits: dict[str, Any]) -> Config:
    jp_server_config.IpyOciApp.update(server_limits)
    return jp_server_config


@pytest.fixture
def attach(jp_ws_fetch: Any) -> Any:
    async def connect(sid: str) -> Term:
        return Term(await jp_ws_fetch("ipy-oci", "api", "exec", sid, "attach"))

    return connect


async def new_exec(api: Any, cmd: list[str], tty: bool = True) -> str:
    code, data = await api("POST", "containers", "box", "exec", body={"Cmd": cmd, "Tty": tty})
    assert code == 201, data
    return str(data["Id"])


async def no_sessions(api: Any) -> None:
    code, sessions = await api("GET", "exec")
    assert code == 200 and sessions == [], sessions


async def stop_when_running(api: Any, sid: str) -> None:
    """Stop a session once it runs (a stop of one still starting is a no-op)."""
    for _ in range(600):  # a hang guard, not a timing assertion
        if (await api("GET", "exec", sid))[1]["State"] != "created":
            break
        await asyncio.sleep(0.05)
    assert (await api("POST", "exec", sid, "stop", params={"t": "0"}))[0] == 204


async def next_error(term: Term) -> str:
    """The next error frame (output frames on the way are kept in term.out)."""
    term.error = ""
    while not term.error:
        assert await term._read(), f"closed ({term.close_code} {term.close_reason!r})"
    return term.error


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# -- privileged exec -------------------------------------------------------------------
async def test_privileged_exec_is_refused_by_default(api: Any, container: Any) -> None:
    code, err = await api("POST", "containers", "box", "exec",
                          body={"Cmd": ["id"], "Privileged": True})
    assert code == 403, err
    assert "IpyOciApp.allow_privileged_exec" in err["message"]
    assert "Privileged" in err["message"]
    code, data = await api("POST", "containers", "box", "exec",
                           body={"Cmd": ["id"], "Privileged": False})
    assert code == 201
    assert (await api("DELETE", "exec", data["Id"]))[0] == 204
    await no_sessions(api)


@pytest.mark.parametrize("server_limits", [{"allow_privileged_exec": True}])
async def test_privileged_exec_when_allowed(api: Any, container: Any) -> None:
    code, data = await api("POST", "containers", "box", "exec",
                           body={"Cmd": ["id"], "Privileged": True})
    assert code == 201, data
    code, info = await api("GET", "exec", data["Id"])
    assert info["ProcessConfig"]["privileged"] is True
    assert (await api("DELETE", "exec", data["Id"]))[0] == 204


# -- exec body limits ------------------------------------------------------------------
async def test_exec_body_limits(api: Any, container: Any) -> None:
    big = "x" * 70_000
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Env": [f"K{i}=v" for i in range(1001)]}, "IpyOciApp.exec_max_env"),
        ({"Env": [f"A={big}", f"B={big}"]}, "IpyOciApp.exec_max_env_bytes"),
        ({"Env": ["A=1\0"]}, "NUL"),
        ({"Env": ["NOEQ"]}, "KEY=VALUE"),
        ({"Cmd": ["echo", *["a"] * 1000]}, "IpyOciApp.exec_max_args"),
        ({"Cmd": ["echo", big, big]}, "IpyOciApp.exec_max_cmd_bytes"),
        ({"Cmd": ["echo\0"]}, "NUL"),
        ({"WorkingDir": "/" + "d" * 5000}, "WorkingDir"),
        ({"WorkingDir": "tmp"}, "absolute"),
        ({"User": "u" * 300}, "User"),
        ({"DetachKeys": "ctrl-p," * 20}, "DetachKeys"),
        ({"DetachKeys": "ctrl-zz"}, "DetachKeys"),
        ({"Tty": "yes"}, "Tty"),
    ]
    for extra, needle in cases:
        body = {"Cmd": ["sh"], **extra}
        code, err = await api("POST", "containers", "box", "exec", body=body)
        assert code == 400, (needle, code, err)
        assert needle in err["message"], (needle, err)
        assert len(err["message"]) < 400, err  # the input is not echoed back
    # A lone surrogate cannot reach a process (json.dumps would escape the backslash).
    code, err = await api("POST", "containers", "box", "exec",
                          body='{"Cmd": ["sh"], "Env": ["A=\\ud800"]}')
    assert code == 400 and "Unicode" in err["message"], err
    # The 20 MB value never reaches the exec checks: the body is too large.
    code, err = await api("POST", "containers", "box", "exec",
                          body={"Cmd": ["sh"], "Env": ["A=" + "v" * (20 * MiB)]})
    assert code == 413 and "IpyOciApp.max_request_bytes" in err["message"], err
    await no_sessions(api)
    # At the limits: accepted.
    code, data = await api("POST", "containers", "box", "exec", body={
        "Cmd": ["echo", *["a"] * 999], "Env": [f"K{i}=v" for i in range(1000)],
        "WorkingDir": "/tmp", "DetachKeys": "ctrl-p,ctrl-q"})
    assert code == 201, data
    assert (await api("DELETE", "exec", data["Id"]))[0] == 204


# -- JSON nesting and body size --------------------------------------------------------
async def test_deeply_nested_bodies_are_a_400(api: Any, container: Any) -> None:
    deep_array = "[" * DEEP + "]" * DEEP
    deep_object = '{"a":' * DEEP + "1" + "}" * DEEP
    within_parser = {"Cmd": ["sh"], "X": json.loads("[" * 200 + "]" * 200)}
    routes = [("containers", "box", "exec"), ("containers", "box", "resize"),
              ("exec", "feedface", "resize")]
    for path in routes:
        for body in (deep_array, deep_object, json.dumps(within_parser)):
            code, err = await api("POST", *path, body=body)
            assert code == 400, (path, body[:20], code, err)
            assert "nested too deeply" in err["message"], err
    await no_sessions(api)


@pytest.mark.parametrize("server_limits", [{"max_request_bytes": 64 << 10}])
async def test_oversized_bodies_are_a_413(api: Any, container: Any, jp_http_port: int,
                                          jp_serverapp: Any, jp_base_url: str) -> None:
    body = json.dumps({"Cmd": ["sh"], "Env": ["A=" + "v" * (100 << 10)]})
    code, err = await api("POST", "containers", "box", "exec", body=body)
    assert code == 413, err
    assert "64 KiB" in err["message"] and "IpyOciApp.max_request_bytes" in err["message"]
    # A route that takes no body refuses one that is too large, before acting.
    code, err = await api("POST", "containers", "box", "pause", body="x" * (100 << 10))
    assert code == 413, err
    code, info = await api("GET", "containers", "box")
    assert info["State"]["Status"] == "running"
    # Far too large by its Content-Length: answered at once, nothing read.
    token = jp_serverapp.identity_provider.token
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(f"POST {jp_base_url}ipy-oci/api/containers/box/exec HTTP/1.1\r\n"
                 f"Host: 127.0.0.1:{jp_http_port}\r\nAuthorization: token {token}\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {10 << 30}\r\n\r\n"
                 .encode())
    await writer.drain()
    reply = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert "IpyOciApp.max_request_bytes" in json.loads(payload)["message"]
    # Still served.
    code, data = await api("POST", "containers", "box", "exec", body={"Cmd": ["true"]})
    assert code == 201
    assert (await api("DELETE", "exec", data["Id"]))[0] == 204


# -- websocket messages ----------------------------------------------------------------
@pytest.mark.parametrize("server_limits", [{"max_message_bytes": 1 * MiB}])
async def test_bad_websocket_messages_get_an_error_frame(api: Any, container: Any,
                                                         attach: Any) -> None:
    sid = await new_exec(api, ["sh"])
    term = await attach(sid)
    await term.type("echo $((6*7))-up\r")
    await term.read_until("42-up")
    cases = [
        ("[" * DEEP, "nested too deeply"),  # RecursionError inside the parser
        (json.dumps(["stdin", json.loads("[" * 100 + "]" * 100)]), "nested too deeply"),
        ("{not json", "not valid JSON"),
        (json.dumps(["stdin", 5]), '"stdin"'),
        (json.dumps(["set_size", "Infinity", 3]), '"set_size"'),
        ('["set_size", Infinity, 3]', '"set_size"'),
        (json.dumps(["set_size", 0, 80]), '"set_size"'),
        (json.dumps({"stdin": "x"}), '["stdin", text]'),
        (json.dumps(["ping"]), "unknown kind"),
        (json.dumps(["stdin", "y" * (2 * MiB)]), "IpyOciApp.max_message_bytes"),
    ]
    for frame, needle in cases:
        await term.ws.write_message(frame)
        error = await next_error(term)
        assert needle in error, (frame[:30], error)
        assert len(error) < 400, error
    # The stream goes on.
    await term.type("echo $((6*8))-still\r")
    await term.read_until("48-still")
    # Over four times the limit the message is not even read: tornado closes (1009).
    try:
        await term.ws.write_message(json.dumps(["stdin", "z" * (5 * MiB)]))
    except WebSocketClosedError:
        pass  # closed while the client was still sending
    # 1009 in a close frame, unless tornado dropped the connection while the client
    # was still sending (then there is no close frame to carry a code): closed either way.
    assert await term.wait_closed() is None and term.close_code in (1009, None)
    # The session is unharmed; another viewer carries on.
    again = await attach(sid)
    await again.type("echo $((6*9))-again\r")
    await again.read_until("54-again")
    await again.type("exit 0\r")
    assert await again.wait_closed() == 0


# -- the server-wide stdin budget -------------------------------------------------------
BUDGET = 8 * MiB
PASTE = MiB // 2  # small pastes keep what is in flight (not held) small
PASTES = 48  # per stream: 24 MiB each, 72 MiB in all


@pytest.mark.parametrize("server_limits", [{
    "stdin_buffer_bytes": BUDGET, "stdin_session_bytes": 64 * MiB,
    "max_message_bytes": 4 * MiB}])
async def test_stdin_budget_bounds_memory(api: Any, container: Any, attach: Any,
                                          ext: Any) -> None:
    budget = ext.hub.stdin_budget
    sleepers = [await new_exec(api, ["sleep", "1000"], tty=False) for _ in range(3)]
    terms = [await attach(sid) for sid in sleepers]
    # Warm up the paths a paste takes (first allocations, the refusal's strings).
    await terms[0].type("w" * PASTE)
    base = rss()
    refusals = []
    for term in terms:
        for _ in range(PASTES):
            await term.type("p" * PASTE)
        # More than the budget was sent: this stream must have been refused.
        refusals.append(await next_error(term))
    grown = rss() - base
    assert budget.used <= BUDGET
    assert all("IpyOciApp.stdin_buffer_bytes" in r for r in refusals), refusals
    # Held: the budget (measured: 11 MiB growth). In flight: a few pastes, each
    # copied a few times (client and server are this process). With a budget
    # larger than what was sent, the same pastes grow RSS by 66 MiB.
    assert grown < BUDGET + 16 * MiB, f"RSS grew {grown / MiB:.1f} MiB"
    # A process that reads its input still gets what is typed: input that goes
    # straight to it takes nothing from the budget.
    held = budget.used
    sid = await new_exec(api, ["sh"])
    shell = await attach(sid)
    await shell.type("echo $((6*7))-typed\r")
    await shell.read_until("42-typed")
    assert budget.used == held
    await shell.type("exit\r")
    assert await shell.wait_closed() == 0
    # Ending the streams gives their share back.
    for sid, term in zip(sleepers, terms, strict=True):
        await stop_when_running(api, sid)
        await term.wait_closed()
    assert budget.used == 0


@pytest.mark.parametrize("server_limits", [{"stdin_session_bytes": 2 * MiB}])
async def test_stdin_limit_per_stream(api: Any, container: Any, attach: Any,
                                      ext: Any) -> None:
    sid = await new_exec(api, ["sleep", "1000"], tty=False)
    term = await attach(sid)
    for _ in range(16):  # 8 MiB: the pipe takes some, the stream may hold 2 MiB
        await term.type("p" * PASTE)
    refusal = await next_error(term)
    assert "IpyOciApp.stdin_session_bytes" in refusal and "2 MiB" in refusal, refusal
    assert 0 < ext.hub.stdin_budget.used <= 2 * MiB
    await stop_when_running(api, sid)
    await term.wait_closed()
    assert ext.hub.stdin_budget.used == 0
