"""Websocket attach: /ipy-oci/api/exec/{sid}/attach and /containers/{id}/attach.

The protocol is terminado's JSON text frames. Client: ``["stdin", text]``,
``["set_size", rows, cols]``. Server: ``["stdout", text]``, then
``["exit", code]`` when the process ends (or ``["error", message]`` when it
could not be started or attached), then a close whose reason says why (1000
after an exit, 1011 after an error, 1001 when the server shuts down).

A client frame the server cannot take (not JSON, nested too deeply, larger than
``IpyOciApp.max_message_bytes``, of an unknown shape, or stdin over the stdin
budget) is answered with ``["error", message]`` to that client alone, and the
stream goes on; at most one such answer is in flight per connection (more are
only logged), so a client that floods and never reads cannot grow the server's
write buffer. Only a message over ``WS_HARD_FACTOR`` times the limit closes the
connection (tornado: 1009, "message too big"), since it is not even read.

Security follows jupyter_server's terminals: the user must be authenticated
(403 otherwise, before the upgrade) and authorized to ``execute`` on
``ipy_oci``; tornado calls ``check_origin`` (WebSocketMixin's same-origin and
allow_origin rules) during the upgrade. Unknown ids get 404 before the upgrade.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ..errors import OciError
from .api_errors import status_for
from .handlers_base import AUTH_RESOURCE
from .limits import WS_HARD_FACTOR, BadJson, Limits, parse_json, show, size
from .stdin_writer import StdinRefused

if TYPE_CHECKING:
    from .attach_hub import AttachHub, Plan
    from .attachment import Attachment
    from .engine_pool import EnginePool

log = logging.getLogger(__name__)

MAX_TERM_SIZE = 65535
EXPECTED = 'expected ["stdin", text] or ["set_size", rows, columns]'


def _reason(text: str) -> str:
    """A close reason must fit 123 bytes of UTF-8."""
    data = text.encode()
    return data[:120].decode(errors="ignore") if len(data) > 123 else text


class AttachSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    auth_resource = AUTH_RESOURCE
    kind = "exec"

    def initialize(self, pool: EnginePool, hub: AttachHub, limits: Limits) -> None:
        self.pool = pool
        self.hub = hub
        self.limits = limits
        self._plan: Plan | None = None
        self._att: Attachment | None = None
        self._notice: asyncio.Future[Any] | None = None  # the error frame in flight
        self._warned = False

    @property
    def max_message_size(self) -> int:
        # A big paste arrives as one frame. Up to this, an oversized message is read
        # and answered with an error frame; beyond it tornado closes the connection.
        return WS_HARD_FACTOR * self.limits.max_message_bytes

    def get_compression_options(self) -> None:
        return None  # compression costs latency on keystrokes

    async def get(self, *args: Any, **kwargs: Any) -> None:
        user = self.current_user
        if not user:
            raise web.HTTPError(403)
        if not await ensure_async(
            self.authorizer.is_authorized(self, user, "execute", self.auth_resource)
        ):
            raise web.HTTPError(403, f"not authorized to execute on {self.auth_resource}")
        ref = args[0]
        try:
            self._plan = await (self.hub.plan_exec(ref) if self.kind == "exec"
                                else self.hub.plan_container(ref))
        except OciError as exc:
            self.set_status(status_for(exc))
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": str(exc)}))
            return
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.set_nodelay(True)  # Nagle would hold back small echo frames
        assert self._plan is not None
        self._att = self.hub.join(self._plan, self)

    # -- Viewer ------------------------------------------------------------------------
    def deliver(self, frame: str) -> asyncio.Future[Any] | None:
        conn = self.ws_connection
        if conn is None or conn.is_closing():
            return None
        try:
            return self.write_message(frame)
        except WebSocketClosedError:
            return None

    def hang_up(self, code: int, reason: str) -> None:
        if self.ws_connection is not None and not self.ws_connection.is_closing():
            self.close(code, _reason(reason))

    # -- client frames -------------------------------------------------------------------
    def on_message(self, message: str | bytes) -> None:
        att = self._att
        if att is None:
            return
        try:
            problem = self._take(att, message)
        except Exception as exc:  # never drop the connection over one message
            log.exception("ipy-oci attach: a client message failed")
            problem = f"the message failed: {type(exc).__name__}: {exc}"
        if problem:
            self._tell(problem)

    def _take(self, att: Attachment, message: str | bytes) -> str:
        """Act on one client message; what went wrong with it, or ''."""
        limit = self.limits.max_message_bytes
        if len(message) > limit:
            unit = "bytes" if isinstance(message, bytes) else "characters"
            return (f"ignored a message of {len(message):,} {unit}: one message may hold "
                    f"at most {size(limit)} (IpyOciApp.max_message_bytes); send large "
                    "input in smaller pieces")
        try:
            msg = parse_json(message, "the message")
        except BadJson as exc:
            return f"ignored a message: {exc}"
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], str):
            return f"ignored a message: {EXPECTED}"
        kind = msg[0]
        if kind == "stdin":
            if len(msg) < 2 or not isinstance(msg[1], str):
                return 'ignored a "stdin" message: its second element must be the text to send'
            try:
                att.write_stdin(msg[1].encode("utf-8", "replace"))
            except StdinRefused as exc:
                return str(exc)
        elif kind == "set_size":
            rows_cols = _size(*msg[1:3]) if len(msg) >= 3 else None
            if rows_cols is None:
                return ('ignored a "set_size" message: it needs rows and columns, whole '
                        f"numbers from 1 to {MAX_TERM_SIZE}")
            att.resize(*rows_cols)
        else:
            return f"ignored a message of unknown kind {show(kind)}: {EXPECTED}"
        return ""

    def _tell(self, problem: str) -> None:
        """An error frame to this client alone; the stream goes on."""
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(level, "ipy-oci attach %s: %s", self._plan.name if self._plan else "?",
                problem)
        if self._notice is not None and not self._notice.done():
            return  # the client has not read the last one yet
        self._notice = fut = self.deliver(json.dumps(["error", problem]))
        if fut is not None:
            # Retrieved: a closed connection is handled by on_close.
            fut.add_done_callback(lambda f: f.cancelled() or f.exception())

    def on_close(self) -> None:
        if self._att is not None:
            self._att.leave(self)
            self._att = None


class ExecAttachSocket(AttachSocket):
    kind = "exec"


class ContainerAttachSocket(AttachSocket):
    kind = "container"


def _size(rows: Any, cols: Any) -> tuple[int, int] | None:
    if isinstance(rows, bool) or isinstance(cols, bool):
        return None
    try:
        r, c = int(rows), int(cols)
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity
        return None
    if 0 < r <= MAX_TERM_SIZE and 0 < c <= MAX_TERM_SIZE:
        return r, c
    return None


def ws_routes(prefix: str) -> list[tuple[str, type[AttachSocket]]]:
    return [
        (rf"{prefix}/exec/([^/]+)/attach", ExecAttachSocket),
        (rf"{prefix}/containers/([^/]+)/attach", ContainerAttachSocket),
    ]
