"""Flatten overlay-format layer dirs into one tree: the rootfs copy fallback.

Used where overlayfs cannot be mounted (an overlay-on-overlay host, a kernel
without overlay). Each layer is copied over the previous ones with overlay's own
semantics: a 0/0 char device deletes the path below it, and a directory with
``trusted.overlay.opaque=y`` hides everything earlier layers had in it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from ipy_oci.storage import fsops
from ipy_oci.userns.enter import in_userns

_CHUNK = 1 << 20


def _copy_data(src_fd: int, dst_fd: int, size: int) -> None:
    remaining = size
    try:
        while remaining > 0:
            n = os.copy_file_range(src_fd, dst_fd, min(remaining, 1 << 30))
            if n == 0:
                return
            remaining -= n
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    # copy_file_range is unsupported here: plain read/write from where it stopped.
    while True:
        buf = os.read(src_fd, _CHUNK)
        if not buf:
            return
        view = memoryview(buf)
        while view:
            view = view[os.write(dst_fd, view) :]


class _LayerCopier:
    def __init__(self, dst_root_fd: int) -> None:
        self.dst_root_fd = dst_root_fd
        # (dev, ino) of a multiply-linked source file -> where its first copy went,
        # so hardlinks inside a layer stay hardlinks.
        self.links: dict[tuple[int, int], tuple[str, ...]] = {}

    def copy_dir(self, src_fd: int, dst_fd: int, prefix: tuple[str, ...]) -> None:
        for name in sorted(os.listdir(src_fd)):
            st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
            dst_st = fsops.lstat_at(dst_fd, name)
            if fsops.is_whiteout(st):
                fsops.remove_at(dst_fd, name)
                continue
            if stat.S_ISDIR(st.st_mode):
                self._copy_subdir(src_fd, dst_fd, name, st, dst_st, prefix)
                continue
            if dst_st is not None:
                fsops.remove_at(dst_fd, name)
            self._copy_leaf(src_fd, dst_fd, name, st, prefix + (name,))

    def _copy_subdir(
        self,
        src_fd: int,
        dst_fd: int,
        name: str,
        st: os.stat_result,
        dst_st: os.stat_result | None,
        prefix: tuple[str, ...],
    ) -> None:
        if dst_st is not None and not stat.S_ISDIR(dst_st.st_mode):
            fsops.remove_at(dst_fd, name)
            dst_st = None
        if dst_st is None:
            os.mkdir(name, 0o700, dir_fd=dst_fd)
        sfd = os.open(name, fsops.O_DIR, dir_fd=src_fd)
        try:
            dfd = os.open(name, fsops.O_DIR, dir_fd=dst_fd)
            try:
                if dst_st is not None and fsops.has_opaque_xattr(src_fd, name):
                    fsops.clear_dir(dfd)
                self.copy_dir(sfd, dfd, prefix + (name,))
                fsops.fchown(dfd, st.st_uid, st.st_gid)
                os.fchmod(dfd, stat.S_IMODE(st.st_mode))
                for key, value in sorted(fsops.get_xattrs(src_fd, name).items()):
                    os.setxattr(dfd, key, value)
                os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dfd)
        finally:
            os.close(sfd)

    def _copy_leaf(
        self, src_fd: int, dst_fd: int, name: str, st: os.stat_result, path: tuple[str, ...]
    ) -> None:
        mode = stat.S_IMODE(st.st_mode)
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in self.links:
            first = self.links[key]
            first_dir = fsops.open_dir_at(self.dst_root_fd, list(first[:-1]), create=False)
            if first_dir is not None:
                try:
                    if fsops.lstat_at(first_dir, first[-1]) is not None:
                        os.link(
                            first[-1],
                            name,
                            src_dir_fd=first_dir,
                            dst_dir_fd=dst_fd,
                            follow_symlinks=False,
                        )
                        return
                finally:
                    os.close(first_dir)
        xattrs = fsops.get_xattrs(src_fd, name)
        if stat.S_ISREG(st.st_mode):
            sfd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
            try:
                dfd = os.open(
                    name,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o600,
                    dir_fd=dst_fd,
                )
                try:
                    _copy_data(sfd, dfd, st.st_size)
                    fsops.fchown(dfd, st.st_uid, st.st_gid)
                    os.fchmod(dfd, mode)
                    for k, v in sorted(xattrs.items()):
                        os.setxattr(dfd, k, v)
                    os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))
                finally:
                    os.close(dfd)
            finally:
                os.close(sfd)
            if st.st_nlink > 1:
                self.links[key] = path
            return
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
            fsops.lchown_at(name, st.st_uid, st.st_gid, dst_fd)
            fsops.set_xattrs(dst_fd, name, xattrs, is_link=True)
            fsops.set_times(dst_fd, name, st.st_mtime_ns, st.st_atime_ns)
            return
        # Device nodes, fifos and sockets.
        fsops.mknod_device(name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dst_fd)
        fsops.apply_owner_mode_times(
            dst_fd, name, uid=st.st_uid, gid=st.st_gid, mode=mode, mtime_ns=None
        )
        fsops.set_xattrs(dst_fd, name, xattrs, is_link=False)
        fsops.set_times(dst_fd, name, st.st_mtime_ns, st.st_atime_ns)


def copy_dir_contents(src_fd: int, dst_fd: int) -> None:
    """Copy what the directory ``src_fd`` holds into the directory ``dst_fd`` (owners,
    modes, xattrs, times and hard links kept; symlinks copied, never followed): a
    volume's copy-up from a container's root filesystem (engine/volumes.py)."""
    _LayerCopier(dst_fd).copy_dir(src_fd, dst_fd, ())


@in_userns
def copy_layers(layer_dirs: list[Path], dest: Path) -> None:
    """Apply ``layer_dirs`` (bottom first) onto the existing directory ``dest``."""
    dst_root = os.open(dest, fsops.O_DIR)
    try:
        for layer in layer_dirs:
            src_root = os.open(layer, fsops.O_DIR)
            try:
                _LayerCopier(dst_root).copy_dir(src_root, dst_root, ())
            finally:
                os.close(src_root)
    finally:
        os.close(dst_root)
