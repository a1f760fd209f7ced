"""Store operations without a registry: names, deletion and garbage collection,
scratch dirs of dead pulls, imports of rootfs tarballs, save/load archives."""

from __future__ import annotations

import fcntl
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers import files_tar
from test_images_store import make_layout

from ipy_oci.errors import ImageError, NoSuchImage, UsageError
from ipy_oci.images import archive, gc
from ipy_oci.images.errors import DigestMismatch
from ipy_oci.images.importer import apply_changes, import_rootfs
from ipy_oci.images.store import ImageStore
from ipy_oci.images.workspace import Workspace, active_workspaces, sweep


def _store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "root")


def test_tag_untag_delete_and_gc(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = store.add_image_from_layout(make_layout(tmp_path / "a", "A", files={"a": b"1"}),
                                    names=["a:1"])
    b = store.add_image_from_layout(make_layout(tmp_path / "b", "B", files={"b": b"2"}),
                                    names=["b:1"])
    store.tag(a, ["extra:2", "quay.io/x/y:3"])
    assert store.lookup("extra:2").id == a.id
    assert store.lookup("quay.io/x/y:3").id == a.id
    store.tag(b, ["extra:2"])  # a name belongs to one image: it moves
    assert store.lookup("extra:2").id == b.id
    assert store.untag(a, ["quay.io/x/y:3"]) == ["quay.io/x/y:3"]
    with pytest.raises(ImageError, match="is not tagged"):
        store.untag(a, ["never:1"])
    assert store.untag(a) == ["localhost/a:1"]
    assert store.lookup(a.id).names == ()
    blobs_before = set(os.listdir(store.blobs_dir))
    store.delete([a.digest])
    with pytest.raises(NoSuchImage):
        store.lookup(a.id)
    report = gc.collect(store)
    assert len(report.blobs) == 3 and len(report.layers) == 1 and report.bytes_freed > 0
    assert set(os.listdir(store.blobs_dir)) == blobs_before - {
        p.partition(":")[2] for p in report.blobs}
    assert [d.name for d in store.layers_dir.iterdir()] == [b.layer_dirs[0].name]
    assert gc.collect(store).blobs == []  # nothing more to do
    assert store.lookup("b:1").layer_dirs[0].is_dir()


def test_gc_refuses_with_an_unreadable_image(tmp_path: Path) -> None:
    store = _store(tmp_path)
    a = store.add_image_from_layout(make_layout(tmp_path / "a", "A"), names=["a:1"])
    store.blob_path(a.digest).unlink()
    with pytest.raises(ImageError, match="cannot be read"):
        gc.collect(store)
    assert a.layer_dirs[0].is_dir()


def test_import_verifies_before_anything_enters_the_store(tmp_path: Path) -> None:
    store = _store(tmp_path)
    layout = make_layout(tmp_path / "a", "A")
    layer = next(p for p in (layout / "blobs" / "sha256").iterdir()
                 if p.read_bytes().startswith(b"\x1f\x8b"))
    layer.write_bytes(layer.read_bytes()[:-1] + b"X")
    with pytest.raises(DigestMismatch, match="tampered"):
        store.add_image_from_layout(layout, names=["a:1"])
    assert store.list() == []
    assert list(store.blobs_dir.iterdir()) == [] and list(store.layers_dir.iterdir()) == []


def test_dead_workspaces_are_swept_live_ones_kept(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    # A process that dies holding a workspace (SIGKILL: no cleanup runs).
    code = ("import os, sys; from pathlib import Path; from ipy_oci.images.workspace import "
            "Workspace; ws = Workspace(Path(sys.argv[1])).__enter__(); "
            "(ws.path / 'partial').write_bytes(b'x'); os.kill(os.getpid(), 9)")
    subprocess.run([sys.executable, "-c", code, str(tmp)], check=False)
    (dead,) = tmp.iterdir()
    assert dead.name.startswith("work-") and (dead / "partial").exists()
    with Workspace(tmp) as live:
        assert active_workspaces(tmp) == 1
        assert sweep(tmp) == [dead]
        assert live.path.is_dir()
        fd = os.open(live.path / ".lock", os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize("compress", ["none", "gzip", "xz", "bz2"])
def test_import_rootfs(tmp_path: Path, compress: str) -> None:
    import bz2
    import gzip
    import lzma

    raw = files_tar({"etc/motd": b"hi", "bin/tool": b"#!"})
    data = {"none": raw, "gzip": gzip.compress(raw), "xz": lzma.compress(raw),
            "bz2": bz2.compress(raw)}[compress]
    store = _store(tmp_path)
    img = import_rootfs(store, io.BytesIO(data), name="imp:1", changes=["WORKDIR /etc"],
                        source="t.tar")
    assert img.names == ("localhost/imp:1",)
    assert (img.layer_dirs[0] / "etc" / "motd").read_bytes() == b"hi"
    assert img.config["config"]["WorkingDir"] == "/etc"
    assert img.config["rootfs"]["diff_ids"] == ["sha256:" + __import__("hashlib").sha256(
        raw).hexdigest()]


def test_import_rootfs_refuses_bad_input(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(ImageError, match="cannot import x: .*corrupt"):
        import_rootfs(store, io.BytesIO(b"\x1f\x8b\x08\x00broken"), source="x")
    with pytest.raises(ImageError, match="refusing layer entry"):
        import_rootfs(store, io.BytesIO(files_tar({"../../up": b"x"})), source="x")
    with pytest.raises(ImageError, match="invalid image reference"):
        import_rootfs(store, io.BytesIO(files_tar({"a": b"x"})), name="Bad Name", source="x")
    assert store.list() == []
    assert not any(store.tmp_dir.iterdir())


def test_apply_changes() -> None:
    cfg: dict[str, object] = {"Env": ["PATH=/bin", "A=1"]}
    apply_changes(cfg, ['CMD ["a", "b"]', "ENTRYPOINT=/bin/sh -c x", "ENV A=2 B=3",
                        "LABEL k=v", "EXPOSE 80 53/udp", "USER nobody", "WORKDIR /w",
                        "VOLUME /data", "STOPSIGNAL SIGINT", "ENV C 4"])
    assert cfg == {
        "Env": ["PATH=/bin", "A=2", "B=3", "C=4"], "Cmd": ["a", "b"],
        "Entrypoint": ["/bin/sh", "-c", "/bin/sh -c x"], "Labels": {"k": "v"},
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "User": "nobody", "WorkingDir": "/w",
        "Volumes": {"/data": {}}, "StopSignal": "SIGINT",
    }
    for bad in ("FROM x", "CMD", "ENV novalue", 'CMD ["unterminated'):
        with pytest.raises(UsageError):
            apply_changes({}, [bad])


@pytest.mark.parametrize("fmt", archive.FORMATS)
def test_save_load_round_trip(tmp_path: Path, fmt: archive.ArchiveFormat) -> None:
    src = _store(tmp_path / "one")
    a = src.add_image_from_layout(make_layout(tmp_path / "a", "A"), names=["a:1", "a:2"])
    b = src.add_image_from_layout(make_layout(tmp_path / "b", "B", files={"b": b"2"}))
    buf = io.BytesIO()
    archive.save(src, [archive.SaveItem(a, a.names), archive.SaveItem(b, ())], buf, fmt)
    dst = _store(tmp_path / "two")
    buf.seek(0)
    loaded = archive.load(dst, buf)
    assert [(i.id, i.digest, i.names) for i in loaded] == [
        (a.id, a.digest, ("localhost/a:1", "localhost/a:2")), (b.id, b.digest, ())]
    assert (loaded[0].layer_dirs[0] / "hello").read_bytes() == b"world"


def test_load_docker_archive_written_by_docker(tmp_path: Path) -> None:
    """The classic layout: <id>/layer.tar (uncompressed), <id>.json, short RepoTags."""
    layer = files_tar({"from-docker": b"yes"})
    import hashlib

    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    cid = hashlib.sha256(config).hexdigest()
    lid = "e" * 64
    files = {f"{cid}.json": config, f"{lid}/layer.tar": layer, f"{lid}/VERSION": b"1.0",
             "manifest.json": json.dumps([{"Config": f"{cid}.json", "RepoTags": ["alpine:3"],
                                           "Layers": [f"{lid}/layer.tar"]}]).encode()}
    store = _store(tmp_path)
    (img,) = archive.load(store, io.BytesIO(files_tar(files)))
    assert img.id == cid and img.names == ("docker.io/library/alpine:3",)
    assert (img.layer_dirs[0] / "from-docker").read_bytes() == b"yes"


def test_load_refuses_links_out_of_the_archive(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo(f"{'e' * 64}/layer.tar")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(ImageError, match="links outside"):
        archive.load(_store(tmp_path), io.BytesIO(buf.getvalue()))
