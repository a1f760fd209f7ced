"""The REST handler base: authentication, authorization, engine calls, JSON in and out.

jupyter_server's APIHandler authenticates (403 without a user, no login
redirect) and checks XSRF on state-changing requests unless the request was
token-authenticated. ``@authorized`` (in the subclasses) asks the server's
authorizer about resource ``ipy_oci``.

Request bodies are streamed in (``stream_request_body``) so that one larger than
``IpyOciApp.max_request_bytes`` is never held: it is read and dropped, then
answered with 413 before the handler runs (one far larger, by its
Content-Length, gets the 413 at once and the connection is closed: see
``limits.drain_limit``). JSON bodies are read with ``limits.parse_json``:
invalid or too deeply nested input is a 400.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..engine.runtime import Runtime
from ..errors import OciError
from .api_errors import ApiError, from_engine
from .limits import BadJson, Limits, drain_limit, parse_json, show, size

if TYPE_CHECKING:
    from .attach_hub import AttachHub
    from .engine_pool import EnginePool

AUTH_RESOURCE = "ipy_oci"
T = TypeVar("T")
log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_VERBS = ("get", "head", "post", "put", "patch", "delete")


@web.stream_request_body
class BaseApiHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every verb first refuses an oversized body (data_received only noted it).
        super().__init_subclass__(**kwargs)
        for verb in _VERBS:
            method = cls.__dict__.get(verb)
            if method is not None:
                setattr(cls, verb, _body_checked(method))

    def initialize(self, pool: EnginePool, hub: AttachHub, limits: Limits) -> None:
        self.pool = pool
        self.hub = hub
        self.limits = limits
        self._body = bytearray()
        self._body_bytes = 0  # received, kept or not
        self._body_refused = False

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.limits.max_request_bytes:
            self._body_refused = True
            if int(declared) > drain_limit(self.limits.max_request_bytes):
                raise self._too_large(int(declared))

    def data_received(self, chunk: bytes) -> None:
        self._body_bytes += len(chunk)
        if self._body_refused:
            return
        if self._body_bytes > self.limits.max_request_bytes:
            self._body_refused = True
            self._body = bytearray()
            return
        self._body += chunk

    def _too_large(self, n: int) -> ApiError:
        return ApiError(413, f"the request body ({size(n)}) is larger than the "
                             f"{size(self.limits.max_request_bytes)} this server accepts "
                             "(IpyOciApp.max_request_bytes)")

    def _take_body(self) -> None:
        """Before the verb runs: 413 for an oversized body, else ``request.body``."""
        if self._body_refused:
            raise self._too_large(self._body_bytes)
        self.request.body = bytes(self._body)

    async def engine(self, fn: Callable[[Runtime], T]) -> T:
        """Run an engine call in the pool; engine errors become JSON HTTP errors."""
        try:
            return await self.pool.run(fn)
        except OciError as exc:
            raise from_engine(exc) from exc
        except ApiError:
            raise
        except Exception as exc:
            log.exception("ipy-oci engine call failed")
            raise ApiError(500, f"{type(exc).__name__}: {exc}") from exc

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": exc.message, "reason": exc.reason}))
            return
        super().write_error(status_code, **kwargs)

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def no_content(self) -> None:
        self.set_status(204)
        self.finish()

    # -- input ------------------------------------------------------------------
    def json_body(self) -> dict[str, Any]:
        """The body's JSON object ({} for an empty body); 400 for anything else."""
        raw = self.request.body
        if not raw.strip():
            return {}
        try:
            data = parse_json(raw, "the request body")
        except BadJson as exc:
            raise ApiError(400, str(exc)) from None
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data

    def flag(self, name: str, default: bool) -> bool:
        raw = self.get_query_argument(name, None)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ApiError(400, f"query parameter {name}={show(raw)} is not a boolean: "
                            "use 1 or 0")

    def number(self, name: str, default: float | None, lo: float = 0,
               hi: float = 1e9) -> float | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        return to_number(name, raw, lo, hi)


def to_number(name: str, raw: Any, lo: float, hi: float) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name}={show(raw)} is not a number") from None
    if not lo <= value <= hi:  # NaN too
        raise ApiError(400, f"{name}={show(raw)} is out of range ({lo:g} to {hi:g})")
    return value


def to_int(name: str, raw: Any, lo: int, hi: int) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ApiError(400, f"{name}={show(raw)} is not an integer")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name}={show(raw)} is not an integer") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name}={show(raw)} is out of range ({lo} to {hi})")
    return value


def _body_checked(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    @functools.wraps(method)
    async def checked(self: BaseApiHandler, *args: Any, **kwargs: Any) -> None:
        self._take_body()
        await method(self, *args, **kwargs)

    return checked
