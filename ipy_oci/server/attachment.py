"""One attached stream (an exec session or a container tty) and its viewers.

Output reaches every viewer as ``["stdout", text]`` the moment it arrives: no
timers, only coalescing of what piled up while the loop was busy. Bytes are
decoded once, with an incremental UTF-8 decoder that replaces bad bytes
(terminado #94), so a character split across reads stays whole. The last
``replay_limit`` bytes are kept so a new viewer (a page reload) redraws the
screen. Slow viewers push back on the producer instead of growing memory.
Everything here runs on the event loop except ``push_from_thread``.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import threading
from collections.abc import Callable
from typing import Any, Protocol

# Unflushed output (bytes) per viewer above which the producer waits, and below
# which it resumes.
HIGH_WATER = 4 << 20
LOW_WATER = 1 << 20


class Viewer(Protocol):
    def deliver(self, frame: str) -> asyncio.Future[Any] | None:
        """Queue a text frame; None if the viewer is gone."""

    def hang_up(self, code: int, reason: str) -> None: ...


class Source(Protocol):
    """Where the bytes come from and where stdin goes."""

    def write_stdin(self, data: bytes) -> None:
        """Send or queue ``data``; StdinRefused (stdin_writer.py) if it cannot be held."""

    def resize(self, rows: int, cols: int) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None: ...


def _decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


class Attachment:
    def __init__(self, key: str, loop: asyncio.AbstractEventLoop, replay_limit: int,
                 on_done: Callable[[Attachment], None]) -> None:
        self.key = key
        self.loop = loop
        self.replay_limit = replay_limit
        self._on_done = on_done
        self.viewers: dict[Viewer, int] = {}  # viewer -> bytes queued, not yet flushed
        self.replay = bytearray()
        self._decoder = _decoder()
        self.source: Source | None = None
        self.size: tuple[int, int] | None = None
        self.done = False
        self.exit_code: int | None = None
        self.reason = ""
        self.error = False
        self._close_code = 1000
        self._paused = False
        # Producer thread <-> loop.
        self._cond = threading.Condition()
        self._inbox: list[bytes] = []
        self._inbox_bytes = 0
        self._scheduled = False
        self._backlog = 0  # written by the loop, read by the producer without the lock
        self._waiting = False
        self.closing = False

    # -- output ------------------------------------------------------------------
    def push_from_thread(self, _stream: int, data: bytes) -> None:
        """The producer thread's output callback; waits while viewers lag far behind."""
        with self._cond:
            self._inbox.append(data)
            self._inbox_bytes += len(data)
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            try:
                self.loop.call_soon_threadsafe(self._drain_inbox)
            except RuntimeError:  # the loop is closed: the server is gone
                return
        if self._inbox_bytes + self._backlog <= HIGH_WATER:
            return  # the common case: no lock
        with self._cond:
            self._waiting = True
            while not self.closing and self._inbox_bytes + self._backlog > HIGH_WATER:
                self._cond.wait(0.25)
            self._waiting = False

    def _wake_producer(self) -> None:
        if self._waiting:
            with self._cond:
                self._cond.notify_all()

    def _drain_inbox(self) -> None:
        with self._cond:
            chunks, self._inbox = self._inbox, []
            self._inbox_bytes = 0
            self._scheduled = False
        self._wake_producer()
        if chunks:
            self.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    def feed(self, data: bytes) -> None:
        if not data:
            return
        self._remember(data)
        text = self._decoder.decode(data)
        if text:
            self._broadcast(json.dumps(["stdout", text]))

    def _remember(self, data: bytes) -> None:
        # Up to twice the limit is kept and trimmed in one go: each byte is copied
        # about once, however small the reads.
        limit = self.replay_limit
        if limit <= 0:
            return
        if len(data) >= limit:
            self.replay = bytearray(data[-limit:])
        else:
            self.replay += data
            if len(self.replay) > 2 * limit:
                del self.replay[:-limit]

    def replay_text(self) -> str:
        """The last ``replay_limit`` bytes, decoded; never starts mid-character and
        leaves a split tail to the live stream."""
        tail = self.replay[-self.replay_limit:] if self.replay_limit > 0 else b""
        skip = 0
        while skip < min(3, len(tail)) and tail[skip] & 0xC0 == 0x80:
            skip += 1
        return _decoder().decode(bytes(tail[skip:]))

    def _broadcast(self, frame: str) -> None:
        for viewer in list(self.viewers):
            self._send(viewer, frame)

    def _send(self, viewer: Viewer, frame: str) -> None:
        fut = viewer.deliver(frame)
        if fut is None:
            self.leave(viewer)
            return
        n = len(frame)
        self.viewers[viewer] = self.viewers.get(viewer, 0) + n
        self._update_backlog()
        fut.add_done_callback(lambda f: self._flushed(viewer, n, f))

    def _flushed(self, viewer: Viewer, n: int, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled():
            fut.exception()  # retrieved: a closed stream is handled by leave()
        if viewer in self.viewers:
            self.viewers[viewer] = max(0, self.viewers[viewer] - n)
            self._update_backlog()

    def _update_backlog(self) -> None:
        backlog = max(self.viewers.values(), default=0)
        self._backlog = backlog
        if backlog <= HIGH_WATER:
            self._wake_producer()
        if self.source is None:
            return
        if backlog > HIGH_WATER and not self._paused:
            self._paused = True
            self.source.pause()
        elif backlog < LOW_WATER and self._paused:
            self._paused = False
            self.source.resume()

    # -- viewers -------------------------------------------------------------------
    def join(self, viewer: Viewer) -> None:
        self.viewers[viewer] = 0
        text = self.replay_text()
        if text:
            self._send(viewer, json.dumps(["stdout", text]))
        if self.done:
            self._end_viewer(viewer)

    def leave(self, viewer: Viewer) -> None:
        if self.viewers.pop(viewer, None) is not None:
            self._update_backlog()

    # -- input ------------------------------------------------------------------------
    def write_stdin(self, data: bytes) -> None:
        """Input from a viewer; StdinRefused tells that viewer it was not taken."""
        if self.source is not None and not self.done:
            self.source.write_stdin(data)

    def resize(self, rows: int, cols: int) -> None:
        self.size = (rows, cols)
        if self.source is not None and not self.done:
            self.source.resize(rows, cols)

    # -- the end -------------------------------------------------------------------
    def finish(self, exit_code: int | None, reason: str, error: bool = False) -> None:
        """The process ended (``exit_code``) or could not be attached (``error``)."""
        if self.done:
            return
        self._drain_inbox()
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._broadcast(json.dumps(["stdout", tail]))
        self.done = True
        self.error = error
        self.exit_code = exit_code
        self.reason = reason
        self._close_code = 1011 if error else 1000
        self.source = None
        for viewer in list(self.viewers):
            self._end_viewer(viewer)
        self._on_done(self)

    def _end_viewer(self, viewer: Viewer) -> None:
        if self.exit_code is not None:
            viewer.deliver(json.dumps(["exit", self.exit_code]))
        elif self.error:
            viewer.deliver(json.dumps(["error", self.reason]))
        viewer.hang_up(self._close_code, self.reason)
        self.viewers.pop(viewer, None)

    def shut_down(self, reason: str) -> None:
        """The server is stopping: release the producer, hang up on every viewer."""
        with self._cond:
            self.closing = True
            self._cond.notify_all()
        if self.source is not None:
            self.source.stop()
        for viewer in list(self.viewers):
            viewer.hang_up(1001, reason)
        self.viewers.clear()
