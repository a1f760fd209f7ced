"""The run/create flags podman users rely on, each against a real container (runc +
conmon): --env-file, --mount, --tmpfs, --cidfile, --conmon-pidfile, --replace,
--timeout, --tz, --restart, --log-driver/--log-opt, --device, --group-add, --sysctl,
--cpuset-cpus, --cpu-shares, --memory-swap, --attach, --preserve-fds, --label-file and
--annotation, and what ``inspect`` shows of them (podman's field names).

Every container is removed in ``finally``; the ``oci`` fixture checks for leaks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import OciEnv, db_rows, inspect, is_live, rm_force, wait_until

NONE = ("--network", "none")


def run(oci: OciEnv, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return oci.cli("run", *NONE, *args, **kw)


def containers(oci: OciEnv) -> list[str]:
    return [r[0] for r in db_rows(oci, "SELECT name FROM containers")]


# -- environment and labels from files -------------------------------------------------------
def test_env_file_on_run_and_exec(oci: OciEnv, tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("# settings\nGREETING=hello world\n\n  SPACED=a b \nH2_FROM_HOST\n"
                   "OVERRIDDEN=file\n")
    other = tmp_path / "env2"
    other.write_text("EXEC_ONLY=yes\n")
    environ = {**oci.env, "H2_FROM_HOST": "host-value"}
    res = subprocess.run([sys.executable, "-m", "ipy_oci", "run", *NONE, "--rm",
                          "--env-file", str(env), "-e", "OVERRIDDEN=flag", "busybox", "env"],
                         env=environ, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    for want in ("GREETING=hello world", "SPACED=a b ", "H2_FROM_HOST=host-value",
                 "OVERRIDDEN=flag"):
        assert want in lines, res.stdout
    assert not any(line.startswith("#") for line in lines)
    try:
        assert run(oci, "-d", "--name", "ef", "busybox", "sleep", "1000").returncode == 0
        res = oci.cli("exec", "--env-file", str(other), "ef", "sh", "-c",
                      "echo $EXEC_ONLY")
        assert (res.returncode, res.stdout) == (0, "yes\n"), res.stderr
        res = oci.cli("exec", "--env-file", str(tmp_path / "absent"), "ef", "true")
        assert res.returncode == 125 and "--env-file" in res.stderr
        assert "absent" in res.stderr and "No such file" in res.stderr
    finally:
        rm_force(oci, "ef")


def test_env_file_missing_creates_nothing(oci: OciEnv, tmp_path: Path) -> None:
    res = run(oci, "--name", "nope", "--env-file", str(tmp_path / "missing"), "busybox", "true")
    assert res.returncode == 125
    assert "--env-file" in res.stderr and "missing" in res.stderr
    assert containers(oci) == []


def test_label_file_and_annotations_reach_inspect_and_spec(oci: OciEnv, tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.write_text("# team labels\nteam=data\nstage=file\n")
    try:
        res = oci.cli("create", *NONE, "--name", "lf", "--label-file", str(labels),
                      "-l", "stage=flag", "--annotation", "org.example/owner=h2",
                      "busybox", "true")
        assert res.returncode == 0, res.stderr
        info = inspect(oci, "lf")
        assert info["Config"]["Labels"] == {"team": "data", "stage": "flag"}
        assert info["Config"]["Annotations"]["org.example/owner"] == "h2"
        assert oci.cli("init", "lf").returncode == 0
        spec = json.loads(Path(info["OCIConfigPath"]).read_text())
        assert spec["annotations"]["org.example/owner"] == "h2"
    finally:
        rm_force(oci, "lf")


# -- mounts ------------------------------------------------------------------------------------
def test_mount_bind_tmpfs_and_tmpfs_flag(oci: OciEnv, tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("from the host\n")
    script = ("cat /b/data.txt; touch /b/new 2>/dev/null && echo writable || echo ro; "
              "grep -E ' /(t|t2|etc) ' /proc/mounts | cut -d' ' -f2,4; stat -c %a /t; "
              "ls /etc/group /etc/hosts")
    res = run(oci, "--rm", "--mount", f"type=bind,source={tmp_path},destination=/b,ro=true",
              "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700",
              "--tmpfs", "/t2:size=2m,noexec", "--tmpfs", "/etc", "busybox", "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert out[0] == "from the host" and out[1] == "ro"
    mounts = dict(line.split(" ", 1) for line in out[2:5])
    assert "size=1024k" in mounts["/t"] and "mode=700" in mounts["/t"]
    assert "nosuid" in mounts["/t"] and "noexec" not in mounts["/t"]
    assert "size=2048k" in mounts["/t2"] and "noexec" in mounts["/t2"]
    assert out[5] == "700"
    # tmpcopyup: the image's /etc/group is copied in; /etc/hosts is still ours on top.
    assert out[6:] == ["/etc/group", "/etc/hosts"]
    assert not (tmp_path / "new").exists()


def test_tmpfs_notmpcopyup_and_bind_writable(oci: OciEnv, tmp_path: Path) -> None:
    res = run(oci, "--rm", "--mount", "type=tmpfs,destination=/etc,notmpcopyup",
              "--mount", f"type=bind,src={tmp_path},target=/w", "busybox", "sh", "-c",
              "ls /etc; echo hi > /w/out")
    assert res.returncode == 0, res.stderr
    assert "group" not in res.stdout.split() and "hosts" in res.stdout.split()
    assert (tmp_path / "out").read_text() == "hi\n"


def test_mount_errors_create_nothing(oci: OciEnv) -> None:
    for args, words in (
        (["--mount", "type=bind,src=/no/such,dst=/x"], "does not exist"),
        (["--mount", "type=weird,dst=/x"], "unknown type 'weird'"),
        (["--mount", "type=bind,src=/tmp,dst=/x,size=1"], "unknown option 'size'"),
        (["--tmpfs", "/x:bogus"], "unknown option 'bogus'"),
        (["--tmpfs", "/x", "-v", "/tmp:/x"], "already a mount destination"),
    ):
        res = run(oci, "--name", "m", *args, "busybox", "true")
        assert res.returncode == 125, (args, res.stderr)
        assert words in res.stderr, res.stderr
    assert containers(oci) == []


# -- cidfile, conmon pidfile, replace --------------------------------------------------------
def test_cidfile_conmon_pidfile_and_replace(oci: OciEnv, tmp_path: Path) -> None:
    cidfile, pidfile = tmp_path / "cid", tmp_path / "conmon.pid"
    try:
        res = run(oci, "-d", "--name", "cf", "--cidfile", str(cidfile),
                  "--conmon-pidfile", str(pidfile), "busybox", "sleep", "1000")
        assert res.returncode == 0, res.stderr
        cid = res.stdout.strip()
        assert cidfile.read_text() == cid
        info = inspect(oci, "cf")
        assert info["HostConfig"]["ContainerIDFile"] == str(cidfile)
        assert info["ConmonPidFile"] == str(pidfile)
        conmon = int(pidfile.read_text())
        assert conmon == info["State"]["ConmonPid"]
        assert os.readlink(f"/proc/{conmon}/exe").endswith("conmon")
        # podman never overwrites a cidfile, and then creates nothing
        res = run(oci, "--name", "second", "--cidfile", str(cidfile), "busybox", "true")
        assert res.returncode == 125
        assert "container id file exists" in res.stderr and str(cidfile) in res.stderr
        assert "second" not in containers(oci)
        # --replace: the running container of that name goes, a new one takes its name
        res = run(oci, "-d", "--name", "cf", "busybox", "sleep", "1000")
        assert res.returncode == 125 and "already in use" in res.stderr
        res = run(oci, "-d", "--replace", "--name", "cf", "busybox", "sleep", "1000")
        assert res.returncode == 0, res.stderr
        new = res.stdout.strip()
        assert new != cid and inspect(oci, "cf")["Id"] == new
        assert not is_live(conmon) or b"conmon" not in Path(f"/proc/{conmon}/cmdline").read_bytes()
        assert containers(oci) == ["cf"]
        res = run(oci, "--replace", "busybox", "true")
        assert res.returncode == 125 and "without --name" in res.stderr
    finally:
        rm_force(oci, "cf")


def test_create_with_cidfile_and_replace_of_missing_name(oci: OciEnv, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    try:
        res = oci.cli("create", *NONE, "--replace", "--name", "fresh", "--cidfile",
                      str(cidfile), "busybox", "true")
        assert res.returncode == 0, res.stderr
        assert cidfile.read_text() == res.stdout.strip()
    finally:
        rm_force(oci, "fresh")
    res = oci.cli("create", *NONE, "--cidfile", str(tmp_path / "no" / "dir" / "cid"),
                  "busybox", "true")
    assert res.returncode == 125 and "directory does not exist" in res.stderr
    assert containers(oci) == []


# -- timeout, time zone --------------------------------------------------------------------
def test_timeout_kills_the_container(oci: OciEnv) -> None:
    try:
        res = run(oci, "--name", "to", "--timeout", "1", "busybox", "sleep", "60")
        assert res.returncode == 255, res.stderr  # podman: the exit code -1, run exits 255
        info = inspect(oci, "to")
        assert (info["State"]["Status"], info["State"]["ExitCode"]) == ("exited", -1)
        assert info["Config"]["Timeout"] == 1
    finally:
        rm_force(oci, "to")


def test_timezone(oci: OciEnv) -> None:
    res = run(oci, "--rm", "--tz", "Europe/Paris", "busybox", "date", "-d", "@1600000000")
    assert (res.returncode, res.stdout) == (0, "Sun Sep 13 14:26:40 CEST 2020\n"), res.stderr
    res = run(oci, "--rm", "--tz", "MST7MDT", "busybox", "date", "-d", "@1600000000")
    assert res.stdout == "Sun Sep 13 06:26:40 MDT 2020\n", res.stderr
    host = subprocess.run(["date", "-d", "@1600000000", "+%H:%M %Z"], capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"]}).stdout
    res = run(oci, "--rm", "--tz", "local", "busybox", "date", "-d", "@1600000000",
              "+%H:%M %Z")
    assert res.stdout == host, res.stderr
    res = run(oci, "--rm", "--tz", "Atlantis/Capital", "busybox", "true")
    assert res.returncode == 125 and "unknown --tz 'Atlantis/Capital'" in res.stderr
    try:
        assert oci.cli("create", *NONE, "--name", "tz", "--tz", "Asia/Tokyo", "busybox",
                       "true").returncode == 0
        assert inspect(oci, "tz")["Config"]["Timezone"] == "Asia/Tokyo"
    finally:
        rm_force(oci, "tz")


# -- restart policies ------------------------------------------------------------------------
def _count_and_status(oci: OciEnv, name: str) -> tuple[int, str]:
    info = inspect(oci, name)
    return info["RestartCount"], info["State"]["Status"]


def test_restart_on_failure_counts_and_then_stays_exited(oci: OciEnv) -> None:
    try:
        res = run(oci, "-d", "--name", "rf", "--restart", "on-failure:2", "busybox", "sh",
                  "-c", "echo ran; exit 1")
        assert res.returncode == 0, res.stderr
        wait_until(lambda: _count_and_status(oci, "rf") == (2, "exited"),
                   "two restarts, then exited")
        info = inspect(oci, "rf")
        assert info["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                       "MaximumRetryCount": 2}
        assert info["State"]["ExitCode"] == 1 and info["State"]["ConmonPid"] == 0
        # Nothing is left to restart it: no conmon names the container any more (the
        # last one ends right after its exit command recorded "exited").
        wait_until(lambda: not [p for p in os.listdir("/proc") if p.isdigit()
                                and is_live(p) and info["Id"].encode() in _cmdline(p)
                                and b"conmon" in _cmdline(p)],
                   "the last conmon to exit", timeout=20)
        assert oci.cli("logs", "rf").stdout == "ran\nran\nran\n"
        # A user start resets the count (podman), and the policy applies again.
        assert oci.cli("start", "rf").returncode == 0
        wait_until(lambda: _count_and_status(oci, "rf") == (2, "exited"),
                   "two restarts after the user's start")
    finally:
        rm_force(oci, "rf")


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_restart_on_failure_skips_success(oci: OciEnv) -> None:
    try:
        assert run(oci, "--name", "ok", "--restart", "on-failure", "busybox",
                   "true").returncode == 0
        assert _count_and_status(oci, "ok") == (0, "exited")
    finally:
        rm_force(oci, "ok")


def test_restart_always_until_user_stop_or_kill(oci: OciEnv) -> None:
    try:
        res = run(oci, "-d", "--name", "ra", "--restart", "always", "busybox", "sh", "-c",
                  "sleep 0.2")
        assert res.returncode == 0, res.stderr
        wait_until(lambda: inspect(oci, "ra")["RestartCount"] >= 2, "restarts of always")
        assert oci.cli("stop", "-t", "0", "ra").returncode == 0
        count, status = _count_and_status(oci, "ra")
        assert status == "exited"
        # A stop is the user's: no conmon is left to start it again, and none will.
        assert inspect(oci, "ra")["State"]["ConmonPid"] == 0
        assert _count_and_status(oci, "ra") == (count, "exited")
        assert oci.cli("start", "ra").returncode == 0
        assert inspect(oci, "ra")["RestartCount"] in (0, 1)  # reset by the start
        # kill is the user's as well
        assert run(oci, "-d", "--name", "rk", "--restart", "unless-stopped", "busybox",
                   "sleep", "1000").returncode == 0
        assert oci.cli("kill", "rk").returncode == 0
        wait_until(lambda: inspect(oci, "rk")["State"]["Status"] == "exited", "rk exited")
        assert _count_and_status(oci, "rk") == (0, "exited")
    finally:
        rm_force(oci, "ra", "rk")


def test_restart_reaps_exec_sessions(oci: OciEnv) -> None:
    """The central promise holds across a restart: a container that exits takes its
    exec sessions with it, even though it is started again."""
    try:
        res = run(oci, "-d", "--name", "rx", "--restart", "on-failure:1", "busybox", "sh",
                  "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 1")
        assert res.returncode == 0, res.stderr
        res = oci.cli("exec", "-d", "rx", "sleep", "1001")
        assert res.returncode == 0, res.stderr
        sid = res.stdout.strip()
        rt = oci.runtime()
        pid = rt.lookup_exec(sid).record.pid
        assert is_live(pid)
        assert oci.cli("exec", "rx", "touch", "/tmp/go").returncode == 0
        # /tmp/go stays in the container's filesystem, so the restart exits 1 at once.
        wait_until(lambda: _count_and_status(oci, "rx") == (1, "exited"), "one restart")
        assert not is_live(pid) or b"sleep" not in _cmdline(str(pid))
        assert rt.lookup_exec(sid).sync().state == "stopped"
    finally:
        rm_force(oci, "rx")


def test_restart_with_rm(oci: OciEnv) -> None:
    for policy in ("always", "unless-stopped"):
        res = run(oci, "--rm", "--restart", policy, "busybox", "true")
        assert res.returncode == 125
        assert f"--rm option conflicts with --restart {policy}" in res.stderr
    assert containers(oci) == []
    # on-failure with --rm: restarted on failure, removed once it is not restarted
    res = run(oci, "--rm", "--name", "rr", "--restart", "on-failure:1", "busybox", "sh",
              "-c", "exit 3")
    assert res.returncode == 3, res.stderr
    wait_until(lambda: "rr" not in containers(oci), "removal after the last restart")


def test_attached_run_returns_first_exit_and_restart_goes_on(oci: OciEnv) -> None:
    try:
        res = run(oci, "--name", "at", "--restart", "on-failure:1", "busybox", "sh", "-c",
                  "echo once; exit 4")
        assert (res.returncode, res.stdout) == (4, "once\n"), res.stderr
        wait_until(lambda: _count_and_status(oci, "at") == (1, "exited"), "one restart")
        assert oci.cli("logs", "at").stdout == "once\nonce\n"
    finally:
        rm_force(oci, "at")


# -- logging -------------------------------------------------------------------------------
def test_log_driver_none_and_json_file(oci: OciEnv) -> None:
    try:
        res = run(oci, "--name", "ln", "--log-driver", "none", "busybox", "echo", "shown")
        assert (res.returncode, res.stdout) == (0, "shown\n"), res.stderr
        info = inspect(oci, "ln")
        assert info["HostConfig"]["LogConfig"]["Type"] == "none"
        assert info["HostConfig"]["LogConfig"]["Path"] == ""
        res = oci.cli("logs", "ln")
        assert res.returncode == 125 and "'none' log driver" in res.stderr
        res = run(oci, "--name", "lj", "--log-driver", "json-file", "busybox", "echo", "json")
        assert res.returncode == 0, res.stderr
        log = inspect(oci, "lj")["HostConfig"]["LogConfig"]
        assert log["Type"] == "json-file"  # kept as given; written as k8s-file
        assert Path(log["Path"]).read_text().endswith(" stdout F json\n")
    finally:
        rm_force(oci, "ln", "lj")


def test_log_opt_path_size_tag(oci: OciEnv, tmp_path: Path) -> None:
    path = tmp_path / "my.log"
    try:
        res = run(oci, "--name", "lo", "--log-opt", f"path={path}", "--log-opt",
                  "max-size=1.5mb", "--log-opt", "tag=web", "busybox", "echo", "to-file")
        assert res.returncode == 0, res.stderr
        assert path.read_text().endswith(" stdout F to-file\n")
        info = inspect(oci, "lo")
        assert info["HostConfig"]["LogConfig"] == {
            "Type": "k8s-file", "Config": None, "Path": str(path), "Tag": "web",
            "Size": "1.5MB"}
        assert info["LogPath"] == str(path)
        assert oci.cli("logs", "lo").stdout == "to-file\n"
    finally:
        rm_force(oci, "lo")


def test_log_max_size_truncates(oci: OciEnv) -> None:
    try:
        res = run(oci, "--name", "big", "--log-opt", "max-size=10k", "busybox", "sh", "-c",
                  "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done")
        assert res.returncode == 0, res.stderr
        assert res.stdout.count("\n") == 2000  # attached, the output is all there
        size = Path(inspect(oci, "big")["HostConfig"]["LogConfig"]["Path"]).stat().st_size
        assert size <= 10_000 + 100  # conmon keeps the file near its cap
    finally:
        rm_force(oci, "big")


def test_log_driver_passthrough(oci: OciEnv) -> None:
    res = subprocess.run([sys.executable, "-m", "ipy_oci", "run", *NONE, "--rm",
                          "--log-driver", "passthrough", "busybox", "sh", "-c",
                          "echo out; echo err >&2"], env=oci.env, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=120)
    assert (res.returncode, res.stdout, res.stderr) == (0, "out\n", "err\n")
    res = run(oci, "--log-driver", "passthrough", "-a", "stdout", "busybox", "true")
    assert res.returncode == 125 and "cannot specify --attach" in res.stderr
    assert containers(oci) == []


def test_bad_log_flags(oci: OciEnv) -> None:
    res = run(oci, "--log-driver", "InvalidDriver", "busybox", "true")
    assert res.returncode == 125 and "invalid --log-driver 'InvalidDriver'" in res.stderr
    res = run(oci, "--log-opt", "max-size=much", "busybox", "true")
    assert res.returncode == 125 and "max-size=much" in res.stderr
    assert containers(oci) == []


# -- devices, groups, sysctls, resources -------------------------------------------------------
def test_device_group_add_sysctl(oci: OciEnv) -> None:
    # /dev/fuse: a device the default cgroup rules do not allow, so PERMS decide.
    if not Path("/dev/fuse").exists():
        pytest.skip("this host has no /dev/fuse to hand to a container")
    opens = ("ls -l /dev/f | cut -c1; (exec 3</dev/f) 2>/dev/null && echo read-ok; "
             "(exec 3>/dev/f) 2>/dev/null && echo write-ok || echo write-denied")
    script = (opens + "; id -G; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax")
    res = run(oci, "--rm", "--device", "/dev/fuse:/dev/f:r", "--group-add", "nogroup",
              "--group-add", "4242", "--sysctl", "net.ipv4.ip_forward=1",
              "--sysctl", "kernel.shmmax=123456", "busybox", "sh", "-c", script)
    assert res.returncode == 0, res.stderr
    out = res.stdout.split("\n")
    assert out[:3] == ["c", "read-ok", "write-denied"]
    assert sorted(out[3].split()) == ["0", "4242", "65534"]  # the kernel sorts groups
    assert out[4:] == ["1", "123456", ""]
    res = run(oci, "--rm", "--device", "/dev/fuse:/dev/f", "busybox", "sh", "-c", opens)
    assert res.stdout == "c\nread-ok\nwrite-ok\n", res.stderr
    res = run(oci, "--rm", "busybox", "ls", "/dev/f")
    assert res.returncode == 1  # no --device, no node


def test_device_cgroup_rule_allows_access(oci: OciEnv) -> None:
    # The node comes read-only from --device; a cgroup rule for its numbers adds write.
    if not Path("/dev/fuse").exists():
        pytest.skip("this host has no /dev/fuse to hand to a container")
    rdev = os.stat("/dev/fuse").st_rdev
    rule = f"c {os.major(rdev)}:{os.minor(rdev)} w"
    write = "(exec 3>/dev/f) 2>/dev/null && echo write-ok || echo write-denied"
    res = run(oci, "--rm", "--device", "/dev/fuse:/dev/f:r", "busybox", "sh", "-c", write)
    assert res.stdout == "write-denied\n", res.stderr
    try:
        res = run(oci, "--name", "dcr", "--device", "/dev/fuse:/dev/f:r",
                  "--device-cgroup-rule", rule, "busybox", "sh", "-c", write)
        assert res.stdout == "write-ok\n", res.stderr
        assert inspect(oci, "dcr")["HostConfig"]["DeviceCgroupRules"] == [rule]
    finally:
        rm_force(oci, "dcr")
    res = run(oci, "--rm", "--device-cgroup-rule", "c 1:3 rwz", "busybox", "true")
    assert (res.returncode, res.stderr) == (
        125, "Error: invalid device access in device-access-add: z\n")


def test_device_and_sysctl_errors(oci: OciEnv) -> None:
    res = run(oci, "--device", "/dev/definitely-not-here", "busybox", "true")
    assert res.returncode == 125 and "/dev/definitely-not-here" in res.stderr
    res = run(oci, "--sysctl", "kernel.hostname=x", "busybox", "true")
    assert res.returncode == 125 and "sysctl 'kernel.hostname' is not allowed" in res.stderr
    res = run(oci, "--rm", "--group-add", "no-such-group", "busybox", "true")
    assert res.returncode == 125 and "unable to find group no-such-group" in res.stderr
    assert containers(oci) == []


def test_cpuset_cpu_shares_memory_swap(oci: OciEnv) -> None:
    script = ("cat /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/cpu/cpu.shares "
              "/sys/fs/cgroup/memory/memory.limit_in_bytes "
              "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
    if not Path("/sys/fs/cgroup/cpuset").is_dir():  # cgroup v2 names
        script = ("cat /sys/fs/cgroup/cpuset.cpus /sys/fs/cgroup/cpu.weight "
                  "/sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max")
    try:
        res = run(oci, "--name", "res", "--cpuset-cpus", "0", "--cpu-shares", "512", "-m",
                  "64m", "--memory-swap", "96m", "busybox", "sh", "-c", script)
        assert res.returncode == 0, res.stderr
        out = res.stdout.split()
        assert out[0] == "0" and out[2] == str(64 << 20)
        if Path("/sys/fs/cgroup/cpuset").is_dir():
            assert out[1] == "512" and out[3] == str(96 << 20)
        host = inspect(oci, "res")["HostConfig"]
        assert (host["CpusetCpus"], host["CpuShares"], host["Memory"], host["MemorySwap"]) \
            == ("0", 512, 64 << 20, 96 << 20)
    finally:
        rm_force(oci, "res")


def test_memory_zero_and_kernel_memory(oci: OciEnv) -> None:
    """podman: --memory 0 is no limit; --kernel-memory is a no-op with its warning."""
    try:
        res = run(oci, "--name", "m0", "--memory=0", "busybox", "echo", "hello")
        assert (res.returncode, res.stdout, res.stderr) == (0, "hello\n", "")
        assert inspect(oci, "m0")["HostConfig"]["Memory"] == 0
        res = run(oci, "--name", "km", "--kernel-memory", "100", "busybox", "false")
        assert res.returncode == 1
        assert res.stderr == ("Warning: The --kernel-memory flag is no longer supported. "
                              "This flag is a noop.\n")
    finally:
        rm_force(oci, "m0", "km")


# -- run only: --attach, --preserve-fds -----------------------------------------------------------
def test_attach_chooses_streams(oci: OciEnv) -> None:
    both = ("busybox", "sh", "-c", "echo out; echo err >&2")
    res = run(oci, "--rm", "-a", "stdout", *both)
    assert (res.stdout, res.stderr) == ("out\n", "")
    res = run(oci, "--rm", "-a", "stderr", *both)
    assert (res.stdout, res.stderr) == ("", "err\n")
    res = run(oci, "--rm", "-a", "stdout", "-a", "stderr", *both)
    assert (res.stdout, res.stderr) == ("out\n", "err\n")
    res = run(oci, "--rm", "-a", "sideways", *both)
    assert res.returncode == 125 and "invalid stream 'sideways' for --attach" in res.stderr
    try:
        # podman: with no output stream attached, run prints the container's id
        res = run(oci, "--name", "ai", "-a", "stdin", "busybox", "echo", "hello")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == inspect(oci, "ai")["Id"]
        assert oci.cli("logs", "ai").stdout == "hello\n"
    finally:
        rm_force(oci, "ai")
    res = oci.cli("run", *NONE, "--rm", "-i", "-a", "stdout", "busybox", "cat",
                  input=b"piped\n")
    assert (res.returncode, res.stdout) == (0, "piped\n")  # -i attaches stdin (podman)


def test_preserve_fds_on_run(oci: OciEnv, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("passed down\n")
    r3, w3 = os.pipe()
    os.write(w3, b"from the pipe\n")
    os.close(w3)
    fd4 = os.open(data, os.O_RDONLY)
    try:
        # A parent that puts the two files at fds 3 and 4, as a shell's 3<... 4<... does.
        code = (f"import os, subprocess, sys; os.dup2({r3}, 3); os.dup2({fd4}, 4); "
                "sys.exit(subprocess.run([sys.executable, '-m', 'ipy_oci', 'run', "
                "'--network', 'none', '--rm', '--preserve-fds', '2', 'busybox', 'sh', "
                "'-c', 'cat <&3; cat <&4'], pass_fds=(3, 4)).returncode)")
        res = subprocess.run([sys.executable, "-c", code], env=oci.env, pass_fds=(r3, fd4),
                             capture_output=True, text=True, timeout=120)
        assert (res.returncode, res.stdout) == (0, "from the pipe\npassed down\n"), res.stderr
    finally:
        os.close(r3)
        os.close(fd4)
    res = run(oci, "--rm", "--preserve-fds", "40", "busybox", "true")
    assert res.returncode == 125 and "file descriptor" in res.stderr
    assert "--preserve-fds 40" in res.stderr
    assert containers(oci) == []


# -- inspect shows what was asked ---------------------------------------------------------
def test_inspect_shows_the_flags(oci: OciEnv, tmp_path: Path) -> None:
    try:
        res = oci.cli("create", *NONE, "--name", "ins", "--restart", "on-failure:3",
                      "--mount", f"type=bind,src={tmp_path},dst=/b,ro=true",
                      "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700",
                      "--tmpfs", "/t2:size=2m", "--device", "/dev/null:/dev/n:rw",
                      "--group-add", "10", "--sysctl", "net.ipv4.ip_forward=1",
                      "--cpuset-cpus", "0", "--cpu-shares", "512", "-m", "64m",
                      "--memory-swap", "128m", "--log-opt", "max-size=1m", "--log-opt",
                      "tag=foo", "--tz", "Europe/Paris", "--annotation", "a.b=c",
                      "--timeout", "30", "busybox", "true")
        assert res.returncode == 0, res.stderr
        info = inspect(oci, "ins")
        host = info["HostConfig"]
        # the values podman 4.3 shows for the same flags
        assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert host["Tmpfs"] == {"/t": "size=1m,mode=700,rw,rprivate,nosuid,nodev,tmpcopyup",
                                 "/t2": "size=2m,rw,rprivate,nosuid,nodev,tmpcopyup"}
        assert host["CpusetCpus"] == "0" and host["CpuShares"] == 512
        assert (host["Memory"], host["MemorySwap"]) == (64 << 20, 128 << 20)
        assert host["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n",
                                    "CgroupPermissions": "rw"}]
        assert host["GroupAdd"] == ["10"]
        assert host["Sysctls"] == {"net.ipv4.ip_forward": "1"}
        assert (host["LogConfig"]["Type"], host["LogConfig"]["Tag"],
                host["LogConfig"]["Size"]) == ("k8s-file", "foo", "1MB")
        assert [m["Destination"] for m in info["Mounts"]] == ["/b"]  # tmpfs: in Tmpfs only
        assert info["Mounts"][0]["RW"] is False
        assert info["Config"]["Timezone"] == "Europe/Paris"
        assert info["Config"]["Timeout"] == 30
        assert info["Config"]["Annotations"] == {"a.b": "c"}
        assert info["RestartCount"] == 0
        res = oci.cli("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} "
                      "{{.HostConfig.LogConfig.Size}} {{.RestartCount}}", "ins")
        assert res.stdout == "on-failure 1MB 0\n", res.stderr
    finally:
        rm_force(oci, "ins")
