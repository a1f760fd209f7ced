"""Hostile content and clear errors (issue 11), through the CLI and real containers.

Deep trees in a container's rootfs and in a layer, tar bombs against the size caps,
a storage root that runs out of space (a small tmpfs, mounted and unmounted here),
hostile archives and a broken state database: each is one clear error with exit
code 125, and nothing is left behind.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import OciEnv, inspect, rm_force
from leaks import find_leaks, force_clean

DEPTH = 3000  # shutil.rmtree dies near 1,000 levels

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers and mounts need root")


# ----- helpers ---------------------------------------------------------------------------


def clean_error(res: Any) -> str:
    """One ``Error: ...`` on stderr, exit code 125, never an internal error."""
    assert res.returncode == 125, (res.returncode, res.stdout, res.stderr)
    assert res.stderr.startswith("Error: "), res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    return str(res.stderr)


def configure(oci: OciEnv, **settings: str) -> None:
    """Set ``key = "value"`` in the test's configuration file."""
    path = oci.root.parent / "ipy-oci.toml"
    lines = [ln for ln in path.read_text().splitlines()
             if ln.partition("=")[0].strip() not in settings]
    lines += [f'{key} = "{value}"' for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n")


def make_deep(top: Path, depth: int = DEPTH, *, outside: Path | None = None) -> None:
    """``top/d/d/…`` ``depth`` levels deep (beyond PATH_MAX, so made by fd), with files,
    symlinks (to ``outside`` too) and read-only directories on the way down."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(depth):
            os.mkdir("d", dir_fd=fd)
            if i % 500 == 0:
                os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
                if outside is not None:
                    os.symlink(str(outside), "out", dir_fd=fd)
            nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            if i % 700 == 0:
                os.fchmod(fd, 0o555)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)


def tar_of(files: dict[str, bytes] | list[tuple[str, bytes]],
           dirs: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tf.addfile(info)
        for name, data in files.items() if isinstance(files, dict) else files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def docker_archive(layers: list[bytes], tag: str = "bomb:1",
                   config_path: str | None = None) -> tuple[bytes, list[str]]:
    """A docker-archive of one image with these (uncompressed) layer tars, gzipped;
    returns the archive and the layer digests."""
    blobs = [gzip.compress(t, mtime=0) for t in layers]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/x"]},
                      "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in layers]}}
                     ).encode()
    files = {f"blobs/sha256/{sha(b)[7:]}": b for b in [cfg, *blobs]}
    manifest = [{"Config": config_path or f"blobs/sha256/{sha(cfg)[7:]}", "RepoTags": [tag],
                 "Layers": [f"blobs/sha256/{sha(b)[7:]}" for b in blobs]}]
    files["manifest.json"] = json.dumps(manifest).encode()
    return tar_of(files), [sha(b) for b in blobs]


def store_leftovers(root: Path) -> list[str]:
    """Layers, scratch dirs and temp files a failed pull, import or load must not leave."""
    out = []
    for d in (root / "layers", root / "images" / "tmp"):
        if d.is_dir():
            out += [str(p) for p in d.iterdir()]
    blobs = root / "images" / "blobs" / "sha256"
    if blobs.is_dir():
        out += [str(p) for p in blobs.iterdir() if p.name.startswith(".")]
    return out


def fill(path: Path, leave: int = 0) -> Path:
    """Fill the filesystem of ``path``, then free ``leave`` bytes again."""
    filler = path / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 16))
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    if leave:
        with open(filler, "r+b") as fh:
            fh.truncate(max(filler.stat().st_size - leave, 0))
    return filler


@pytest.fixture
def small_root(oci: OciEnv) -> Iterator[OciEnv]:
    """The test's storage root on a 24 MiB tmpfs, with a 1 MiB free-space margin.

    Checked for leaks here, while it is mounted (the ``oci`` fixture looks after the
    unmount, when the tmpfs and its state database are gone), then unmounted.
    """
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(oci.root)],
                   check=True)
    configure(oci, min_free_space="1MiB")
    try:
        yield oci
        (oci.root / "filler").unlink(missing_ok=True)  # the leak check needs to read the DB
        leaks = find_leaks(oci.root, oci.runroot)
        leaks["mounts"] = [m for m in leaks.get("mounts", []) if m != str(oci.root)]
        leaks = {k: v for k, v in leaks.items() if v}
        if leaks:
            force_clean(oci.root, oci.runroot)
        assert not leaks, f"test leaked: {leaks}"
    finally:
        subprocess.run(["umount", str(oci.root)], check=False, capture_output=True)
        subprocess.run(["umount", "-l", str(oci.root)], check=False, capture_output=True)


# ----- 1. deep trees ----------------------------------------------------------------------


def test_rm_container_with_a_deep_tree_in_its_rootfs(oci: OciEnv, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("keep")
    res = oci.cli("run", "--name", "deep", "busybox", "true")
    assert res.returncode == 0, res.stderr
    cid = inspect(oci, "deep", kind="container")["Id"]
    ctr_dir = oci.root / "containers" / cid
    # What a container left in its upper dir: thousands of levels, read-only dirs,
    # symlinks out of the tree.
    make_deep(ctr_dir / "upper" / "deep", outside=victim)
    res = oci.cli("rm", "deep")
    assert res.returncode == 0, res.stderr
    assert not ctr_dir.exists()
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    assert (victim / "keep").read_text() == "keep"


def test_rm_f_running_container_with_a_deep_tree(oci: OciEnv) -> None:
    res = oci.cli("run", "-d", "--name", "deep", "busybox", "sleep", "1000")
    try:
        assert res.returncode == 0, res.stderr
        ctr_dir = oci.root / "containers" / res.stdout.strip()
        make_deep(ctr_dir / "upper" / "deep")
        res = oci.cli("rm", "-f", "-t", "0", "deep")
        assert res.returncode == 0, res.stderr
        assert not ctr_dir.exists()
    finally:
        rm_force(oci, "deep")


def test_rmi_and_prune_an_image_with_a_deep_layer(oci: OciEnv, tmp_path: Path) -> None:
    deep = "/".join(["d"] * DEPTH)
    tarball = tmp_path / "deep.tar"
    tarball.write_bytes(tar_of({deep + "/f": b"x"}, dirs=(deep,)))
    res = oci.cli("import", str(tarball), "deep")
    assert res.returncode == 0, res.stderr
    assert len(list((oci.root / "layers").iterdir())) == 1
    res = oci.cli("rmi", "deep")
    assert res.returncode == 0, res.stderr
    assert list((oci.root / "layers").iterdir()) == []
    for _ in range(2):  # and every later prune works
        res = oci.cli("image", "prune", "-a", "-f")
        assert res.returncode == 0, res.stderr
    assert oci.cli("images", "-q", check=True).stdout == ""


# ----- 2. tar bombs and sizes -------------------------------------------------------------


def bomb(size: int = 8 << 20) -> bytes:
    return tar_of({"zeros": bytes(size)})


def test_import_bomb_stops_at_the_layer_cap(oci: OciEnv, tmp_path: Path) -> None:
    configure(oci, max_layer_size="1MiB")
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(gzip.compress(bomb(), mtime=0))
    assert path.stat().st_size < 20_000
    err = clean_error(oci.cli("import", str(path), "bomb"))
    assert "max_layer_size" in err and "1 MiB" in err
    assert str(oci.root.parent / "ipy-oci.toml") in err  # where to raise it
    assert oci.cli("images", "-q", check=True).stdout == ""
    assert store_leftovers(oci.root) == []


def test_load_bomb_names_the_layer_and_the_cap(oci: OciEnv, tmp_path: Path) -> None:
    configure(oci, max_layer_size="1MiB")
    archive, digests = docker_archive([tar_of({"a": b"fine"}), bomb()])
    path = tmp_path / "bomb.tar"
    path.write_bytes(archive)
    err = clean_error(oci.cli("load", "-i", str(path)))
    assert digests[1] in err and "max_layer_size" in err and "0 removes the cap" in err
    assert oci.cli("images", "-q", check=True).stdout == ""
    assert store_leftovers(oci.root) == []  # not even the first layer, which fitted


def test_load_stops_at_the_image_cap(oci: OciEnv, tmp_path: Path) -> None:
    configure(oci, max_image_size="1MiB")
    archive, digests = docker_archive([tar_of({"a": os.urandom(600 << 10)}),
                                       tar_of({"b": os.urandom(600 << 10)})])
    path = tmp_path / "big.tar"
    path.write_bytes(archive)
    err = clean_error(oci.cli("load", "-i", str(path)))
    assert digests[1] in err and "max_image_size" in err
    assert store_leftovers(oci.root) == []


def test_images_shows_the_expanded_size(oci: OciEnv, tmp_path: Path) -> None:
    tar = bomb(3 << 20)
    path = tmp_path / "zeros.tar.gz"
    path.write_bytes(gzip.compress(tar, mtime=0))
    oci.cli("import", str(path), "zeros", check=True)
    rows = json.loads(oci.cli("images", "--format", "json", check=True).stdout)
    (row,) = [r for r in rows if "localhost/zeros:latest" in r["Names"]]
    assert row["Size"] == len(tar)  # not the 3 KB the compressed blob has
    (inspected,) = json.loads(oci.cli("image", "inspect", "zeros", check=True).stdout)
    assert inspected["Size"] == len(tar)
    table = oci.cli("images", check=True).stdout
    assert "3.15 MB" in table, table


# ----- 4. a full disk ----------------------------------------------------------------------


def test_run_rm_on_a_full_disk(small_root: OciEnv) -> None:
    oci = small_root
    oci.cli("image", "inspect", "busybox", check=True)  # the built-in image, made now
    fill(oci.root)
    err = clean_error(oci.cli("run", "--rm", "busybox", "true"))
    assert "state database" in err or "space" in err, err
    (oci.root / "filler").unlink()
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    assert list((oci.root / "containers").iterdir()) == []


def test_space_runs_out_after_the_container_is_recorded(small_root: OciEnv) -> None:
    from ipy_oci.engine.records import ContainerConfig
    from ipy_oci.errors import OciError

    oci = small_root
    rt = oci.runtime()
    try:
        ctr = rt.create_container(ContainerConfig(image="busybox", command=[], cmd=["true"],
                                                  auto_remove=True), pull="never")
        filler = fill(oci.root)
        with pytest.raises(OciError) as err:  # what `run --rm` does after creating
            ctr.run_attached(lambda *_: None, remove=True)
        assert "space" in str(err.value) or "disk is full" in str(err.value)
        filler.unlink()
        assert rt.state.containers() == []
        assert list((oci.root / "containers").iterdir()) == []
    finally:
        (oci.root / "filler").unlink(missing_ok=True)
        for rec in rt.state.containers():
            rt.container(rec).remove(force=True, timeout=0)
        rt.close()


def test_import_on_a_nearly_full_disk_leaves_nothing(small_root: OciEnv, tmp_path: Path
                                                     ) -> None:
    oci = small_root
    data = tar_of({"r": os.urandom(2 << 20)})
    (tmp_path / "random.tar").write_bytes(data)
    (tmp_path / "archive.tar").write_bytes(docker_archive([data])[0])
    fill(oci.root, leave=2 << 20)
    for args in (["import", str(tmp_path / "random.tar"), "r"],
                 ["load", "-i", str(tmp_path / "archive.tar")]):
        err = clean_error(oci.cli(*args))
        assert "space" in err and "min_free_space" in err or "no space left" in err, err
    assert oci.cli("images", "-q", check=True).stdout == ""
    assert store_leftovers(oci.root) == []


def test_layer_larger_than_the_disk(small_root: OciEnv, tmp_path: Path) -> None:
    oci = small_root
    configure(oci, min_free_space="0")
    path = tmp_path / "big.tar.gz"
    path.write_bytes(gzip.compress(bomb(40 << 20), mtime=0))  # 40 MiB on a 24 MiB disk
    err = clean_error(oci.cli("import", str(path), "big"))
    assert "space" in err, err
    assert oci.cli("images", "-q", check=True).stdout == ""
    assert store_leftovers(oci.root) == []
    oci.cli("run", "--rm", "busybox", "true", check=True)  # and the store still works


# ----- 3. hostile archives and the state database -----------------------------------------


def test_load_with_an_absolute_config_path(oci: OciEnv, tmp_path: Path) -> None:
    archive, _ = docker_archive([tar_of({"a": b"x"})], config_path="/etc/passwd")
    path = tmp_path / "abs.tar"
    path.write_bytes(archive)
    err = clean_error(oci.cli("load", "-i", str(path)))
    assert "'/etc/passwd'" in err and "manifest.json" in err
    assert store_leftovers(oci.root) == []


def test_load_with_a_duplicate_member(oci: OciEnv, tmp_path: Path) -> None:
    archive, _ = docker_archive([tar_of({"a": b"x"})])
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        members = [(m.name, tf.extractfile(m).read()) for m in tf.getmembers()]
    first = next(name for name, _ in members if name.startswith("blobs/"))
    path = tmp_path / "dup.tar"
    path.write_bytes(tar_of([*members, (first, b"two")]))
    err = clean_error(oci.cli("load", "-i", str(path)))
    assert "twice" in err and first in err
    assert store_leftovers(oci.root) == []


def test_a_state_file_that_is_not_a_database(oci: OciEnv) -> None:
    db = oci.root / "state.db"
    oci.cli("ps", "-a", check=True)
    # The database is the file and its write-ahead log together: keep both.
    files = [db, Path(str(db) + "-wal"), Path(str(db) + "-shm")]
    saved = {f: f.read_bytes() for f in files if f.exists()}
    for f in files[1:]:
        f.unlink(missing_ok=True)
    db.write_bytes(b"not a database, really " * 200)
    try:
        err = clean_error(oci.cli("ps", "-a"))
        assert str(db) in err and "mv " in err
    finally:
        for f in files[1:]:
            f.unlink(missing_ok=True)
        for f, data in saved.items():
            f.write_bytes(data)
