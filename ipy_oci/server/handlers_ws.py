"""Websocket attach: /ipy-oci/api/exec/{sid}/attach and /containers/{id}/attach.

The protocol is terminado's JSON text frames. Client: ``["stdin", text]``,
``["set_size", rows, cols]``. Server: ``["stdout", text]``, then
``["exit", code]`` when the process ends (or ``["error", message]`` when it
could not be started or attached), then a close whose reason says why (1000
after an exit, 1011 after an error, 1001 when the server shuts down).

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

if TYPE_CHECKING:
    from .attach_hub import AttachHub, Plan
    from .attachment import Attachment
    from .engine_pool import EnginePool

log = logging.getLogger(__name__)

MAX_TERM_SIZE = 65535


def _reason(text: str) -> str:
    """A close reason must fit 123 bytes of UTF-8."""
    data = text.encode()
    return data[:120].decode(errors="ignore") if len(data) > 123 else text


class AttachSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    auth_resource = AUTH_RESOURCE
    kind = "exec"

    def initialize(self, pool: EnginePool, hub: AttachHub) -> None:
        self.pool = pool
        self.hub = hub
        self._plan: Plan | None = None
        self._att: Attachment | None = None

    @property
    def max_message_size(self) -> int:
        return 64 << 20  # a big paste arrives as one frame

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
            msg = json.loads(message)
        except ValueError:
            log.debug("ipy-oci attach: ignoring a frame that is not JSON")
            return
        if not isinstance(msg, list) or not msg:
            return
        if msg[0] == "stdin" and len(msg) >= 2 and isinstance(msg[1], str):
            att.write_stdin(msg[1].encode("utf-8", "replace"))
        elif msg[0] == "set_size" and len(msg) >= 3:
            size = _size(msg[1], msg[2])
            if size is not None:
                att.resize(*size)

    def on_close(self) -> None:
        if self._att is not None:
            self._att.leave(self)
            self._att = None


class ExecAttachSocket(AttachSocket):
    kind = "exec"


class ContainerAttachSocket(AttachSocket):
    kind = "container"


def _size(rows: Any, cols: Any) -> tuple[int, int] | None:
    try:
        r, c = int(rows), int(cols)
    except (TypeError, ValueError):
        return None
    if 0 < r <= MAX_TERM_SIZE and 0 < c <= MAX_TERM_SIZE:
        return r, c
    return None


def ws_routes(prefix: str) -> list[tuple[str, type[AttachSocket]]]:
    return [
        (rf"{prefix}/exec/([^/]+)/attach", ExecAttachSocket),
        (rf"{prefix}/containers/([^/]+)/attach", ContainerAttachSocket),
    ]
