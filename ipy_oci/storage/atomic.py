"""Crash- and concurrency-safe file writes shared by the image store.

Many processes (CLIs, kernels, the server, conmon exit commands) use one storage
root at once. Readers never lock: every file is replaced by ``rename``, so they see
the old or the new version, never half of one. Writers serialise on an ``flock``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a synced temp file and rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_RENAME_NOREPLACE = 1
_renameat2: Callable[..., int] | None = None
_renameat2_loaded = False


def _load_renameat2() -> Callable[..., int] | None:
    # Loaded on first use: ctypes stays off the import path of readers.
    global _renameat2, _renameat2_loaded
    if not _renameat2_loaded:
        _renameat2_loaded = True
        try:
            import ctypes

            fn = ctypes.CDLL(None, use_errno=True).renameat2
            fn.argtypes = [
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_int,
                ctypes.c_char_p,
                ctypes.c_uint,
            ]
            fn.restype = ctypes.c_int
            _renameat2 = fn
        except (OSError, AttributeError):
            _renameat2 = None
    return _renameat2


def rename_noreplace(src: Path, dst: Path) -> bool:
    """Rename ``src`` to ``dst`` unless ``dst`` exists; False if it already did.

    Plain ``rename`` of a directory silently replaces an *empty* destination,
    which could swap a layer out from under a running overlay mount.
    """
    renameat2 = _load_renameat2()
    if renameat2 is not None:
        import ctypes

        at_fdcwd = -100
        rc = renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), str(dst))
        # The filesystem lacks RENAME_NOREPLACE: fall through to check-then-rename.
    if os.path.lexists(dst):
        return False
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True
