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
from collections.abc import Callable, Iterator
from pathlib import Path

from ipy_oci.errors import StorageFull

# Re-exported for the image store (images/ may import this module, not fsops).
from ipy_oci.storage.fsops import remove_tree

__all__ = ["atomic_write", "check_free_space", "free_bytes", "human_bytes", "is_no_space",
           "no_space", "rename_noreplace", "remove_tree", "translate_no_space"]


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


# -- running out of space -----------------------------------------------------------------------

NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FREE_UP = ("free some space (remove unused containers with 'ipy-oci rm', unused images "
            "with 'ipy-oci image prune -a'), or put the storage root (--root) on a larger "
            "filesystem")


def human_bytes(n: float) -> str:
    """``1.5 GiB``: binary units, as the size settings are written."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def is_no_space(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS


def no_space(exc: OSError, where: Path | str, doing: str) -> StorageFull:
    """The StorageFull error for an ENOSPC/EDQUOT ``exc`` met while ``doing``."""
    what = "disk quota exceeded" if exc.errno == errno.EDQUOT else "no space left"
    return StorageFull(f"{what} on the filesystem of {where} while {doing}: {_FREE_UP}")


@contextlib.contextmanager
def translate_no_space(where: Path | str, doing: str) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised inside into a StorageFull naming ``where``."""
    try:
        yield
    except OSError as exc:
        if exc.errno in NO_SPACE_ERRNOS:
            raise no_space(exc, where, doing) from None
        raise


def free_bytes(path: Path | str | int) -> int:
    """Bytes an unprivileged writer may still use on the filesystem of ``path``
    (a path or an open fd)."""
    st = os.fstatvfs(path) if isinstance(path, int) else os.statvfs(path)
    return st.f_bavail * st.f_frsize


def check_free_space(path: Path, needed: int, keep_free: int, doing: str) -> None:
    """StorageFull unless ``needed`` bytes fit on ``path``'s filesystem with
    ``keep_free`` bytes (the ``min_free_space`` setting) left over."""
    try:
        avail = free_bytes(path)
    except OSError:
        return  # nothing to measure here; a write will say what is wrong
    if avail - needed >= keep_free:
        return
    from ipy_oci.config import config_file

    margin = (f", and min_free_space keeps {human_bytes(keep_free)} free (set it in "
              f"{config_file()})") if keep_free else ""
    need = f"it needs about {human_bytes(needed)}, " if needed else ""
    raise StorageFull(
        f"not enough space on the filesystem of {path} for {doing}: {need}"
        f"{human_bytes(max(avail, 0))} is free{margin}; {_FREE_UP}"
    )
