"""Small file and socket helpers shared by the conmon driver and its callers."""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path

# A Unix socket path must fit sun_path (108 bytes with the NUL).
_SUN_PATH_MAX = 107


def wait_for_file(path: Path, timeout: float) -> bool:
    """Poll for a file with a short, growing interval (exit files land a little late)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        if path.exists():
            return True
        now = time.monotonic()
        if now >= deadline:
            return False
        time.sleep(min(delay, deadline - now))
        delay = min(delay * 2, 0.025)


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (specs and logs hold ``-e`` values)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file may have been made with a wider mode
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def read_int_file(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def connect_seqpacket(path: Path) -> socket.socket:
    """Connect to a conmon socket, going through /proc/self/fd when the path is too long.

    A socket that is not there (started detached, or already exited) is InvalidState.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    target = str(path)
    dfd = -1
    try:
        if len(target.encode()) > _SUN_PATH_MAX:
            dfd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            target = f"/proc/self/fd/{dfd}/{path.name}"
        sock.connect(target)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.ENOENT, errno.ECONNREFUSED):
            from ..errors import InvalidState

            raise InvalidState(f"no attach socket at {path}: the process was started "
                               "detached or has already exited") from None
        raise
    finally:
        if dfd >= 0:
            os.close(dfd)
    return sock
