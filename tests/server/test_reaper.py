"""Reaping from the server: SIGKILLed kernels, kernel shutdown and restart events."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from typing import Any

from helpers import find_processes
from srvhelp import REAPER_INTERVAL, remove_quietly

# One reaping pass's own work (a SIGTERM and its exit, conmon's cleanup) on top of
# the two intervals the issue allows; a hang guard, not a measurement.
PASS_GRACE = 10.0

KERNEL_CODE = """
import threading
from ipy_oci.config import Config
from ipy_oci.engine.runtime import Runtime
from ipy_oci.engine.records import ExecConfig
from ipy_oci.engine.records import ContainerConfig
cfg = Config.load({root!r}, {runroot!r}, "runc")
rt = Runtime(cfg)
detached = rt.exec_create({cid!r}, ExecConfig(command=["sleep", "2001"]), owner_kernel={kid!r})
detached.start()
def attached():
    s = Runtime(cfg).exec_create({cid!r}, ExecConfig(command=["sleep", "2002"]),
                                 owner_kernel={kid!r})
    s.start_and_attach(lambda stream, data: None)
threading.Thread(target=attached, daemon=True).start()
if {rm_box!r}:
    rt.run(ContainerConfig(image="busybox", command=[], cmd=["sleep", "2003"],
                           auto_remove=True, stop_timeout=1), "rmbox", owner_kernel={kid!r})
"""


def kernel_code(oci: Any, cid: str, kid: str, rm_box: bool = False) -> str:
    return KERNEL_CODE.format(root=str(oci.root), runroot=str(oci.runroot), cid=cid, kid=kid,
                              rm_box=rm_box)


async def run_in_kernel(kc: Any, code: str) -> None:
    await kc.wait_for_ready(timeout=60)
    reply = await kc.execute_interactive(code, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]


def sessions_of(engine: Any, kid: str) -> list[Any]:
    return [s for s in engine.exec_sessions(sync=False) if s.record.owner_kernel == kid]


def running_sessions(engine: Any, kid: str) -> int:
    # Wait for "running", not just "created": a kernel that dies while its thread is
    # still starting a session can leave that process behind (an engine race).
    return len([s for s in sessions_of(engine, kid) if s.state == "running"])


def sleepers(*args: str) -> list[int]:
    """PIDs of ``sleep ARG`` processes (our sessions' processes)."""
    wanted = {f"sleep\0{a}\0".encode() for a in args}
    return find_processes(lambda cmd: cmd in wanted)


async def wait_for(check: Any, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"not within {limit:.0f} s: {what}"
        await asyncio.sleep(0.1)


async def test_sigkilled_kernel_is_reaped(ext: Any, oci: Any, engine: Any,
                                          container: Any) -> None:
    from jupyter_client.manager import AsyncKernelManager

    kid = f"sigkill-{uuid.uuid4()}"  # a kernel this server does not run
    km = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await run_in_kernel(kc, kernel_code(oci, container.id, kid))
        await wait_for(lambda: running_sessions(engine, kid) == 2, 60, "sessions running")
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        await wait_for(lambda: not sessions_of(engine, kid) and not sleepers("2001", "2002"),
                       2 * REAPER_INTERVAL + PASS_GRACE, "the dead kernel's sessions reaped")
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


async def kernel_via_server(api_fetch: Any) -> str:
    r = await api_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    return str(json.loads(r.body)["id"])


async def test_kernel_shutdown_event_reaps_and_removes_rm_containers(
        ext: Any, oci: Any, engine: Any, container: Any, jp_fetch: Any,
        jp_serverapp: Any) -> None:
    kid = await kernel_via_server(jp_fetch)
    kc = jp_serverapp.kernel_manager.get_kernel(kid).client()
    kc.start_channels()
    try:
        await run_in_kernel(kc, kernel_code(oci, container.id, kid, rm_box=True))
        await wait_for(lambda: running_sessions(engine, kid) == 2, 60, "sessions running")
    finally:
        kc.stop_channels()
    await jp_fetch("api", "kernels", kid, method="DELETE")
    try:
        await wait_for(lambda: not sessions_of(engine, kid) and not sleepers("2001", "2002")
                       and all(c.name != "rmbox" for c in engine.containers()),
                       PASS_GRACE, "the kernel's sessions and --rm container gone")
    finally:
        for ctr in engine.containers():
            if ctr.name == "rmbox":
                remove_quietly(ctr)


async def test_kernel_restart_event_reaps_the_old_process_sessions(
        ext: Any, oci: Any, engine: Any, container: Any, jp_fetch: Any,
        jp_serverapp: Any) -> None:
    kid = await kernel_via_server(jp_fetch)
    kc = jp_serverapp.kernel_manager.get_kernel(kid).client()
    kc.start_channels()
    try:
        await run_in_kernel(kc, kernel_code(oci, container.id, kid))
        await wait_for(lambda: running_sessions(engine, kid) == 2, 60, "sessions running")
    finally:
        kc.stop_channels()
    await jp_fetch("api", "kernels", kid, "restart", method="POST", body="")
    try:
        await wait_for(lambda: not sessions_of(engine, kid) and not sleepers("2001", "2002"),
                       PASS_GRACE, "the old kernel process's sessions gone")
        assert kid in jp_serverapp.kernel_manager.list_kernel_ids()
    finally:
        await jp_fetch("api", "kernels", kid, method="DELETE")
