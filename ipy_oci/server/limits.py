"""What clients may send the server: sizes, counts and nesting, and how they are read.

Every limit is a traitlet of ``IpyOciApp`` (app.py), gathered in ``Limits`` and
handed to the handlers and the attach hub. A refusal names the thing, the limit
and the traitlet that sets it. JSON is read by ``parse_json`` only: it turns
nesting deeper than ``MAX_JSON_DEPTH`` (including what would make the parser
itself raise RecursionError) into a ``BadJson`` error the caller reports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KiB = 1 << 10
MiB = 1 << 20

# Request bodies and websocket messages need three levels ({"Env": ["A=1"]}).
MAX_JSON_DEPTH = 32
# A websocket message above this many times ``max_message_bytes`` is not even read:
# tornado closes the connection (1009, "message too big").
WS_HARD_FACTOR = 4
# A REST body over ``max_request_bytes`` is read and dropped, then answered with
# 413: a client that is still sending when the server closes may never see the
# answer (the connection is reset). One whose Content-Length is above this (or
# above 4 times the limit, if that is more) is not read: 413 at once, then close.
BODY_DRAIN_BYTES = 64 * MiB


def drain_limit(max_request_bytes: int) -> int:
    return max(BODY_DRAIN_BYTES, 4 * max_request_bytes)


@dataclass(frozen=True)
class Limits:
    """The traitlets of the same names (their help strings say what each one is)."""

    allow_privileged_exec: bool = False
    exec_max_env: int = 1000
    exec_max_env_bytes: int = 128 * KiB
    exec_max_args: int = 1000
    exec_max_cmd_bytes: int = 128 * KiB
    max_request_bytes: int = 1 * MiB
    max_message_bytes: int = 16 * MiB
    stdin_buffer_bytes: int = 64 * MiB
    stdin_session_bytes: int = 16 * MiB


class BadJson(ValueError):
    """Input that is not JSON, or nested too deeply; the message says which."""


def parse_json(raw: str | bytes, what: str) -> Any:
    """``raw`` decoded, or BadJson naming ``what`` ("the request body", ...)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise BadJson(_too_deep(what)) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise BadJson(f"{what} is not valid JSON: {exc}") from None
    if not _depth_at_most(data, MAX_JSON_DEPTH):
        raise BadJson(_too_deep(what))
    return data


def _too_deep(what: str) -> str:
    return (f"{what} is nested too deeply: at most {MAX_JSON_DEPTH} levels of arrays "
            "and objects are accepted")


def _depth_at_most(data: Any, limit: int) -> bool:
    """Whether no array or object lies deeper than ``limit`` (no recursion)."""
    if not isinstance(data, dict | list):
        return True
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, dict | list):
                if depth >= limit:
                    return False
                stack.append((item, depth + 1))
    return True


def size(n: int) -> str:
    """1536 -> '1.5 KiB'; exact multiples without decimals."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value.is_integer() else f"{value:.1f} {unit}"
    return f"{n} bytes"


def show(value: Any, limit: int = 40) -> str:
    """A short repr of client input for an error message."""
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
