"""The server's reaper across a Slurm cluster: a SIGKILLed kernel's exec session on a
Slurm container is ended on its node (the session's step gets SIGTERM)."""

from __future__ import annotations

import os
import signal
import uuid
from typing import Any

from srvhelp import REAPER_INTERVAL
from test_reaper import PASS_GRACE, run_in_kernel, sleepers, wait_for

KERNEL_CODE = """
import threading
from ipy_oci.config import Config
from ipy_oci.engine.runtime import Runtime
from ipy_oci.engine.records import ExecConfig
cfg = Config.load({root!r}, {runroot!r}, "runc")
def attached():
    s = Runtime(cfg).exec_create("far", ExecConfig(command=["sleep", "2012"]),
                                 owner_kernel={kid!r})
    s.start_and_attach(lambda stream, data: None)
threading.Thread(target=attached, daemon=True).start()
"""


async def test_sigkilled_kernels_slurm_exec_is_reaped(slurm_cluster: Any, ext: Any, oci: Any,
                                                      engine: Any) -> None:
    from jupyter_client.manager import AsyncKernelManager

    oci.cli("run", "-d", "--slurm", "--name", "far", "--network", "none", "busybox",
            "sleep", "1000", check=True)
    kid = f"sigkill-{uuid.uuid4()}"  # a kernel this server does not run
    km = AsyncKernelManager(kernel_name="python3")
    await km.start_kernel(env=oci.env)
    kc = km.client()
    kc.start_channels()
    try:
        await run_in_kernel(kc, KERNEL_CODE.format(root=str(oci.root),
                                                   runroot=str(oci.runroot), kid=kid))

        def running() -> bool:
            return any(r.owner_kernel == kid and r.state == "running"
                       for r in engine.state.exec_sessions())

        await wait_for(running, 60, "the session running on its node")
        assert sleepers("2012")
        os.kill(km.provisioner.process.pid, signal.SIGKILL)

        def reaped() -> bool:
            return not any(r.owner_kernel == kid for r in engine.state.exec_sessions()) \
                and not sleepers("2012")

        await wait_for(reaped, 2 * REAPER_INTERVAL + PASS_GRACE,
                       "the dead kernel's Slurm session reaped on its node")
        # The container itself lives on: only the kernel's session went.
        assert oci.cli("inspect", "far", "--format", "{{.State.Status}}").stdout.strip() \
            == "running"
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        oci.cli("rm", "-f", "-t", "0", "far")
    assert slurm_cluster.jobs() == []
