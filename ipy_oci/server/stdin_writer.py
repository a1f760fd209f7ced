"""Non-blocking stdin toward a process: an in-memory queue drained by the event loop.

A huge paste must never block the server (terminado #183): writes go straight
to a non-blocking fd; what does not fit is queued and written when the fd
becomes writable again. Queued bytes are held in memory, so they are bounded
twice: per stream (``IpyOciApp.stdin_session_bytes``) and for the whole server
(``StdinBudget``, ``IpyOciApp.stdin_buffer_bytes``), shared by every attached
stream. Input whose unwritten rest would go over either bound is refused
(``StdinRefused``, whose message the sender gets, saying how much of it reached
the process), never partly queued. Input that goes straight to a process that
reads it takes nothing from the budget, so typing still works when it is spent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from .limits import size

log = logging.getLogger(__name__)


class StdinRefused(Exception):
    """Input that was not queued; the message says why and what to do."""


class StdinBudget:
    """The bytes of stdin all attached streams may hold in memory together."""

    def __init__(self, total: int, per_stream: int) -> None:
        self.total = total
        self.per_stream = per_stream
        self.used = 0

    def take(self, queued: int, n: int, delivered: int) -> None:
        """Reserve ``n`` more bytes for a stream already holding ``queued``, or raise
        StdinRefused (``delivered``: bytes of the same input already written)."""
        if queued + n > self.per_stream and queued:
            why = (f"input refused: the process has not read the {size(queued)} of input "
                   f"already waiting for it, and {size(n)} more would go over the "
                   f"{size(self.per_stream)} one stream may hold "
                   "(IpyOciApp.stdin_session_bytes); wait until it reads its input")
        elif queued + n > self.per_stream:
            why = (f"input refused: the process did not take it at once, and its "
                   f"{size(n)} would go over the {size(self.per_stream)} one stream may "
                   "hold (IpyOciApp.stdin_session_bytes); send less at a time")
        elif self.used + n > self.total:
            why = (f"input refused: the server already holds {size(self.used)} of input "
                   f"that processes have not read, and {size(n)} more would go over its "
                   f"{size(self.total)} for all streams (IpyOciApp.stdin_buffer_bytes); "
                   "wait until they read their input, or stop the ones that do not")
        else:
            self.used += n
            return
        if delivered:
            why += f" (the first {size(delivered)} of this input reached the process)"
        raise StdinRefused(why)

    def give(self, n: int) -> None:
        self.used = max(0, self.used - n)


class StdinWriter:
    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int,
                 send: Callable[[memoryview], int], chunk: int, budget: StdinBudget,
                 on_close: Callable[[], None] | None = None) -> None:
        self._loop = loop
        self._fd = fd
        self._send = send
        self._chunk = chunk
        self._budget = budget
        self._on_close = on_close
        self._queue: deque[bytes] = deque()
        self._offset = 0  # bytes of the queue's head already written
        self._queued = 0
        self._watching = False
        self.closed = False

    @property
    def queued(self) -> int:
        return self._queued

    def write(self, data: bytes) -> None:
        """Send or queue ``data``; StdinRefused if what would be queued is over budget."""
        if self.closed or not data:
            return
        sent = 0
        if not self._queue:  # nothing is waiting: straight to the fd, no copy kept
            sent = self._write_now(data)
            if sent < 0 or sent == len(data):
                return
        rest = len(data) - sent
        self._budget.take(self._queued, rest, sent)
        self._queue.append(data[sent:] if sent else data)
        self._queued += rest
        self._watch(True)

    def _write_now(self, data: bytes) -> int:
        """Bytes written before the fd would block; -1 if the process side is gone."""
        view = memoryview(data)
        sent = 0
        try:
            while sent < len(data):
                n = self._send(view[sent:sent + self._chunk])
                if n <= 0:
                    break
                sent += n
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return -1  # nothing will ever read this
        finally:
            view.release()
        return sent

    def _flush(self) -> None:
        while self._queue and not self.closed:
            head = self._queue[0]
            start = self._offset
            try:
                n = self._send(memoryview(head)[start:start + self._chunk])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # The process side is gone: nothing will ever read this.
                self._drop()
                break
            self._queued -= n
            self._budget.give(n)
            self._offset += n
            if self._offset >= len(head):
                self._queue.popleft()
                self._offset = 0
        self._watch(bool(self._queue) and not self.closed)

    def _drop(self) -> None:
        self._queue.clear()
        self._offset = 0
        self._budget.give(self._queued)
        self._queued = 0

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
        self._drop()
        if self._on_close is not None:
            self._on_close()
