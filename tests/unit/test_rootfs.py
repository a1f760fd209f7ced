"""Container rootfs: real overlay mounts (we run as root) and the copy fallback."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipy_oci.errors import OciError
from ipy_oci.storage.extract import extract_layer
from ipy_oci.storage.mount import mount_points, umount2
from ipy_oci.storage.rootfs import is_mounted, mount_rootfs, remove_rootfs, unmount_rootfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root")


@pytest.fixture(autouse=True)
def no_leaked_mounts(tmp_path: Path) -> Iterator[None]:
    yield
    leaked = [m for m in mount_points() if m.startswith(str(tmp_path))]
    for m in reversed(leaked):  # clean up so one failure does not poison the host
        umount2(Path(m), 2)
    assert not leaked, f"mounts left behind: {leaked}"


def _layer(tmp_path: Path, name: str, files: dict[str, bytes | None]) -> Path:
    """Extract a layer whose entries are files (bytes), dirs (None, name ends in /)
    or whiteouts (names with .wh.)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(path.rstrip("/"))
            info.mtime = 1_600_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tf.addfile(info, io.BytesIO(data))
    blob = tmp_path / f"{name}.tgz"
    blob.write_bytes(gzip.compress(buf.getvalue()))
    layers = tmp_path / "layers"
    layers.mkdir(exist_ok=True)
    extract_layer(blob, layers / name)
    return layers / name


@pytest.fixture
def two_layers(tmp_path: Path) -> list[Path]:
    lower = _layer(
        tmp_path,
        "lower",
        {"a": b"A", "b": b"B", "dir/": None, "dir/x": b"X", "dir/y": b"Y", "gonedir/f": b"F"},
    )
    upper = _layer(
        tmp_path,
        "upper",
        {
            ".wh.a": b"",
            ".wh.gonedir": b"",
            "dir/": None,
            "dir/.wh..wh..opq": b"",
            "dir/z": b"Z",
            "c": b"C",
        },
    )
    return [lower, upper]


def _check_view(root: Path) -> None:
    assert sorted(os.listdir(root)) == ["b", "c", "dir"]
    assert (root / "b").read_bytes() == b"B"  # from the lower layer
    assert (root / "c").read_bytes() == b"C"
    assert os.listdir(root / "dir") == ["z"]  # opaque dir hides x and y


def test_overlay_mount_merges_layers(tmp_path: Path, two_layers: list[Path]) -> None:
    ctr = tmp_path / "ctr"
    root = mount_rootfs(two_layers, ctr)
    try:
        assert root == ctr / "merged"
        assert is_mounted(root)
        _check_view(root)
        (root / "new").write_text("written")
        (root / "b").unlink()
        assert (ctr / "upper" / "new").read_text() == "written"
        assert (two_layers[0] / "b").exists(), "the shared layer must never change"
        # Idempotent while mounted.
        assert mount_rootfs(two_layers, ctr) == root
        assert sum(1 for m in mount_points() if m == str(root)) == 1
    finally:
        unmount_rootfs(ctr)
    assert not is_mounted(root)
    unmount_rootfs(ctr)  # idempotent

    # A remount (container restart) keeps the container's changes.
    root = mount_rootfs(two_layers, ctr)
    try:
        assert (root / "new").read_text() == "written"
        assert not (root / "b").exists()
    finally:
        remove_rootfs(ctr)
    assert not is_mounted(root)
    assert os.listdir(ctr) == []


def test_unmount_never_mounted(tmp_path: Path) -> None:
    unmount_rootfs(tmp_path / "nothing")
    (tmp_path / "ctr" / "merged").mkdir(parents=True)
    unmount_rootfs(tmp_path / "ctr")
    remove_rootfs(tmp_path / "ctr")
    remove_rootfs(tmp_path / "ctr")


def test_unmount_busy_mount_detaches(tmp_path: Path, two_layers: list[Path]) -> None:
    ctr = tmp_path / "ctr"
    root = mount_rootfs(two_layers, ctr)
    with open(root / "b") as fh:  # keeps the mount busy
        remove_rootfs(ctr)
        assert not is_mounted(root)
        assert fh.read() == "B"  # the detached mount lives on for its user


def test_copy_fallback(tmp_path: Path, two_layers: list[Path]) -> None:
    ctr = tmp_path / "ctr"
    root = mount_rootfs(two_layers, ctr, force_copy=True)
    assert root == ctr / "rootfs"
    assert not is_mounted(root)
    _check_view(root)
    (root / "new").write_text("kept")
    assert mount_rootfs(two_layers, ctr) == root  # idempotent, even without force_copy
    assert (root / "new").read_text() == "kept"
    assert not (ctr / "merged").exists()
    remove_rootfs(ctr)
    assert os.listdir(ctr) == []


def test_copy_fallback_keeps_metadata(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        f = tarfile.TarInfo("f")
        f.size, f.mode, f.uid, f.gid, f.mtime = 2, 0o4750, 1000, 1001, 1_234_567_890
        f.pax_headers = {"SCHILY.xattr.user.k": "v"}
        tf.addfile(f, io.BytesIO(b"hi"))
        h = tarfile.TarInfo("h")
        h.type, h.linkname = tarfile.LNKTYPE, "f"
        tf.addfile(h)
        d = tarfile.TarInfo("null")
        d.type, d.devmajor, d.devminor, d.mode = tarfile.CHRTYPE, 1, 3, 0o666
        tf.addfile(d)
        s = tarfile.TarInfo("s")
        s.type, s.linkname, s.uid = tarfile.SYMTYPE, "/f", 5
        tf.addfile(s)
    blob = tmp_path / "l.tgz"
    blob.write_bytes(gzip.compress(buf.getvalue()))
    layer = tmp_path / "layer"
    extract_layer(blob, layer)

    root = mount_rootfs([layer], tmp_path / "ctr", force_copy=True)
    st = os.lstat(root / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1001, 0o4750)
    assert st.st_mtime == 1_234_567_890
    assert os.getxattr(root / "f", "user.k") == b"v"
    assert os.lstat(root / "h").st_ino == st.st_ino
    assert os.lstat(root / "null").st_rdev == os.makedev(1, 3)
    assert os.readlink(root / "s") == "/f" and os.lstat(root / "s").st_uid == 5
    remove_rootfs(tmp_path / "ctr")


def test_copy_fallback_replaces_lower_symlink_without_following(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    lower = tmp_path / "layers" / "lower"
    lower.mkdir(parents=True)
    os.symlink(str(outside), lower / "d")  # an earlier layer's symlink...
    upper = _layer(tmp_path, "upper", {"d/": None, "d/f": b"F"})  # ...covered by a dir
    root = mount_rootfs([lower, upper], tmp_path / "ctr", force_copy=True)
    assert not (root / "d").is_symlink()
    assert (root / "d" / "f").read_bytes() == b"F"
    assert os.listdir(outside) == []
    remove_rootfs(tmp_path / "ctr")


def test_many_long_layers_exceed_page_size(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 100) / ("y" * 100)
    deep.mkdir(parents=True)
    layers = []
    for i in range(60):
        d = deep / f"layer-{i:03d}-{'z' * 40}"
        d.mkdir()
        (d / f"f{i}").write_text(str(i))
        (d / "shared").write_text(str(i))
        layers.append(d)
    assert len(":".join(map(str, layers))) > os.sysconf("SC_PAGE_SIZE")
    ctr = tmp_path / "ctr"
    root = mount_rootfs(layers, ctr)
    try:
        assert is_mounted(root)
        assert (root / "f0").read_text() == "0" and (root / "f59").read_text() == "59"
        assert (root / "shared").read_text() == "59"  # the top layer wins
    finally:
        remove_rootfs(ctr)


def test_duplicate_and_zero_layers(tmp_path: Path, two_layers: list[Path]) -> None:
    lower, upper = two_layers
    ctr = tmp_path / "dup"
    root = mount_rootfs([lower, upper, lower], ctr)
    try:
        assert (root / "a").read_bytes() == b"A"  # the top copy of lower re-adds a
    finally:
        remove_rootfs(ctr)
    root = mount_rootfs([], tmp_path / "empty")
    try:
        assert is_mounted(root) and os.listdir(root) == []
    finally:
        remove_rootfs(tmp_path / "empty")


def test_path_with_space_and_comma(tmp_path: Path, two_layers: list[Path]) -> None:
    ctr = tmp_path / "my ctr,1"
    root = mount_rootfs(two_layers, ctr)
    try:
        assert is_mounted(root)
        _check_view(root)
    finally:
        remove_rootfs(ctr)
    assert not is_mounted(root)


def test_missing_layer_is_an_error_and_leaves_no_mount(tmp_path: Path) -> None:
    with pytest.raises(OciError, match="cannot mount"):
        mount_rootfs([tmp_path / "does-not-exist"], tmp_path / "ctr")
    assert not is_mounted(tmp_path / "ctr" / "merged")
    assert not (tmp_path / "ctr" / "rootfs").exists()


def test_falls_back_to_copy_on_an_overlay_host(tmp_path: Path, two_layers: list[Path]) -> None:
    """overlayfs cannot be an upperdir: a container dir on an overlay-root host
    (docker-in-docker, CI) gets the copy fallback automatically."""
    from ipy_oci.storage.mount import mount, unmount_all

    host = tmp_path / "host"
    for d in ("lo", "up", "wk", "mnt"):
        (host / d).mkdir(parents=True)
    opts = f"lowerdir={host / 'lo'},upperdir={host / 'up'},workdir={host / 'wk'}"
    mount("overlay", host / "mnt", "overlay", 0, opts)
    try:
        ctr = host / "mnt" / "ctr"
        try:
            root = mount_rootfs(two_layers, ctr)
        except OciError as exc:
            pytest.skip(f"this kernel accepts nested overlay differently: {exc}")
        try:
            if root == ctr / "merged":
                pytest.skip("this kernel mounts overlay on overlay")
            assert root == ctr / "rootfs" and not is_mounted(root)
            _check_view(root)
            assert sorted(os.listdir(ctr)) == ["rootfs"]
        finally:
            remove_rootfs(ctr)
    finally:
        unmount_all(host / "mnt")
