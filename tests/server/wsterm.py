"""A tiny terminal-protocol client for tests: collects output and the exit code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

READ_GUARD = 60.0  # a hang guard, not a timing assertion


class Term:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.out = ""
        self.exit_code: int | None = None
        self.error = ""
        self.closed = False

    async def send(self, *msg: Any) -> None:
        await self.ws.write_message(json.dumps(list(msg)))

    async def type(self, text: str) -> None:
        await self.send("stdin", text)

    async def _read(self) -> bool:
        msg = await asyncio.wait_for(self.ws.read_message(), READ_GUARD)
        if msg is None:
            self.closed = True
            return False
        kind, *rest = json.loads(msg)
        if kind == "stdout":
            self.out += rest[0]
        elif kind == "exit":
            self.exit_code = rest[0]
        elif kind == "error":
            self.error = rest[0]
        return True

    async def read_until(self, needle: str) -> str:
        while needle not in self.out:
            if not await self._read():
                raise AssertionError(f"closed before {needle!r} arrived; got {self.out!r}")
        return self.out

    async def wait_closed(self) -> int | None:
        while await self._read():
            pass
        return self.exit_code

    @property
    def close_reason(self) -> str:
        return str(self.ws.close_reason or "")

    @property
    def close_code(self) -> int | None:
        code: int | None = self.ws.close_code
        return code
