"""Every REST route of /ipy-oci/api/, with auth refusal and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

from srvhelp import start_container

PS_KEYS = {"Id", "Names", "Image", "ImageID", "Command", "Created", "State", "Status", "Pid",
           "ExitCode", "Exited", "StartedAt", "ExitedAt", "Labels", "AutoRemove",
           "ExecSessions", "OwnerKernel", "Ports", "CreatedAt", "Mounts", "Networks", "Size",
           "IsInfra", "Pod", "PodName", "Slurm"}


async def test_unauthenticated_requests_are_refused(api: Any, container: Any) -> None:
    bad = {"Authorization": "token not-the-token"}
    for method, path in [("GET", ("containers",)), ("GET", ("info",)),
                         ("POST", ("containers", "box", "stop")),
                         ("DELETE", ("containers", "box")),
                         ("POST", ("containers", "box", "exec"))]:
        code, body = await api(method, *path, headers=bad)
        assert code == 403, (method, path, code)
    code, body = await api("GET", "containers", "box")
    assert code == 200 and body["State"]["Status"] == "running"


async def test_list_and_inspect_containers(api: Any, container: Any) -> None:
    code, items = await api("GET", "containers")
    assert code == 200
    (item,) = items
    assert set(item) == PS_KEYS
    assert item["Id"] == container.id and item["Names"] == ["box"]
    assert item["State"] == "running" and item["Status"].startswith("Up ")
    assert item["Command"] == ["sleep", "1000"] and item["ExecSessions"] == 0
    for ref in ("box", container.id, container.id[:10]):
        code, data = await api("GET", "containers", ref)
        assert code == 200 and data["Id"] == container.id, ref
    code, running = await api("GET", "containers", params={"all": "0"})
    assert [c["Id"] for c in running] == [container.id]


async def test_containers_with_live_usage(api: Any, container: Any) -> None:
    """?stats=1 adds podman-stats-like usage; CPU % is measured between two polls."""
    code, (first,) = await api("GET", "containers", params={"stats": "1"})
    assert code == 200 and first["Stats"]["Available"] is True
    assert first["Stats"]["MemUsage"] > 0
    await asyncio.sleep(0.3)
    code, (second,) = await api("GET", "containers", params={"stats": "1"})
    assert isinstance(second["Stats"]["CPUPerc"], float) and second["Stats"]["CPUPerc"] >= 0
    code, (plain,) = await api("GET", "containers")
    assert "Stats" not in plain
    code, body = await api("GET", "containers", params={"stats": "maybe"})
    assert code == 400 and "stats" in body["message"]


async def test_lifecycle_actions(api: Any, container: Any) -> None:
    async def state() -> str:
        code, items = await api("GET", "containers")
        return str(items[0]["State"])

    assert (await api("POST", "containers", "box", "pause"))[0] == 204
    assert await state() == "paused"
    assert (await api("POST", "containers", "box", "unpause"))[0] == 204
    assert await state() == "running"
    code, _ = await api("POST", "containers", "box", "stop", params={"t": "0"})
    assert code == 204 and await state() == "exited"
    code, running = await api("GET", "containers", params={"all": "0"})
    assert running == []
    assert (await api("POST", "containers", container.id[:12], "start"))[0] == 204
    assert await state() == "running"
    assert (await api("POST", "containers", "box", "kill", params={"signal": "KILL"}))[0] == 204
    await asyncio.to_thread(container.wait, 30)  # kill returns before the exit lands
    code, data = await api("GET", "containers", "box")
    assert data["State"]["ExitCode"] == 137
    assert (await api("DELETE", "containers", "box"))[0] == 204
    code, body = await api("GET", "containers", "box")
    assert code == 404 and "box" in body["message"]


async def test_bad_input(api: Any, container: Any) -> None:
    cases = [
        ("GET", ("containers",), {"all": "maybe"}, None, 400),
        ("GET", ("containers", "nope"), None, None, 404),
        ("POST", ("containers", "nope", "start"), None, None, 404),
        ("POST", ("containers", "box", "kill"), {"signal": "BOGUS"}, None, 400),
        ("POST", ("containers", "box", "stop"), {"t": "soon"}, None, 400),
        ("POST", ("containers", "box", "unpause"), None, None, 409),
        ("DELETE", ("containers", "box"), None, None, 409),
        ("POST", ("containers", "box", "exec"), None, "{not json", 400),
        ("POST", ("containers", "box", "exec"), None, {"Tty": True}, 400),
        ("POST", ("containers", "box", "exec"), None, {"Cmd": "sh"}, 400),
        ("POST", ("containers", "box", "exec"), None, {"Cmd": ["sh"], "Tty": "yes"}, 400),
        ("POST", ("containers", "box", "exec"), None, {"Cmd": ["sh"], "Env": ["NOEQ"]}, 400),
        ("POST", ("containers", "nope", "exec"), None, {"Cmd": ["sh"]}, 404),
        ("GET", ("exec",), {"container": "nope"}, None, 404),
        ("GET", ("exec", "feedface"), None, None, 404),
        ("POST", ("exec", "feedface", "stop"), None, None, 404),
        ("POST", ("exec", "feedface", "resize"), None, {"h": 10, "w": 10}, 404),
    ]
    for method, path, params, body, want in cases:
        code, data = await api(method, *path, params=params, body=body)
        assert code == want, (method, path, params, body, code, data)
        assert isinstance(data["message"], str) and data["message"], data


async def test_exec_routes(api: Any, container: Any) -> None:
    code, data = await api("POST", "containers", "box", "exec",
                           body={"Cmd": ["sh"], "Tty": True, "Env": ["A=1"], "User": "",
                                 "WorkingDir": "/tmp"})
    assert code == 201 and set(data) == {"Id"}
    sid = data["Id"]
    code, one = await api("GET", "exec", sid)
    assert code == 200 and one["ID"] == sid and one["State"] == "created"
    assert one["ContainerID"] == container.id
    assert one["ProcessConfig"]["tty"] is True and one["ProcessConfig"]["workdir"] == "/tmp"
    assert one["ProcessConfig"]["env"] == ["A=1"]
    assert one["Owner"]["Kernel"] == "" and one["Owner"]["Pid"] > 0
    code, listed = await api("GET", "exec", params={"container": "box"})
    assert [s["ID"] for s in listed] == [sid]
    code, listed = await api("GET", "exec")
    assert [s["ID"] for s in listed] == [sid]
    code, items = await api("GET", "containers")
    assert items[0]["ExecSessions"] == 1
    assert (await api("POST", "exec", sid, "resize", body={"h": 40, "w": 120}))[0] == 204
    assert (await api("POST", "exec", sid, "resize", params={"h": "41", "w": "121"}))[0] == 204
    for bad in ({"h": 0, "w": 10}, {"h": 10}, {"h": "x", "w": 3}, {"h": 1.5, "w": 3}):
        code, err = await api("POST", "exec", sid, "resize", body=bad)
        assert code == 400, (bad, code)
    # Never started: there is no process to stop (a start under way would run it
    # after the stop returned), so the session is removed instead.
    code, err = await api("POST", "exec", sid, "stop")
    assert code == 409 and "not been started" in err["message"]
    assert (await api("DELETE", "exec", sid))[0] == 204
    assert (await api("GET", "exec", sid))[0] == 404


async def test_exec_resize_without_tty_is_a_conflict(api: Any, container: Any) -> None:
    code, data = await api("POST", "containers", "box", "exec", body={"Cmd": ["true"]})
    code, err = await api("POST", "exec", data["Id"], "resize", body={"h": 5, "w": 5})
    assert code == 409 and "terminal" in err["message"]


async def test_images_and_info(api: Any, container: Any, oci: Any) -> None:
    code, images = await api("GET", "images")
    assert code == 200
    assert any(any("busybox" in t for t in i["RepoTags"]) for i in images)
    assert all({"Id", "RepoTags", "Size", "Containers"} <= set(i) for i in images)
    busybox = next(i for i in images if "localhost/busybox:latest" in i["RepoTags"])
    for ref in ("localhost/busybox:latest", busybox["Id"][:12]):
        code, image = await api("GET", "images", ref)
        assert code == 200 and image["Id"] == busybox["Id"] and "Config" in image, ref
    code, body = await api("GET", "images", "nosuch")
    assert code == 404 and "nosuch" in body["message"]
    code, info = await api("GET", "info")
    assert code == 200 and info["store"]["graphRoot"] == str(oci.root)  # podman's info
    assert info["store"]["containerStore"]["number"] == 1


async def test_xsrf_required_for_cookie_authenticated_changes(
        api: Any, container: Any, login_cookie: str) -> None:
    login = login_cookie
    # A cookie alone authenticates reads ...
    code, _ = await api("GET", "containers", headers={"Authorization": "", "Cookie": login})
    assert code == 200
    # ... but a state-changing request also needs the XSRF token.
    code, _ = await api("POST", "containers", "box", "pause",
                        headers={"Authorization": "", "Cookie": login})
    assert code == 403
    xsrf = "ipyocixsrf"
    code, _ = await api("POST", "containers", "box", "pause",
                        headers={"Authorization": "", "Cookie": f"{login}; _xsrf={xsrf}",
                                 "X-XSRFToken": xsrf})
    assert code == 204
    await asyncio.to_thread(container.unpause)


async def test_second_container_by_prefix(api: Any, container: Any, engine: Any) -> None:
    other = await asyncio.to_thread(start_container, engine, "box2")
    try:
        code, items = await api("GET", "containers")
        assert {i["Names"][0] for i in items} == {"box", "box2"}
        code, data = await api("GET", "containers", other.id[:8])
        assert code == 200 and data["Name"] == "box2"
    finally:
        await asyncio.to_thread(other.remove, force=True, timeout=0)
