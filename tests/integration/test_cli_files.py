"""``cp``, ``top``, ``stats``, ``diff``, ``export``, ``rename``, ``port``, ``container prune``
and ``system df`` end to end, on real runc containers.

The ``oci`` fixture fails a test that leaves a process, mount, file or row behind:
``cp`` on a stopped container mounts its root filesystem for the copy only.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import OciEnv, rm_force, wait_until


@contextmanager
def _ctr(oci: OciEnv, name: str, script: str = "sleep 1000", *flags: str,
         detach: bool = True) -> Iterator[str]:
    """A busybox container running ``sh -c script`` (``detach=False``: run to exit)."""
    args = ["run", *(["-d"] if detach else []), "--name", name, "--network", "none",
            *flags, "busybox", "sh", "-c", script]
    try:
        res = oci.cli(*args)
        assert res.returncode == 0, res.stderr
        yield name
    finally:
        rm_force(oci, name)


def _ready(oci: OciEnv, name: str, path: str) -> None:
    wait_until(lambda: oci.cli("exec", name, "test", "-e", path).returncode == 0,
               f"{path} in {name}")


def _cat(oci: OciEnv, name: str, path: str) -> str:
    res = oci.cli("exec", name, "cat", path)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _no_mounts_of(oci: OciEnv) -> None:
    text = Path("/proc/self/mountinfo").read_text()
    assert str(oci.root / "containers") not in text


# -- cp: host <-> running container ------------------------------------------------------------
def test_cp_host_to_running_container_podman_rules(oci: OciEnv, tmp_path: Path) -> None:
    (tmp_path / "f0").write_text("zero\n")
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "h").write_text("h\n")
    (tmp_path / "dotfile.").write_text("dot\n")
    with _ctr(oci, "cph2c", "mkdir /srv/subdir; touch /srv/ready; sleep 1000",
              "--tmpfs", "/srv", "--workdir", "/srv") as c:
        _ready(oci, c, "/srv/ready")
        cases = [("f0", "/", "/f0"), ("f0", "/new.txt", "/new.txt"),
                 ("f0", "/tmp/", "/tmp/f0"), ("f0", "/tmp/.", "/tmp/f0"),
                 ("f0", ".", "/srv/f0"), ("f0", "rel.txt", "/srv/rel.txt"),
                 ("f0", "subdir", "/srv/subdir/f0"), ("dotfile.", "/tmp", "/tmp/dotfile.")]
        for src, dest, full in cases:
            res = oci.cli("cp", str(tmp_path / src), f"{c}:{dest}")
            assert res.returncode == 0, (src, dest, res.stderr)
            assert _cat(oci, c, full) in ("zero\n", "dot\n"), (src, dest)
        for src, dest, full in [("dir", "/", "/dir/sub/h"), ("dir/", "/tmp", "/tmp/dir/sub/h"),
                                ("dir/.", "/usr/", "/usr/sub/h"), ("dir", "/newdir1",
                                                                   "/newdir1/sub/h"),
                                ("dir/.", "/newdir3", "/newdir3/sub/h")]:
            res = oci.cli("cp", f"{tmp_path}/{src}", f"{c}:{dest}")  # keeps "/." and "/"
            assert res.returncode == 0, (src, dest, res.stderr)
            assert _cat(oci, c, full) == "h\n", (src, dest)

        res = oci.cli("cp", str(tmp_path / "nonexistent"), f"{c}:/tmp")
        assert res.returncode == 125
        assert "nonexistent\" could not be found on the host" in res.stderr
        res = oci.cli("cp", str(tmp_path / "f0"), f"{c}:/IdoNotExist/")
        assert res.returncode == 125
        assert '"/IdoNotExist/" could not be found on container cph2c' in res.stderr
        res = oci.cli("cp", str(tmp_path / "f0"), f"{c}:/no/parent/file")
        assert res.returncode == 125 and "could not be found" in res.stderr
        res = oci.cli("cp", str(tmp_path / "dir"), f"{c}:/etc/passwd")
        assert res.returncode == 125
        assert "destination must be a directory when copying a directory" in res.stderr


def test_cp_running_container_to_host(oci: OciEnv, tmp_path: Path) -> None:
    script = ("mkdir -p /srv/subdir /tmp/sub; echo c0 > /srv/subdir/f0; echo c1 > /tmp/f1; "
              "cd /tmp/sub && ln -s .. weirdlink; touch /srv/ready; sleep 1000")
    with _ctr(oci, "cpc2h", script, "--tmpfs", "/srv", "--workdir", "/srv") as c:
        _ready(oci, c, "/srv/ready")
        dest = tmp_path / "out"
        dest.mkdir()
        for src, to, full in [("/tmp/f1", "", "f1"), ("/tmp/f1", "/newname", "newname"),
                              ("subdir/f0", "/", "f0"), ("/srv", "", "srv/subdir/f0"),
                              ("/srv/.", "/newdir", "newdir/subdir/f0"),
                              ("/srv/subdir/.", "", "f0"),
                              ("/tmp/sub/weirdlink", "/wl", "wl/f1")]:
            res = oci.cli("cp", f"{c}:{src}", f"{dest}{to}")
            assert res.returncode == 0, (src, to, res.stderr)
            assert (dest / full).read_text() in ("c0\n", "c1\n"), (src, to)
        assert (dest / "f1").stat().st_uid == os.getuid()
        res = oci.cli("cp", f"{c}:/tmp/nope", str(dest))
        assert res.returncode == 125
        assert '"/tmp/nope" could not be found on container cpc2h' in res.stderr
        (dest / "afile").write_text("x")
        res = oci.cli("cp", f"{c}:/etc", str(dest / "afile"))
        assert res.returncode == 125
        assert "destination must be a directory when copying a directory" in res.stderr
        res = oci.cli("cp", f"{c}:/tmp/f1", "/dev/stdout")
        assert res.returncode == 125 and "must be a directory or a regular file" in res.stderr
        res = oci.cli("cp", f"{c}:/tmp/f1", str(tmp_path / "nodir" / "x"))
        assert res.returncode == 125 and "could not be found on the host" in res.stderr


def test_cp_tar_streams(oci: OciEnv, tmp_path: Path) -> None:
    with _ctr(oci, "cpstream", "echo content > /tmp/file.txt; touch /tmp/ready; sleep 1000") \
            as c:
        _ready(oci, c, "/tmp/ready")
        res = oci.cli_bytes("cp", f"{c}:/tmp", "-")
        assert res.returncode == 0, res.stderr
        with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
            names = tf.getnames()
            member = tf.extractfile("tmp/file.txt")
            assert member is not None and member.read() == b"content\n"
        assert "tmp/ready" in names

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            ti = tarfile.TarInfo("in/a.txt")
            ti.size, ti.uid, ti.gid = 3, 1042, 1043
            tf.addfile(ti, io.BytesIO(b"abc"))
        res = oci.cli_bytes("cp", "-a=false", "-", f"{c}:/tmp/", input=buf.getvalue())
        assert res.returncode == 0, res.stderr
        assert oci.cli("exec", c, "stat", "-c", "%u:%g", "/tmp/in/a.txt").stdout.strip() \
            == "1042:1043"
        res = oci.cli_bytes("cp", "-", f"{c}:/tmp/", input=buf.getvalue())
        assert res.returncode == 0, res.stderr
        assert oci.cli("exec", c, "stat", "-c", "%u:%g", "/tmp/in/a.txt").stdout.strip() \
            == "0:0"  # --archive (default): the container's user owns what is copied

        res = oci.cli_bytes("cp", "-", f"{c}:/tmp", input=b"not a tar at all")
        assert res.returncode == 125
        assert b"source must be a (compressed) tar archive when copying from stdin" \
            in res.stderr
        res = oci.cli_bytes("cp", "-", f"{c}:/tmp/file.txt", input=buf.getvalue())
        assert res.returncode == 125
        assert b"destination must be a directory when copying from stdin" in res.stderr
        res = oci.cli_bytes("cp", "-", f"{c}:/tmp/IdoNotExist", input=buf.getvalue())
        assert res.returncode == 125
        assert b"destination must be a directory when copying from stdin" in res.stderr


def test_cp_archive_chowns_to_the_container_user(oci: OciEnv, tmp_path: Path) -> None:
    (tmp_path / "hostfile").write_text("x")
    with _ctr(oci, "cpuser", "sleep 1000", "--user", "1000:1000") as c:
        res = oci.cli("cp", str(tmp_path / "hostfile"), f"{c}:/tmp/hostfile")
        assert res.returncode == 0, res.stderr
        assert oci.cli("exec", c, "stat", "-c", "%u", "/tmp/hostfile").stdout.strip() == "1000"


def test_cp_overwrite(oci: OciEnv, tmp_path: Path) -> None:
    (tmp_path / "foo").write_text("file\n")
    with _ctr(oci, "cpov", "mkdir /tmp/foo; touch /tmp/ready; sleep 1000") as c:
        _ready(oci, c, "/tmp/ready")
        res = oci.cli("cp", str(tmp_path / "foo"), f"{c}:/tmp")
        assert res.returncode == 125
        assert 'error creating "/tmp/foo": file exists' in res.stderr
        res = oci.cli("cp", "--overwrite", str(tmp_path / "foo"), f"{c}:/tmp")
        assert res.returncode == 0, res.stderr
        assert _cat(oci, c, "/tmp/foo") == "file\n"
        hostdir = tmp_path / "h"
        hostdir.mkdir()
        (hostdir / "foo").mkdir()
        res = oci.cli("cp", f"{c}:/tmp/foo", str(hostdir))
        assert res.returncode == 125 and "file exists" in res.stderr
        res = oci.cli("cp", "--overwrite", f"{c}:/tmp/foo", str(hostdir))
        assert res.returncode == 0, res.stderr
        assert (hostdir / "foo").read_text() == "file\n"


def test_cp_between_containers(oci: OciEnv) -> None:
    with _ctr(oci, "cpa", "echo from-a > /tmp/a.txt; touch /tmp/ready; sleep 1000") as a, \
            _ctr(oci, "cpb") as b:
        _ready(oci, a, "/tmp/ready")
        res = oci.cli("cp", f"{a}:/tmp/a.txt", f"{b}:/root/copied.txt")
        assert res.returncode == 0, res.stderr
        assert _cat(oci, b, "/root/copied.txt") == "from-a\n"


# -- cp: stopped containers ----------------------------------------------------------------------
def test_cp_created_and_exited_containers(oci: OciEnv, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("into-created\n")
    try:
        res = oci.cli("create", "--name", "cpcreated", "--network", "none", "busybox",
                      "sleep", "1000")
        assert res.returncode == 0, res.stderr
        res = oci.cli("cp", str(tmp_path / "in.txt"), "cpcreated:/root/")
        assert res.returncode == 0, res.stderr
        _no_mounts_of(oci)
        res = oci.cli("cp", "cpcreated:/root/in.txt", str(tmp_path / "back.txt"))
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "back.txt").read_text() == "into-created\n"
        assert oci.cli("start", "cpcreated").returncode == 0
        assert _cat(oci, "cpcreated", "/root/in.txt") == "into-created\n"
    finally:
        rm_force(oci, "cpcreated")
    with _ctr(oci, "cpexited", "echo done > /tmp/out.txt", detach=False) as c:
        res = oci.cli("cp", f"{c}:/tmp/out.txt", str(tmp_path / "out.txt"))
        assert res.returncode == 0, res.stderr
        assert (tmp_path / "out.txt").read_text() == "done\n"
        res = oci.cli("cp", str(tmp_path / "in.txt"), f"{c}:/tmp/")
        assert res.returncode == 0, res.stderr
        _no_mounts_of(oci)
        assert "tmp/in.txt" in oci.cli("diff", c).stdout


def test_cp_stopped_container_sees_its_bind_mount(oci: OciEnv, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (tmp_path / "f").write_text("to-the-volume\n")
    try:
        res = oci.cli("create", "--name", "cpbind", "--network", "none", "-v",
                      f"{vol}:/data", "busybox", "true")
        assert res.returncode == 0, res.stderr
        res = oci.cli("cp", str(tmp_path / "f"), "cpbind:/data/")
        assert res.returncode == 0, res.stderr
        assert (vol / "f").read_text() == "to-the-volume\n"
        _no_mounts_of(oci)
    finally:
        rm_force(oci, "cpbind")


# -- cp: hostile symlinks -------------------------------------------------------------------------
HOSTILE = ("mkdir -p /x/y/z; ln -s /etc /abs; ln -s ../../../../../../etc /x/y/z/rel; "
           "ln -s / /mid; ln -s {host} /tohost; ln -s {host}/secret /tohostfile; "
           "echo container-passwd-marker > /etc/marker; ln -s /etc/marker /x/dst; "
           "touch /ready; {tail}")


@pytest.mark.parametrize("running", [True, False], ids=["running", "exited"])
def test_cp_hostile_symlinks_stay_inside_the_container(oci: OciEnv, tmp_path: Path,
                                                       running: bool) -> None:
    host = tmp_path / "hostonly"
    host.mkdir()
    secret = f"host-secret-{uuid.uuid4().hex}"
    (host / "secret").write_text(secret)
    (tmp_path / "payload").write_text("payload\n")
    out = tmp_path / "out"
    out.mkdir()
    name = f"cphostile{'r' if running else 'x'}"
    script = HOSTILE.format(host=host, tail="sleep 1000" if running else "true")
    with _ctr(oci, name, script, detach=running) as c:
        if running:
            _ready(oci, c, "/ready")
        # Reads: every link resolves in the container's root.
        for src in ("/abs/marker", "/x/y/z/rel/marker", "/mid/etc/marker"):
            res = oci.cli("cp", f"{c}:{src}", str(out / "got"))
            assert res.returncode == 0, (src, res.stderr)
            assert (out / "got").read_text() == "container-passwd-marker\n", src
        for src in ("/tohost/secret", "/tohostfile"):
            res = oci.cli("cp", f"{c}:{src}", str(out / "leak"))
            assert res.returncode == 125, (src, res.stdout)
            assert "could not be found on container" in res.stderr
            assert not (out / "leak").exists()
        res = oci.cli_bytes("cp", f"{c}:/tohost", "-")  # the link itself, not its target
        assert secret.encode() not in res.stdout
        # Writes: through links and onto a link as destination, still inside.
        host_before = sorted(os.listdir(host))
        for dest in ("/tohost/", "/abs/", "/x/y/z/rel/", "/x/dst"):
            res = oci.cli("cp", str(tmp_path / "payload"), f"{c}:{dest}")
            if dest == "/tohost/":
                assert res.returncode == 125  # no such directory inside the container
            else:
                assert res.returncode == 0, (dest, res.stderr)
        assert sorted(os.listdir(host)) == host_before
        assert (host / "secret").read_text() == secret
        res = oci.cli("cp", f"{c}:/etc/marker", str(out / "overwritten"))
        assert (out / "overwritten").read_text() == "payload\n"  # /x/dst -> /etc/marker
        res = oci.cli("cp", f"{c}:/etc/payload", str(out / "p2"))
        assert res.returncode == 0 and (out / "p2").read_text() == "payload\n"
        assert not Path("/etc/payload").exists() and not Path("/etc/marker").exists()
        if not running:
            _no_mounts_of(oci)  # (a running container's own rootfs mount is its runtime's)


def test_cp_argument_errors(oci: OciEnv, tmp_path: Path) -> None:
    res = oci.cli("cp", str(tmp_path / "a"), str(tmp_path / "b"))
    assert res.returncode == 125 and "must be CONTAINER:PATH" in res.stderr
    res = oci.cli("cp", "nosuchctr:/etc/passwd", str(tmp_path))
    assert res.returncode == 125 and "nosuchctr" in res.stderr
    res = oci.cli("cp", "onlyone")
    assert res.returncode == 125


# -- top ----------------------------------------------------------------------------------------
def test_top(oci: OciEnv) -> None:
    with _ctr(oci, "toptest", "sleep 1000", "--user", "1000") as c:
        res = oci.cli("top", c)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0].split() == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME",
                                    "COMMAND"]
        first = lines[1].split()
        assert first[:3] == ["user", "1", "0"]  # the name from the container's passwd
        assert lines[1].rstrip().endswith("sleep 1000")
        res = oci.cli("top", c, "pid,comm", "vsz", "rss", "nice", "%C", "etime", "time",
                      "tty", "args", "user", "ppid", "group")
        assert res.returncode == 0, res.stderr
        head = res.stdout.splitlines()[0].split()
        assert head == ["PID", "COMMAND", "VSZ", "RSS", "NI", "%CPU", "ELAPSED", "TIME",
                        "TTY", "COMMAND", "USER", "PPID", "GROUP"]
        row = res.stdout.splitlines()[1].split()
        assert row[0] == "1" and row[1] == "sleep" and int(row[2]) > 0 and row[8] == "?"
        oci.cli("exec", "-d", c, "sleep", "777")
        wait_until(lambda: "sleep 777" in oci.cli("top", c).stdout, "exec'd process in top")
        res = oci.cli("top", c, "bogus")
        assert res.returncode == 125
        assert "unknown top descriptor 'bogus'" in res.stderr and "pcpu" in res.stderr
    try:
        assert oci.cli("create", "--name", "topcreated", "busybox", "true").returncode == 0
        res = oci.cli("top", "topcreated")
        assert res.returncode == 125
        assert "top can only be used on running containers" in res.stderr
    finally:
        rm_force(oci, "topcreated")
    assert oci.cli("top", "nosuchctr").returncode == 125


# -- stats ----------------------------------------------------------------------------------------
def test_stats_no_stream(oci: OciEnv) -> None:
    with _ctr(oci, "statsrun") as c:
        res = oci.cli("stats", "--no-stream", c)
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0].split() == ["ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT",
                                    "MEM", "%", "NET", "IO", "BLOCK", "IO", "PIDS", "CPU",
                                    "TIME", "AVG", "CPU", "%"]
        assert lines[1].startswith(oci.cli("inspect", "-f", "{{.Id}}", c).stdout[:12])
        res = oci.cli("stats", "--no-stream", "--format",
                      "{{.Name}} {{.PIDs}} {{.CPUPerc}} {{.MemUsage}} {{.NetIO}}", c)
        assert res.returncode == 0, res.stderr
        name, pids, cpu, rest = res.stdout.split(" ", 3)
        assert name == c and pids == "1" and cpu.endswith("%")
        assert " / " in rest and rest.strip().endswith("0B / 0B")  # --network none
        data = json.loads(oci.cli("stats", "--no-stream", "--format", "json", c).stdout)
        assert data[0]["name"] == c and data[0]["pids"] == "1"
        assert set(data[0]) == {"id", "name", "cpu_time", "cpu_percent", "avg_cpu",
                                "mem_usage", "mem_percent", "net_io", "block_io", "pids"}
        res = oci.cli("stats", "--no-stream", "--no-trunc", "--format",
                      "table {{.ID}} {{.MemUsage}}", c)
        assert len(res.stdout.splitlines()[1].split()[0]) == 64
        res = oci.cli("stats", "--no-stream", "--format", "{{.Foo}}", c)
        assert res.returncode == 125 and "can't evaluate field Foo" in res.stderr
        assert oci.cli("stats", "--no-stream", "-a", c).returncode == 125
        res = oci.cli("stats", "--no-stream", "-i", "0", c)
        assert res.returncode == 125 and "invalid interval" in res.stderr
        assert oci.cli("stats", "--no-stream", "nosuchctr").returncode == 125
        listed = oci.cli("stats", "--no-stream", "--format", "{{.Name}}").stdout.split()
        assert c in listed


def test_stats_all_shows_stopped_containers_with_zeros(oci: OciEnv) -> None:
    try:
        assert oci.cli("create", "--name", "statscreated", "busybox", "true").returncode == 0
        res = oci.cli("stats", "--no-stream", "-a", "--format",
                      "{{.Name}}|{{.MemUsage}}|{{.PIDs}}")
        assert "statscreated|0B / 0B|0" in res.stdout.splitlines()
        assert "statscreated" not in oci.cli("stats", "--no-stream").stdout
    finally:
        rm_force(oci, "statscreated")


def test_stats_streams_until_stopped(oci: OciEnv) -> None:
    with _ctr(oci, "statsstream") as c:
        proc = oci.spawn("stats", "-i", "1", "--no-reset", "--format", "{{.Name}}", c)
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline(), proc.stdout.readline()]
            assert [ln.strip() for ln in lines] == [c.encode(), c.encode()]
        finally:
            proc.terminate()
            proc.wait()
            proc.stdout.close() if proc.stdout else None
            proc.stderr.close() if proc.stderr else None


# -- diff -----------------------------------------------------------------------------------------
def test_diff(oci: OciEnv) -> None:
    with _ctr(oci, "difftest", "touch /newfile; rm /etc/group; mkdir -p /a/b",
              detach=False) as c:
        res = oci.cli("diff", c)
        assert res.returncode == 0, res.stderr
        lines = set(res.stdout.splitlines())
        assert {"A /newfile", "C /etc", "D /etc/group", "A /a", "A /a/b"} <= lines
        assert not any(ln.endswith(("/etc/hosts", "/etc/resolv.conf", "/proc"))
                       for ln in lines)
        data = json.loads(oci.cli("diff", "--format", "json", c).stdout)
        assert data["deleted"] == ["/etc/group"] and "/newfile" in data["added"]
        assert "/etc" in data["changed"]
        latest = json.loads(oci.cli("diff", "-l", "--format", "json").stdout)
        assert latest == data
        res = oci.cli("diff", "--format", "{{.}}", c)
        assert res.returncode == 125
        assert "only supported value for '--format' is 'json'" in res.stderr
    res = oci.cli("diff", "nosuchthing")
    assert res.returncode == 125 and "nosuchthing not found" in res.stderr
    assert oci.cli("diff").returncode == 125
    img = oci.cli("diff", "busybox")
    assert img.returncode == 0 and "A /bin/busybox" in img.stdout.splitlines()


# -- export ---------------------------------------------------------------------------------------
def test_export(oci: OciEnv, tmp_path: Path) -> None:
    with _ctr(oci, "exportme", "echo exported > /root/mark; touch /ready; sleep 1000") as c:
        _ready(oci, c, "/ready")
        target = tmp_path / "ctr.tar"
        res = oci.cli("export", "-o", str(target), c)
        assert res.returncode == 0, res.stderr
        with tarfile.open(target) as tf:
            names = set(tf.getnames())
            mark = tf.extractfile("root/mark")
            assert mark is not None and mark.read() == b"exported\n"
        assert "bin/busybox" in names
        assert not any(n.startswith(("proc/", "sys/")) for n in names)  # kernel fs left out
        res = oci.cli_bytes("export", c)
        assert res.returncode == 0
        with tarfile.open(fileobj=io.BytesIO(res.stdout)) as tf:
            assert "root/mark" in tf.getnames()
        res = oci.cli("export", "-o", str(tmp_path / "nodir" / "x.tar"), c)
        assert res.returncode == 125 and "creating file" in res.stderr
    res = oci.cli("export", "-o", str(tmp_path / "none.tar"), "nosuchctr")
    assert res.returncode == 125 and not (tmp_path / "none.tar").exists()


def test_export_refuses_a_terminal(oci: OciEnv) -> None:
    import pty
    import subprocess
    import sys

    with _ctr(oci, "exporttty") as c:
        primary, secondary = pty.openpty()
        try:
            res = subprocess.run([sys.executable, "-m", "ipy_oci", "export", c],
                                 env=oci.env, stdout=secondary, stderr=subprocess.PIPE,
                                 stdin=subprocess.DEVNULL, timeout=60)
        finally:
            os.close(secondary)
            os.close(primary)
        assert res.returncode == 125
        assert b"refusing to export to terminal" in res.stderr


# -- rename ---------------------------------------------------------------------------------------
def test_rename(oci: OciEnv) -> None:
    with _ctr(oci, "other"):
        try:
            assert oci.cli("run", "-d", "--name", "before", "--network", "none", "busybox",
                           "sleep", "1000").returncode == 0
            res = oci.cli("rename", "before", "after")
            assert res.returncode == 0, res.stderr
            names = oci.cli("ps", "--format", "{{.Names}}").stdout.split()
            assert "after" in names and "before" not in names
            assert oci.cli("exec", "after", "true").returncode == 0  # still works
            events = oci.cli("events", "--stream=false", "--filter", "event=rename").stdout
            assert "container rename" in events and "name=after" in events
            res = oci.cli("rename", "after", "other")
            assert res.returncode == 125 and "already in use" in res.stderr
            res = oci.cli("rename", "after", "bad name")
            assert res.returncode == 125 and "[a-zA-Z0-9][a-zA-Z0-9_.-]*" in res.stderr
            assert oci.cli("rename", "nosuchctr", "x").returncode == 125
            assert oci.cli("rename", "after").returncode == 125
            # the old name is free again
            assert oci.cli("create", "--name", "before", "busybox", "true").returncode == 0
        finally:
            rm_force(oci, "before", "after")


# -- port -----------------------------------------------------------------------------------------
def test_port_all_latest_and_errors(oci: OciEnv) -> None:
    try:
        res = oci.cli("run", "-d", "--name", "porty", "-p", "127.0.0.1::80", "busybox",
                      "sleep", "1000")
        assert res.returncode == 0, res.stderr
        short = res.stdout.strip()[:12]
        mine = oci.cli("port", "porty")
        assert mine.returncode == 0 and mine.stdout.startswith("80/tcp -> 127.0.0.1:")
        every = oci.cli("port", "-a")
        assert f"{short}\t80/tcp -> 127.0.0.1:" in every.stdout
        latest = oci.cli("port", "-l", "80")
        assert latest.returncode == 0 and latest.stdout.startswith("127.0.0.1:")
        assert oci.cli("port", "porty", "81").returncode == 125
        res = oci.cli("port")
        assert res.returncode == 125
        assert "you must supply a running container name or id" in res.stderr
        assert oci.cli("port", "-a", "porty").returncode == 125
        oci.cli("stop", "-t", "0", "porty")
        assert oci.cli("port", "porty").stdout == ""  # podman: running containers only
    finally:
        rm_force(oci, "porty")


# -- container prune, system df ------------------------------------------------------------
def test_container_prune(oci: OciEnv) -> None:
    try:
        for name, extra in (("pexited", ["--label", "keep=no"]), ("pkeep", ["--label",
                                                                             "keep=yes"])):
            assert oci.cli("run", "--name", name, "--network", "none", *extra, "busybox",
                           "true").returncode == 0
        assert oci.cli("create", "--name", "pcreated", "busybox", "true").returncode == 0
        assert oci.cli("run", "-d", "--name", "prunning", "--network", "none", "busybox",
                       "sleep", "1000").returncode == 0
        res = oci.cli("container", "prune", "--filter", "bogus=1", "-f")
        assert res.returncode == 125 and "bogus is an invalid filter" in res.stderr
        ids = {n: oci.cli("inspect", "-f", "{{.Id}}", n).stdout.strip()
               for n in ("pexited", "pkeep", "pcreated")}
        res = oci.cli("container", "prune", "-f", "--filter", "label!=keep=yes")
        assert res.returncode == 0, res.stderr
        assert set(res.stdout.split()) == {ids["pexited"], ids["pcreated"]}
        left = oci.cli("ps", "-a", "--format", "{{.Names}}").stdout.split()
        assert sorted(left) == ["pkeep", "prunning"]
        res = oci.cli("container", "prune", "-f", "--filter", "until=1h")
        assert res.returncode == 0 and res.stdout == ""  # pkeep is younger than an hour
        res = oci.cli("container", "prune", input=b"n\n")
        assert "pkeep" in oci.cli("ps", "-a", "--format", "{{.Names}}").stdout
    finally:
        rm_force(oci, "pexited", "pkeep", "pcreated", "prunning")


def test_system_df(oci: OciEnv) -> None:
    with _ctr(oci, "dfrun"), _ctr(oci, "dfexit", "echo hi > /f", detach=False):
        res = oci.cli("system", "df")
        assert res.returncode == 0, res.stderr
        lines = res.stdout.splitlines()
        assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
        res = oci.cli("system", "df", "--format", "{{.Type}}:{{.Total}}:{{.Active}}")
        assert res.stdout.splitlines() == ["Images:1:1", "Containers:2:1",
                                           "Local Volumes:0:0"]
        verbose = oci.cli("system", "df", "-v").stdout
        assert "Images space usage:" in verbose and "Containers space usage:" in verbose
        assert "Local Volumes space usage:" in verbose
        assert "dfrun" in verbose and "dfexit" in verbose
        data = json.loads(oci.cli("system", "df", "--format", "json").stdout)
        assert [d["Type"] for d in data] == ["Images", "Containers", "Local Volumes"]
        res = oci.cli("system", "df", "--format", "{{.Nope}}")
        assert res.returncode == 125
