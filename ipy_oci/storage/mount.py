"""mount(2)/umount2(2) through ctypes, and mount-table queries.

Calling libc directly avoids a ``/bin/mount`` subprocess on the ``run`` path and
gives us the real errno, which decides whether to fall back to copying.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from ipy_oci.userns.enter import in_userns

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.mount.restype = ctypes.c_int
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.umount2.restype = ctypes.c_int


def mount(source: str, target: Path, fstype: str | None, flags: int, data: str | None) -> None:
    """mount(2); raises OSError with the kernel's errno."""
    rc = _libc.mount(
        source.encode(),
        os.fsencode(target),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data is not None else None,
    )
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(target))


def umount2(target: Path, flags: int = 0) -> None:
    rc = _libc.umount2(os.fsencode(target), flags | UMOUNT_NOFOLLOW)
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(target))


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    if "\\" not in field:
        return field
    out = []
    i = 0
    while i < len(field):
        octal = field[i + 1 : i + 4]
        if field[i] == "\\" and len(octal) == 3 and all(c in "01234567" for c in octal):
            out.append(chr(int(octal, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


@in_userns
def mount_points() -> list[str]:
    """Every mount point in this process's mount namespace."""
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        return [_unescape(line.split(" ", 5)[4]) for line in fh if line.strip()]


@in_userns
def is_mounted(path: Path) -> bool:
    """True when something is mounted exactly at ``path``."""
    target = os.path.realpath(path)
    return target in mount_points()


@in_userns
def unmount_all(target: Path) -> None:
    """Unmount every mount stacked on ``target``; no error if none.

    A busy mount (a process still has it as cwd, say) is lazily detached so it
    leaves the mount table now and the kernel frees it when the last user goes.
    """
    for _ in range(64):  # bound the loop: a stack deeper than this is a bug elsewhere
        try:
            umount2(target)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT, errno.ENOTDIR):
                return  # not a mount point (any more)
            if exc.errno != errno.EBUSY:
                raise
            try:
                umount2(target, MNT_DETACH)
            except OSError as exc2:
                if exc2.errno in (errno.EINVAL, errno.ENOENT):
                    return
                raise
    if is_mounted(target):
        raise OSError(errno.EBUSY, "mounts keep reappearing", str(target))
