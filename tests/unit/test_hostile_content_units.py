"""Hostile content and clear errors (issue 11), below the engine.

Deep trees go with one iterative remover; tar bombs stop at the size caps and the
free-space margin, leaving nothing; a full disk is a StorageFull, not an OSError;
hostile archives and SQLite failures are errors that name the file and the fix.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Entry, dir_, reg, sym, tar_bytes

from ipy_oci.config import Config, StorageLimits, parse_size
from ipy_oci.errors import (
    ConfigError,
    ImageError,
    OciError,
    RemoveError,
    SizeLimitExceeded,
    StateDBError,
    StorageFull,
)
from ipy_oci.images import builtin, gc
from ipy_oci.images.archive import load
from ipy_oci.images.skopeo import classify
from ipy_oci.images.store import ImageStore
from ipy_oci.state import db as state_db
from ipy_oci.state.store import StateStore
from ipy_oci.storage import fsops
from ipy_oci.storage.extract import Limits, extract_layer_checked
from ipy_oci.storage.fsops import remove_tree

DEPTH = 3000  # shutil.rmtree dies near 1,000 levels
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts and chattr need root")


# ----- helpers ---------------------------------------------------------------------------


def make_deep(top: Path, depth: int = DEPTH, *, outside: Path | None = None) -> None:
    """``top/d/d/…/d`` ``depth`` levels deep (deeper than PATH_MAX, so made by fd),
    with files, symlinks (to ``outside`` too) and read-only directories on the way."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(depth):
            os.mkdir("d", dir_fd=fd)
            if i % 500 == 0:
                with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as fh:
                    fh.write(b"x")
                if outside is not None:
                    os.symlink(str(outside), "out", dir_fd=fd)
            nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            if i % 700 == 0:
                os.fchmod(fd, 0o555)  # read-only on the way down
            os.close(fd)
            fd = nfd
        os.fchmod(fd, 0o000)
    finally:
        os.close(fd)


def gz_tar(entries: list[Entry]) -> bytes:
    return gzip.compress(tar_bytes(entries), mtime=0)


def deep_name(depth: int) -> str:
    return "/".join(["d"] * depth)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs, unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``path`` up, then free ``leave`` bytes again."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as fh:  # nothing left to flush at close
        chunk = b"\0" * (1 << 16)
        try:
            while True:
                fh.write(chunk)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = filler.stat().st_size
    with open(filler, "r+b") as fh:
        fh.truncate(max(size - leave, 0))
    return filler


def store_with_limits(root: Path, **limits: int) -> ImageStore:
    return ImageStore(root, limits=StorageLimits(**{"min_free_space": 0, **limits}))


def layout_of(dest: Path, layers: list[bytes], name: str = "t") -> Path:
    """An OCI layout of one image with these uncompressed layer tars (gzipped)."""
    import hashlib

    blobs = [gzip.compress(t, mtime=0) for t in layers]
    cfg = builtin.canonical_json({
        "architecture": builtin.host_platform()[0], "os": "linux",
        "created": "2024-01-02T03:04:05Z", "config": {"Cmd": ["/x"]},
        "rootfs": {"type": "layers", "diff_ids": [builtin.sha256_digest(t) for t in layers]},
    })
    manifest = builtin.canonical_json({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": builtin.sha256_digest(cfg), "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": builtin.sha256_digest(b), "size": len(b)} for b in blobs],
    })
    d = dest / "blobs" / "sha256"
    d.mkdir(parents=True)
    for data in (*blobs, cfg, manifest):
        (d / hashlib.sha256(data).hexdigest()).write_bytes(data)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": builtin.sha256_digest(manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": name}}]}))
    return dest


def leftovers(store: ImageStore) -> list[str]:
    """What a failed import must not leave: layers, blobs, scratch, temp dirs."""
    out = []
    for d in (store.layers_dir, store.blobs_dir, store.tmp_dir, store.sizes_dir):
        if d.is_dir():
            out += [str(p) for p in d.iterdir()]
    return out


# ----- 1. deep trees -----------------------------------------------------------------------


def test_remove_tree_deep_readonly_with_symlinks(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("keep")
    make_deep(tmp_path / "tree", outside=victim)
    assert remove_tree(tmp_path / "tree") == []
    assert not (tmp_path / "tree").exists()
    assert (victim / "keep").read_text() == "keep"  # never followed


def test_remove_tree_at_dir_fd_and_remove_at(tmp_path: Path) -> None:
    make_deep(tmp_path / "a", 1500)
    make_deep(tmp_path / "b", 1500)
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        remove_tree("a", dir_fd=fd)
        fsops.remove_at(fd, "b")  # what extraction and the copy fallback use
    finally:
        os.close(fd)
    assert sorted(os.listdir(tmp_path)) == []


def test_remove_tree_symlink_and_missing(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "f").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    remove_tree(tmp_path / "link")  # the link goes, never what it points to
    assert not (tmp_path / "link").is_symlink()
    assert (tmp_path / "target" / "f").read_text() == "x"
    assert remove_tree(tmp_path / "missing") == []
    with pytest.raises(ValueError):
        remove_tree("/")


def test_remove_tree_names_an_immutable_file(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "other").write_text("x")
    stuck = tree / "a" / "b" / "stuck"
    stuck.write_text("x")
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem has no immutable flag")
    try:
        with pytest.raises(RemoveError) as err:
            remove_tree(tree)
        msg = str(err.value)
        assert str(stuck) in msg and "Operation not permitted" in msg and "chattr -i" in msg
        assert err.value.exit_code == 125
        assert not (tree / "a" / "other").exists()  # the rest went
        problems = remove_tree(tree, ignore_errors=True)
        assert len(problems) == 1 and str(stuck) in problems[0]
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=False)
    remove_tree(tree)
    assert not tree.exists()


def test_remove_tree_refuses_a_mount_inside(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "m").mkdir(parents=True)
    (tree / "f").write_text("x")
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(tree / "m")], check=True)
    try:
        (tree / "m" / "precious").write_text("x")
        with pytest.raises(RemoveError, match="mounted"):
            remove_tree(tree)
        assert (tree / "m" / "precious").exists() and (tree / "f").exists()
    finally:
        subprocess.run(["umount", str(tree / "m")], check=True)
    remove_tree(tree)
    assert not tree.exists()


def test_remove_tree_as_non_root_makes_readonly_dirs_writable() -> None:
    py = Path("/usr/bin/python3")
    if not py.exists():
        pytest.skip("needs /usr/bin/python3 for an unprivileged child")
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="hc-nobody-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        make_deep(base / "tree", 1200)
        subprocess.run(["chown", "-R", "65534:65534", str(base / "tree")], check=True)
        os.chown(base, 65534, 65534)
        code = ("import sys; sys.path.insert(0, sys.argv[1]);"
                "from ipy_oci.storage.fsops import remove_tree; remove_tree(sys.argv[2])")
        res = subprocess.run([str(py), "-c", code, str(REPO), str(base / "tree")],
                             user=65534, group=65534, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        assert not (base / "tree").exists()
    finally:
        remove_tree(base)


def test_gc_removes_a_deep_layer(tmp_path: Path) -> None:
    # Every level listed, as tar writes a deep tree: extraction stays linear (each
    # entry opens only what differs from the last one's path), so this is quick.
    entries = [dir_(deep_name(k)) for k in range(1, DEPTH + 1)]
    entries.insert(DEPTH // 2, reg(deep_name(DEPTH // 2) + "/f"))
    store = store_with_limits(tmp_path / "root")
    img = store.add_image_from_layout(layout_of(tmp_path / "lay", [tar_bytes(entries)]),
                                      names=["deep"])
    fd = os.open(img.layer_dirs[0], os.O_RDONLY | os.O_DIRECTORY)
    try:
        leaf = fsops.open_dir_at(fd, ["d"] * DEPTH, create=False)
        assert leaf is not None
        os.close(leaf)
    finally:
        os.close(fd)
    store.delete([img.digest])
    report = gc.collect(store)
    assert report.errors == [] and len(report.layers) == 1
    assert leftovers(store) == []
    assert gc.collect(store).layers == []  # and again: nothing left to trip over


def test_gc_goes_on_past_a_layer_it_cannot_remove(tmp_path: Path) -> None:
    store = store_with_limits(tmp_path / "root")
    a = store.add_image_from_layout(layout_of(tmp_path / "a", [tar_bytes([reg("a")])]))
    b = store.add_image_from_layout(layout_of(tmp_path / "b", [tar_bytes([reg("b")])]))
    stuck = a.layer_dirs[0] / "a"
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem has no immutable flag")
    try:
        store.delete([a.digest, b.digest])
        report = gc.collect(store)
        assert len(report.errors) == 1 and str(stuck) in report.errors[0]
        assert report.layers == ["sha256:" + b.layer_dirs[0].name]
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=False)
    assert len(gc.collect(store).layers) == 1


def test_dir_cursor_never_follows_a_replaced_parent(tmp_path: Path) -> None:
    # The cursor keeps "a" open from the first entry; "a" then becomes a symlink
    # out of the layer, and the third entry must be refused, not written through it.
    outside = tmp_path / "outside"
    outside.mkdir()
    blob = tmp_path / "blob"
    blob.write_bytes(gz_tar([reg("a/b/c"), sym("a", str(outside)), reg("a/x")]))
    (tmp_path / "layers").mkdir()
    with pytest.raises(ImageError, match="refusing layer entry 'a/x'"):
        extract_layer_checked(blob, tmp_path / "layers" / "l")
    assert os.listdir(outside) == [] and os.listdir(tmp_path / "layers") == []


# ----- 2. tar bombs: caps, free space, sizes ---------------------------------------------


def bomb_entries(size: int, name: str = "zeros") -> list[Entry]:
    return [reg(name, bytes(size))]


def test_layer_cap_stops_a_bomb_and_leaves_nothing(tmp_path: Path) -> None:
    store = store_with_limits(tmp_path / "root", max_layer_size=1 << 20)
    layout = layout_of(tmp_path / "lay", [tar_bytes(bomb_entries(8 << 20))])
    blob = max((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    assert blob.stat().st_size < 20_000  # kilobytes that expand to 8 MiB
    with pytest.raises(SizeLimitExceeded) as err:
        store.add_image_from_layout(layout)
    msg = str(err.value)
    assert "sha256:" + blob.name in msg  # the layer digest
    assert "1 MiB" in msg and "max_layer_size" in msg and "0 removes the cap" in msg
    assert isinstance(err.value, ImageError) and err.value.exit_code == 125
    assert store.list() == [] and leftovers(store) == []


def test_stream_cap_counts_what_follows_the_end_of_archive(tmp_path: Path) -> None:
    # A tiny tar, then megabytes of zeros after its end marker: no file is big,
    # but the stream (the diff_id covers it all) is.
    tar = tar_bytes([reg("small", b"x")]) + bytes(4 << 20)
    blob = tmp_path / "blob"
    blob.write_bytes(gzip.compress(tar, mtime=0))
    (tmp_path / "layers").mkdir()
    with pytest.raises(SizeLimitExceeded, match="1 MiB"):
        extract_layer_checked(blob, tmp_path / "layers" / "l", limits=Limits(max_size=1 << 20))
    assert os.listdir(tmp_path / "layers") == []


def test_sparse_file_is_charged_its_real_size(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as fh:
        fh.truncate(1 << 30)  # 1 GiB of holes
    tar = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--sparse", "-C", str(src), "-cf", str(tar), "sparse"], check=True)
    assert tar.stat().st_size < 1 << 20
    (tmp_path / "layers").mkdir()
    with pytest.raises(SizeLimitExceeded):
        extract_layer_checked(tar, tmp_path / "layers" / "l", limits=Limits(max_size=64 << 20))
    assert os.listdir(tmp_path / "layers") == []


def test_image_cap_sums_the_layers(tmp_path: Path) -> None:
    store = store_with_limits(tmp_path / "root", max_image_size=1 << 20)
    layers = [tar_bytes([reg("a", os.urandom(600 << 10))]),
              tar_bytes([reg("b", os.urandom(600 << 10))])]
    with pytest.raises(SizeLimitExceeded) as err:
        store.add_image_from_layout(layout_of(tmp_path / "lay", layers))
    msg = str(err.value)
    assert "max_image_size" in msg and "1 MiB" in msg and "diff_id" in msg
    # The first layer fitted and was extracted; it goes too: nothing is left behind.
    assert store.list() == [] and leftovers(store) == []


def test_image_cap_counts_shared_layers(tmp_path: Path) -> None:
    base = tar_bytes([reg("base", os.urandom(700 << 10))])
    top = tar_bytes([reg("top", os.urandom(400 << 10))])
    store = store_with_limits(tmp_path / "root", max_image_size=1 << 20)
    store.add_image_from_layout(layout_of(tmp_path / "a", [base], "a"))
    with pytest.raises(SizeLimitExceeded, match="max_image_size"):
        store.add_image_from_layout(layout_of(tmp_path / "b", [base, top], "b"))
    assert len(store.list()) == 1


def test_size_is_the_expanded_size(tmp_path: Path) -> None:
    tars = [tar_bytes(bomb_entries(3 << 20, "a")), tar_bytes([reg("b", b"hello")])]
    store = store_with_limits(tmp_path / "root")
    img = store.add_image_from_layout(layout_of(tmp_path / "lay", tars))
    assert img.size == sum(len(t) for t in tars)
    # Recorded per layer, so a fresh store object (another process) sees it too ...
    assert ImageStore(tmp_path / "root").lookup(img.id).size == img.size
    # ... and measured from the blob when a store predates the records.
    for p in (tmp_path / "root" / "images" / "sizes").iterdir():
        p.unlink()
    assert ImageStore(tmp_path / "root").lookup(img.id).size == img.size


def test_free_space_margin_refuses_before_writing(tmp_path: Path, tiny_fs: Path) -> None:
    store = ImageStore(tiny_fs / "root", limits=StorageLimits(min_free_space=3 << 20))
    layout = layout_of(tmp_path / "lay", [tar_bytes(bomb_entries(2 << 20))])
    with pytest.raises(StorageFull) as err:
        store.add_image_from_layout(layout)
    msg = str(err.value)
    assert "min_free_space" in msg and str(tiny_fs) in msg and "image prune" in msg
    assert err.value.exit_code == 125
    assert store.list() == [] and leftovers(store) == []


def test_enospc_during_extraction_is_storage_full(tmp_path: Path, tiny_fs: Path) -> None:
    # No margin and no budget: the kernel's ENOSPC itself, met mid-layer.
    blob = tmp_path / "blob"
    blob.write_bytes(gz_tar([reg(f"f{i}", bytes(1 << 20)) for i in range(8)]))
    (tiny_fs / "layers").mkdir()
    with pytest.raises(StorageFull, match="no space left") as err:
        extract_layer_checked(blob, tiny_fs / "layers" / "l")
    assert "layer entry" in str(err.value)
    assert os.listdir(tiny_fs / "layers") == []


def test_full_disk_import_leaves_nothing(tmp_path: Path, tiny_fs: Path) -> None:
    store = ImageStore(tiny_fs / "root", limits=StorageLimits(min_free_space=0))
    store.add_image_from_layout(layout_of(tmp_path / "small", [tar_bytes([reg("a")])], "s"))
    fill(tiny_fs)
    with pytest.raises(StorageFull):
        store.add_image_from_layout(
            layout_of(tmp_path / "lay", [tar_bytes([reg("x", os.urandom(64 << 10))])]))
    assert len(store.list()) == 1
    assert [p for p in store.tmp_dir.iterdir()] == []
    assert [p for p in store.layers_dir.iterdir() if p.name.startswith(".")] == []


class FakeSkopeo:
    """Serves one image as a registry would, through skopeo's two calls."""

    def __init__(self, layers: list[bytes], claimed_size: int | None = None) -> None:
        import hashlib

        self.blobs = {builtin.sha256_digest(b): b for b in
                      [gzip.compress(t, mtime=0) for t in layers]}
        self.config = builtin.canonical_json({
            "architecture": builtin.host_platform()[0], "os": "linux",
            "rootfs": {"type": "layers",
                       "diff_ids": [builtin.sha256_digest(t) for t in layers]}})
        self.manifest = builtin.canonical_json({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": builtin.sha256_digest(self.config),
                       "size": len(self.config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": d, "size": claimed_size or len(b)}
                       for d, b in self.blobs.items()]})
        self._hash = hashlib.sha256

    def inspect_raw(self, ref: str, access: Any, registry: str, *, config: bool = False
                    ) -> bytes:
        return self.config if config else self.manifest

    def copy_to_layout(self, ref: str, layout: Path, blob_dir: Path, access: Any,
                       registry: str, on_blob: Any = None) -> None:
        for data in (self.config, *self.blobs.values()):
            (blob_dir / "sha256" / self._hash(data).hexdigest()).write_bytes(data)


def test_pull_checks_space_before_downloading(tiny_fs: Path) -> None:
    from ipy_oci.images.pull import pull

    store = ImageStore(tiny_fs / "root", limits=StorageLimits(min_free_space=1 << 20))
    fake = FakeSkopeo([tar_bytes([reg("a")])], claimed_size=8 << 20)
    with pytest.raises(StorageFull, match="downloading the 2 missing blobs") as err:
        pull(store, "127.0.0.1:5000/x:1", skopeo=fake)
    assert "min_free_space" in str(err.value)
    assert store.list() == [] and leftovers(store) == []


def test_pull_that_fills_the_disk_leaves_nothing(tiny_fs: Path) -> None:
    from ipy_oci.images.pull import pull

    store = ImageStore(tiny_fs / "root", limits=StorageLimits(min_free_space=0))
    fake = FakeSkopeo([tar_bytes([reg("a", b"small")]), tar_bytes(bomb_entries(8 << 20))])
    with pytest.raises(StorageFull) as err:
        pull(store, "127.0.0.1:5000/x:1", skopeo=fake)
    msg = str(err.value)
    assert msg.startswith("pulling 127.0.0.1:5000/x:1: layer sha256:"), msg
    assert "space" in msg and str(tiny_fs) in msg
    # Not even the first, small layer stays: the failed pull added it, nobody uses it.
    assert store.list() == [] and leftovers(store) == []


def test_skopeo_out_of_space_is_storage_full() -> None:
    err = classify('time="x" level=fatal msg="writing blob: write /r/images/tmp/x: '
                   'no space left on device"', "copying r/x", "r")
    assert isinstance(err, StorageFull) and "copying r/x" in str(err)
    assert "image prune" in str(err)


def test_size_settings_from_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('max_layer_size = "1.5MiB"\nmax_image_size = 0\nmin_free_space = 4096\n')
    monkeypatch.setenv("IPY_OCI_CONFIG", str(path))
    cfg = Config.load(str(tmp_path / "r"), str(tmp_path / "run"))
    assert cfg.storage_limits() == StorageLimits(3 << 19, 0, 4096)
    assert parse_size("2g") == parse_size("2GiB") == 2 << 30 and parse_size("1 KB") == 1000
    path.write_text('max_layer_size = "lots"\n')
    with pytest.raises(ConfigError, match="max_layer_size") as err:
        Config.load(str(tmp_path / "r"), str(tmp_path / "run"))
    assert str(path) in str(err.value)


# ----- 3. hostile archives ---------------------------------------------------------------


def docker_archive(files: dict[str, bytes], manifest: Any) -> bytes:
    entries = [reg(n, d) for n, d in files.items()]
    entries.append(reg("manifest.json", json.dumps(manifest).encode()))
    return tar_bytes(entries)


@pytest.mark.parametrize("config", ["/etc/passwd", "../../etc/passwd", "blobs/sha256/nope",
                                    "blobs/sha256/" + "a" * 64 + "/../../x", 7])
def test_load_refuses_config_paths_outside_the_archive(tmp_path: Path, config: Any) -> None:
    store = store_with_limits(tmp_path / "root")
    data = docker_archive({}, [{"Config": config, "RepoTags": ["x:1"], "Layers": []}])
    with pytest.raises(ImageError) as err:
        load(store, io.BytesIO(data))
    assert "manifest.json" in str(err.value) or "lacks" in str(err.value)
    assert not isinstance(err.value, ValueError)
    assert store.list() == [] and leftovers(store) == []


def test_load_refuses_layer_paths_outside_the_archive(tmp_path: Path) -> None:
    store = store_with_limits(tmp_path / "root")
    cfg = b"{}"
    name = "blobs/sha256/" + builtin.sha256_digest(cfg).split(":")[1]
    data = docker_archive({name: cfg}, [{"Config": name, "Layers": ["/etc/shadow"]}])
    with pytest.raises(ImageError, match="'/etc/shadow' as a layer"):
        load(store, io.BytesIO(data))


@pytest.mark.parametrize("second", ["reg", "sym"])
def test_load_refuses_a_duplicate_member(tmp_path: Path, second: str) -> None:
    store = store_with_limits(tmp_path / "root")
    name = "blobs/sha256/" + "b" * 64
    dup = reg(name, b"two") if second == "reg" else sym(name, "index.json")
    data = tar_bytes([reg("index.json", b"{}"), reg(name, b"one"), dup])
    with pytest.raises(ImageError, match="twice") as err:
        load(store, io.BytesIO(data))
    assert name in str(err.value)
    assert leftovers(store) == []


@pytest.mark.parametrize("index", [b'{"manifests": "x"}', b'{"manifests": [1]}',
                                   b'{"manifests": [{"annotations": 3}]}'])
def test_load_refuses_a_malformed_index(tmp_path: Path, index: bytes) -> None:
    store = store_with_limits(tmp_path / "root")
    with pytest.raises(ImageError, match="index.json"):
        load(store, io.BytesIO(tar_bytes([reg("index.json", index)])))


# ----- 3. the state database -------------------------------------------------------------


def assert_names_db(err: pytest.ExceptionInfo[StateDBError], path: Path, *words: str) -> None:
    msg = str(err.value)
    assert str(path) in msg, msg
    for w in words:
        assert w in msg, msg
    assert isinstance(err.value, OciError) and err.value.exit_code == 125


def test_db_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not SQLite" * 300)
    with pytest.raises(StateDBError) as err:
        StateStore(path)
    assert_names_db(err, path, "not a usable", "mv ")


def test_db_readonly(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    store = StateStore(path)
    store.close()
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("this filesystem has no immutable flag")
    try:
        db = None
        with pytest.raises(StateDBError) as err:
            db = state_db.StateDB(path)
            with db.write() as cur:
                cur.execute("INSERT INTO meta(key, value) VALUES ('k', 'v')")
        if db is not None:
            db.close()
        assert_names_db(err, path, "read-only", "writable")
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_db_locked_beyond_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.db"
    StateStore(path).close()
    monkeypatch.setattr(state_db, "BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(str(path), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        store = StateStore(path)
        with pytest.raises(StateDBError) as err, store.transaction():
            pass
        store.close()
        assert_names_db(err, path, "locked", "fuser")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_db_disk_full(tiny_fs: Path) -> None:
    path = tiny_fs / "state.db"
    store = StateStore(path)
    fill(tiny_fs)
    with pytest.raises(StateDBError) as err, store.transaction() as tx:
        for i in range(2000):  # more than one page, more than the WAL had
            tx._db.conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)", (f"k{i}", "v" * 200))
    assert_names_db(err, path)
    assert "disk is full" in str(err.value) or "I/O error" in str(err.value)
    store.close()
    (tiny_fs / "filler").unlink()
    store = StateStore(path)  # and it works again once there is space
    assert store.count_containers() == 0
    store.close()


def test_constraint_errors_still_reach_the_store(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = state_db.StateDB(path)
    with pytest.raises(sqlite3.IntegrityError), db.write() as cur:
        cur.execute("INSERT INTO meta(key, value) VALUES ('schema', 'x')")
    db.close()


def test_db_error_under_a_readonly_dir_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateDBError) as err:
        state_db.StateDB(blocker / "sub" / "state.db")
    assert str(blocker / "sub") in str(err.value)


def test_mode_bits_of_removed_tree_do_not_matter(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "x").mkdir(parents=True)
    (tree / "x" / "f").write_text("x")
    os.chmod(tree / "x", 0)
    os.chmod(tree, stat.S_IRUSR | stat.S_IXUSR)
    remove_tree(tree)
    assert not tree.exists()
