"""``commit``: a container's changes become a layer on its image, and the image runs.

The first tests write layers from fixture trees (an overlay upper dir with a
whiteout, an opaque directory, a hard link and an xattr; a copy-mode root against
its image) and read the tars back. The rest commit real containers (runc) and run
the images they make.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import OciEnv, inspect, rm_force, wait_until

from ipy_oci.engine.changes import View, tree_changes
from ipy_oci.storage.fsops import OPAQUE_XATTR
from ipy_oci.storage.layertar import write_changes_layer, write_upper_layer

_ID = re.compile(r"[0-9a-f]{64}")


def _members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tf:
        return {m.name: m for m in tf.getmembers()}


def test_upper_dir_layer_has_whiteouts_opaque_dirs_links_and_xattrs(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "hosts").write_text("runtime's own\n")
    os.mknod(upper / "etc" / "group", stat.S_IFCHR | 0o600, os.makedev(0, 0))  # whiteout
    (upper / "data").mkdir()
    os.setxattr(upper / "data", OPAQUE_XATTR, b"y")
    (upper / "data" / "c").write_text("c\n")
    os.chmod(upper / "data" / "c", 0o640)
    os.chown(upper / "data" / "c", 1000, 1000)
    os.setxattr(upper / "data" / "c", "user.note", b"kept")
    os.link(upper / "data" / "c", upper / "hard")
    os.symlink("/data/c", upper / "link")
    out = tmp_path / "layer.tar.gz"
    diff_id, digest, size = write_upper_layer(str(upper), str(out),
                                              frozenset({"/etc/hosts"}))
    assert size == out.stat().st_size and digest.startswith("sha256:")
    assert diff_id.startswith("sha256:") and diff_id != digest
    got = _members(out)
    assert "etc/hosts" not in got
    assert got["etc/.wh.group"].isreg() and got["etc/.wh.group"].size == 0
    assert "data/.wh..wh..opq" in got and got["data"].isdir()
    assert "SCHILY.xattr.trusted.overlay.opaque" not in got["data"].pax_headers
    c = got["data/c"]
    assert (c.mode, c.uid, c.gid) == (0o640, 1000, 1000)
    assert c.pax_headers["SCHILY.xattr.user.note"] == "kept"
    assert got["hard"].islnk() and got["hard"].linkname == "data/c"
    assert got["link"].issym() and got["link"].linkname == "/data/c"


def test_copy_mode_layer_is_the_changes_against_the_image(tmp_path: Path) -> None:
    image, root = tmp_path / "image", tmp_path / "rootfs"
    for tree in (image, root):
        (tree / "etc").mkdir(parents=True)
        (tree / "var").mkdir()
        (tree / "var" / "x").write_text("1")
    (image / "etc" / "group").write_text("g")
    (root / "etc" / "new").write_text("n")
    for rel in ("var/x", "var"):  # unchanged: same times as the image's
        os.utime(root / rel, ns=(os.stat(image / rel).st_mtime_ns,) * 2)
    changes = [(c.kind, c.path) for c in tree_changes(View([root]), View([image]))]
    out = tmp_path / "layer.tar.gz"
    write_changes_layer(str(root), changes, str(out))
    got = _members(out)
    assert "etc/new" in got and "etc/.wh.group" in got
    assert not any(n.startswith("var") for n in got)


# -- real containers -------------------------------------------------------------------


def ok(oci: OciEnv, *args: str) -> str:
    res = oci.cli(*args)
    assert res.returncode == 0, f"{args}: {res.stderr}"
    return res.stdout


@contextmanager
def _ran(oci: OciEnv, name: str, image: str, script: str, detach: bool = False
         ) -> Iterator[str]:
    try:
        ok(oci, "run", *(["-d"] if detach else []), "--name", name, "--network", "none",
           image, "sh", "-c", script)
        yield name
    finally:
        rm_force(oci, name)


def _commit(oci: OciEnv, *args: str) -> str:
    out = ok(oci, "commit", *args).strip()
    assert _ID.fullmatch(out), out
    return out


def test_commit_adds_changes_deletes_and_opaque_dirs(oci: OciEnv) -> None:
    with _ran(oci, "base", "busybox",
              "mkdir -p /data/sub && echo a > /data/a && echo b > /data/sub/b && "
              "echo keep > /keep && echo old > /gone && chmod 640 /keep"):
        base = _commit(oci, "base", "base")
    assert inspect(oci, "localhost/base:latest", "image")["Id"] == base
    with _ran(oci, "second", "base",
              "rm -rf /data && mkdir /data && echo c > /data/c && rm /gone && "
              "echo more >> /keep && echo added > /added && rm /etc/group"):
        new = _commit(oci, "-m", "second step", "-a", "Ann Author",
                      "-c", 'CMD ["cat", "/data/c"]', "--change", "ENV FOO=bar",
                      "-c", "WORKDIR /data", "-c", "LABEL stage=two", "second",
                      "localhost/stepped:2")
    assert new != base
    assert ok(oci, "run", "--rm", "--network", "none", "localhost/stepped:2") == "c\n"
    out = ok(oci, "run", "--rm", "--network", "none", "localhost/stepped:2", "sh", "-c",
             'ls -A /data; cat /keep /added; stat -c %a /keep; echo "$FOO"; pwd; '
             "test -e /gone || echo gone; test -e /etc/group || echo nogroup")
    assert out.splitlines() == ["c", "keep", "more", "added", "640", "bar", "/data", "gone",
                                "nogroup"]
    history = json.loads(ok(oci, "history", "--format", "json", "localhost/stepped:2"))
    assert history[0]["comment"] == "second step"
    assert history[0]["CreatedBy"].startswith("sh -c 'rm -rf /data")  # its command
    data = inspect(oci, "localhost/stepped:2", "image")
    cfg = data["Config"]
    assert cfg["Cmd"] == ["cat", "/data/c"] and "FOO=bar" in cfg["Env"]
    assert cfg["WorkingDir"] == "/data" and cfg["Labels"]["stage"] == "two"
    assert data["Author"] == "Ann Author"
    assert len(data["RootFS"]["Layers"]) == 3  # busybox, base's layer, this one
    lines = set(ok(oci, "diff", "localhost/stepped:2").splitlines())
    assert {"A /added", "D /gone", "D /etc/group", "A /data/c", "D /data/a"} <= lines
    top = Path(data["GraphDriver"]["Data"]["LowerDir"].split(":")[0])  # the new layer
    assert (top / "added").read_text() == "added\n"
    for runtime_file in ("etc/hosts", "etc/resolv.conf", "etc/hostname", "run/.containerenv"):
        assert not os.path.lexists(top / runtime_file), runtime_file
    listed = ok(oci, "images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert "localhost/stepped:2" in listed and "localhost/base:latest" in listed


def test_commit_keeps_what_the_container_was_run_with(oci: OciEnv) -> None:
    """podman's commit: the command, env, working dir, labels and exposed ports of the
    container go into the image; --change still wins."""
    ok(oci, "create", "--name", "opts", "--network", "none", "-e", "FOO=bar",
       "-e", "PATH=/bin:/usr/bin", "--workdir", "/tmp", "-l", "team=x", "--expose", "8080",
       "busybox", "sleep", "1000")
    try:
        _commit(oci, "opts", "kept")
        _commit(oci, "-c", "CMD [\"true\"]", "opts", "changed")
    finally:
        rm_force(oci, "opts")
    cfg = inspect(oci, "localhost/kept:latest", "image")["Config"]
    assert cfg["Cmd"] == ["sleep", "1000"] and "FOO=bar" in cfg["Env"]
    assert [e for e in cfg["Env"] if e.startswith("PATH=")] == ["PATH=/bin:/usr/bin"]
    assert cfg["WorkingDir"] == "/tmp" and cfg["Labels"]["team"] == "x"
    assert "8080/tcp" in cfg["ExposedPorts"]
    assert inspect(oci, "localhost/changed:latest", "image")["Config"]["Cmd"] == ["true"]


def test_commit_a_running_container_and_the_container_alias(oci: OciEnv) -> None:
    with _ran(oci, "live", "busybox", "echo hot > /hot; touch /ready; sleep 1000",
              detach=True):
        wait_until(lambda: oci.cli("exec", "live", "test", "-e", "/ready").returncode == 0,
                   "/ready in live")
        res = oci.cli("container", "commit", "-q", "-p", "live", "hotimg")
        assert res.returncode == 0, res.stderr
        assert _ID.fullmatch(res.stdout.strip())
        assert inspect(oci, "live")["State"]["Status"] == "running"  # unpaused again
    out = ok(oci, "run", "--rm", "--network", "none", "hotimg", "cat", "/hot")
    assert out == "hot\n"


def test_commit_errors(oci: OciEnv) -> None:
    res = oci.cli("commit", "nosuch")
    assert res.returncode == 125 and "no such container" in res.stderr
    with _ran(oci, "stopped", "busybox", "true"):
        for args, words in (
            (["-c", "BOGUS x"], "invalid change 'BOGUS x'"),
            (["-c", "ENV"], "invalid change"),
            (["--squash"], "--squash is not supported"),
            (["--format", "docker"], "--format docker is not supported"),
            (["--format", "tar"], "invalid --format 'tar'"),
        ):
            res = oci.cli("commit", *args, "stopped", "x")
            assert res.returncode == 125, (args, res.stderr)
            assert words in res.stderr, (args, res.stderr)
        res = oci.cli("commit", "stopped", "Bad Name")
        assert res.returncode == 125 and "invalid image reference" in res.stderr
        assert oci.cli("images", "-q").stdout.split() == \
            [inspect(oci, "busybox", "image")["Id"][:12]]  # nothing half-made
        anon = _commit(oci, "stopped")  # no name: listed without one
        assert inspect(oci, anon, "image")["RepoTags"] == []


def test_oci_commit_magic_returns_the_image(oci: OciEnv, tmp_path: Path) -> None:
    """``%oci commit`` in a real kernel (started as tests/kernel/conftest.py does)."""
    import sys
    import uuid

    from jupyter_client import KernelManager

    sys.path.insert(0, str(Path(__file__).parents[1] / "kernel"))
    from kernel_helpers import Kernel, one_line_error

    profile = tmp_path / "ipython" / "profile_default"
    profile.mkdir(parents=True)
    (profile / "ipython_kernel_config.py").write_text(
        'c.InteractiveShellApp.extensions = ["ipy_oci"]\n')
    kernel_id = str(uuid.uuid4())
    km = KernelManager(connection_file=str(tmp_path / f"kernel-{kernel_id}.json"))
    km.start_kernel(env=dict(oci.env, IPYTHONDIR=str(tmp_path / "ipython"),
                             PYDEVD_DISABLE_FILE_VALIDATION="1"))
    kernel = Kernel(km, kernel_id)
    try:
        with _ran(oci, "cell", "busybox", "echo from-cell > /made"):
            line = """commit -m fromcell -c 'CMD ["cat", "/made"]' cell cellimg"""
            data = kernel.value(f"get_ipython().run_line_magic('oci', {line!r})")
            assert data["RepoTags"] == ["localhost/cellimg:latest"]
            assert data["Config"]["Cmd"] == ["cat", "/made"]
            err = one_line_error(kernel.run("%oci commit --squash cell"))
            assert "--squash is not supported" in err["traceback"][0]
    finally:
        kernel.shutdown()
    assert ok(oci, "run", "--rm", "--network", "none", "cellimg") == "from-cell\n"
