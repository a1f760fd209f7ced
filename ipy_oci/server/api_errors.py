"""HTTP errors with a JSON ``{"message": ...}`` body, and the engine-error mapping."""

from __future__ import annotations

from tornado import web

from ..errors import (
    AmbiguousRef,
    ConfigError,
    ImageError,
    InvalidState,
    NameInUse,
    NotFoundError,
    OciError,
    UsageError,
)


class ApiError(web.HTTPError):
    """An HTTP error whose message is sent to the client verbatim."""

    def __init__(self, status: int, message: str) -> None:
        # tornado %-formats log_message when logging: keep it literal.
        super().__init__(status, message.replace("%", "%%"))
        self.message = message


def status_for(exc: OciError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, InvalidState | NameInUse):
        return 409
    if isinstance(exc, UsageError | AmbiguousRef | ConfigError | ImageError):
        return 400
    return 500


def from_engine(exc: OciError) -> ApiError:
    return ApiError(status_for(exc), str(exc))
