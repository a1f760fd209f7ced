"""The server's attached streams, one per exec session or container, shared by viewers.

The first viewer of a created exec session starts it (its owner stays whoever
created it); later viewers, and viewers after a reload, join the same stream and
get the replay buffer first. A finished stream is kept for a while so a late
viewer still sees the end of the output and the exit code.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from ..engine.records import ExecState, State
from ..engine.runtime import Runtime
from ..errors import NotFoundError, OciError
from .attach_sources import ExecSource, SocketSource
from .attachment import Attachment, Viewer
from .engine_pool import EnginePool
from .limits import Limits
from .stdin_writer import StdinBudget

log = logging.getLogger(__name__)

KEEP_ENDED = 32
KEEP_SIZES = 256
EXIT_WAIT = 5.0
DETACHED_STOP_GRACE = 2.0


@dataclass
class Plan:
    """What a viewer asked for, looked up before the websocket upgrade."""

    kind: str  # "exec" or "container"
    id: str
    name: str
    state: str
    exit_code: int | None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def live(self) -> bool:
        if self.kind == "exec":
            return self.state in (ExecState.CREATED, ExecState.RUNNING)
        return self.state in State.LIVE


def _exited(what: str, code: int | None) -> str:
    return f"{what} exited with code {code}" if code is not None else f"{what} has ended"


class AttachHub:
    def __init__(self, pool: EnginePool, replay_limit: int = 64 << 10,
                 stdin_budget: StdinBudget | None = None) -> None:
        self.pool = pool
        self.replay_limit = replay_limit
        # Stdin queued for processes that do not read it, shared by every stream.
        if stdin_budget is None:
            stdin_budget = StdinBudget(Limits.stdin_buffer_bytes, Limits.stdin_session_bytes)
        self.stdin_budget = stdin_budget
        self.live: dict[str, Attachment] = {}
        self.ended: OrderedDict[str, Attachment] = OrderedDict()
        self._sizes: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._threads: set[threading.Thread] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self.stopping = False

    # -- before the upgrade (404 for unknown objects) ------------------------------------
    async def plan_exec(self, ref: str) -> Plan:
        def work(rt: Runtime) -> Plan:
            sess = rt.lookup_exec(ref).sync()
            return Plan("exec", sess.id, f"exec session {sess.id[:12]}", sess.state,
                        sess.record.exit_code)

        return await self.pool.run(work)

    async def plan_container(self, ref: str) -> Plan:
        def work(rt: Runtime) -> Plan:
            ctr = rt.touch(rt.lookup_container(ref))
            return Plan("container", ctr.id, f"container {ctr.name}", ctr.state,
                        ctr.record.exit_code)

        return await self.pool.run(work)

    # -- after the upgrade --------------------------------------------------------------
    def join(self, plan: Plan, viewer: Viewer) -> Attachment:
        att = self.live.get(plan.key)
        if att is None:
            old = self.ended.get(plan.key)
            # A finished stream answers late viewers, unless the object runs again
            # (a restarted container).
            att = old if old is not None and not plan.live else self._new(plan)
        att.join(viewer)
        return att

    def _new(self, plan: Plan) -> Attachment:
        att = Attachment(plan.key, asyncio.get_running_loop(), self.replay_limit, self._retire)
        att.size = self._sizes.pop(plan.id, None)
        self.live[plan.key] = att
        if self.stopping:
            att.finish(None, "the Jupyter server is shutting down", error=True)
        elif plan.kind == "exec" and plan.state == ExecState.CREATED:
            self._start_exec(att, plan)
        elif plan.kind == "exec" and plan.state == ExecState.RUNNING:
            self._spawn(self._connect_exec(att, plan))
        elif plan.kind == "container" and plan.state in State.LIVE:
            self._spawn(self._connect_container(att, plan))
        elif plan.kind == "container" and plan.state in (State.CONFIGURED, State.CREATED):
            att.finish(None, f"{plan.name} is not running: start it first", error=True)
        else:
            att.finish(plan.exit_code, _exited(plan.name, plan.exit_code))
        return att

    def _retire(self, att: Attachment) -> None:
        if self.live.get(att.key) is att:
            del self.live[att.key]
        self.ended[att.key] = att
        self.ended.move_to_end(att.key)
        while len(self.ended) > KEEP_ENDED:
            self.ended.popitem(last=False)

    def note_size(self, session_id: str, rows: int, cols: int) -> None:
        """A REST resize: apply to the live stream, or keep for its first start."""
        att = self.live.get(f"exec:{session_id}")
        if att is not None:
            att.resize(rows, cols)
            return
        self._sizes[session_id] = (rows, cols)
        while len(self._sizes) > KEEP_SIZES:
            self._sizes.popitem(last=False)

    # -- exec sessions ----------------------------------------------------------------
    def _start_exec(self, att: Attachment, plan: Plan) -> None:
        def ended(src: ExecSource, outcome: str, code: int | None, error: str) -> None:
            src.stdin.close()
            self._threads.discard(src.thread)
            att.source = None
            if att.done or self.stopping:
                return
            if outcome == ExecSource.REFUSED:
                # Someone else started it meanwhile: follow it through conmon's socket.
                self._spawn(self._connect_exec(att, plan, fallback=error))
            elif outcome == ExecSource.DETACHED:
                self._spawn(self._stop_detached(att, plan))
            elif outcome == ExecSource.FAILED:
                att.finish(None, error, error=True)
            else:
                att.finish(-1 if code is None else code, _exited(plan.name, code))

        src = ExecSource(att, self.pool, plan.id, ended, self.stdin_budget)
        att.source = src
        self._threads.add(src.thread)
        src.start()

    async def _connect_exec(self, att: Attachment, plan: Plan, fallback: str = "") -> None:
        def work(rt: Runtime) -> tuple[Any, Any]:
            sess = rt.lookup_exec(plan.id).sync()
            if sess.state != ExecState.RUNNING:
                return sess, None
            return sess, sess.attach_socket()

        try:
            sess, sock = await self.pool.run(work)
        except (OciError, OSError, RuntimeError) as exc:  # RuntimeError: pool shut down
            att.finish(None, fallback or str(exc), error=True)
            return
        if sock is None:
            code = sess.record.exit_code
            att.finish(code, _exited(plan.name, code))
            return
        if att.done or self.stopping:
            sock.close()
            return
        att.source = SocketSource(att, sock, sess.resize, lambda: self._exec_exit(plan),
                                  self.stdin_budget)

    async def _stop_detached(self, att: Attachment, plan: Plan) -> None:
        """The detach keys were typed. conmon stops serving a session whose attached
        client left (the engine does not pass --leave-stdin-open), so nobody could
        ever see this terminal again: stop it rather than leave it running blind."""
        def work(rt: Runtime) -> int | None:
            return rt.lookup_exec(plan.id).stop(DETACHED_STOP_GRACE)

        try:
            code = await self.pool.run(work)
        except (OciError, RuntimeError) as exc:
            att.finish(None, f"detached from {plan.name}; stopping it failed: {exc}",
                       error=True)
            return
        att.finish(code, f"detached from {plan.name} with its detach keys, which a "
                         "browser terminal cannot re-attach: it was stopped")

    async def _exec_exit(self, plan: Plan) -> tuple[int | None, str]:
        def work(rt: Runtime) -> tuple[int | None, str]:
            deadline = time.monotonic() + EXIT_WAIT
            while True:
                try:
                    sess = rt.lookup_exec(plan.id).sync()
                except NotFoundError:
                    return None, f"{plan.name} has ended and was removed"
                if sess.state != ExecState.RUNNING:
                    return sess.record.exit_code, _exited(plan.name, sess.record.exit_code)
                if time.monotonic() > deadline:
                    return None, f"lost the output stream of {plan.name}"
                time.sleep(0.05)

        return await self.pool.run(work)

    # -- containers --------------------------------------------------------------------
    async def _connect_container(self, att: Attachment, plan: Plan) -> None:
        def work(rt: Runtime) -> tuple[Any, Any]:
            ctr = rt.lookup_container(plan.id)
            return ctr, ctr.attach_socket()

        try:
            ctr, sock = await self.pool.run(work)
        except (OciError, OSError, RuntimeError) as exc:
            att.finish(None, f"cannot attach to {plan.name}: {exc}", error=True)
            return
        if att.done or self.stopping:
            sock.close()
            return
        att.source = SocketSource(att, sock, ctr.resize, lambda: self._container_exit(plan),
                                  self.stdin_budget)

    async def _container_exit(self, plan: Plan) -> tuple[int | None, str]:
        def work(rt: Runtime) -> tuple[int | None, str]:
            try:
                code = rt.lookup_container(plan.id).wait(timeout=EXIT_WAIT)
            except NotFoundError:
                return None, f"{plan.name} has ended and was removed"
            return code, _exited(plan.name, code)

        return await self.pool.run(work)

    # -- housekeeping -------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("ipy-oci attach task failed", exc_info=t.exception())

        task.add_done_callback(done)

    def stop(self) -> list[threading.Thread]:
        """Server shutdown: end every stream; returns the threads to join."""
        self.stopping = True
        for att in list(self.live.values()):
            att.shut_down("the Jupyter server is shutting down")
        for task in list(self._tasks):
            task.cancel()
        return list(self._threads)
