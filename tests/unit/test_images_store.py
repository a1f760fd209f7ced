"""The OCI layout image store, reference parsing and the built-in busybox image."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.errors import AmbiguousRef, ImageError, NoSuchImage
from ipy_oci.images import builtin, refs
from ipy_oci.images.mediatypes import BUILTIN_NAME, REF_NAME_ANNOTATION
from ipy_oci.images.store import ImageStore

needs_busybox = pytest.mark.skipif(
    not os.access("/bin/busybox", os.X_OK), reason="apt-get install busybox-static"
)


def make_layout(
    dest: Path, label: str, names: list[str] | None = None, files: dict[str, bytes] | None = None
) -> Path:
    """An OCI layout holding one single-layer image whose config carries ``label``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (files or {"hello": b"world"}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    tar = buf.getvalue()
    layer = gzip.compress(tar, mtime=0)
    config = builtin.canonical_json(
        {
            "architecture": builtin.host_platform()[0],
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Labels": {"t": label}, "Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [builtin.sha256_digest(tar)]},
        }
    )
    manifest = builtin.canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": builtin.sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": builtin.sha256_digest(layer),
                    "size": len(layer),
                }
            ],
        }
    )
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for data in (layer, config, manifest):
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    desc: dict[str, Any] = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": builtin.sha256_digest(manifest),
        "size": len(manifest),
    }
    descs = [{**desc, "annotations": {REF_NAME_ANNOTATION: n}} for n in names or []] or [desc]
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": descs}))
    return dest


def config_id(label: str) -> str:
    """The image ID make_layout would produce for ``label`` (without writing it)."""
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w") as tf:
        info = tarfile.TarInfo("hello")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"world"))
    cfg: dict[str, Any] = {
        "architecture": builtin.host_platform()[0],
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Labels": {"t": label}, "Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [builtin.sha256_digest(tar_buf.getvalue())]},
    }
    return hashlib.sha256(builtin.canonical_json(cfg)).hexdigest()


# ----- references ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/foo/bar:x", "docker.io/foo/bar:x"),
        ("quay.io/a/b/c:v1.2", "quay.io/a/b/c:v1.2"),
        ("localhost/busybox", "localhost/busybox:latest"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("Registry.Example/x", "Registry.Example/x:latest"),
        ("alpine@sha256:" + "a" * 64, "docker.io/library/alpine@sha256:" + "a" * 64),
        ("a:t@sha256:" + "b" * 64, "docker.io/library/a:t@sha256:" + "b" * 64),
    ],
)
def test_normalize(ref: str, expected: str) -> None:
    assert refs.normalize_name(ref) == expected


def test_short_names_stay_short() -> None:
    r = refs.parse("busybox")
    assert r.is_short and r.repository == "busybox" and r.tag == "latest"
    assert str(r.qualified("localhost")) == "localhost/busybox:latest"
    assert refs.normalize_name("foo", refs.LOCALHOST) == "localhost/foo:latest"


@pytest.mark.parametrize(
    "bad", ["", "UPPER", "a//b", "a:b:c", "x@sha256:123", "-x", "a" * 64, "a:" + "t" * 200]
)
def test_invalid_references(bad: str) -> None:
    with pytest.raises(ImageError, match="reference"):
        refs.parse(bad)


# ----- the built-in image -----------------------------------------------------


@needs_busybox
def test_builtin_image_contents(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    img = store.lookup("busybox")
    assert img.names == (BUILTIN_NAME,)
    assert len(img.id) == 64 and img.digest.startswith("sha256:")
    cfg = img.config
    assert cfg["os"] == "linux" and cfg["architecture"] == builtin.host_platform()[0]
    assert cfg["config"]["Env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ]
    assert cfg["config"]["Cmd"] == ["sh"]
    assert len(cfg["rootfs"]["diff_ids"]) == 1 and cfg["history"]
    assert img.created == cfg["created"]

    (layer,) = img.layer_dirs
    assert layer == tmp_path / "layers" / cfg["rootfs"]["diff_ids"][0].split(":")[1]
    bb = layer / "bin" / "busybox"
    assert stat.S_ISREG(bb.lstat().st_mode) and bb.lstat().st_mode & 0o111
    assert bb.read_bytes() == Path("/bin/busybox").read_bytes()
    for applet in ("sh", "sleep", "cat", "true", "env", "ls"):
        assert os.readlink(layer / "bin" / applet) == "busybox"
    assert (layer / "usr" / "bin" / "env").resolve() == bb.resolve()
    passwd = (layer / "etc" / "passwd").read_text()
    assert passwd.startswith("root:x:0:0:") and ":65534:65534:" in passwd
    assert "root:x:0:" in (layer / "etc" / "group").read_text()
    assert stat.S_IMODE((layer / "tmp").stat().st_mode) == 0o1777
    for d in ("proc", "sys", "dev", "root", "home", "run", "var", "usr/bin"):
        assert (layer / d).is_dir()

    manifest = json.loads((store.blobs_dir / img.digest.split(":")[1]).read_bytes())
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["digest"] == "sha256:" + img.id
    layer_blob = store.blobs_dir / manifest["layers"][0]["digest"].split(":")[1]
    assert layer_blob.read_bytes()[:2] == b"\x1f\x8b"
    # The size is the layer expanded (its uncompressed tar), as podman shows it.
    assert img.size == len(gzip.decompress(layer_blob.read_bytes())) > manifest["layers"][0]["size"]
    index = json.loads((tmp_path / "images" / "index.json").read_text())
    assert index["manifests"][0]["annotations"][REF_NAME_ANNOTATION] == BUILTIN_NAME
    assert json.loads((tmp_path / "images" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"
    }


@needs_busybox
def test_builtin_is_deterministic(tmp_path: Path) -> None:
    a = ImageStore(tmp_path / "a").ensure_builtin()
    b = ImageStore(tmp_path / "b").ensure_builtin()
    assert (a.id, a.digest) == (b.id, b.digest)
    assert builtin.build_blobs() == builtin.build_blobs()


def test_builtin_without_busybox_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="apt-get install busybox-static"):
        builtin.build_blobs(tmp_path / "no-busybox")


@needs_busybox
def test_concurrent_first_builds_make_one_image(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from ipy_oci.images.store import ImageStore;"
        "print(ImageStore(Path(sys.argv[1])).lookup('busybox').id)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    ids = {out.strip() for out, _ in results}
    assert len(ids) == 1
    store = ImageStore(tmp_path)
    images = store.list()
    assert [i.id for i in images] == list(ids)
    assert len(json.loads((tmp_path / "images" / "index.json").read_text())["manifests"]) == 1
    assert len(os.listdir(store.blobs_dir)) == 3
    assert os.listdir(tmp_path / "images" / "tmp") == []
    assert len(os.listdir(tmp_path / "layers")) == 1  # no temp dirs left


# ----- lookup -------------------------------------------------------------------


@needs_busybox
def test_lookup_forms(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    img = store.ensure_builtin()
    for ref in (
        "busybox",
        "busybox:latest",
        "localhost/busybox",
        "localhost/busybox:latest",
        img.id,
        img.id[:3],
        img.id[:12],
        "sha256:" + img.id,
        img.digest,
        f"localhost/busybox@{img.digest}",
        f"busybox@{img.digest}",
    ):
        assert store.lookup(ref).id == img.id, ref
    for missing in (
        "nosuch",
        "busybox:other",
        "docker.io/library/busybox:latest",
        "quay.io/busybox",
        "sha256:" + "0" * 64,
        "0" * 64,
        "zzz",
        f"other@{img.digest}",
    ):
        with pytest.raises(NoSuchImage):
            store.lookup(missing)
    with pytest.raises(ImageError, match="reference"):
        store.lookup("Not A Ref!")


def test_short_names_and_localhost_precedence(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    hub = store.add_image_from_layout(
        make_layout(tmp_path / "l1", "hub"), names=["docker.io/library/busybox:latest"]
    )
    alpine = store.add_image_from_layout(
        make_layout(tmp_path / "l2", "alpine"), names=["docker.io/library/alpine:3"]
    )
    assert store.lookup("busybox").id == hub.id  # no localhost/busybox yet: the hub one
    for ref in ("alpine:3", "library/alpine:3", "docker.io/alpine:3"):
        assert store.lookup(ref).id == alpine.id
    with pytest.raises(NoSuchImage):
        store.lookup("alpine")  # ":latest" implied
    local = store.add_image_from_layout(
        make_layout(tmp_path / "l3", "local"), names=["localhost/busybox:latest"]
    )
    assert store.lookup("busybox").id == local.id  # like podman: localhost/ first
    assert store.lookup("docker.io/library/busybox").id == hub.id


def test_names_move_between_images_and_untagged_stay_listed(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    one = store.add_image_from_layout(make_layout(tmp_path / "l1", "1"), names=["foo:v"])
    assert one.names == ("localhost/foo:v",)
    two = store.add_image_from_layout(make_layout(tmp_path / "l2", "2"), names=["foo:v", "bar"])
    assert two.names == ("localhost/foo:v", "localhost/bar:latest")
    by_id = {i.id: i for i in store.list()}
    assert by_id[one.id].names == ()
    assert store.lookup(one.id[:12]).id == one.id
    # Re-adding the same image is idempotent and adds names.
    again = store.add_image_from_layout(make_layout(tmp_path / "l3", "1"), names=["baz"])
    assert again.id == one.id and again.names == ("localhost/baz:latest",)
    assert len(store.list()) == 2
    # Same layer content: both images share one extracted layer dir.
    assert by_id[one.id].layer_dirs == by_id[two.id].layer_dirs


def test_ambiguous_id_prefix(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    pair = None
    for i in range(100_000):
        prefix = config_id(str(i))[:3]
        if prefix in seen:
            pair = (seen[prefix], str(i))
            break
        seen[prefix] = str(i)
    assert pair is not None
    store = ImageStore(tmp_path)
    a = store.add_image_from_layout(make_layout(tmp_path / "a", pair[0]))
    b = store.add_image_from_layout(make_layout(tmp_path / "b", pair[1]))
    assert a.id[:3] == b.id[:3] and a.id != b.id
    with pytest.raises(AmbiguousRef):
        store.lookup(a.id[:3])
    common = os.path.commonprefix([a.id, b.id])
    assert store.lookup(a.id[: len(common) + 1]).id == a.id
    assert {i.id for i in store.list()} == {a.id, b.id}
    assert all(i.names == () for i in store.list())


@needs_busybox
def test_lookup_does_not_rehash_or_reextract(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    img = store.ensure_builtin()
    (layer,) = img.layer_dirs
    ino = layer.stat().st_ino
    # Lookups read index.json, the manifest and the config only: even with the
    # layer blob gone, a fresh store (another process) still finds the image.
    manifest = json.loads((store.blobs_dir / img.digest.split(":")[1]).read_bytes())
    layer_digest = manifest["layers"][0]["digest"]
    blob = store.blobs_dir / layer_digest.split(":")[1]
    saved = blob.read_bytes()
    blob.unlink()
    again = ImageStore(tmp_path).lookup("busybox")
    assert again.layer_dirs == img.layer_dirs and layer.stat().st_ino == ino
    # A lost layer dir is rebuilt once from its blob.
    blob.write_bytes(saved)
    import shutil

    shutil.rmtree(layer)
    healed = ImageStore(tmp_path).lookup(img.id)
    assert (healed.layer_dirs[0] / "bin" / "busybox").is_file()


def test_corrupt_blob_is_refused(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "l", "x", names=["img"])
    blobs = layout / "blobs" / "sha256"
    layer_blob = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    layer_blob.write_bytes(gzip.compress(b"tampered"))
    store = ImageStore(tmp_path / "root")
    with pytest.raises(ImageError, match="does not match"):
        store.add_image_from_layout(layout, names=["img"])
    assert store.list() == []
    with pytest.raises(NoSuchImage):
        store.lookup("img")


def test_layout_with_several_images_needs_a_ref(tmp_path: Path) -> None:
    layout = make_layout(tmp_path / "l", "x", names=["one", "two"])
    store = ImageStore(tmp_path / "root")
    with pytest.raises(ImageError, match="name exactly one"):
        store.add_image_from_layout(layout)
    img = store.add_image_from_layout(layout, ref="two", names=["docker.io/me/two:1"])
    assert img.names == ("docker.io/me/two:1",)
    assert store.lookup("me/two:1").id == img.id
    assert img.config["config"]["Labels"] == {"t": "x"}
    assert img.created == "2024-01-02T03:04:05Z"


def test_empty_store(tmp_path: Path) -> None:
    store = ImageStore(tmp_path)
    assert store.list() == []
    with pytest.raises(NoSuchImage):
        store.lookup("abc")


def test_digest_is_not_a_name(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "root")
    with pytest.raises(ImageError, match="digest"):
        store.add_image_from_layout(
            make_layout(tmp_path / "l", "x"), names=["a@" + "sha256:" + "1" * 64]
        )
    assert not (tmp_path / "root").exists()  # refused before any copying or extraction
