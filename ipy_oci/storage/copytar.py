"""Tar streams for ``cp`` and ``export``: pack a tree, unpack a stream into a directory.

Both sides never follow a symlink inside the tree they walk or write: entries are
opened ``O_NOFOLLOW`` relative to a directory fd. On the host that is the whole
defence against a hostile archive; inside a container (storage/copier.py) the
process is also chrooted, so even a followed link could not leave the container.

Owner and group are never looked up by name here: ``pwd``/``grp`` would load NSS
modules, and inside a chroot those would be the container's libraries.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tarfile
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from ipy_oci.errors import OciError, UsageError
from ipy_oci.storage import fsops
from ipy_oci.storage.fsops import O_DIR, remove_tree, split_rel, walk_tree

_CHUNK = 1 << 20
_SETID = stat.S_ISUID | stat.S_ISGID


class CopyConflict(OciError):
    """A directory would replace a non-directory or the reverse (without --overwrite)."""


# -- packing ---------------------------------------------------------------------------------


class _Exact:
    """Exactly ``size`` bytes of an open file: a file that shrank while it was being
    read is padded with zeros, one that grew is cut, so the tar stays well formed."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd, self.left = fd, size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if n is None or n < 0 else min(n, self.left)
        data = os.read(self.fd, min(want, _CHUNK))
        if not data:
            data = bytes(min(want, _CHUNK))
        self.left -= len(data)
        return data


def tar_info(name: str, st: os.stat_result) -> tarfile.TarInfo | None:
    """A TarInfo from ``lstat`` data (None for sockets and other unsupported types)."""
    ti = tarfile.TarInfo(name)
    mode = st.st_mode
    ti.mode = stat.S_IMODE(mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.mtime = int(st.st_mtime)
    ti.uname = ti.gname = ""
    if stat.S_ISREG(mode):
        ti.type, ti.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        ti.type = tarfile.SYMTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return None
    return ti


class HashingWriter:
    """A write-only stream that hashes (sha256) and counts what passes through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()


def add_entry(tf: tarfile.TarFile, links: dict[tuple[int, int], str], dir_fd: int,
              name: str, arcname: str, ti: tarfile.TarInfo, st: os.stat_result) -> None:
    """Add ``ti`` (of ``name`` in ``dir_fd``, stat ``st``) to ``tf``: another name of a
    file already added as a hard link to it (``links``: inode -> first name), a regular
    file with its bytes read through an O_NOFOLLOW fd; a file removed or swapped for
    something else while the tree was walked (a running container) is skipped."""
    if ti.type == tarfile.REGTYPE and st.st_nlink > 1:
        key = (st.st_dev, st.st_ino)
        first = links.get(key)
        if first is not None:
            ti.type, ti.linkname, ti.size = tarfile.LNKTYPE, first, 0
        else:
            links[key] = arcname
    if ti.type != tarfile.REGTYPE:
        tf.addfile(ti)
        return
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            return
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        tf.addfile(ti, _Exact(fd, ti.size))
    finally:
        os.close(fd)


@dataclass
class _Packer:
    tf: tarfile.TarFile
    skip_devs: frozenset[int] = frozenset()
    links: dict[tuple[int, int], str] = field(default_factory=dict)

    def entry(self, dir_fd: int, name: str, arcname: str, st: os.stat_result) -> None:
        ti = tar_info(arcname, st)
        if ti is None:
            return
        if ti.type == tarfile.SYMTYPE:
            ti.linkname = os.readlink(name, dir_fd=dir_fd)
        add_entry(self.tf, self.links, dir_fd, name, arcname, ti, st)

    def tree(self, dir_fd: int, prefix: str) -> None:
        """Everything below the open directory ``dir_fd``, names under ``prefix``
        (directories on a device in ``skip_devs`` without their contents)."""
        for parts, fd, name, st in walk_tree(
                dir_fd, descend=lambda st: st.st_dev not in self.skip_devs):
            arc = "/".join((prefix, *parts, name) if prefix else (*parts, name))
            self.entry(fd, name, arc, st)


def pack(path: str, out: BinaryIO | IO[bytes], arcname: str, contents_only: bool = False,
         skip_devs: frozenset[int] = frozenset()) -> None:
    """Write a tar of ``path`` (a file or a directory; a final symlink is followed, as
    podman's cp does) to ``out``. Entries are named ``arcname/...``; with
    ``contents_only`` (a source ending in ``/.``) the directory's entries go at the
    top of the archive, without an entry for the directory itself. Directories on
    a device in ``skip_devs`` (a running container's /proc and /sys) are packed
    without their contents."""
    st = os.stat(path)  # follows a final symlink
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        packer = _Packer(tf, skip_devs=skip_devs)
        if stat.S_ISDIR(st.st_mode):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                if not contents_only:
                    ti = tar_info(arcname, os.fstat(fd))
                    assert ti is not None
                    tf.addfile(ti)
                packer.tree(fd, "" if contents_only else arcname)
            finally:
                os.close(fd)
        else:
            parent, base = os.path.split(os.path.realpath(path))
            pfd = os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                packer.entry(pfd, base, arcname, os.stat(base, dir_fd=pfd,
                                                          follow_symlinks=False))
            finally:
                os.close(pfd)


# -- unpacking -------------------------------------------------------------------------------


@dataclass
class UnpackOptions:
    """How an archive lands in its destination directory.

    ``rename``: the first path component ``old`` becomes ``new`` (cp's file-to-file
    and new-directory cases). ``chown``: (uid, gid) for every entry, None keeps the
    archive's. ``follow_dirs``: existing symlinks to directories may be passed
    through (only where the process is chrooted into the tree: inside a container).
    ``display``: the destination as the user names it, for messages.
    """

    rename: tuple[str, str] | None = None
    chown: tuple[int, int] | None = None
    overwrite: bool = False
    ignore_devices: bool = False
    strip_setid: bool = False
    follow_dirs: bool = False
    display: str = "/"


@dataclass
class _Dir:
    parts: list[str]
    mode: int
    mtime: int


class _Unpacker:
    def __init__(self, root_fd: int, opts: UnpackOptions) -> None:
        self.root_fd, self.opts = root_fd, opts
        self.dirs: list[_Dir] = []

    def _shown(self, parts: list[str]) -> str:
        return os.path.join(self.opts.display, *parts)

    def _parts(self, name: str) -> list[str]:
        try:
            parts = split_rel(name)
        except Exception:
            raise UsageError(f"archive entry {name!r} has a '..' component: refusing "
                             "to write outside the destination") from None
        ren = self.opts.rename
        if ren is not None and parts and parts[0] == ren[0]:
            parts[0] = ren[1]
        return parts

    def _open_parent(self, parts: list[str]) -> int:
        fd = os.dup(self.root_fd)
        try:
            for comp in parts:
                flags = O_DIR if not self.opts.follow_dirs else \
                    os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
                try:
                    nfd = os.open(comp, flags, dir_fd=fd)
                except FileNotFoundError:
                    os.mkdir(comp, 0o755, dir_fd=fd)
                    nfd = os.open(comp, O_DIR, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise CopyConflict(
                            f"cannot write below {self._shown(parts)!r}: "
                            f"{comp!r} is a symlink or not a directory") from None
                    raise
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _clear(self, pfd: int, name: str, parts: list[str], want_dir: bool) -> bool:
        """Make room for an entry; True if a directory of that name stays to merge into."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        is_dir = stat.S_ISDIR(st.st_mode)
        if want_dir and (is_dir or (self.opts.follow_dirs and stat.S_ISLNK(st.st_mode)
                                    and _is_dir_at(pfd, name))):
            return True  # merge (inside a container: also into a link such as /lib)
        if want_dir != is_dir and not self.opts.overwrite:
            raise CopyConflict(
                f'error creating "{self._shown(parts)}": file exists (a '
                f"{'directory' if is_dir else 'non-directory'} is in the way; use "
                "--overwrite to replace it)")
        if is_dir:
            remove_tree(name, dir_fd=pfd)
        else:
            os.unlink(name, dir_fd=pfd)
        return False

    def member(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        o = self.opts
        parts = self._parts(m.name)
        if not parts:
            return  # the "." entry of the destination itself: it exists already
        if m.isdev() and o.ignore_devices:
            return
        pfd = self._open_parent(parts[:-1])
        name = parts[-1]
        try:
            uid, gid = o.chown if o.chown is not None else (m.uid, m.gid)
            mode = m.mode & 0o7777
            if o.strip_setid and not m.isdir():
                mode &= ~_SETID
            if m.isdir():
                if not self._clear(pfd, name, parts, want_dir=True):
                    os.mkdir(name, 0o700, dir_fd=pfd)
                fsops.lchown_at(name, uid, gid, pfd)
                self.dirs.append(_Dir(parts, mode, int(m.mtime)))
                return
            if m.isreg():
                self._file(tf, m, pfd, name, parts, uid, gid, mode)
                return
            self._clear(pfd, name, parts, want_dir=False)
            if m.issym():
                os.symlink(m.linkname, name, dir_fd=pfd)
            elif m.islnk():
                target = self._parts(m.linkname)
                tfd = self._open_parent(target[:-1]) if target else None
                if tfd is None:
                    raise UsageError(f"archive hard link {m.name!r} has no target")
                try:
                    os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd,
                            follow_symlinks=False)
                finally:
                    os.close(tfd)
                return
            elif m.ischr() or m.isblk() or m.isfifo():
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else \
                    stat.S_IFIFO
                os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor)
                         if not m.isfifo() else 0, dir_fd=pfd)
            else:
                return
            fsops.lchown_at(name, uid, gid, pfd)
            if not m.issym():
                os.chmod(name, mode, dir_fd=pfd)
            os.utime(name, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)

    def _file(self, tf: tarfile.TarFile, m: tarfile.TarInfo, pfd: int, name: str,
              parts: list[str], uid: int, gid: int, mode: int) -> None:
        fd = None
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
            # In place: a file bind-mounted into a running container (/etc/hosts)
            # cannot be unlinked, and its mount must see the new content.
            fd = os.open(name, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=pfd)
        else:
            if st is not None:
                self._clear(pfd, name, parts, want_dir=False)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                         os.O_CLOEXEC, 0o600, dir_fd=pfd)
        try:
            src = tf.extractfile(m)
            if src is not None:
                while chunk := src.read(_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
            fsops.fchown(fd, uid, gid)
            os.fchmod(fd, mode)  # after the chown, which clears set-id bits
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)

    def finish(self) -> None:
        """Directory modes and times last: a read-only directory must still take its
        children, and writing them changes its mtime."""
        for d in reversed(self.dirs):
            fd = self._open_parent(d.parts)
            try:
                os.fchmod(fd, d.mode)
                os.utime(fd, (d.mtime, d.mtime))
            finally:
                os.close(fd)


def _is_dir_at(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


def unpack(stream: BinaryIO | IO[bytes], dest: str, opts: UnpackOptions) -> None:
    """Extract a (possibly compressed) tar stream into the existing directory ``dest``."""
    root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        up = _Unpacker(root_fd, opts)
        try:
            with tarfile.open(fileobj=stream, mode="r|*") as tf:
                for m in tf:
                    up.member(tf, m)
        except (tarfile.TarError, EOFError) as exc:
            raise UsageError(f"the archive is not a valid tar stream: {exc}") from None
        up.finish()
    finally:
        os.close(root_fd)


def is_tar_file(path: str) -> bool:
    """True if ``path`` is a tar archive, plain or compressed (gzip, bzip2, xz)."""
    try:
        with tarfile.open(path, mode="r:*") as tf:
            return tf.next() is not None
    except (tarfile.TarError, EOFError, OSError):
        return False
