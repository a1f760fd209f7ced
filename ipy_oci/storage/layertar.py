"""Layer tarballs for ``commit``: a container's changes as one gzip-compressed OCI layer.

Two sources. An overlay container's upper directory *is* its layer: a whiteout (a
0/0 character device) becomes a ``.wh.NAME`` entry and an opaque directory (overlay's
opaque xattr) gets a ``.wh..wh..opq`` entry after its own. A copy-mode root has no
upper directory: the engine lists its changes against the image and each added or
changed path is packed from the root, each deleted one as a whiteout.

Entries keep owners, modes, mtimes, symlink targets and xattrs (never overlay's own);
hard links within the layer stay links. Nothing is followed: every entry is read
relative to a directory opened ``O_NOFOLLOW``. The tar is hashed uncompressed (the
diff_id) and compressed (the blob digest) while it is written, in one pass.
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from collections.abc import Sequence
from typing import IO, BinaryIO, cast

from ipy_oci.storage.copytar import HashingWriter, add_entry, tar_info
from ipy_oci.storage.fsops import (
    FUSE_OPAQUE_XATTR,
    O_DIR,
    get_xattrs,
    has_opaque_xattr,
    is_whiteout,
    lstat_at,
    open_dir_at,
    split_rel,
    walk_tree,
)
from ipy_oci.userns.enter import in_userns

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
# fuse-overlayfs' private xattrs (overlay's own are left out by get_xattrs).
_PRIVATE_XATTRS = (FUSE_OPAQUE_XATTR.rsplit(".", 1)[0] + ".",)


class _LayerWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.blob = HashingWriter(out)
        self.gz = gzip.GzipFile(fileobj=cast(IO[bytes], self.blob), mode="wb", mtime=0)
        self.diff = HashingWriter(cast(IO[bytes], self.gz))
        # Closed by close(); on an error the caller's workspace goes with the file.
        self.tf = tarfile.open(fileobj=cast(IO[bytes], self.diff), mode="w|",  # noqa: SIM115
                               format=tarfile.PAX_FORMAT)
        self.links: dict[tuple[int, int], str] = {}

    def entry(self, dir_fd: int, name: str, arc: str, st: os.stat_result) -> None:
        ti = tar_info(arc, st)
        if ti is None:
            return  # sockets: nothing a layer can hold
        ti.mtime = st.st_mtime  # sub-second mtimes survive in the PAX header
        try:
            xattrs = get_xattrs(dir_fd, name)
            if ti.type == tarfile.SYMTYPE:
                ti.linkname = os.readlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return  # removed while we walked (a running container)
        pax = {"SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape")
               for k, v in xattrs.items() if not k.startswith(_PRIVATE_XATTRS)}
        if pax:
            ti.pax_headers = pax
        add_entry(self.tf, self.links, dir_fd, name, arc, ti, st)

    def marker(self, arc: str) -> None:
        """An empty regular file: a whiteout or the opaque marker."""
        ti = tarfile.TarInfo(arc)
        ti.mode, ti.mtime, ti.uname, ti.gname = 0o600, 0, "", ""
        self.tf.addfile(ti)

    def close(self) -> tuple[str, str, int]:
        self.tf.close()
        self.gz.close()
        return ("sha256:" + self.diff.hash.hexdigest(), "sha256:" + self.blob.hash.hexdigest(),
                self.blob.size)


def _whiteout_name(parts: Sequence[str], name: str) -> str:
    return "/".join((*parts, WHITEOUT_PREFIX + name))


@in_userns
def write_upper_layer(upper: str, out_path: str, exclude: frozenset[str]) -> tuple[str, str, int]:
    """The overlay upper directory ``upper`` as a layer at ``out_path``; paths in
    ``exclude`` ("/etc/hosts" …) are left out (a directory's own entry only).
    Returns (diff_id, blob digest, blob size)."""
    with open(out_path, "wb") as out:
        w = _LayerWriter(out)
        try:
            root = os.open(upper, O_DIR)
        except FileNotFoundError:
            root = None  # never mounted (a created container): an empty layer
        if root is not None:
            try:
                for parts, fd, name, st in walk_tree(root):
                    if "/" + "/".join((*parts, name)) in exclude:
                        continue
                    if is_whiteout(st):
                        w.marker(_whiteout_name(parts, name))
                        continue
                    arc = "/".join((*parts, name))
                    w.entry(fd, name, arc, st)
                    if stat.S_ISDIR(st.st_mode) and has_opaque_xattr(fd, name):
                        w.marker(f"{arc}/{OPAQUE_MARKER}")
            finally:
                os.close(root)
        return w.close()


@in_userns
def write_changes_layer(root: str, changes: Sequence[tuple[str, str]],
                        out_path: str) -> tuple[str, str, int]:
    """A layer of ``changes`` ((kind, path): A, C or D) read from the tree ``root``
    (a directory's own entry only: its changed children are listed themselves)."""
    with open(out_path, "wb") as out:
        w = _LayerWriter(out)
        root_fd = os.open(root, O_DIR)
        try:
            for kind, path in changes:
                parts = split_rel(path)
                if not parts:
                    continue
                if kind == "D":
                    w.marker(_whiteout_name(parts[:-1], parts[-1]))
                    continue
                pfd = open_dir_at(root_fd, parts[:-1], create=False)
                if pfd is None:
                    continue  # gone since the changes were listed
                try:
                    st = lstat_at(pfd, parts[-1])
                    if st is not None:
                        w.entry(pfd, parts[-1], "/".join(parts), st)
                finally:
                    os.close(pfd)
        finally:
            os.close(root_fd)
        return w.close()
