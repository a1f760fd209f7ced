"""Per-object file locks under the runroot (``flock``), one file per container.

A lock is never held while streaming an attach: callers take it for short
state transitions only. Lock files are deleted when their container is removed;
a waiter that wakes on a deleted lock file re-reads the DB and finds the
container gone, which is the correct outcome.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class FileLock:
    """An exclusive ``flock``, re-entrant within one object and safe across threads.

    flock belongs to an open file description, so a second ``open`` of the lock file
    in the same process would deadlock against the first: callers share one object
    per file, and a depth counter (guarded by an RLock, which also serialises this
    process's threads) makes nested holds re-enter.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._rlock = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        self._rlock.acquire()
        if self._fd is not None:
            self._depth += 1
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX)
                        break
                    except InterruptedError:
                        continue
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            self._rlock.release()
            raise
        self._fd = fd
        self._depth = 1

    def release(self) -> None:
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth == 0:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the fd releases the flock
        self._rlock.release()

    @property
    def is_held(self) -> bool:
        return self._fd is not None

    def remove(self) -> None:
        """Delete the lock file (while held, just before the object disappears)."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


class AttachHold:
    """A shared lock an attached client holds until it has read the exit code.

    conmon's exit command (``cleanup --rm``) removes a container only when no
    client holds this: an attached ``run --rm`` reads the exit code and removes
    the container itself, while a client that was SIGKILLed drops the lock
    with its process, so the exit command (or the next reap) does the removal.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def hold(self) -> None:
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)
            self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held_here(self) -> bool:
        return self._fd is not None

    def is_held_elsewhere(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops our probe lock too
        return False

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
