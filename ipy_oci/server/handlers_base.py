"""The REST handler base: authentication, authorization, engine calls, JSON in and out.

jupyter_server's APIHandler authenticates (403 without a user, no login
redirect) and checks XSRF on state-changing requests unless the request was
token-authenticated. ``@authorized`` (in the subclasses) asks the server's
authorizer about resource ``ipy_oci``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.base.handlers import APIHandler

from ..engine.runtime import Runtime
from ..errors import OciError
from .api_errors import ApiError, from_engine

if TYPE_CHECKING:
    from .attach_hub import AttachHub
    from .engine_pool import EnginePool

AUTH_RESOURCE = "ipy_oci"
T = TypeVar("T")
log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class BaseApiHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    def initialize(self, pool: EnginePool, hub: AttachHub) -> None:
        self.pool = pool
        self.hub = hub

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
        raw = self.request.body or b"{}"
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"the request body is not valid JSON: {exc}") from None
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
        raise ApiError(400, f"query parameter {name}={raw!r} is not a boolean: use 1 or 0")

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
        raise ApiError(400, f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name}={raw!r} is out of range ({lo:g} to {hi:g})")
    return value


def to_int(name: str, raw: Any, lo: int, hi: int) -> int:
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ApiError(400, f"{name}={raw!r} is not an integer")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name}={raw!r} is out of range ({lo} to {hi})")
    return value
