"""Named and anonymous volumes through the CLI, with real containers: ``volume
create|ls|inspect|rm|prune|exists``, ``-v NAME:/path``, ``-v /path``, ``--mount
type=volume``, copy-up, ``rm -v``/``--rm``, and podman's errors and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import OciEnv, rm_force

NET = ("--network", "none")


def ok(oci: OciEnv, *args: str) -> str:
    res = oci.cli(*args)
    assert res.returncode == 0, f"{args}: {res.stderr}"
    return res.stdout


def volumes(oci: OciEnv) -> list[str]:
    return ok(oci, "volume", "ls", "-q").split()


def test_containers_share_a_named_volume(oci: OciEnv) -> None:
    try:
        assert ok(oci, "volume", "create", "--label", "team=a", "shared") == "shared\n"
        # One container writes, another reads; -v NAME creates nothing new.
        ok(oci, "run", "--rm", *NET, "-v", "shared:/data", "busybox", "sh", "-c",
           "echo from-writer > /data/note")
        out = ok(oci, "run", "--name", "reader", *NET, "-v", "shared:/in:ro", "busybox",
                 "cat", "/in/note")
        assert out == "from-writer\n"
        res = oci.cli("run", "--rm", *NET, "-v", "shared:/in:ro", "busybox", "touch", "/in/x")
        assert res.returncode == 1 and "Read-only file system" in res.stderr
        mountpoint = ok(oci, "volume", "inspect", "--format", "{{.Mountpoint}}",
                        "shared").strip()
        assert mountpoint == str(oci.root / "volumes" / "shared" / "_data")
        assert Path(mountpoint, "note").read_text() == "from-writer\n"
        # inspect of the container: podman's Mounts entry for a volume.
        [m] = json.loads(ok(oci, "inspect", "--format", "{{json .Mounts}}", "reader"))
        assert (m["Type"], m["Name"], m["Source"], m["Destination"], m["RW"]) == (
            "volume", "shared", mountpoint, "/in", False)
        assert m["Driver"] == "local" and "nosuid" in m["Options"]
        # In use: podman's words and exit code 2; nothing removed.
        res = oci.cli("volume", "rm", "shared")
        cid = ok(oci, "inspect", "--format", "{{.Id}}", "reader").strip()
        assert res.returncode == 2
        assert res.stderr == (f"Error: volume shared is being used by the following "
                              f"container(s): {cid}: volume is being used\n")
        assert volumes(oci) == ["shared"]
        # -f removes the container with the volume, as podman's.
        assert ok(oci, "volume", "rm", "-f", "shared") == "shared\n"
        assert volumes(oci) == [] and oci.cli("inspect", "reader").returncode == 125
        assert not (oci.root / "volumes" / "shared").exists()
    finally:
        rm_force(oci, "reader")
        oci.cli("volume", "rm", "-f", "shared")


def test_auto_created_volume_copies_up_the_image(oci: OciEnv) -> None:
    try:
        # A volume that does not exist is made when the container is created, and gets
        # the image's files at the mount point (podman's copy-up), once.
        out = ok(oci, "run", "--rm", *NET, "-v", "etcvol:/etc", "busybox", "sh", "-c",
                 "cat /etc/passwd | head -1; echo mine > /etc/added")
        assert out.startswith("root:")
        assert volumes(oci) == ["etcvol"]
        assert ok(oci, "volume", "inspect", "--format", "{{.NeedsCopyUp}}",
                  "etcvol") == "false\n"
        data = oci.root / "volumes" / "etcvol" / "_data"
        assert (data / "passwd").is_file() and (data / "added").read_text() == "mine\n"
        # nocopy: an empty new volume stays empty.
        ok(oci, "run", "--rm", *NET, "-v", "empty:/etc:nocopy", "busybox", "true")
        # (runc makes the mount points of /etc/hosts ... in it; the image's files are
        # not copied)
        copied = {p.name for p in (oci.root / "volumes" / "empty" / "_data").iterdir()}
        assert "passwd" not in copied and copied <= {"hosts", "hostname", "resolv.conf"}
    finally:
        oci.cli("volume", "rm", "-f", "etcvol", "empty")
    assert volumes(oci) == []


def test_anonymous_volumes_go_with_rm_v_and_run_rm(oci: OciEnv) -> None:
    try:
        ok(oci, "run", "--name", "anon", *NET, "-v", "/scratch", "busybox", "sh", "-c",
           "echo x > /scratch/f")
        [name] = volumes(oci)
        assert len(name) == 64 and all(c in "0123456789abcdef" for c in name)
        data = json.loads(ok(oci, "volume", "inspect", name))[0]
        assert data["Anonymous"] is True
        assert ok(oci, "inspect", "--format", "{{range .Mounts}}{{.Type}} {{.Name}}{{end}}",
                  "anon") == f"volume {name}\n"
        ok(oci, "rm", "-v", "anon")
        assert volumes(oci) == []
        ok(oci, "run", "--rm", *NET, "-v", "/scratch", "busybox", "true")
        assert volumes(oci) == []
        # Without -v an anonymous volume stays (as podman's), for prune.
        ok(oci, "run", "--name", "anon2", *NET, "-v", "/scratch", "busybox", "true")
        ok(oci, "rm", "anon2")
        [left] = volumes(oci)
        assert ok(oci, "volume", "prune", "-f") == f"{left}\n"
        assert volumes(oci) == []
    finally:
        rm_force(oci, "anon", "anon2")
        oci.cli("volume", "prune", "-f")


def test_mount_type_volume(oci: OciEnv) -> None:
    res = oci.cli("run", "--help")
    if "--mount" not in res.stdout:
        pytest.skip("--mount is not in the grammar yet (the run/create flags' slice)")
    try:
        ok(oci, "run", "--rm", *NET, "--mount", "type=volume,source=mv,target=/m",
           "busybox", "sh", "-c", "echo via-mount > /m/f")
        out = ok(oci, "run", "--rm", *NET, "-v", "mv:/v", "busybox", "cat", "/v/f")
        assert out == "via-mount\n"
    finally:
        oci.cli("volume", "rm", "-f", "mv")


def test_ls_filters_formats_and_prune(oci: OciEnv) -> None:
    try:
        for args in (["--label", "tier=db", "vol_1_a"], ["--label", "tier", "vol_12"],
                     ["vol_2"]):
            ok(oci, "volume", "create", *args)
        ok(oci, "create", "--name", "user", *NET, "-v", "vol_2:/x", "busybox", "true")
        # podman's table, sorted by name.
        assert ok(oci, "volume", "ls").splitlines() == [
            "DRIVER      VOLUME NAME", "local       vol_12", "local       vol_1_a",
            "local       vol_2"]
        assert ok(oci, "volume", "ls", "--noheading").splitlines()[0].split() == [
            "local", "vol_12"]

        def names(*filters: str) -> list[str]:
            args = [a for f in filters for a in ("--filter", f)]
            return ok(oci, "volume", "ls", *args, "--format", "{{.Name}}").split()

        assert names("name=vol_1.+") == ["vol_12", "vol_1_a"]  # a regex, unanchored
        assert names("name=_a") == ["vol_1_a"]
        assert names("label=tier") == ["vol_12", "vol_1_a"]
        assert names("label=tier=db") == ["vol_1_a"]
        assert names("label!=tier") == ["vol_2"]
        assert names("dangling=true") == ["vol_12", "vol_1_a"]
        assert names("dangling=false") == ["vol_2"]
        assert names("driver=local", "name=2") == ["vol_12", "vol_2"]
        assert names("until=1h") == []
        # Templates on podman's fields, and the table header from the fields.
        out = ok(oci, "volume", "ls", "--filter", "name=vol_1_a", "--format",
                 "table {{.Name}} {{.Driver}} {{.Scope}} {{.Labels.tier}} {{.MountCount}}")
        assert [ln.split() for ln in out.splitlines()] == [
            ["VOLUME", "NAME", "DRIVER", "SCOPE", "TIER", "MOUNT", "COUNT"],  # podman's
            ["vol_1_a", "local", "local", "db", "0"]]
        js = json.loads(ok(oci, "volume", "ls", "--format", "json", "--filter",
                           "name=vol_1_a"))
        assert js[0]["Labels"] == {"tier": "db"} and js[0]["NeedsCopyUp"] is True
        assert set(js[0]) >= {"Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope",
                              "Options", "MountCount"}
        created = ok(oci, "volume", "inspect", "--format", "{{.CreatedAt}}", "vol_2")
        assert created.strip().endswith(" +0000 UTC")  # Go's time String()
        # --all; several names; prune keeps what is used and what the filter keeps.
        assert ok(oci, "volume", "inspect", "--all", "--format", "{{.Name}}").split() == [
            "vol_12", "vol_1_a", "vol_2"]
        res = oci.cli("volume", "prune", input=b"n\n")
        assert res.returncode == 0 and "vol_12\nvol_1_a\n" in res.stdout
        assert "Are you sure you want to continue? [y/N]" in res.stdout
        assert len(volumes(oci)) == 3
        assert ok(oci, "volume", "prune", "-f", "--filter", "label=tier=db") == "vol_1_a\n"
        assert ok(oci, "volume", "prune", "-f") == "vol_12\n"
        assert volumes(oci) == ["vol_2"]
        assert oci.cli("volume", "exists", "vol_2").returncode == 0
        assert oci.cli("volume", "exists", "vol_1_a").returncode == 1
    finally:
        rm_force(oci, "user")
        oci.cli("volume", "rm", "-a", "-f")
    assert volumes(oci) == []


def test_bind_volume_and_owner_options(oci: OciEnv, tmp_path: Path) -> None:
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "f").write_text("host file\n")
    try:
        ok(oci, "volume", "create", "-o", "type=bind", "-o", f"device={host}", "bound")
        assert ok(oci, "volume", "inspect", "--format", "{{.Mountpoint}}",
                  "bound") == f"{host}\n"
        assert ok(oci, "run", "--rm", *NET, "-v", "bound:/b", "busybox", "cat",
                  "/b/f") == "host file\n"
        ok(oci, "volume", "create", "-o", "o=uid=1234,gid=99", "owned")
        st = os.stat(oci.root / "volumes" / "owned" / "_data")
        assert (st.st_uid, st.st_gid) == (1234, 99)
        ok(oci, "volume", "rm", "bound", "owned")
        assert host.is_dir() and (host / "f").exists()  # the user's directory stays
    finally:
        oci.cli("volume", "rm", "-f", "bound", "owned")


@pytest.mark.parametrize(("args", "code", "words"), [
    (["volume", "create", "bad/name"], 125, "invalid volume name"),
    (["volume", "create", "--driver", "nfs", "x"], 125, "only the 'local' driver"),
    (["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "x"], 125,
     "--tmpfs PATH"),
    (["volume", "create", "-o", "bogus=1", "x"], 125, "invalid mount option bogus"),
    (["volume", "create", "-o", "type=bind", "-o", "device=/no/such/dir", "x"], 125,
     "stat /no/such/dir: no such file or directory"),
    (["volume", "create", "-o", "o=size=10m", "x"], 125, "would mount a filesystem"),
    (["volume", "create", "-o", "o=uid=abc", "x"], 125, "uid needs a number"),
    (["volume", "rm", "nosuch"], 1, 'no volume with name "nosuch" found: no such volume'),
    (["volume", "rm"], 125, "one or more volumes or --all"),
    (["volume", "inspect", "nosuch"], 125, "no such volume nosuch"),
    (["volume", "inspect"], 125, "names or --all"),
    (["volume", "ls", "--filter", "bogus=1"], 125, "invalid volume filter"),
    (["volume", "ls", "--filter", "nonsense"], 125, "use KEY=VALUE"),
    (["volume", "ls", "--filter", "dangling=maybe"], 125, "true or false"),
    (["volume", "ls", "--filter", "name=("], 125, "not a regular expression"),
    (["volume", "prune", "--filter", "name=x"], 125, "invalid volume filter"),
    (["volume"], 125, "missing subcommand"),
    (["run", "--rm", "-v", "bad name:/x", "busybox", "true"], 125,
     "neither an absolute host path nor a volume name"),
    (["run", "--rm", "-v", "./rel:/x", "busybox", "true"], 125,
     "neither an absolute host path nor a volume name"),
    (["run", "--rm", "-v", "v:relative", "busybox", "true"], 125, "must be absolute"),
    (["run", "--rm", "-v", "/tmp:/x:nocopy", "busybox", "true"], 125,
     "applies to named volumes only"),
    (["inspect", "--type", "volume", "nosuch"], 125, "no such volume"),
])
def test_bad_input(oci: OciEnv, args: list[str], code: int, words: str) -> None:
    res = oci.cli(*args)
    assert res.returncode == code, (args, res.stdout, res.stderr)
    assert words in res.stderr, res.stderr
    assert volumes(oci) == []  # nothing made on the way


def test_rm_force_unknown_is_quiet_and_exists(oci: OciEnv) -> None:
    res = oci.cli("volume", "rm", "--force", "bogus")
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    assert oci.cli("volume", "exists", "bogus").returncode == 1
    res = oci.cli("volume", "create", "twice")
    assert res.returncode == 0
    res = oci.cli("volume", "create", "twice")
    assert res.returncode == 125
    assert "volume with name twice already exists: volume already exists" in res.stderr
    res = oci.cli("volume", "ls", "--format", "{{.Nope}}")
    assert res.returncode == 125 and "can't evaluate field Nope" in res.stderr
    # inspect finds a volume without --type too.
    assert ok(oci, "inspect", "--format", "{{.Name}} {{.Driver}}", "twice") == \
        "twice local\n"
    ok(oci, "volume", "rm", "twice")
