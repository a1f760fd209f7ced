"""Streaming over a conmon attach socket (SOCK_SEQPACKET).

From conmon: one packet = one stream byte (2 stdout, 3 stderr) + up to 8192
bytes. To conmon: raw stdin bytes. ``shutdown(SHUT_WR)`` closes the process's
stdin. Everything here is non-blocking, so a process that does not read its
stdin can never stall its output.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
from collections.abc import Callable

STDOUT = 2
STDERR = 3
_RECV = 8193
# conmon reads stdin packets with a bounded buffer; smaller packets are never truncated.
_SEND_CHUNK = 8192
_MAX_PENDING = 1 << 20
# Packets read per wake-up before output is handed on (bounds latency and memory).
_MAX_BATCH = 64



def parse_detach_keys(spec: str) -> bytes:
    """'ctrl-p,ctrl-q' -> b'\\x10\\x11'; '' disables detaching."""
    from ..errors import UsageError

    out = bytearray()
    if not spec:
        return b""
    for part in spec.split(","):
        p = part.strip()
        if len(p) == 1:
            out.append(ord(p))
        elif p.startswith("ctrl-") and len(p) == 6:
            ch = p[5].lower()
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in "@[\\]^_":
                out.append({"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[ch])
            else:
                raise UsageError(f"invalid detach key {p!r} in {spec!r}: use ctrl-<a-z>")
        else:
            raise UsageError(f"invalid detach key {p!r} in {spec!r}: use a single "
                             "character or ctrl-<key>, comma separated")
    return bytes(out)


class AttachResult:
    EOF = "eof"
    DETACHED = "detached"
    STOPPED = "stopped"


def pump(
    sock: socket.socket,
    on_output: Callable[[int, bytes], None],
    stdin_fd: int | None = None,
    detach_keys: bytes = b"",
    should_stop: Callable[[], bool] | None = None,
    poll_interval: float = 0.2,
) -> str:
    """Relay until the process's output ends. Returns an ``AttachResult`` value."""
    sel = selectors.DefaultSelector()
    sock.setblocking(False)
    sel.register(sock, selectors.EVENT_READ)
    # stdin not yet sent: a buffer plus a read offset, so sending 8 KiB packets out
    # of a megabyte never copies the rest (slicing bytes would, every time).
    pending = bytearray()
    sent = 0
    stdin_open = stdin_fd is not None
    reading = stdin_fd is not None
    feeder: _Feeder | None = None
    if stdin_fd is not None:
        try:
            sel.register(stdin_fd, selectors.EVENT_READ, data="stdin")
        except PermissionError:
            # epoll refuses regular files (stdin redirected from a file): a thread
            # copies the file into a pipe, which can be polled.
            feeder = _Feeder(stdin_fd)
            stdin_fd = feeder.read_fd
            sel.register(stdin_fd, selectors.EVENT_READ, data="stdin")
    matched = 0
    try:
        while True:
            if should_stop is not None and should_stop():
                return AttachResult.STOPPED
            for key, events in sel.select(timeout=poll_interval):
                if key.data == "stdin":
                    try:
                        chunk = os.read(key.fd, 65536)
                    except OSError as exc:
                        if exc.errno in (errno.EAGAIN, errno.EINTR):
                            continue
                        chunk = b""
                    if detach_keys and chunk:
                        for i, b in enumerate(chunk):
                            if b == detach_keys[matched]:
                                matched += 1
                                if matched == len(detach_keys):
                                    pending += chunk[: i + 1 - len(detach_keys)]
                                    _flush(sock, bytes(pending[sent:]))
                                    return AttachResult.DETACHED
                            else:
                                matched = 1 if b == detach_keys[0] else 0
                    if not chunk:
                        sel.unregister(key.fd)
                        stdin_open = reading = False
                        if sent == len(pending):
                            _shutdown_wr(sock)
                    else:
                        if sent:
                            del pending[:sent]
                            sent = 0
                        pending += chunk
                        sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
                        if len(pending) > _MAX_PENDING:
                            # Back-pressure: stop reading stdin until conmon drains us.
                            sel.unregister(key.fd)
                            reading = False
                    continue
                if events & selectors.EVENT_WRITE and sent < len(pending):
                    view = memoryview(pending)
                    try:
                        while sent < len(pending):  # as many packets as the socket takes
                            sent += sock.send(view[sent:sent + _SEND_CHUNK])
                    except BlockingIOError:
                        pass
                    except OSError:
                        sent = len(pending)
                    if (stdin_open and stdin_fd is not None and not reading
                            and len(pending) - sent < _MAX_PENDING // 2):
                        sel.register(stdin_fd, selectors.EVENT_READ, data="stdin")
                        reading = True
                    view.release()
                    if sent == len(pending):
                        sel.modify(sock, selectors.EVENT_READ)
                        if not stdin_open:
                            _shutdown_wr(sock)
                if events & selectors.EVENT_READ and _drain(sock, on_output):
                    return AttachResult.EOF
    finally:
        sel.close()
        if feeder is not None:
            feeder.close()


def pump_pipes(
    fds: dict[int, int],
    on_output: Callable[[int, bytes], None],
    should_stop: Callable[[], bool] | None = None,
    poll_interval: float = 0.2,
    ended: Callable[[], bool] | None = None,
) -> str:
    """Relay output pipes (fd -> stream number) until they all close.

    ``ended()`` tells that the writer's monitor has exited: a background child that
    keeps a pipe open then cannot hold the relay (what is readable is drained).
    """
    sel = selectors.DefaultSelector()
    for fd, stream in fds.items():
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, stream)
    try:
        while sel.get_map():
            if should_stop is not None and should_stop():
                return AttachResult.STOPPED
            ready = sel.select(timeout=poll_interval)
            if not ready and ended is not None and ended():
                for key in list(sel.get_map().values()):
                    _drain_pipe(key.fd, key.data, on_output)
                return AttachResult.EOF
            for key, _events in ready:
                try:
                    data = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    on_output(key.data, data)
                else:
                    sel.unregister(key.fd)
        return AttachResult.EOF
    finally:
        sel.close()


def _drain_pipe(fd: int, stream: int, on_output: Callable[[int, bytes], None]) -> None:
    try:
        while data := os.read(fd, 65536):
            on_output(stream, data)
    except BlockingIOError:
        pass


class _Feeder:
    """Copies an unpollable fd (a regular file) into a pipe from a thread."""

    def __init__(self, src: int) -> None:
        import threading

        self.read_fd, self._write_fd = os.pipe()
        self._src = src
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                chunk = os.read(self._src, 65536)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._write_fd, view):]
        except OSError:
            pass  # the reader closed the pipe: attach is over
        finally:
            os.close(self._write_fd)

    def close(self) -> None:
        os.close(self.read_fd)


def _drain(sock: socket.socket, on_output: Callable[[int, bytes], None]) -> bool:
    """Read every packet ready now, handing on runs of one stream as one chunk
    (fewer callbacks and writes for bulk output). True at end of stream."""
    stream = 0
    buf = bytearray()
    eof = False
    for _ in range(_MAX_BATCH):
        try:
            data = sock.recv(_RECV)
        except BlockingIOError:
            break
        except ConnectionResetError:
            eof = True
            break
        if not data:
            eof = True
            break
        if len(data) < 2:
            continue
        if data[0] != stream and buf:
            on_output(stream, bytes(buf))
            buf.clear()
        stream = data[0]
        buf += memoryview(data)[1:]
    if buf:
        on_output(stream, bytes(buf))
    return eof


def _flush(sock: socket.socket, data: bytes) -> None:
    sock.setblocking(True)
    for i in range(0, len(data), _SEND_CHUNK):
        try:
            sock.send(data[i : i + _SEND_CHUNK])
        except OSError:
            return
    sock.setblocking(False)


def _shutdown_wr(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
