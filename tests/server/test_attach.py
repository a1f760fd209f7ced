"""Websocket attach: a tty exec end to end, viewers, replay, containers, refusals."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from srvhelp import remove_quietly, start_container
from tornado.httpclient import HTTPClientError
from wsterm import Term


async def new_exec(api: Any, ctr: str, cmd: list[str], tty: bool = True) -> str:
    code, data = await api("POST", "containers", ctr, "exec", body={"Cmd": cmd, "Tty": tty})
    assert code == 201, data
    return str(data["Id"])


@pytest.fixture
def attach(jp_ws_fetch: Any) -> Any:
    async def connect(kind: str, ref: str, **kwargs: Any) -> Term:
        return Term(await jp_ws_fetch("ipy-oci", "api", kind, ref, "attach", **kwargs))

    return connect


async def test_tty_round_trip(api: Any, container: Any, attach: Any) -> None:
    sid = await new_exec(api, "box", ["sh"])
    term = await attach("exec", sid)
    await term.send("set_size", 33, 101)  # before the start: applied when it starts
    await term.type("echo hi\r")
    await term.read_until("\r\nhi\r\n")
    await term.type("stty size\r")
    await term.read_until("33 101")
    await term.send("set_size", 24, 77)
    await term.type("stty size\r")
    await term.read_until("24 77")
    await term.type("printf '\\377\\n'\r")
    await term.read_until("\ufffd")
    code, info = await api("GET", "exec", sid)
    assert info["Running"] and info["Owner"]["Pid"] == os.getpid()
    await term.type("exit 3\r")
    assert await term.wait_closed() == 3
    assert term.close_code == 1000 and "exited with code 3" in term.close_reason
    code, info = await api("GET", "exec", sid)
    assert info["State"] == "stopped" and info["ExitCode"] == 3
    # A late viewer gets the end of the screen and the exit code.
    late = await attach("exec", sid)
    assert await late.wait_closed() == 3
    assert "\r\nhi\r\n" in late.out


async def test_viewers_share_one_stream_and_replay(api: Any, container: Any,
                                                   attach: Any) -> None:
    sid = await new_exec(api, "box", ["sh"])
    a = await attach("exec", sid)
    await a.read_until("# ")
    b = await attach("exec", sid)
    await a.type("echo $((6*7))-both\r")
    await a.read_until("42-both")
    await b.read_until("42-both")
    a.ws.close()
    # A reload: the replay redraws what came before.
    c = await attach("exec", sid)
    await c.read_until("42-both")
    await b.type("echo $((6*8))-again\r")
    await b.read_until("48-again")
    await c.read_until("48-again")
    assert (await api("POST", "exec", sid, "stop", params={"t": "0"}))[0] == 204
    assert await b.wait_closed() == 137
    assert await c.wait_closed() == 137


async def test_output_without_tty_and_binary(api: Any, container: Any, attach: Any) -> None:
    sid = await new_exec(api, "box", ["sh", "-c",
                                      "echo out; echo err >&2; printf 'x\\377y\\n'; exit 4"],
                         tty=False)
    term = await attach("exec", sid)
    assert await term.wait_closed() == 4
    assert "out\n" in term.out and "err\n" in term.out and "x\ufffdy\n" in term.out


async def test_big_paste_goes_through(api: Any, container: Any, attach: Any) -> None:
    size = 3_000_000  # more than the stdin pipe holds: the rest waits in the queue
    sid = await new_exec(api, "box", ["sh", "-c", f"head -c {size} | wc -c"], tty=False)
    term = await attach("exec", sid)
    await term.type("p" * size)
    code, info = await api("GET", "info")  # the server answers meanwhile
    assert code == 200
    assert await term.wait_closed() == 0
    assert term.out.strip() == str(size)


async def test_container_tty(api: Any, engine: Any, attach: Any) -> None:
    ctr = await asyncio.to_thread(start_container, engine, "tt", ["sh"], tty=True, stdin=True)
    try:
        term = await attach("containers", "tt")
        await term.send("set_size", 20, 60)
        await term.type("stty size; echo $((6*7))-ctr\r")
        await term.read_until("42-ctr")
        assert "20 60" in term.out
        await term.type("exit 5\r")
        assert await term.wait_closed() == 5
        assert "exited with code 5" in term.close_reason
    finally:
        await asyncio.to_thread(remove_quietly, ctr)


async def test_attach_refusals(api: Any, container: Any, attach: Any,
                               login_cookie: str, jp_http_port: int) -> None:
    with pytest.raises(HTTPClientError) as err:
        await attach("exec", "feedface")
    assert err.value.code == 404
    with pytest.raises(HTTPClientError) as err:
        await attach("containers", "nope")
    assert err.value.code == 404
    sid = await new_exec(api, "box", ["sh"])
    with pytest.raises(HTTPClientError) as err:
        await attach("exec", sid, headers={"Authorization": "token wrong"})
    assert err.value.code == 403
    # A browser's cookie from another origin (token requests skip the origin check,
    # as everywhere in jupyter_server).
    host = f"127.0.0.1:{jp_http_port}"  # the host the cookie was issued for
    cookie = {"Authorization": "", "Cookie": login_cookie, "Host": host}
    with pytest.raises(HTTPClientError) as err:
        await attach("exec", sid, headers={**cookie, "Origin": "http://evil.example"})
    assert err.value.code == 403
    # None of the refused viewers started the session.
    code, info = await api("GET", "exec", sid)
    assert info["State"] == "created"
    term = await attach("exec", sid, headers={**cookie, "Origin": f"http://{host}"})
    await term.type("echo $((6*7))-same-origin\r")
    await term.read_until("42-same-origin")


async def test_attach_to_a_stopped_container(api: Any, container: Any, attach: Any,
                                             engine: Any) -> None:
    await asyncio.to_thread(container.stop, 0)
    term = await attach("containers", "box")
    assert await term.wait_closed() == 137
    assert "exited with code 137" in term.close_reason
    from ipy_oci.engine.records import ContainerConfig

    idle = await asyncio.to_thread(engine.create_container,
                                   ContainerConfig(image="busybox", command=["true"]), "idle")
    try:
        term = await attach("containers", "idle")
        assert await term.wait_closed() is None
        assert "not running" in term.error and term.close_code == 1011
    finally:
        await asyncio.to_thread(remove_quietly, idle)


async def test_stopping_the_extension_reaps_its_sessions(api: Any, container: Any,
                                                        attach: Any, ext: Any,
                                                        engine: Any) -> None:
    sid = await new_exec(api, "box", ["sh"])
    term = await attach("exec", sid)
    await term.type("echo $((6*7))-up\r")
    await term.read_until("42-up")
    await ext.stop_extension()
    assert await term.wait_closed() is None and term.close_code == 1001
    assert await asyncio.to_thread(engine.exec_sessions) == []


async def test_joining_a_session_someone_else_started(api: Any, container: Any, attach: Any,
                                                      oci: Any) -> None:
    """A kernel that runs the session itself: the server joins via conmon's socket."""
    import threading

    from ipy_oci.engine.records import ExecConfig

    rt = oci.runtime()
    sess = await asyncio.to_thread(rt.exec_create, container.id,
                                   ExecConfig(command=["sh"], tty=True, attach_stdin=True))
    rfd, wfd = os.pipe()
    other = threading.Thread(target=sess.start_and_attach, args=(lambda s, d: None,),
                             kwargs={"stdin_fd": rfd})
    other.start()
    try:
        while (await api("GET", "exec", sess.id))[1]["State"] != "running":
            await asyncio.sleep(0.05)
        term = await attach("exec", sess.id)
        await term.send("set_size", 21, 61)
        await term.type("stty size; echo $((6*7))-joined\r")
        await term.read_until("42-joined")
        assert "21 61" in term.out
        await term.type("exit 6\r")
        assert await term.wait_closed() == 6
    finally:
        os.close(wfd)
        await asyncio.to_thread(other.join, 30)
        os.close(rfd)


async def test_detach_keys_end_the_terminal_cleanly(api: Any, container: Any,
                                                    attach: Any) -> None:
    """Detaching leaves nothing a browser could re-attach: the session is stopped."""
    code, data = await api("POST", "containers", "box", "exec",
                           body={"Cmd": ["sh"], "Tty": True, "DetachKeys": "ctrl-p,ctrl-q"})
    term = await attach("exec", data["Id"])
    await term.type("echo $((6*7))-before\r")
    await term.read_until("42-before")
    await term.type("\x10\x11")
    assert await term.wait_closed() == 137  # sh ignores SIGTERM: killed after the grace
    assert "detached" in term.close_reason
    code, info = await api("GET", "exec", data["Id"])
    assert info["State"] == "stopped"
