"""Safe extraction of OCI layer tarballs: a security boundary.

Layers come from registries and tarballs we do not trust. Every write goes through
the fd-relative, no-follow walk in :mod:`ipy_oci.storage.fsops`, so an entry can
never land outside the destination: ``..`` components, symlinks (or non-dirs) in a
parent path, relative symlinks that climb out of the tree and hardlinks to anything
not in the tree are refused with an :class:`ImageError` naming the entry.

Two modes:

``overlay``
    The layer becomes an overlayfs lower dir: ``.wh.NAME`` turns into a 0/0 char
    device and ``.wh..wh..opq`` into ``trusted.overlay.opaque=y`` on its directory.
``apply``
    The layer is applied on top of an existing tree (earlier layers): whiteouts
    delete, and an opaque marker empties the directory of everything earlier
    layers put there.
"""

from __future__ import annotations

import base64
import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.parse
import zlib
from pathlib import Path
from typing import IO, Literal, Protocol, cast

from ipy_oci.errors import ImageError
from ipy_oci.storage import fsops
from ipy_oci.storage.atomic import rename_noreplace
from ipy_oci.storage.fsops import UnsafePath

ExtractMode = Literal["overlay", "apply"]


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_CHUNK = 1 << 20

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _HashingReader:
    """Hashes every byte read through it: the digest of the uncompressed tar is
    the layer's diff_id, checked against the image config."""

    def __init__(self, inner: Readable) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._hash.update(data)
        return data

    def drain(self) -> None:
        # tar readers stop at the end-of-archive marker; the diff_id covers the
        # padding that follows it too.
        while self.read(_CHUNK):
            pass

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class Prefixed:
    """Replays bytes already read for magic sniffing, then reads on."""

    def __init__(self, prefix: bytes, inner: Readable) -> None:
        self._prefix = prefix
        self._inner = inner

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0:
                data = self._prefix + self._inner.read()
                self._prefix = b""
                return data
            head, self._prefix = self._prefix[:size], self._prefix[size:]
            if len(head) == size:
                return head
            return head + self._inner.read(size - len(head))
        return self._inner.read(size)


def decompressed(raw: Readable) -> Readable:
    """Wrap a layer blob in a decompressor chosen by its magic bytes.

    gzip and plain tar always work; zstd needs the optional ``zstandard`` module.
    """
    magic = raw.read(4)
    src = Prefixed(magic, raw)
    if magic.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=cast(IO[bytes], src), mode="rb")
    if magic == _ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError:
            raise ImageError(
                "layer is zstd-compressed but the Python module 'zstandard' is not "
                "installed: pip install zstandard"
            ) from None
        reader: Readable = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], src), read_across_frames=True
        )
        return reader
    return src


def _pax_xattrs(member: tarfile.TarInfo) -> dict[str, bytes]:
    """xattrs carried in PAX headers (GNU tar/docker style and libarchive style)."""
    out: dict[str, bytes] = {}
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr.") :]
            # tarfile decodes PAX values with surrogateescape; this restores the bytes.
            data = value.encode("utf-8", "surrogateescape")
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr.") :])
            try:
                data = base64.b64decode(value + "=" * (-len(value) % 4))
            except ValueError:
                raise ImageError(
                    f"layer entry {member.name!r} has a corrupt xattr {name!r}"
                ) from None
        else:
            continue
        if not name or name.startswith(fsops.OVERLAY_XATTR_PREFIXES):
            # Overlay's private xattrs would let a layer redirect lookups.
            continue
        out[name] = data
    return out


def _times_ns(member: tarfile.TarInfo) -> tuple[int, int]:
    mtime_ns = int(round(float(member.mtime) * 1e9))
    atime = member.pax_headers.get("atime")
    try:
        atime_ns = int(round(float(atime) * 1e9)) if atime else mtime_ns
    except ValueError:
        atime_ns = mtime_ns
    return mtime_ns, atime_ns


def _link_escapes(link_parent: list[str], target: str) -> bool:
    """True when ``target`` resolved lexically from the link's directory climbs
    above the tree root (absolute targets resolve from the root)."""
    depth = 0 if target.startswith("/") else len(link_parent)
    for comp in target.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            depth -= 1
            if depth < 0:
                return True
        else:
            depth += 1
    return False


class _Extractor:
    def __init__(self, root_fd: int, mode: ExtractMode) -> None:
        self.root_fd = root_fd
        self.mode = mode
        # Paths this layer wrote, and all their ancestors: whiteouts and opaque
        # markers only hide what *earlier* layers put there.
        self.unpacked: set[tuple[str, ...]] = set()
        self.ancestors: set[tuple[str, ...]] = set()
        self.dir_times: list[tuple[tuple[str, ...], int, int]] = []

    def _mark(self, parts: list[str]) -> None:
        key = tuple(parts)
        self.unpacked.add(key)
        for i in range(len(parts)):
            self.ancestors.add(key[:i])

    def run(self, tf: tarfile.TarFile) -> None:
        for member in tf:
            try:
                self.entry(tf, member)
            except UnsafePath as exc:
                raise ImageError(f"refusing layer entry {member.name!r}: {exc}") from None
            except OSError as exc:
                raise ImageError(f"cannot extract layer entry {member.name!r}: {exc}") from None
        self.finish_dirs()

    def entry(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = fsops.split_rel(member.name)
        if not parts:
            if not member.isdir():
                raise UnsafePath("only a directory may name the layer root")
            self._root_dir(member)
            return
        name = parts[-1]
        if name.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts)
            return
        parent_fd = fsops.open_dir_at(self.root_fd, parts[:-1], create=True)
        if parent_fd is None:  # cannot happen with create=True; keeps the types honest
            raise UnsafePath("parent directory vanished")
        try:
            self._create(tf, member, parts, parent_fd)
        finally:
            os.close(parent_fd)
        self._mark(parts)

    def _root_dir(self, member: tarfile.TarInfo) -> None:
        os.fchown(self.root_fd, member.uid, member.gid)
        os.fchmod(self.root_fd, member.mode & 0o7777)
        mtime_ns, atime_ns = _times_ns(member)
        self.dir_times.append(((), mtime_ns, atime_ns))

    def _whiteout(self, parts: list[str]) -> None:
        name = parts[-1]
        parent = parts[:-1]
        if name == OPAQUE_MARKER:
            self._opaque(parent)
            return
        if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            # Other ".wh..wh." names are aufs bookkeeping with no meaning here.
            return
        target = name[len(WHITEOUT_PREFIX) :]
        if target in ("", ".", ".."):
            raise UnsafePath(f"whiteout of {target!r}")
        path = tuple(parent + [target])
        if path in self.unpacked or path in self.ancestors:
            return  # this layer's own entries win over its whiteout
        parent_fd = fsops.open_dir_at(self.root_fd, parent, create=self.mode == "overlay")
        if parent_fd is None:
            return  # apply mode: nothing below to hide
        try:
            fsops.remove_at(parent_fd, target)
            if self.mode == "overlay":
                fsops.make_whiteout(parent_fd, target)
        finally:
            os.close(parent_fd)

    def _opaque(self, dir_parts: list[str]) -> None:
        dir_fd = fsops.open_dir_at(self.root_fd, dir_parts, create=self.mode == "overlay")
        if dir_fd is None:
            return
        try:
            if self.mode == "overlay":
                os.setxattr(dir_fd, fsops.OPAQUE_XATTR, b"y")
            else:
                self._clear_lower(dir_fd, tuple(dir_parts))
        finally:
            os.close(dir_fd)
        self.ancestors.update(tuple(dir_parts[:i]) for i in range(len(dir_parts) + 1))

    def _clear_lower(self, dir_fd: int, prefix: tuple[str, ...]) -> None:
        """Delete what earlier layers left in a directory, keeping this layer's files."""
        for name in os.listdir(dir_fd):
            path = prefix + (name,)
            if path not in self.unpacked and path not in self.ancestors:
                fsops.remove_at(dir_fd, name)
                continue
            st = fsops.lstat_at(dir_fd, name)
            if st is not None and stat.S_ISDIR(st.st_mode):
                sub = os.open(name, fsops.O_DIR, dir_fd=dir_fd)
                try:
                    self._clear_lower(sub, path)
                finally:
                    os.close(sub)

    def _create(
        self, tf: tarfile.TarFile, member: tarfile.TarInfo, parts: list[str], parent_fd: int
    ) -> None:
        name = parts[-1]
        existing = fsops.lstat_at(parent_fd, name)
        xattrs = _pax_xattrs(member)
        mtime_ns, atime_ns = _times_ns(member)
        mode = member.mode & 0o7777

        if member.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                fsops.remove_at(parent_fd, name)
                existing = None
            if existing is None:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            fd = os.open(name, fsops.O_DIR, dir_fd=parent_fd)
            try:
                os.fchown(fd, member.uid, member.gid)
                os.fchmod(fd, mode)
                for key, value in sorted(xattrs.items()):
                    _fsetxattr(fd, key, value)
            finally:
                os.close(fd)
            self.dir_times.append((tuple(parts), mtime_ns, atime_ns))
            return

        if member.islnk():
            self._hardlink(member, parts, parent_fd)
            return

        if existing is not None:
            fsops.remove_at(parent_fd, name)

        if member.isreg():
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=parent_fd,
            )
            try:
                src = tf.extractfile(member)
                if src is not None:
                    with os.fdopen(os.dup(fd), "wb", closefd=True) as out:
                        shutil.copyfileobj(src, out, _CHUNK)
                os.fchown(fd, member.uid, member.gid)
                os.fchmod(fd, mode)
                for key, value in sorted(xattrs.items()):
                    _fsetxattr(fd, key, value)
                os.utime(fd, ns=(atime_ns, mtime_ns))
            finally:
                os.close(fd)
            return

        if member.issym():
            target = member.linkname
            if not target:
                raise UnsafePath("symlink with an empty target")
            if _link_escapes(parts[:-1], target):
                raise UnsafePath(f"symlink target {target!r} escapes the layer")
            os.symlink(target, name, dir_fd=parent_fd)
            os.chown(name, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)
            fsops.set_xattrs(parent_fd, name, xattrs, is_link=True)
            fsops.set_times(parent_fd, name, mtime_ns, atime_ns)
            return

        if member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            dev = os.makedev(member.devmajor, member.devminor)
            os.mknod(name, kind | 0o600, dev, dir_fd=parent_fd)
        elif member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=parent_fd)
        else:
            raise ImageError(
                f"layer entry {member.name!r} has an unsupported tar type {member.type!r}"
            )
        fsops.apply_owner_mode_times(
            parent_fd, name, uid=member.uid, gid=member.gid, mode=mode, mtime_ns=None
        )
        fsops.set_xattrs(parent_fd, name, xattrs, is_link=False)
        fsops.set_times(parent_fd, name, mtime_ns, atime_ns)

    def _hardlink(self, member: tarfile.TarInfo, parts: list[str], parent_fd: int) -> None:
        target_parts = fsops.split_rel(member.linkname)
        if not target_parts:
            raise UnsafePath("hardlink to the layer root")
        if target_parts == parts:
            return  # a link to itself: nothing to do
        if self.mode == "overlay" and tuple(target_parts) not in self.unpacked:
            # A fresh layer holds nothing else: the target must come from this tar.
            raise UnsafePath(f"hardlink target {member.linkname!r} is not in the layer")
        tparent = fsops.open_dir_at(self.root_fd, target_parts[:-1], create=False)
        if tparent is None:
            raise UnsafePath(f"hardlink target {member.linkname!r} is not in the layer")
        try:
            tname = target_parts[-1]
            tst = fsops.lstat_at(tparent, tname)
            if tst is None:
                raise UnsafePath(f"hardlink target {member.linkname!r} is not in the layer")
            if stat.S_ISDIR(tst.st_mode):
                raise UnsafePath(f"hardlink target {member.linkname!r} is a directory")
            name = parts[-1]
            if fsops.lstat_at(parent_fd, name) is not None:
                fsops.remove_at(parent_fd, name)
            # linkat without AT_SYMLINK_FOLLOW: a symlink target is linked itself,
            # never what it points to.
            os.link(tname, name, src_dir_fd=tparent, dst_dir_fd=parent_fd, follow_symlinks=False)
        finally:
            os.close(tparent)

    def finish_dirs(self) -> None:
        # Creating children bumps a directory's mtime, so directory times go last.
        for parts, mtime_ns, atime_ns in reversed(self.dir_times):
            try:
                fd = fsops.open_dir_at(self.root_fd, list(parts), create=False)
            except UnsafePath:
                continue  # replaced by a later entry; its own times stand
            if fd is None:
                continue
            try:
                os.utime(fd, ns=(atime_ns, mtime_ns))
            finally:
                os.close(fd)


def _fsetxattr(fd: int, key: str, value: bytes) -> None:
    try:
        os.setxattr(fd, key, value)
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise


def extract_tar(stream: Readable, dest: Path, mode: ExtractMode = "overlay") -> str:
    """Extract a (possibly compressed) layer tar stream into the existing ``dest``.

    Returns the diff_id (``sha256:`` of the uncompressed tar). Does not clean up on
    failure; :func:`extract_layer` does.
    """
    if mode not in ("overlay", "apply"):
        raise ValueError(f"unknown extraction mode {mode!r}")
    root_fd = os.open(dest, fsops.O_DIR)
    try:
        reader = _HashingReader(decompressed(stream))
        try:
            with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|") as tf:
                _Extractor(root_fd, mode).run(tf)
            reader.drain()
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, ValueError) as exc:
            raise ImageError(f"corrupt layer tarball: {exc}") from None
        except OSError as exc:
            raise ImageError(f"cannot read layer tarball: {exc}") from None
        return reader.digest()
    finally:
        os.close(root_fd)


def extract_layer(
    blob: Path, dest: Path, *, expected_diff_id: str | None = None, tmp_parent: Path | None = None
) -> str:
    """Extract a layer blob into the new directory ``dest`` in overlay format.

    The tree is built in a temp dir (beside ``dest``, or in ``tmp_parent`` on the
    same filesystem, e.g. a pull's scratch dir that is swept if the pull dies) and
    renamed into place, so a crash never leaves a half layer under the final name;
    on any error the temp dir is removed. If another process finished ``dest``
    first, its copy is kept. Returns the diff_id; raises ImageError if it differs
    from ``expected_diff_id``.
    """
    parent = dest.parent if tmp_parent is None else tmp_parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent))
    try:
        os.chmod(tmp, 0o755)
        with open(blob, "rb") as fh:
            diff_id = extract_tar(fh, tmp, "overlay")
        if expected_diff_id is not None and diff_id != expected_diff_id:
            raise ImageError(
                f"layer {blob.name[:12]} uncompresses to {diff_id}, but the image config "
                f"says {expected_diff_id}: the image is corrupt, pull it again"
            )
        if not rename_noreplace(tmp, dest):
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return diff_id


def apply_layer(blob: Path, rootfs: Path) -> str:
    """Apply a layer blob on top of the tree ``rootfs`` (whiteouts delete).

    There is no rollback: on error ``rootfs`` is partly updated and should be
    discarded by the caller.
    """
    with open(blob, "rb") as fh:
        return extract_tar(fh, rootfs, "apply")
