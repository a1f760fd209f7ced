"""rmi (with reference counts), tag, untag, prune, import, save/load, inspect."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import Pushed
from helpers import files_tar

from ipy_oci.engine import images as eng
from ipy_oci.engine.records import ContainerConfig
from ipy_oci.errors import NoSuchImage


def _rootfs_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        busybox = Path("/bin/busybox").read_bytes()
        for name, data, mode in [("bin/busybox", busybox, 0o755),
                                 *((n, d, 0o644) for n, d in files.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tf.addfile(link)
    return buf.getvalue()


def test_rmi_refuses_an_image_in_use(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    img = eng.pull_image(rt, pushed.refs["layered"])
    ctr = rt.create_container(ContainerConfig(image=img.id, command=[], cmd=["/bin/true"]),
                              name="user1")
    res = oci.cli_bytes("rmi", pushed.refs["layered"])
    assert res.returncode == 125
    assert b"in use by container(s)" in res.stderr and b"user1" in res.stderr
    assert rt.images.lookup(img.id).id == img.id
    assert len(list((oci.root / "layers").iterdir())) == 3
    js = json.loads(oci.cli_bytes("images", "--format", "json").stdout)
    assert js[0]["Containers"] == 1
    # -f removes the container with it, and frees the layers.
    res = oci.cli_bytes("rmi", "-f", pushed.refs["layered"])
    assert res.returncode == 0, res.stderr
    assert f"Deleted: {img.id}" in res.stdout.decode()
    assert rt.containers() == [] and ctr.id not in [c.id for c in rt.containers()]
    with pytest.raises(NoSuchImage):
        rt.images.lookup(img.id)
    assert list((oci.root / "layers").iterdir()) == []
    assert list((oci.root / "images" / "blobs" / "sha256").iterdir()) == []
    res = oci.cli_bytes("rmi", "nosuch:image")
    assert res.returncode == 125 and b"not known" in res.stderr
    assert oci.cli_bytes("rmi", "-i", "nosuch:image").returncode == 0


def test_tag_untag_and_shared_layers_survive_rmi(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    layered = eng.pull_image(rt, pushed.refs["layered"])
    eng.pull_image(rt, pushed.refs["sharing"])
    assert oci.cli_bytes("tag", pushed.refs["layered"], "mine:v1",
                         "example.org/x/y:2").returncode == 0
    assert rt.images.lookup("mine:v1").id == layered.id  # short names live on localhost/
    assert set(rt.images.lookup(layered.id).names) == {
        pushed.refs["layered"], "localhost/mine:v1", "example.org/x/y:2"}
    res = oci.cli_bytes("tag", layered.id, "Bad Name")
    assert res.returncode == 125 and b"invalid image reference" in res.stderr
    # By name, with other names left: only untags.
    res = oci.cli_bytes("rmi", "mine:v1")
    assert res.returncode == 0 and res.stdout == b"Untagged: localhost/mine:v1\n"
    # By ID with several names: needs -f.
    res = oci.cli_bytes("rmi", layered.id)
    assert res.returncode == 125 and b"several names" in res.stderr
    assert oci.cli_bytes("untag", layered.id, "example.org/x/y:2").returncode == 0
    res = oci.cli_bytes("rmi", pushed.refs["layered"])
    assert res.returncode == 0, res.stderr
    # The layers "sharing" still uses stay; only layered's own top layer goes.
    sharing = rt.images.lookup(pushed.refs["sharing"])
    assert all(d.is_dir() for d in sharing.layer_dirs)
    assert len(list((oci.root / "layers").iterdir())) == 3
    res = oci.cli("run", "--rm", pushed.refs["sharing"], "/bin/cat", "/own")
    assert res.stdout == "own", res.stderr


def test_prune(oci: Any, pushed: Pushed) -> None:
    rt = oci.runtime()
    a = eng.pull_image(rt, pushed.refs["layered"])
    b = eng.pull_image(rt, pushed.refs["docker"])
    eng.untag_image(rt, a.id)  # now dangling
    assert [i.names for i in rt.images.list()][0] == ()
    listed = oci.cli_bytes("images").stdout.decode()
    assert "<none>" in listed
    res = oci.cli_bytes("image", "prune")
    assert res.returncode == 0 and res.stdout.decode().split() == [a.id]
    assert [i.id for i in rt.images.list()] == [b.id]
    ctr = rt.create_container(ContainerConfig(image=b.id, command=[], cmd=["/bin/true"]))
    assert oci.cli_bytes("image", "prune", "-a").stdout == b""  # b is in use
    ctr.remove(force=True)
    assert oci.cli_bytes("image", "prune", "-a").stdout.decode().split() == [b.id]
    assert rt.images.list() == []
    assert list((oci.root / "layers").iterdir()) == []


def test_import(oci: Any, tmp_path: Path) -> None:
    tarball = tmp_path / "rootfs.tar.gz"
    tarball.write_bytes(gzip.compress(_rootfs_tar({"etc/motd": b"imported"})))
    cmd = 'CMD ["/bin/busybox", "cat", "/etc/motd"]'
    res = oci.cli_bytes("import", "-c", cmd, "-c", "ENV A=b", "-m", "from a test",
                        str(tarball), "imported:1")
    assert res.returncode == 0, res.stderr
    img_id = res.stdout.decode().strip()
    img = oci.runtime().images.lookup("imported:1")
    assert img.id == img_id and img.names == ("localhost/imported:1",)
    assert img.config["config"]["Cmd"] == ["/bin/busybox", "cat", "/etc/motd"]
    assert "A=b" in img.config["config"]["Env"]
    assert img.config["history"][0]["comment"] == "from a test"
    run = oci.cli("run", "--rm", "imported:1")
    assert run.returncode == 0 and run.stdout == "imported", run.stderr
    # From stdin, with no name.
    res = oci.cli_bytes("import", "-", input=_rootfs_tar({"x": b"y"}))
    assert res.returncode == 0, res.stderr
    assert len(oci.runtime().images.list()) == 2
    # Corrupt and hostile tarballs are refused with exit 125, leaving nothing.
    for data, message in ((b"this is not a tarball at all" * 30, b"corrupt"),
                          (gzip.compress(b"\0" * 100)[:-8], b"corrupt"),
                          (_hostile_tar(), b"refusing layer entry")):
        res = oci.cli_bytes("import", "-", "bad:1", input=data)
        assert res.returncode == 125, res.stderr
        assert message in res.stderr and b"Traceback" not in res.stderr
    assert len(oci.runtime().images.list()) == 2
    res = oci.cli_bytes("import", str(tmp_path / "missing.tar"))
    assert res.returncode == 125 and b"cannot read" in res.stderr
    res = oci.cli_bytes("import", "-c", "FROB x", str(tarball))
    assert res.returncode == 125 and b"invalid change" in res.stderr


def _hostile_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../../../../escape")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["oci-archive", "docker-archive"])
def test_save_load_round_trip(oci: Any, pushed: Pushed, tmp_path: Path, fmt: str) -> None:
    rt = oci.runtime()
    a = eng.pull_image(rt, pushed.refs["layered"])
    b = eng.pull_image(rt, pushed.refs["docker"])
    archive = tmp_path / "images.tar"
    res = oci.cli_bytes("save", "--format", fmt, "-o", str(archive),
                        pushed.refs["layered"], pushed.refs["docker"])
    assert res.returncode == 0, res.stderr
    with tarfile.open(archive) as tf:
        members = set(tf.getnames())
    assert {"index.json", "oci-layout"} <= members
    assert ("manifest.json" in members) == (fmt == "docker-archive")
    assert oci.cli_bytes("rmi", a.id, b.id).returncode == 0
    assert rt.images.list() == []
    res = oci.cli_bytes("load", "-i", str(archive))
    assert res.returncode == 0, res.stderr
    assert res.stdout.decode().splitlines() == [f"Loaded image: {pushed.refs['layered']}",
                                               f"Loaded image: {pushed.refs['docker']}"]
    loaded = {i.id: i for i in rt.images.list()}
    assert set(loaded) == {a.id, b.id}
    assert loaded[a.id].digest == a.digest and loaded[b.id].digest == b.digest
    run = oci.cli("run", "--rm", pushed.refs["layered"], "/bin/cat", "/etc/new")
    assert run.stdout == "new", run.stderr
    # Through stdout and stdin too.
    res = oci.cli_bytes("save", "--format", fmt, pushed.refs["docker"])
    assert res.returncode == 0 and len(res.stdout) > 1000
    assert oci.cli_bytes("load", input=gzip.compress(res.stdout)).returncode == 0


def test_load_refuses_corrupt_archives(oci: Any, tmp_path: Path) -> None:
    for data, message in (
        (b"garbage" * 200, b"corrupt image archive"),
        (_hostile_tar(), b"unsafe entry"),
        (files_tar({"index.json": b"{not json"}), b"corrupt image archive"),
        (files_tar({"oci-layout": b"{}"}), b"not an image archive"),
        (files_tar({"index.json": json.dumps({"manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "a" * 64, "size": 3}]}).encode()}), b"lacks blob"),
    ):
        res = oci.cli_bytes("load", input=data)
        assert res.returncode == 125, res.stderr
        assert message in res.stderr, res.stderr
    assert oci.runtime().images.list() == []
    assert not any((oci.root / "images" / "tmp").iterdir())


def test_image_inspect_and_exists(oci: Any, pushed: Pushed) -> None:
    img = eng.pull_image(oci.runtime(), pushed.refs["layered"])
    res = oci.cli_bytes("image", "inspect", pushed.refs["layered"])
    assert res.returncode == 0, res.stderr
    (info,) = json.loads(res.stdout)
    assert info["Id"] == img.id and info["Digest"] == img.digest
    assert info["RepoTags"] == [pushed.refs["layered"]]
    assert len(info["RootFS"]["Layers"]) == 3 and info["Os"] == "linux"
    res = oci.cli_bytes("image", "inspect", "nosuch")
    assert res.returncode == 125 and b"not known" in res.stderr
    assert oci.cli_bytes("image", "exists", img.id[:12]).returncode == 0
    assert oci.cli_bytes("image", "exists", "nosuch").returncode == 1
