"""Non-blocking stdin toward a process: an in-memory queue drained by the event loop.

A huge paste must never block the server (terminado #183): writes go straight
to a non-blocking fd; what does not fit is queued and written when the fd
becomes writable again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

# A client that pastes more than this while the process reads nothing loses the excess.
MAX_QUEUED = 64 << 20


class StdinWriter:
    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int,
                 send: Callable[[bytes], int], chunk: int,
                 on_close: Callable[[], None] | None = None) -> None:
        self._loop = loop
        self._fd = fd
        self._send = send
        self._chunk = chunk
        self._on_close = on_close
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._watching = False
        self.closed = False

    def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        if self._queued + len(data) > MAX_QUEUED:
            log.warning("ipy-oci: stdin queue full (%d bytes); dropping %d bytes",
                        self._queued, len(data))
            return
        self._queue.append(data)
        self._queued += len(data)
        if not self._watching:
            self._flush()

    def _flush(self) -> None:
        while self._queue and not self.closed:
            head = self._queue[0]
            try:
                n = self._send(head[: self._chunk])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # The process side is gone: nothing will ever read this.
                self._queue.clear()
                self._queued = 0
                break
            self._queued -= n
            if n == len(head):
                self._queue.popleft()
            else:
                self._queue[0] = head[n:]
        self._watch(bool(self._queue) and not self.closed)

    def _watch(self, on: bool) -> None:
        if on and not self._watching:
            self._loop.add_writer(self._fd, self._flush)
        elif not on and self._watching:
            self._loop.remove_writer(self._fd)
        self._watching = on

    def close(self) -> None:
        if self.closed:
            return
        self._watch(False)
        self.closed = True
        self._queue.clear()
        self._queued = 0
        if self._on_close is not None:
            self._on_close()
