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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol, cast

from ipy_oci.errors import ImageError, SizeLimitExceeded
from ipy_oci.storage import fsops
from ipy_oci.storage.atomic import (
    check_free_space,
    free_bytes,
    human_bytes,
    is_no_space,
    no_space,
    rename_noreplace,
    translate_no_space,
)
from ipy_oci.storage.fsops import UnsafePath
from ipy_oci.userns.enter import in_userns

ExtractMode = Literal["overlay", "apply"]


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_CHUNK = 1 << 20

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class Limits:
    """What one extraction may use.

    ``max_size`` caps the expanded layer: its uncompressed tar stream and the bytes
    its files take once written (sparse files!), 0 for no cap; ``cap_name`` names
    the setting in messages. ``min_free`` is kept free on the target filesystem.
    """

    max_size: int = 0
    cap_name: str = "max_layer_size"
    min_free: int = 0


@dataclass(frozen=True)
class Extracted:
    diff_id: str  # sha256 of the uncompressed tar
    size: int  # bytes of the uncompressed tar: the layer's size as podman shows it


def _too_big(limits: Limits) -> SizeLimitExceeded:
    return SizeLimitExceeded(
        f"the layer expands to more than {human_bytes(limits.max_size)}, the "
        f"{limits.cap_name} cap"
    )


class _HashingReader:
    """Hashes every byte read through it: the digest of the uncompressed tar is
    the layer's diff_id, checked against the image config. Counts them too, and
    stops a stream that expands beyond the cap (a gzip bomb) while reading it."""

    def __init__(self, inner: Readable, limits: Limits = Limits()) -> None:
        self._inner = inner
        self._hash = hashlib.sha256()
        self._limits = limits
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._hash.update(data)
        self.size += len(data)
        if self._limits.max_size and self.size > self._limits.max_size:
            raise _too_big(self._limits)
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


# Free space is measured again after this much was written, and whenever what the
# last measurement left is used up: other writers share the filesystem.
_RECHECK_BYTES = 32 << 20
# What one inode (a directory, a symlink, an empty file) costs, roughly.
_INODE_COST = 4096


class _Budget:
    """The space an extraction may still use: the cap on what its files take, and
    the free space on the target filesystem above ``min_free``."""

    def __init__(self, root_fd: int, limits: Limits, where: Path) -> None:
        self.root_fd = root_fd
        self.limits = limits
        self.where = where
        self.written = 0
        self.left: int | None = None  # free bytes above the margin at the last check
        self.since_check = 0

    def charge(self, data_bytes: int) -> None:
        """Account for an entry about to be written with ``data_bytes`` of content."""
        self.written += data_bytes
        if self.limits.max_size and self.written > self.limits.max_size:
            raise _too_big(self.limits)
        cost = data_bytes + _INODE_COST
        self.since_check += cost
        if self.left is None or cost > self.left or self.since_check > _RECHECK_BYTES:
            self._measure(cost)
        assert self.left is not None
        self.left -= cost

    def _measure(self, cost: int) -> None:
        self.since_check = 0
        try:
            free = free_bytes(self.root_fd)
        except OSError:
            self.left = 1 << 62  # cannot measure: writes will say ENOSPC
            return
        self.left = free - self.limits.min_free
        if cost > self.left:
            check_free_space(self.where, cost, self.limits.min_free,
                             f"the layer's entries (at least {human_bytes(self.written)} "
                             "so far)")


class _Extractor:
    def __init__(self, root_fd: int, mode: ExtractMode, budget: _Budget | None = None) -> None:
        self.root_fd = root_fd
        self.mode = mode
        self.budget = budget
        # Paths this layer wrote, and all their ancestors: whiteouts and opaque
        # markers only hide what *earlier* layers put there.
        self.unpacked: set[tuple[str, ...]] = set()
        self.ancestors: set[tuple[str, ...]] = set()  # with every prefix of each member
        self.dir_times: list[tuple[tuple[str, ...], int, int]] = []
        # Parent dirs are opened from the previous entry's, not from the root each time.
        self.dirs = fsops.DirCursor(root_fd)

    def _mark(self, parts: list[str]) -> None:
        key = tuple(parts)
        self.unpacked.add(key)
        self._add_ancestors(key, len(key))

    def _add_ancestors(self, key: tuple[str, ...], upto: int) -> None:
        """Add ``key[:i]`` for every ``i < upto``, longest first, stopping at the first
        one already there (its own prefixes are then there too): linear, not cubic,
        in the depth of a deep tree."""
        for i in range(upto - 1, -1, -1):
            prefix = key[:i]
            if prefix in self.ancestors:
                return
            self.ancestors.add(prefix)

    def _remove_at(self, dir_fd: int, name: str) -> None:
        self.dirs.reset()  # it may be a directory the cursor holds
        fsops.remove_at(dir_fd, name)

    def run(self, tf: tarfile.TarFile) -> None:
        try:
            for member in tf:
                try:
                    if self.budget is not None:
                        self.budget.charge(member.size if member.isreg() else 0)
                    self.entry(tf, member)
                except UnsafePath as exc:
                    raise ImageError(f"refusing layer entry {member.name!r}: {exc}") from None
                except OSError as exc:
                    if is_no_space(exc):
                        where = self.budget.where if self.budget else "the layer"
                        raise no_space(exc, where, f"extracting layer entry {member.name!r}"
                                       ) from None
                    raise ImageError(
                        f"cannot extract layer entry {member.name!r}: {exc}") from None
            self.finish_dirs()
        finally:
            self.dirs.reset()

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
        parent_fd = self.dirs.open(parts[:-1], create=True)
        if parent_fd is None:  # cannot happen with create=True; keeps the types honest
            raise UnsafePath("parent directory vanished")
        try:
            self._create(tf, member, parts, parent_fd)
        finally:
            os.close(parent_fd)
        self._mark(parts)

    def _root_dir(self, member: tarfile.TarInfo) -> None:
        fsops.fchown(self.root_fd, member.uid, member.gid)
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
        parent_fd = self.dirs.open(parent, create=self.mode == "overlay")
        if parent_fd is None:
            return  # apply mode: nothing below to hide
        try:
            self._remove_at(parent_fd, target)
            if self.mode == "overlay":
                fsops.make_whiteout(parent_fd, target)
        finally:
            os.close(parent_fd)

    def _opaque(self, dir_parts: list[str]) -> None:
        dir_fd = self.dirs.open(dir_parts, create=self.mode == "overlay")
        if dir_fd is None:
            return
        try:
            if self.mode == "overlay":
                os.setxattr(dir_fd, fsops.opaque_xattr(), b"y")
            else:
                self.dirs.reset()
                self._clear_lower(dir_fd, tuple(dir_parts))
        finally:
            os.close(dir_fd)
        self._add_ancestors(tuple(dir_parts), len(dir_parts) + 1)

    def _clear_lower(self, top_fd: int, top: tuple[str, ...]) -> None:
        """Delete what earlier layers left in a directory, keeping this layer's files.

        Iterative (a layer may be thousands of levels deep): a stack of the
        directories still to visit, each opened from the layer root again.
        """
        todo = [top]
        while todo:
            prefix = todo.pop()
            if prefix == top:
                dir_fd = os.dup(top_fd)
            else:
                opened = fsops.open_dir_at(self.root_fd, list(prefix), create=False)
                if opened is None:
                    continue
                dir_fd = opened
            try:
                for name in os.listdir(dir_fd):
                    path = prefix + (name,)
                    if path not in self.unpacked and path not in self.ancestors:
                        fsops.remove_at(dir_fd, name)
                        continue
                    st = fsops.lstat_at(dir_fd, name)
                    if st is not None and stat.S_ISDIR(st.st_mode):
                        todo.append(path)
            finally:
                os.close(dir_fd)

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
                self._remove_at(parent_fd, name)
                existing = None
            if existing is None:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            fd = os.open(name, fsops.O_DIR, dir_fd=parent_fd)
            try:
                fsops.fchown(fd, member.uid, member.gid)
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
            self._remove_at(parent_fd, name)

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
                fsops.fchown(fd, member.uid, member.gid)
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
            fsops.lchown_at(name, member.uid, member.gid, parent_fd)
            fsops.set_xattrs(parent_fd, name, xattrs, is_link=True)
            fsops.set_times(parent_fd, name, mtime_ns, atime_ns)
            return

        if member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            dev = os.makedev(member.devmajor, member.devminor)
            fsops.mknod_device(name, kind | 0o600, dev, parent_fd)
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
        tparent = self.dirs.open(target_parts[:-1], create=False)
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
                self._remove_at(parent_fd, name)
            # linkat without AT_SYMLINK_FOLLOW: a symlink target is linked itself,
            # never what it points to.
            os.link(tname, name, src_dir_fd=tparent, dst_dir_fd=parent_fd, follow_symlinks=False)
        finally:
            os.close(tparent)

    def finish_dirs(self) -> None:
        # Creating children bumps a directory's mtime, so directory times go last.
        for parts, mtime_ns, atime_ns in reversed(self.dir_times):
            try:
                fd = self.dirs.open(list(parts), create=False)
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


def extract_tar(stream: Readable, dest: Path, mode: ExtractMode = "overlay",
                limits: Limits | None = None) -> str:
    """Extract a (possibly compressed) layer tar stream into the existing ``dest``.

    Returns the diff_id (``sha256:`` of the uncompressed tar). Does not clean up on
    failure; :func:`extract_layer` does.
    """
    return _extract_tar(stream, dest, mode, limits).diff_id


def _extract_tar(stream: Readable, dest: Path, mode: ExtractMode,
                 limits: Limits | None) -> Extracted:
    if mode not in ("overlay", "apply"):
        raise ValueError(f"unknown extraction mode {mode!r}")
    root_fd = os.open(dest, fsops.O_DIR)
    try:
        reader = _HashingReader(decompressed(stream), limits or Limits())
        budget = _Budget(root_fd, limits, dest.parent) if limits is not None else None
        try:
            with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|") as tf:
                _Extractor(root_fd, mode, budget).run(tf)
            reader.drain()
        except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error, ValueError) as exc:
            raise ImageError(f"corrupt layer tarball: {exc}") from None
        except OSError as exc:
            if is_no_space(exc):
                raise no_space(exc, dest.parent, "extracting a layer") from None
            raise ImageError(f"cannot read layer tarball: {exc}") from None
        return Extracted(reader.digest(), reader.size)
    finally:
        os.close(root_fd)


def extract_layer(
    blob: Path, dest: Path, *, expected_diff_id: str | None = None, tmp_parent: Path | None = None
) -> str:
    """:func:`extract_layer_checked` without limits; returns the diff_id."""
    return extract_layer_checked(blob, dest, expected_diff_id=expected_diff_id,
                                 tmp_parent=tmp_parent).diff_id


@in_userns
def extract_layer_checked(
    blob: Path, dest: Path, *, expected_diff_id: str | None = None,
    tmp_parent: Path | None = None, limits: Limits | None = None,
) -> Extracted:
    """Extract a layer blob into the new directory ``dest`` in overlay format.

    The tree is built in a temp dir (beside ``dest``, or in ``tmp_parent`` on the
    same filesystem, e.g. a pull's scratch dir that is swept if the pull dies) and
    renamed into place, so a crash never leaves a half layer under the final name;
    on any error (a hostile entry, the size cap, no space left) the temp dir is
    removed. If another process finished ``dest`` first, its copy is kept. Raises
    ImageError if the diff_id differs from ``expected_diff_id``,
    SizeLimitExceeded past ``limits.max_size`` and StorageFull when the
    filesystem has less than ``limits.min_free`` left.
    """
    parent = dest.parent if tmp_parent is None else tmp_parent
    if limits is not None:
        # Before: the layer takes at least about its compressed size.
        check_free_space(parent, blob.stat().st_size, limits.min_free,
                         f"extracting layer {blob.name[:12]}")
    with translate_no_space(parent, "extracting a layer"):
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent))
    try:
        os.chmod(tmp, 0o755)
        with open(blob, "rb") as fh:
            got = _extract_tar(fh, tmp, "overlay", limits)
        if expected_diff_id is not None and got.diff_id != expected_diff_id:
            raise ImageError(
                f"layer {blob.name[:12]} uncompresses to {got.diff_id}, but the image config "
                f"says {expected_diff_id}: the image is corrupt, pull it again"
            )
        if not rename_noreplace(tmp, dest):
            fsops.remove_tree(tmp, ignore_errors=True)
    except BaseException:
        fsops.remove_tree(tmp, ignore_errors=True)
        raise
    return got


def layer_size(blob: Path, limit: int = 0) -> int:
    """The uncompressed size of a layer blob, read through (for layers extracted
    before sizes were recorded). ``limit``: stop counting past it."""
    with open(blob, "rb") as fh:
        reader = decompressed(fh)
        total = 0
        while chunk := reader.read(_CHUNK):
            total += len(chunk)
            if limit and total > limit:
                break
    return total


@in_userns
def apply_layer(blob: Path, rootfs: Path) -> str:
    """Apply a layer blob on top of the tree ``rootfs`` (whiteouts delete).

    There is no rollback: on error ``rootfs`` is partly updated and should be
    discarded by the caller.
    """
    with open(blob, "rb") as fh:
        return extract_tar(fh, rootfs, "apply")
