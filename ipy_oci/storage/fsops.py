"""fd-relative filesystem primitives that never follow a symlink.

Layer extraction and the rootfs copy fallback write attacker-chosen paths. Every
path is walked one component at a time with ``openat(O_NOFOLLOW)`` from a directory
fd we opened ourselves, so a symlink planted by a layer can never redirect a write
outside the tree, whatever its target says.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable, Sequence

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# Overlay's own metadata; a layer must never smuggle these in (redirect/metacopy
# xattrs would make overlay read files from other paths).
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
OPAQUE_XATTR = "trusted.overlay.opaque"


class UnsafePath(Exception):
    """A path that would leave the tree or pass through a symlink."""


def split_rel(path: str) -> list[str]:
    """Split a tar-style path into components, rejecting ``..``.

    A leading ``/`` and ``.`` components are dropped (as docker does): the result
    is always relative to the tree root.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath("path has a '..' component")
    return parts


def open_dir_at(root_fd: int, parts: Sequence[str], *, create: bool) -> int | None:
    """Open the directory ``parts`` below ``root_fd`` without following symlinks.

    Missing components are created (mode 0755) when ``create`` is set, otherwise
    None is returned. The caller closes the returned fd.
    """
    fd = os.dup(root_fd)
    try:
        for comp in parts:
            try:
                nfd = os.open(comp, O_DIR, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    return None
                made = True
                try:
                    os.mkdir(comp, 0o755, dir_fd=fd)
                except FileExistsError:
                    made = False
                nfd = os.open(comp, O_DIR, dir_fd=fd)
                if made:
                    os.fchmod(nfd, 0o755)  # independent of the umask
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UnsafePath(f"parent component {comp!r} is a symlink") from None
                if exc.errno == errno.ENOTDIR:
                    if _is_symlink_at(fd, comp):
                        raise UnsafePath(f"parent component {comp!r} is a symlink") from None
                    raise UnsafePath(f"parent component {comp!r} is not a directory") from None
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_symlink_at(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` (a whole tree if it is a directory); no error if missing."""
    st = lstat_at(dir_fd, name)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        # shutil.rmtree with dir_fd uses the fd-based, symlink-safe walk.
        shutil.rmtree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


def clear_dir(dir_fd: int, keep: Iterable[str] = ()) -> None:
    """Remove every entry of the directory except the names in ``keep``."""
    kept = set(keep)
    for name in os.listdir(dir_fd):
        if name not in kept:
            remove_at(dir_fd, name)


def proc_path(dir_fd: int, name: str) -> str:
    """A path naming ``name`` inside ``dir_fd``, for calls that have no dir_fd form.

    The directory part is the magic link to an fd we hold, so only the final
    component is resolved by name.
    """
    return f"/proc/self/fd/{dir_fd}/{name}"


def set_xattrs(dir_fd: int, name: str, xattrs: dict[str, bytes], *, is_link: bool) -> None:
    """Set xattrs on ``name`` without following it; skips ones the fs cannot hold."""
    for key, value in sorted(xattrs.items()):
        try:
            os.setxattr(proc_path(dir_fd, name), key, value, follow_symlinks=False)
        except OSError as exc:
            # Filesystems without xattr support, and user.* on symlinks (the kernel
            # forbids it), are skipped rather than failing the whole layer.
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) or (
                is_link and exc.errno == errno.EPERM
            ):
                continue
            raise


def get_xattrs(dir_fd: int, name: str) -> dict[str, bytes]:
    """All xattrs of ``name`` (not followed), minus overlay's private ones."""
    path = proc_path(dir_fd, name)
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out: dict[str, bytes] = {}
    for key in keys:
        if key.startswith(OVERLAY_XATTR_PREFIXES):
            continue
        try:
            out[key] = os.getxattr(path, key, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                continue
            raise
    return out


def has_opaque_xattr(dir_fd: int, name: str) -> bool:
    try:
        value = os.getxattr(proc_path(dir_fd, name), OPAQUE_XATTR, follow_symlinks=False)
    except OSError:
        return False
    return value == b"y"


def is_whiteout(st: os.stat_result) -> bool:
    """Overlay's whiteout: a character device with device number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def make_whiteout(dir_fd: int, name: str) -> None:
    os.mknod(name, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=dir_fd)


def apply_owner_mode_times(
    dir_fd: int,
    name: str,
    *,
    uid: int,
    gid: int,
    mode: int | None,
    mtime_ns: int | None,
    atime_ns: int | None = None,
) -> None:
    """lchown, then chmod (chown clears set-id bits), then times; never follows."""
    os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    if mode is not None:
        # Not called for symlinks (they have no mode of their own), so fchmodat
        # following the final component is safe here: it is not a link.
        os.chmod(name, mode & 0o7777, dir_fd=dir_fd)
    if mtime_ns is not None:
        set_times(dir_fd, name, mtime_ns, atime_ns)


def set_times(dir_fd: int, name: str, mtime_ns: int, atime_ns: int | None = None) -> None:
    os.utime(
        name,
        ns=(mtime_ns if atime_ns is None else atime_ns, mtime_ns),
        dir_fd=dir_fd,
        follow_symlinks=False,
    )
