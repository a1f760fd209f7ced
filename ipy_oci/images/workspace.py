"""Scratch directories and the garbage-collection lock of the image store.

A pull or import works in ``images/tmp/work-*``, holding an ``flock`` on the
dir's ``.lock`` for as long as it lives. Whoever finds such a dir whose lock can
be taken knows its owner died (even by SIGKILL) and removes it at once.

Imports hold ``images/.gc.lock`` shared while they move blobs and layers into
the store and name them in index.json; garbage collection holds it exclusive,
so it never deletes what an import is about to reference.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ipy_oci.storage.atomic import remove_tree, translate_no_space

_PREFIX = "work-"
_STALE_SECONDS = 24 * 3600


class Workspace:
    """A locked scratch dir under ``tmp_dir``; removed on exit."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.path = Path()
        self._fd = -1

    def __enter__(self) -> Workspace:
        with translate_no_space(self.tmp_dir, "making a scratch directory"):
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            # Built under a dot name and renamed once locked, so a sweeper never
            # sees a work- dir whose lock is not yet held.
            new = Path(tempfile.mkdtemp(prefix=".new-", dir=self.tmp_dir))
        try:
            with translate_no_space(self.tmp_dir, "making a scratch directory"):
                self._fd = os.open(new / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            self.path = self.tmp_dir / (_PREFIX + new.name.removeprefix(".new-"))
            os.rename(new, self.path)
        except BaseException:
            self._close()
            remove_tree(new, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # Whatever a pull or import left (a hostile layer half extracted, thousands
        # of levels deep) goes; the lock is held until it has.
        remove_tree(self.path, ignore_errors=True)
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _owner_gone(path: Path) -> bool:
    try:
        fd = os.open(path / ".lock", os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def sweep(tmp_dir: Path) -> list[Path]:
    """Remove work dirs of dead owners, and anything else left for a day."""
    removed: list[Path] = []
    cutoff = time.time() - _STALE_SECONDS
    try:
        entries = list(tmp_dir.iterdir())
    except FileNotFoundError:
        return removed
    for p in entries:
        with contextlib.suppress(OSError):
            if p.name.startswith(_PREFIX) and p.is_dir() and not p.is_symlink():
                if not _owner_gone(p):
                    continue
            elif p.lstat().st_mtime >= cutoff:
                continue
            if remove_tree(p, ignore_errors=True):
                continue  # something stayed (an immutable file?): tried again next sweep
            removed.append(p)
    return removed


def active_workspaces(tmp_dir: Path) -> int:
    try:
        return sum(1 for p in tmp_dir.glob(_PREFIX + "*") if not _owner_gone(p))
    except OSError:
        return 0


@contextlib.contextmanager
def _flock(path: Path, op: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, op)
                break
            except InterruptedError:
                continue
        yield
    finally:
        os.close(fd)


def gc_shared(store_dir: Path) -> contextlib.AbstractContextManager[None]:
    """Held by imports: blocks garbage collection, not other imports."""
    return _flock(store_dir / ".gc.lock", fcntl.LOCK_SH)


def gc_exclusive(store_dir: Path) -> contextlib.AbstractContextManager[None]:
    return _flock(store_dir / ".gc.lock", fcntl.LOCK_EX)


@contextlib.contextmanager
def gc_exclusive_nowait(store_dir: Path) -> Iterator[bool]:
    """The exclusive GC lock if nobody holds the GC lock now; yields whether it was
    taken (an import or a collection running elsewhere: False, at once)."""
    path = store_dir / ".gc.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
