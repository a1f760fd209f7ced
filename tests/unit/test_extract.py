"""Layer extraction as a security boundary: hostile tarballs, whiteouts, metadata."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
from pathlib import Path

import pytest
from helpers import Entry, dev, dir_, hard, reg, sym, tar_bytes

from ipy_oci.errors import ImageError
from ipy_oci.storage.extract import apply_layer, extract_layer


def write_blob(path: Path, entries: list[Entry], compress: bool = True) -> Path:
    raw = tar_bytes(entries)
    path.write_bytes(gzip.compress(raw, mtime=0) if compress else raw)
    return path


def diff_id(entries: list[Entry]) -> str:
    return "sha256:" + hashlib.sha256(tar_bytes(entries)).hexdigest()


def tree(root: Path) -> set[str]:
    """Every path below root (not following symlinks)."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            out.add(os.path.relpath(os.path.join(dirpath, n), root))
    return out


@pytest.fixture
def area(tmp_path: Path) -> Path:
    """tmp_path/store is where layers go; tmp_path itself holds a victim file and
    must look exactly the same after a refused extraction."""
    (tmp_path / "victim").write_text("original")
    (tmp_path / "store").mkdir()
    return tmp_path


def assert_refused(area: Path, entries: list[Entry], match: str) -> None:
    before = tree(area)
    blob = write_blob(area / "blob.tgz", entries)
    before.add("blob.tgz")
    with pytest.raises(ImageError, match=match):
        extract_layer(blob, area / "store" / "layer")
    assert tree(area) == before, "something was written outside, or the partial layer stayed"
    assert (area / "victim").read_text() == "original"
    assert not (area / "store" / "layer").exists()


# ----- hostile tarballs --------------------------------------------------------


def test_dotdot_entry_refused(area: Path) -> None:
    assert_refused(area, [reg("ok"), reg("../evil")], r"'\.\./evil'.*'\.\.'")


def test_dotdot_inside_path_refused(area: Path) -> None:
    assert_refused(area, [dir_("a"), reg("a/../../victim", b"pwned")], r"a/\.\./\.\./victim")


def test_absolute_symlink_then_write_through_refused(area: Path) -> None:
    entries = [sym("escape", str(area)), reg("escape/victim", b"pwned")]
    assert_refused(area, entries, r"'escape/victim'.*symlink")


def test_relative_symlink_escape_refused(area: Path) -> None:
    assert_refused(area, [dir_("d"), sym("d/up", "../../victim")], r"'d/up'.*escapes")


def test_symlink_chain_escape_refused(area: Path) -> None:
    # Each hop looks harmless, but writing through the chain would leave the tree.
    entries = [
        dir_("sub"),
        sym("sub/up", ".."),
        dir_("sub2"),
        sym("sub2/up2", "../sub/up/.."),
        reg("sub2/up2/victim", b"pwned"),
    ]
    assert_refused(area, entries, r"'sub2/up2/victim'.*symlink")


def test_symlink_to_dot_then_nested_write_refused(area: Path) -> None:
    assert_refused(area, [sym("a", "."), sym("b", "a/a/a/.."), reg("b/x")], r"symlink")


def test_hardlink_outside_refused(area: Path) -> None:
    assert_refused(area, [hard("h", "../victim")], r"'h'")


def test_hardlink_absolute_host_path_refused(area: Path) -> None:
    # The leading / is stripped, so this names a (missing) file inside the layer.
    assert_refused(area, [hard("h", str(area / "victim"))], r"not in the layer")


def test_hardlink_through_symlink_refused(area: Path) -> None:
    entries = [sym("s", str(area)), hard("h", "s/victim")]
    assert_refused(area, entries, r"'h'.*not in the layer")


def test_whiteout_of_dotdot_refused(area: Path) -> None:
    assert_refused(area, [dir_("d"), reg("d/.wh..."), reg("x")], r"whiteout")


def test_whiteout_of_dot_refused(area: Path) -> None:
    assert_refused(area, [reg(".wh..")], r"whiteout")


def test_whiteout_through_symlink_refused(area: Path) -> None:
    assert_refused(area, [sym("s", str(area)), reg("s/.wh.victim")], r"symlink")


def test_write_below_a_file_refused(area: Path) -> None:
    assert_refused(area, [reg("f"), reg("f/x")], r"not a directory")


def test_overlay_xattrs_in_tar_are_dropped(area: Path) -> None:
    info, data = reg("f")
    info.pax_headers = {
        "SCHILY.xattr.trusted.overlay.redirect": "/victim",
        "SCHILY.xattr.user.ok": "yes",
    }
    blob = write_blob(area / "b.tgz", [(info, data)])
    layer = area / "store" / "layer"
    extract_layer(blob, layer)
    assert os.listxattr(layer / "f") == ["user.ok"]


def test_leading_slash_stays_inside(area: Path) -> None:
    blob = write_blob(area / "b.tgz", [reg("/etc/abs", b"in")])
    layer = area / "store" / "layer"
    extract_layer(blob, layer)
    assert (layer / "etc" / "abs").read_bytes() == b"in"


# ----- integrity ---------------------------------------------------------------


def test_diff_id_checked_and_returned(area: Path) -> None:
    entries = [reg("a")]
    blob = write_blob(area / "b.tgz", entries)
    with pytest.raises(ImageError, match="corrupt"):
        extract_layer(blob, area / "store" / "l1", expected_diff_id="sha256:" + "0" * 64)
    assert os.listdir(area / "store") == []
    got = extract_layer(blob, area / "store" / "l2", expected_diff_id=diff_id(entries))
    assert got == diff_id(entries)


def test_plain_tar_accepted(area: Path) -> None:
    entries = [reg("a", b"plain")]
    blob = write_blob(area / "b.tar", entries, compress=False)
    assert extract_layer(blob, area / "store" / "l") == diff_id(entries)
    assert (area / "store" / "l" / "a").read_bytes() == b"plain"


def test_truncated_blob_leaves_nothing(area: Path) -> None:
    data = gzip.compress(tar_bytes([reg("a", os.urandom(100_000))]))
    blob = area / "b.tgz"
    blob.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError):
        extract_layer(blob, area / "store" / "l")
    assert os.listdir(area / "store") == []


def test_zstd_without_module_is_a_clear_error(area: Path) -> None:
    try:
        import zstandard  # noqa: F401

        pytest.skip("zstandard is installed")
    except ImportError:
        pass
    blob = area / "b.zst"
    blob.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 64)
    with pytest.raises(ImageError, match="zstandard"):
        extract_layer(blob, area / "store" / "l")
    assert os.listdir(area / "store") == []


def test_existing_destination_is_kept(area: Path) -> None:
    """A second extraction racing the first must not replace a finished layer."""
    blob = write_blob(area / "b.tgz", [reg("a", b"one")])
    dest = area / "store" / "l"
    extract_layer(blob, dest)
    ino = dest.stat().st_ino
    extract_layer(blob, dest)
    assert dest.stat().st_ino == ino
    assert os.listdir(area / "store") == ["l"]


# ----- whiteouts ---------------------------------------------------------------


def test_whiteouts_overlay_mode(area: Path) -> None:
    entries = [
        reg(".wh.gone"),
        dir_("dir"),
        reg("dir/.wh..wh..opq"),
        reg("dir/keep", b"k"),
        dir_("deep"),
        reg("deep/nested/.wh.x"),  # parent dirs created implicitly
        reg("own", b"mine"),
        reg(".wh.own"),  # this layer's own file wins over its whiteout
    ]
    layer = area / "store" / "l"
    extract_layer(write_blob(area / "b.tgz", entries), layer)
    st = os.lstat(layer / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(layer / "dir", "trusted.overlay.opaque") == b"y"
    assert (layer / "dir" / "keep").read_bytes() == b"k"
    assert stat.S_ISCHR(os.lstat(layer / "deep" / "nested" / "x").st_mode)
    assert (layer / "own").read_bytes() == b"mine"
    assert not any(".wh." in p for p in tree(layer))


def _base_tree(root: Path) -> None:
    (root / "gone").write_text("x")
    (root / "gonedir" / "sub").mkdir(parents=True)
    (root / "gonedir" / "sub" / "f").write_text("x")
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "dir" / "old").write_text("x")
    (root / "dir" / "sub" / "old2").write_text("x")
    (root / "dir" / "keep").write_text("lower")
    (root / "other").write_text("stays")


def test_whiteouts_apply_mode(area: Path) -> None:
    root = area / "store" / "rootfs"
    root.mkdir()
    _base_tree(root)
    entries = [
        reg(".wh.gone"),
        reg(".wh.gonedir"),
        reg("dir/keep", b"upper"),
        reg("dir/sub/new", b"n"),
        reg("dir/.wh..wh..opq"),  # after siblings: must not delete this layer's files
        reg(".wh.missing"),  # nothing to delete: fine
    ]
    apply_layer(write_blob(area / "b.tgz", entries), root)
    assert tree(root) == {"dir", "dir/keep", "dir/sub", "dir/sub/new", "other"}
    assert (root / "dir" / "keep").read_bytes() == b"upper"
    assert not any(os.path.exists(p) for p in ("gone", "gonedir"))


def test_apply_mode_whiteout_of_dotdot_refused(area: Path) -> None:
    root = area / "store" / "rootfs"
    root.mkdir()
    with pytest.raises(ImageError, match="whiteout"):
        apply_layer(write_blob(area / "b.tgz", [reg("d/.wh...")]), root)
    assert (area / "victim").read_text() == "original"


def test_apply_mode_refuses_lower_symlink_parent(area: Path) -> None:
    root = area / "store" / "rootfs"
    root.mkdir()
    os.symlink(str(area), root / "lib")  # an earlier layer's absolute symlink
    with pytest.raises(ImageError, match="symlink"):
        apply_layer(write_blob(area / "b.tgz", [reg("lib/victim", b"pwned")]), root)
    with pytest.raises(ImageError, match="symlink"):
        apply_layer(write_blob(area / "b.tgz", [reg("lib/.wh.victim")]), root)
    with pytest.raises(ImageError, match="'h'.*symlink"):
        apply_layer(write_blob(area / "b.tgz", [hard("h", "lib/victim")]), root)
    assert not (root / "h").exists()
    assert (area / "victim").read_text() == "original"


# ----- metadata ----------------------------------------------------------------


def test_ownership_modes_times_xattrs_devices_hardlinks(area: Path) -> None:
    xattr_file, data = reg("bin/tool", b"#!/bin/sh\n", mode=0o4755, uid=1234, gid=5678)
    xattr_file.pax_headers = {
        "SCHILY.xattr.user.bin": b"\x00\xff\x01".decode("utf-8", "surrogateescape"),
        "SCHILY.xattr.trusted.t": "tv",
    }
    top, _ = dir_(".", mode=0o755)
    sticky, _ = dir_("tmp", mode=0o1777, uid=0, gid=0)
    sticky.mtime = 1_000_000_000
    entries: list[Entry] = [
        (top, None),
        dir_("bin", mode=0o750, uid=7, gid=8),
        (xattr_file, data),
        (sticky, None),
        reg("h1", b"shared", uid=42, gid=43),
        hard("h2", "h1"),
        sym("link", "bin/tool", uid=99, gid=98),
        dev("dev/null", tarfile.CHRTYPE, 1, 3),
        dev("dev/loop0", tarfile.BLKTYPE, 7, 0, mode=0o660),
        dev("fifo", tarfile.FIFOTYPE, 0, 0, mode=0o600),
    ]
    layer = area / "store" / "l"
    extract_layer(write_blob(area / "b.tgz", entries), layer)

    st = os.lstat(layer / "bin" / "tool")
    assert (st.st_uid, st.st_gid) == (1234, 5678)
    assert stat.S_IMODE(st.st_mode) == 0o4755  # set-uid survives the chown
    assert st.st_mtime == 1_600_000_000
    assert os.getxattr(layer / "bin" / "tool", "user.bin") == b"\x00\xff\x01"
    assert os.getxattr(layer / "bin" / "tool", "trusted.t") == b"tv"

    st = os.lstat(layer / "bin")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (7, 8, 0o750)
    assert st.st_mtime == 1_600_000_000  # set after its children were written
    st = os.lstat(layer / "tmp")
    assert stat.S_IMODE(st.st_mode) == 0o1777 and st.st_mtime == 1_000_000_000

    a, b = os.lstat(layer / "h1"), os.lstat(layer / "h2")
    assert a.st_ino == b.st_ino and a.st_nlink == 2 and (a.st_uid, a.st_gid) == (42, 43)

    st = os.lstat(layer / "link")
    assert stat.S_ISLNK(st.st_mode) and (st.st_uid, st.st_gid) == (99, 98)
    assert os.readlink(layer / "link") == "bin/tool"

    st = os.lstat(layer / "dev" / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_IMODE(st.st_mode) == 0o666
    st = os.lstat(layer / "dev" / "loop0")
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(7, 0)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert stat.S_ISFIFO(os.lstat(layer / "fifo").st_mode)


def test_later_entry_replaces_earlier(area: Path) -> None:
    entries = [
        dir_("x"),
        reg("x/child"),
        reg("x", b"now a file"),
        sym("y", "target"),
        dir_("y"),
        reg("y/inside", b"ok"),
    ]
    layer = area / "store" / "l"
    extract_layer(write_blob(area / "b.tgz", entries), layer)
    assert (layer / "x").read_bytes() == b"now a file"
    assert not (layer / "y").is_symlink()
    assert (layer / "y" / "inside").read_bytes() == b"ok"
