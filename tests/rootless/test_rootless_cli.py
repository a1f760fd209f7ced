"""The CLI run by a user with a subordinate range (issue 14, docs/ROOTLESS.md §1-§4, §6).

Containers use ``--network none`` unless networking is the point; test_rootless_network.py
covers slirp4netns and ports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess

import pytest
from helpers import wait_until
from users import (
    SUBID_COUNT,
    User,
    container,
    expected_map,
    holder_pid,
    inspect,
    parse_map,
    proc_uids,
    processes,
    uid_map,
    userns,
)

IDENTITY = [(0, 0, 4294967295)]
NONET = ("--network", "none")


def _fails_125_naming(res: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 125 with a message that names the reason (every word, case-insensitive)."""
    rc, err = res.returncode, res.stderr
    assert rc == 125, f"exit {rc}: {err}"
    low = err.lower()
    assert all(w.lower() in low for w in words), f"{words} not all in: {err}"
    assert "Traceback" not in err


# -- user namespace ------------------------------------------------------------------------------


def test_run_rm_is_root_in_a_mapped_user_namespace(rl1: User) -> None:
    out = rl1.oci_ok("run", "--rm", *NONET, "busybox", "sh", "-c",
                     "id -u; echo --; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map")
    uid, uids, gids = out.split("--\n")
    assert uid == "0\n"
    assert parse_map(uids) != IDENTITY
    assert parse_map(uids) == expected_map(rl1, rl1.uid)
    assert parse_map(gids) == expected_map(rl1, rl1.gid)


def test_detached_exec_stop_rm(rl1: User) -> None:
    with container(rl1, "life", *NONET, "busybox", "sleep", "1000") as cid:
        assert len(cid) == 64
        assert rl1.oci_ok("exec", "life", "id", "-u") == "0\n"
        rl1.oci_ok("exec", "-d", "life", "sleep", "500")
        assert "life" in rl1.oci_ok("ps", "-a", "--format", "{{.Names}}").split()
        rl1.oci_ok("stop", "-t", "0", "life")
        assert inspect(rl1, "life")["State"]["Status"] == "exited"
        rl1.oci_ok("start", "life")
        assert inspect(rl1, "life")["State"]["Status"] == "running"
        rl1.oci_ok("stop", "-t", "0", "life")
        rl1.oci_ok("rm", "life")
        assert rl1.oci_ok("ps", "-aq") == ""


def test_container_processes_run_as_the_user_or_a_subuid_on_the_host(rl1: User) -> None:
    assert rl1.subid is not None
    with container(rl1, "asroot", *NONET, "busybox", "sleep", "1000"), \
            container(rl1, "as1000", *NONET, "--user", "1000:1000", "busybox", "sleep",
                      "1000"):
        root_pid = inspect(rl1, "asroot")["State"]["Pid"]
        user_pid = inspect(rl1, "as1000")["State"]["Pid"]
        assert proc_uids(root_pid) == (rl1.uid, rl1.gid)
        # namespace id N >= 1 is SUB + N - 1 on the host
        assert proc_uids(user_pid) == (rl1.subid + 999, rl1.subid + 999)
        assert uid_map(root_pid) == expected_map(rl1, rl1.uid)
        # runc runs in the holder's user namespace: the container shares it (§4)
        holder = holder_pid(rl1)
        assert holder is not None
        assert userns(root_pid) == userns(holder) != userns("self")
        # conmon, the monitor, runs as the user too
        assert [cmd for _pid, _uid, cmd in processes({rl1.uid}) if "conmon" in cmd]


def test_file_written_by_container_root_into_a_bind_mount_belongs_to_the_user(
        rl1: User) -> None:
    share = rl1.home / "share"
    try:
        res = rl1.run("mkdir", "-m", "0755", str(share))
        assert res.returncode == 0, res.stderr
        rl1.oci_ok("run", "--rm", *NONET, "-v", f"{share}:/data", "busybox", "sh", "-c",
                   "echo by-root > /data/f && mkdir /data/d && stat -c %u:%g /data")
        for path in (share / "f", share / "d"):
            st = os.stat(path)
            assert (st.st_uid, st.st_gid) == (rl1.uid, rl1.gid), path
        assert (share / "f").read_text() == "by-root\n"
        # the user owns them outright: plain rm works without ipy-oci
        res = rl1.run("rm", "-r", str(share / "f"), str(share / "d"))
        assert res.returncode == 0, res.stderr
        # and the user's own files show as root inside
        assert rl1.oci_ok("run", "--rm", *NONET, "-v", f"{share}:/data", "busybox",
                          "stat", "-c", "%u", "/data") == "0\n"
    finally:
        shutil.rmtree(share, ignore_errors=True)


# -- unshare and info ----------------------------------------------------------------------------


def test_unshare_runs_a_command_in_the_user_namespace(rl1: User) -> None:
    assert parse_map(rl1.oci_ok("unshare", "cat", "/proc/self/uid_map")) == \
        expected_map(rl1, rl1.uid)
    assert rl1.oci_ok("unshare", "id", "-u") == "0\n"
    # the plan (§1): the command learns the user's storage root and runroot
    out = rl1.oci_ok("unshare", "sh", "-c", 'echo "$IPY_OCI_ROOT"; echo "$IPY_OCI_RUNROOT"')
    assert out.splitlines() == [str(rl1.storage), str(rl1.runroot)]
    # the exit status of the command is unshare's
    assert rl1.oci("unshare", "sh", "-c", "exit 7").returncode == 7


def test_info_shows_rootless_and_the_id_mappings(rl1: User) -> None:
    assert rl1.subid is not None
    data = json.loads(rl1.oci_ok("info", "--format", "json"))
    host, store = data["host"], data["store"]
    assert host["security"]["rootless"] is True
    maps = host["idMappings"]
    assert maps["uidmap"] == [{"container_id": 0, "host_id": rl1.uid, "size": 1},
                              {"container_id": 1, "host_id": rl1.subid, "size": SUBID_COUNT}]
    assert maps["gidmap"] == [{"container_id": 0, "host_id": rl1.gid, "size": 1},
                              {"container_id": 1, "host_id": rl1.subid, "size": SUBID_COUNT}]
    assert store["graphRoot"] == str(rl1.storage)
    assert store["runRoot"] == str(rl1.runroot)
    assert store["configFile"] == str(rl1.config)
    assert rl1.oci_ok("info", "--format", "{{.Host.Security.Rootless}}").strip() == "true"


# -- paths ---------------------------------------------------------------------------------------


def _private_dir(path: os.PathLike[str] | str, uid: int) -> None:
    st = os.lstat(path)
    assert stat.S_ISDIR(st.st_mode), path
    assert st.st_uid == uid, (path, st.st_uid)
    assert st.st_mode & 0o077 == 0, (path, oct(st.st_mode))


def test_per_user_storage_runroot_and_config(rl1: User) -> None:
    rl1.oci_ok("run", "--rm", *NONET, "busybox", "true")
    _private_dir(rl1.storage, rl1.uid)
    _private_dir(rl1.runroot, rl1.uid)
    # the per-user config (the suite writes one) is read: short names go only to the
    # closed loopback port it names
    res = rl1.oci("pull", "no-such-image-anywhere")
    assert res.returncode == 125
    assert "127.0.0.1:9" in res.stderr


def test_xdg_directories_are_honoured(rl1: User) -> None:
    data_home, run_dir, conf_home = (rl1.home / "xdg-data", rl1.home / "xdg-run",
                                     rl1.home / "xdg-config")
    env = {"XDG_DATA_HOME": str(data_home), "XDG_RUNTIME_DIR": str(run_dir),
           "XDG_CONFIG_HOME": str(conf_home)}
    try:
        res = rl1.run("mkdir", "-m", "0700", str(data_home), str(run_dir), str(conf_home))
        assert res.returncode == 0, res.stderr
        store = json.loads(rl1.oci_ok("info", "--format", "json", env=env))["store"]
        assert store["graphRoot"] == f"{data_home}/ipy-oci"
        assert store["runRoot"] == f"{run_dir}/ipy-oci"
        assert store["configFile"] == f"{conf_home}/ipy-oci/ipy-oci.toml"
        rl1.oci_ok("run", "--rm", *NONET, "busybox", "true", env=env)
        _private_dir(data_home / "ipy-oci", rl1.uid)
        _private_dir(run_dir / "ipy-oci", rl1.uid)
        rl1.oci_ok("system", "migrate", env=env)
        # an XDG_RUNTIME_DIR the user does not own is not used: the /tmp runroot is
        store = json.loads(rl1.oci_ok("info", "--format", "json",
                                      env={"XDG_RUNTIME_DIR": "/tmp"}))["store"]
        assert store["runRoot"] == str(rl1.runroot)
    finally:
        rl1.oci("system", "migrate", env=env)
        for d in (data_home, run_dir, conf_home):
            shutil.rmtree(d, ignore_errors=True)


def test_a_runroot_that_is_not_private_is_refused(rl1: User, rl2: User) -> None:
    """/tmp is shared and the runroot's name predictable: someone else's directory, or a
    symlink, planted there must be refused (125), never used."""
    rl1.oci_ok("ps", "-aq")
    rl1.oci_ok("system", "migrate")
    aside = rl1.runroot.with_name(rl1.runroot.name + ".aside")
    os.rename(rl1.runroot, aside)
    try:
        os.mkdir(rl1.runroot, 0o700)
        os.chown(rl1.runroot, rl2.uid, rl2.gid)
        _fails_125_naming(rl1.oci("ps", "-aq"), str(rl1.runroot), "private")
        os.rmdir(rl1.runroot)
        os.symlink(aside, rl1.runroot)  # rl1's own directory, but through a symlink
        _fails_125_naming(rl1.oci("ps", "-aq"), str(rl1.runroot), "private")
    finally:
        if os.path.islink(rl1.runroot):
            os.unlink(rl1.runroot)
        elif os.path.isdir(rl1.runroot):
            os.rmdir(rl1.runroot)
        os.rename(aside, rl1.runroot)
    # our own directory with a loose mode is tightened (or refused), never used as is
    os.chmod(rl1.runroot, 0o755)
    res = rl1.oci("ps", "-aq")
    assert res.returncode == 125 or os.stat(rl1.runroot).st_mode & 0o077 == 0, res.stderr
    os.chmod(rl1.runroot, 0o700)
    rl1.oci_ok("ps", "-aq")


# -- the namespace holder ---------------------------------------------------------------------


def test_holder_is_a_deliberate_keep_alive_stopped_by_system_migrate(rl1: User) -> None:
    rl1.oci_ok("run", "--rm", *NONET, "busybox", "true")
    holder = holder_pid(rl1)
    assert holder is not None, "no live holder named in userns.pid"
    assert proc_uids(holder)[0] == rl1.uid
    assert userns(holder) != userns("self")
    assert uid_map(holder) == expected_map(rl1, rl1.uid)
    with container(rl1, "keep", *NONET, "busybox", "sleep", "1000"):
        # in use: migrate must leave the namespace (and the container in it) alone
        rl1.oci("system", "migrate")
        assert holder_pid(rl1) == holder
        assert rl1.oci_ok("exec", "keep", "id", "-u") == "0\n"
    rl1.oci_ok("system", "migrate")
    # bounded polls, not timings: the holder's exit is seen by /proc a moment later
    wait_until(lambda: holder_pid(rl1) is None, "the holder to stop")
    wait_until(lambda: processes({rl1.uid}) == [], "no process of the user")


def test_killed_holder_is_readopted_while_a_container_lives(rl1: User) -> None:
    with container(rl1, "orphan", *NONET, "busybox", "sleep", "1000"):
        holder = holder_pid(rl1)
        assert holder is not None
        ns = userns(inspect(rl1, "orphan")["State"]["Pid"])
        os.kill(holder, signal.SIGKILL)
        # a fresh namespace could not reach the container: the same one must be used
        assert rl1.oci_ok("exec", "orphan", "id", "-u") == "0\n"
        again = holder_pid(rl1)
        assert again is not None and again != holder
        assert userns(again) == ns
        rl1.oci_ok("rm", "-f", "-t", "0", "orphan")


# -- what cgroup v1 without delegation cannot do ------------------------------------------------

cgroup_v1 = pytest.mark.skipif(
    os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
    reason="these refusals are for a cgroup v1 host (this one is unified v2)")


@cgroup_v1
@pytest.mark.parametrize("flag", [("--memory", "64m"), ("--cpus", "1"),
                                  ("--pids-limit", "10")], ids=lambda f: f[0])
def test_resource_limits_are_refused(rl1: User, flag: tuple[str, str]) -> None:
    for verb in ("create", "run"):
        res = rl1.oci(verb, *NONET, *flag, "busybox", "true")
        _fails_125_naming(res, "rootless", "cgroup")
    assert rl1.oci_ok("ps", "-aq") == ""


@cgroup_v1
def test_pause_unpause_and_stats_are_refused(rl1: User) -> None:
    with container(rl1, "frozen", *NONET, "busybox", "sleep", "1000"):
        _fails_125_naming(rl1.oci("pause", "frozen"), "rootless", "cgroup")
        _fails_125_naming(rl1.oci("unpause", "frozen"), "rootless", "cgroup")
        _fails_125_naming(rl1.oci("stats", "--no-stream", "frozen"), "rootless")
        assert inspect(rl1, "frozen")["State"]["Status"] == "running"
        assert rl1.oci_ok("exec", "frozen", "true") == ""
