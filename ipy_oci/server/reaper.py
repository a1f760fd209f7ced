"""Reaping from the server: the process that outlives kernels.

Only the engine's entry points are called (docs/ARCHITECTURE.md, "Reaping"):

- Kernel lifecycle events (jupyter_server's kernel manager emits
  ``kernel_actions/v1`` after a successful ``shutdown`` or ``restart``, including
  the restarts its KernelRestarter does for a kernel that died): "a kernel goes
  away" (``Runtime.reap_kernel``), for a restart only what the old process owned.
- A periodic pass: ``Runtime.reap`` with the kernels running here, so sessions
  of a kernel that is not running and whose process is dead (a SIGKILLed kernel
  that nobody restarted; its detached sessions included) go too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..engine.runtime import Runtime
from .engine_pool import EnginePool

log = logging.getLogger(__name__)

KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


class Reaper:
    def __init__(self, pool: EnginePool, interval: float,
                 running_kernels: Callable[[], set[str]],
                 logger: logging.Logger | logging.LoggerAdapter[Any] | None = None) -> None:
        self.log = logger or log
        self.pool = pool
        self.interval = interval
        self.running_kernels = running_kernels
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.interval > 0:
            self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("ipy-oci: the periodic reap failed")

    async def run_once(self) -> list[str]:
        running = self.running_kernels()

        def work(rt: Runtime) -> list[str]:
            return rt.reap(running_kernels=running).orphans_reaped

        reaped = await self.pool.run(work)
        if reaped:
            self.log.info("ipy-oci: reaped exec sessions %s", ", ".join(s[:12] for s in reaped))
        return reaped

    async def on_kernel_action(self, logger: Any = None, schema_id: str = "",
                               data: dict[str, Any] | None = None) -> None:
        """jupyter_events listener for kernel_actions/v1."""
        data = data or {}
        self.log.debug("ipy-oci: kernel action %s", data)
        kid = str(data.get("kernel_id") or "")
        action = data.get("action")
        if not kid or data.get("status", "success") != "success" \
                or action not in ("shutdown", "restart"):
            return
        now = time.time()

        def work(rt: Runtime) -> list[str]:
            # After a restart the kernel id lives on in the new process: only the old
            # one's sessions go, and the --rm containers made before the restart.
            return rt.reap_kernel(kernel_id=kid, restarted=action == "restart",
                                  created_before=now)

        try:
            gone = await self.pool.run(work)
        except Exception:
            self.log.exception("ipy-oci: reaping after kernel %s %s failed", kid, action)
            return
        if gone:
            self.log.info("ipy-oci: kernel %s %s: reaped %s", kid, action,
                     ", ".join(g[:12] for g in gone))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
