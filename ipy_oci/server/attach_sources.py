"""Producers behind an Attachment.

- ``ExecSource``: the first viewer of a created exec session starts it with
  ``ExecSession.start_and_attach`` in a thread of its own; stdin reaches it
  through a pipe written without blocking from the event loop.
- ``SocketSource``: a process someone else started (a container's own tty, an
  exec session already running) is joined through conmon's attach socket,
  read by the event loop itself.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..errors import InvalidState, OciError
from .stdin_writer import StdinBudget, StdinWriter

if TYPE_CHECKING:
    from ..engine.exec_session import ExecSession
    from .attachment import Attachment
    from .engine_pool import EnginePool

log = logging.getLogger(__name__)

PIPE_SIZE = 1 << 20
# conmon's attach protocol: one stream byte, then the data (stdout 2, stderr 3).
OUTPUT_STREAMS = (2, 3)
PACKET = 8193
STDIN_CHUNK = 8192  # conmon reads stdin packets with a bounded buffer


class ExecSource:
    """Start a created exec session and stream it until its process exits."""

    # How start_and_attach ended, for ``on_end``.
    EXITED, FAILED, REFUSED, DETACHED = "exited", "failed", "refused", "detached"

    def __init__(self, att: Attachment, pool: EnginePool, session_id: str,
                 on_end: Callable[[ExecSource, str, int | None, str], None],
                 budget: StdinBudget) -> None:
        self.att = att
        self.pool = pool
        self.session_id = session_id
        self._on_end = on_end
        rfd, wfd = os.pipe()
        try:
            fcntl.fcntl(wfd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass
        os.set_blocking(wfd, False)
        self._rfd = rfd
        self.stdin = StdinWriter(att.loop, wfd, lambda b: os.write(wfd, b), 65536, budget,
                                 on_close=lambda: os.close(wfd))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._session: ExecSession | None = None
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"ipy-oci-exec-{session_id[:12]}")

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        outcome, code, error = self.EXITED, None, ""
        rt = None
        try:
            rt = self.pool.new_runtime()
            sess = rt.lookup_exec(self.session_id)
            res = sess.start_and_attach(self.att.push_from_thread, stdin_fd=self._rfd,
                                        should_stop=self._stop.is_set,
                                        on_started=self._started)
            code = res.exit_code
            if res.detached:  # the user typed the session's detach keys
                outcome = self.DETACHED
        except InvalidState as exc:  # e.g. started by someone else meanwhile
            outcome, error = self.REFUSED, str(exc)
        except OciError as exc:
            outcome, error = self.FAILED, str(exc)
        except Exception as exc:
            log.exception("ipy-oci: exec session %s failed", self.session_id[:12])
            outcome, error = self.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            os.close(self._rfd)
            if rt is not None:
                rt.close()
        try:
            self.att.loop.call_soon_threadsafe(self._on_end, self, outcome, code, error)
        except RuntimeError:
            pass  # the loop is closed: the server is gone

    def _started(self, sess: ExecSession) -> None:
        with self._lock:
            self._session = sess
            size = self.att.size
        if size is not None:
            self._resize(sess, *size)

    # -- Source (event loop side) -------------------------------------------------------
    def write_stdin(self, data: bytes) -> None:
        self.stdin.write(data)

    def resize(self, rows: int, cols: int) -> None:
        with self._lock:
            sess = self._session
        if sess is not None:
            # A non-blocking write to conmon's control fifo: safe on the loop, and
            # ordered with the stdin that follows it.
            self._resize(sess, rows, cols)

    @staticmethod
    def _resize(sess: ExecSession, rows: int, cols: int) -> None:
        try:
            sess.resize(rows, cols)
        except (OciError, OSError) as exc:
            log.debug("ipy-oci: resize of %s failed: %s", sess.id[:12], exc)

    def pause(self) -> None:
        """Back-pressure happens in the producer thread (push_from_thread)."""

    def resume(self) -> None:
        pass

    def stop(self) -> None:
        """Server shutdown: start_and_attach stops the process and returns."""
        self._stop.set()
        self.stdin.close()


class SocketSource:
    """Relay a conmon attach socket on the event loop."""

    def __init__(self, att: Attachment, sock: socket.socket,
                 resize: Callable[[int, int], None],
                 exit_status: Callable[[], Awaitable[tuple[int | None, str]]],
                 budget: StdinBudget) -> None:
        self.att = att
        self.loop = att.loop
        self.sock = sock
        self._resize = resize
        self._exit_status = exit_status
        sock.setblocking(False)
        self._fd = sock.fileno()
        self.stdin = StdinWriter(self.loop, self._fd, sock.send, STDIN_CHUNK, budget)
        self._reading = False
        self._closed = False
        self.resume()
        if att.size is not None:
            self.resize(*att.size)

    def _readable(self) -> None:
        chunks = []
        eof = False
        for _ in range(64):  # then yield to the loop
            try:
                pkt = self.sock.recv(PACKET)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                pkt = b""
            if not pkt:
                eof = True
                break
            if pkt[0] in OUTPUT_STREAMS and len(pkt) > 1:
                chunks.append(pkt[1:])
        if chunks:
            self.att.feed(b"".join(chunks))
        if eof:
            self._close()
            asyncio.ensure_future(self._report_exit())

    async def _report_exit(self) -> None:
        try:
            code, reason = await self._exit_status()
        except Exception as exc:  # e.g. the server is stopping
            self.att.finish(None, f"the stream ended; its exit code is unknown: {exc}",
                            error=True)
            return
        self.att.finish(code, reason)

    def write_stdin(self, data: bytes) -> None:
        self.stdin.write(data)

    def resize(self, rows: int, cols: int) -> None:
        try:
            self._resize(rows, cols)  # a non-blocking write to conmon's control fifo
        except (OciError, OSError) as exc:
            log.debug("ipy-oci: resize failed: %s", exc)

    def pause(self) -> None:
        if self._reading:
            self.loop.remove_reader(self._fd)
            self._reading = False

    def resume(self) -> None:
        if not self._reading and not self._closed:
            self.loop.add_reader(self._fd, self._readable)
            self._reading = True

    def _close(self) -> None:
        if self._closed:
            return
        self.pause()
        self.stdin.close()
        self._closed = True
        self.sock.close()

    def stop(self) -> None:
        self._close()
