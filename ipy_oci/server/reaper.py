"""Reaping from the server: the process that outlives kernels.

- Kernel lifecycle events (jupyter_server's kernel manager emits
  ``kernel_actions/v1`` after a successful ``shutdown`` or ``restart``, including
  the restarts its KernelRestarter does for a kernel that died): the sessions
  of that kernel id are reaped and its ``--rm`` containers removed.
- A periodic pass: ``Runtime.reap()`` (rules 1, 4, 6), plus sessions owned by a
  kernel that is not running here and whose owner process is dead (a SIGKILLed
  kernel that nobody restarted; its detached sessions included).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ..engine.exec_records import ExecState
from ..engine.exec_session import owner_alive
from ..engine.runtime import Runtime
from ..errors import NotFoundError
from .engine_pool import EnginePool

log = logging.getLogger(__name__)

KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"


def reap_dead_kernels(rt: Runtime, running: set[str], only: str = "") -> list[str]:
    """Stop and remove sessions whose kernel is not in ``running`` and whose owner
    process is dead (``only``: just this kernel id, whatever ``running`` says)."""
    reaped = []
    for sess in rt.exec_sessions(sync=False):
        rec = sess.record
        kid = rec.owner_kernel
        if not kid or (only and kid != only) or (not only and kid in running):
            continue
        if owner_alive(rec):
            continue
        try:
            if rec.state == ExecState.RUNNING:
                sess.stop()
            sess.remove(force=True)
        except NotFoundError:
            continue
        reaped.append(sess.id)
    return reaped


def remove_rm_containers(rt: Runtime, kernel_id: str, before: float) -> list[str]:
    """``--rm`` containers a kernel started (created before ``before``)."""
    removed = []
    for ctr in rt.containers(all=True, sync=False):
        rec = ctr.record
        if rec.owner_kernel == kernel_id and rec.config.auto_remove and rec.created_at < before:
            try:
                ctr.remove(force=True)
            except NotFoundError:
                continue
            removed.append(ctr.id)
    return removed


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
            report = rt.reap()
            return [*report.orphans_reaped, *reap_dead_kernels(rt, running)]

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
            if action == "shutdown":
                reaped = rt.reap_owner(kernel_id=kid)
            else:
                # The kernel id lives on in the new process: only the old one's go.
                reaped = reap_dead_kernels(rt, set(), only=kid)
            return [*reaped, *remove_rm_containers(rt, kid, before=now)]

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
