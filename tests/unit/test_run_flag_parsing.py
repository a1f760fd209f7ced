"""run/create/exec flags -> ContainerConfig/ExecConfig and spec entries, and every bad
value: a UsageError (exit 125) naming the flag or value and what to do.

Pure parsing: no container runs here (tests/integration/test_run_flags.py runs them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.errors import UsageError
from ipy_oci.grammar.options import container_config, exec_config
from ipy_oci.grammar.parser import parse


def cfg(*flags: str) -> Any:
    return container_config(parse(["create", "--network", "none", *flags, "busybox"]))


def bad(*flags: str) -> str:
    with pytest.raises(UsageError) as err:
        cfg(*flags)
    assert err.value.exit_code == 125
    return str(err.value)


# -- --env-file ------------------------------------------------------------------------
def test_env_file_podman_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H2_HOSTVAR", "from-host")
    monkeypatch.setenv("H2_PRE_A", "a")
    monkeypatch.setenv("H2_PRE_B", "b")
    monkeypatch.delenv("H2_UNSET", raising=False)
    f = tmp_path / "env"
    f.write_text("# a comment\n\nA=1\n  B= spaced value \nH2_HOSTVAR\nH2_UNSET\n"
                 "C=\"quoted\"\nD=x=y\nH2_PRE_*\n")
    env = cfg("--env-file", str(f)).env
    assert env == ["A=1", "B= spaced value ", "H2_HOSTVAR=from-host", 'C="quoted"',
                   "D=x=y", "H2_PRE_A=a", "H2_PRE_B=b"]


def test_env_flags_override_env_file(tmp_path: Path) -> None:
    f1, f2 = tmp_path / "e1", tmp_path / "e2"
    f1.write_text("A=file1\nB=file1\n")
    f2.write_text("B=file2\n")
    env = cfg("--env-file", str(f1), "--env-file", str(f2), "-e", "A=flag").env
    # Later entries win when the spec's environment is built (spec_env.build_env).
    from ipy_oci.oci.spec_env import build_env

    final = build_env([], env, "h", False)
    assert "A=flag" in final and "B=file2" in final


def test_env_file_on_exec(tmp_path: Path) -> None:
    f = tmp_path / "env"
    f.write_text("X=1\n")
    ec = exec_config(parse(["exec", "--env-file", str(f), "-e", "Y=2", "c1", "true"]))
    assert ec.env == ["X=1", "Y=2"]


def test_env_file_errors(tmp_path: Path) -> None:
    msg = bad("--env-file", str(tmp_path / "missing"))
    assert "--env-file" in msg and "missing" in msg and "No such file" in msg
    f = tmp_path / "env"
    f.write_text("GOOD=1\n=oops\n")
    msg = bad("--env-file", str(f))
    assert "line 2" in msg and "'=oops'" in msg and "KEY=VALUE" in msg
    with pytest.raises(UsageError, match="--env-file"):
        exec_config(parse(["exec", "--env-file", str(tmp_path / "nope"), "c1", "true"]))


def test_label_file(tmp_path: Path) -> None:
    f = tmp_path / "labels"
    f.write_text("# labels\na=1\nb=file\n\nempty\n")
    assert cfg("--label-file", str(f), "-l", "b=flag").labels == {
        "a": "1", "b": "flag", "empty": ""}
    assert "--label-file" in bad("--label-file", str(tmp_path / "none"))


# -- --mount and --tmpfs -----------------------------------------------------------------
def test_mount_bind_keys(tmp_path: Path) -> None:
    (m,) = cfg("--mount", f"type=bind,source={tmp_path},target=/data,readonly,"
               "bind-propagation=rslave,nosuid").mounts
    assert (m["source"], m["destination"], m["readonly"], m["type"]) == (
        str(tmp_path), "/data", True, "bind")
    assert m["options"] == ["rslave", "nosuid"]
    (m,) = cfg("--mount", f"type=bind,src={tmp_path},dst=/d,ro=false,bind-nonrecursive,"
               "relabel=shared,z").mounts
    assert m["readonly"] is False and m["options"] == ["bind"]
    from ipy_oci.oci.spec import BindMount

    spec = BindMount(**m).to_spec()
    assert "rbind" not in spec["options"] and "bind" in spec["options"]


def test_mount_volume_and_tmpfs() -> None:
    vol, anon, tmp = cfg("--mount", "type=volume,source=myvol,destination=/v,ro",
                         "--mount", "type=volume,dst=/anon",
                         "--mount", "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=700,"
                         "notmpcopyup").mounts
    assert (vol["volume"], vol["source"], vol["readonly"]) == ("myvol", "", True)
    assert anon["anonymous"] is True and anon["volume"] == ""
    assert tmp["type"] == "tmpfs" and tmp["options"] == ["size=64m", "mode=700", "notmpcopyup"]
    from ipy_oci.oci.spec import BindMount

    spec = BindMount(**tmp).to_spec()
    assert spec == {"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                    "options": ["size=64m", "mode=700", "rw", "rprivate", "nosuid", "nodev"]}


def test_tmpfs_flag_defaults_match_podman() -> None:
    (t,) = cfg("--tmpfs", "/run/x").mounts
    from ipy_oci.oci.spec import BindMount

    # podman 4.3's spec for --tmpfs /run/x: rw,rprivate,nosuid,nodev,tmpcopyup
    assert BindMount(**t).to_spec()["options"] == [
        "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
    (t,) = cfg("--tmpfs", "/x:ro,size=1g,mode=1777,exec,dev").mounts
    assert BindMount(**t).to_spec()["options"] == [
        "size=1g", "mode=1777", "exec", "dev", "ro", "rprivate", "nosuid", "tmpcopyup"]
    # the same --tmpfs twice is one mount (podman)
    assert len(cfg("--tmpfs", "/a", "--tmpfs", "/a").mounts) == 1


@pytest.mark.parametrize("flag,value,words", [
    ("--mount", "type=nfs,dst=/x", ["unknown type 'nfs'", "bind, volume or tmpfs"]),
    ("--mount", "type=image,src=busybox,dst=/x", ["type=image is not supported"]),
    ("--mount", "dst=/x", ["no type given"]),
    ("--mount", "type=bind,src=/tmp", ["no destination"]),
    ("--mount", "type=bind,src=/tmp,dst=relative", ["must be an absolute path"]),
    ("--mount", "type=bind,src=/tmp,dst=/", ["cannot mount over the container's /"]),
    ("--mount", "type=bind,src=/no/such/dir,dst=/x", ["does not exist", "create it first"]),
    ("--mount", "type=bind,src=/tmp,dst=/x,colour=red", ["unknown option 'colour'",
                                                          "type=bind"]),
    ("--mount", "type=bind,src=/tmp,dst=/x,ro=maybe", ["ro must be true or false"]),
    ("--mount", "type=bind,src=/tmp,dst=/x,ro,rw", ["given more than once"]),
    ("--mount", "type=bind,src=/tmp,dst=/x,bind-propagation=sideways",
     ["bind-propagation must be one of"]),
    ("--mount", "type=bind,src=/tmp,dst=/x,U", ["not supported"]),
    ("--mount", "type=tmpfs,dst=/x,tmpfs-size=lots", ["tmpfs-size must be a size"]),
    ("--mount", "type=tmpfs,dst=/x,tmpfs-mode=999", ["tmpfs-mode must be an octal"]),
    ("--mount", "type=tmpfs,src=/tmp,dst=/x", ["has no source"]),
    ("--mount", "type=tmpfs,dst=/x,bind-propagation=shared", ["unknown option",
                                                               "type=tmpfs"]),
    ("--mount", "type=volume,src=../etc,dst=/x", ["is not a volume name"]),
    ("--mount", "type=volume,src=v,dst=/x,volume-opt=o=1", ["volume-opt", "not supported"]),
    ("--tmpfs", "relative", ["must be an absolute path"]),
    ("--tmpfs", "/x:size=big", ["size must be a size"]),
    ("--tmpfs", "/x:uid=5", ["unknown option 'uid=5'"]),
    ("--tmpfs", "/x:ro,rw", ["given more than once"]),
])
def test_mount_errors(flag: str, value: str, words: list[str]) -> None:
    msg = bad(flag, value)
    assert value.split(",")[0] in msg or value in msg
    for w in words:
        assert w in msg, msg


def test_duplicate_destinations(tmp_path: Path) -> None:
    msg = bad("-v", f"{tmp_path}:/x", "--tmpfs", "/x")
    assert "/x is already a mount destination" in msg
    msg = bad("--mount", "type=tmpfs,dst=/y", "--tmpfs", "/y:size=1m")
    assert "/y is already a mount destination" in msg


# -- restart, timeout, tz, cidfile ---------------------------------------------------------
def test_restart_policies() -> None:
    assert (cfg().restart_policy, cfg().restart_retries) == ("", 0)
    c = cfg("--restart", "on-failure:5")
    assert (c.restart_policy, c.restart_retries) == ("on-failure", 5)
    for p in ("no", "always", "unless-stopped", "on-failure"):
        assert cfg("--restart", p).restart_policy == p
    assert cfg("--rm", "--restart", "on-failure:2").auto_remove  # podman allows it
    assert cfg("--rm", "--restart", "no").restart_policy == "no"


@pytest.mark.parametrize("flags,words", [
    (["--restart", "sometimes"], ["invalid --restart 'sometimes'", "on-failure[:N]"]),
    (["--restart", "always:3"], ["retry count goes only with on-failure"]),
    (["--restart", "on-failure:x"], ["retry count must be a number"]),
    (["--restart", "on-failure:-1"], ["retry count must be a number"]),
    (["--rm", "--restart", "always"], ["--rm option conflicts with --restart always"]),
    (["--rm", "--restart", "unless-stopped"], ["conflicts"]),
    (["--timeout", "soon"], ["invalid --timeout 'soon'", "seconds"]),
    (["--timeout", "-5"], ["invalid --timeout '-5'"]),
    (["--tz", "Nowhere/City"], ["unknown --tz 'Nowhere/City'", "zoneinfo"]),
    (["--tz", "/etc/passwd"], ["invalid --tz '/etc/passwd'"]),
    (["--tz", "Europe/../../../etc/passwd"], ["invalid --tz"]),
    (["--tz", "Europe"], ["is a directory of zones"]),
    (["--replace"], ["cannot replace container without --name"]),
])
def test_restart_timeout_tz_errors(flags: list[str], words: list[str]) -> None:
    msg = bad(*flags)
    for w in words:
        assert w in msg, msg


def test_tz_timeout_paths(tmp_path: Path) -> None:
    c = cfg("--tz", "Europe/Paris", "--timeout", "30", "--cidfile", "rel/cid",
            "--conmon-pidfile", str(tmp_path / "pid"))
    assert (c.timezone, c.timeout) == ("Europe/Paris", 30)
    assert c.cidfile == os.path.abspath("rel/cid")
    assert c.conmon_pidfile == str(tmp_path / "pid")
    assert cfg("--tz", "local").timezone == "local"


def test_timezone_file_is_the_zone() -> None:
    from ipy_oci.oci.spec_tz import zone_file

    assert zone_file("UTC").read_bytes()[:4] == b"TZif"
    assert zone_file("local").read_bytes()[:4] == b"TZif"


# -- logging -------------------------------------------------------------------------------
def test_log_flags(tmp_path: Path) -> None:
    c = cfg()
    assert (c.log_driver, c.log_path, c.log_size_max, c.log_tag) == ("k8s-file", "", 0, "")
    c = cfg("--log-driver", "json-file", "--log-opt", "max-size=1.5mb",
            "--log-opt", f"path={tmp_path}/my.log", "--log-opt", "tag={{.Name}}")
    assert (c.log_driver, c.log_path, c.log_size_max, c.log_tag) == (
        "json-file", f"{tmp_path}/my.log", 1_500_000, "{{.Name}}")
    assert cfg("--log-driver", "none").log_driver == "none"
    assert cfg("--log-opt", "max-size=10k").log_size_max == 10_000


@pytest.mark.parametrize("flags,words", [
    (["--log-driver", "syslog"], ["invalid --log-driver 'syslog'", "k8s-file"]),
    (["--log-driver", "journald"], ["journald is not available"]),
    (["--log-opt", "max-size=huge"], ["invalid --log-opt max-size=huge"]),
    (["--log-opt", "mode=non-blocking"], ["unknown option 'mode'", "max-size, path or tag"]),
    (["--log-opt", "max-size"], ["use NAME=VALUE"]),
    (["--log-opt", "path=relative.log"], ["must be absolute"]),
    (["--log-opt", "path=/no/such/dir/x.log"], ["/no/such/dir does not exist"]),
    (["--log-driver", "none", "--log-opt", "path=/tmp/x.log"], ["needs a log file"]),
])
def test_log_errors(flags: list[str], words: list[str]) -> None:
    msg = bad(*flags)
    for w in words:
        assert w in msg, msg


def test_passthrough_refused_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # A pty stands in for the user's terminal on stdin (podman's TIOCSTI rule).
    import sys

    master, slave = os.openpty()
    try:
        with open(slave, "rb", closefd=False) as tty:
            monkeypatch.setattr(sys, "stdin", tty)
            msg = bad("--log-driver", "passthrough")
        assert "cannot be used on a TTY" in msg
    finally:
        os.close(master)
        os.close(slave)


# -- devices, groups, sysctls, resources ------------------------------------------------------
def test_device_forms() -> None:
    (d,) = cfg("--device", "/dev/null").devices
    assert d == {"path_on_host": "/dev/null", "path_in_container": "/dev/null",
                 "permissions": "rwm"}
    (d,) = cfg("--device", "/dev/null:/dev/mynull:r").devices
    assert (d["path_in_container"], d["permissions"]) == ("/dev/mynull", "r")
    (d,) = cfg("--device", "/dev/null:rw").devices
    assert (d["path_in_container"], d["permissions"]) == ("/dev/null", "rw")
    from ipy_oci.oci.spec import spec_devices

    nodes, rules = spec_devices(cfg("--device", "/dev/null:/dev/n2:rw").devices)
    assert nodes[0]["path"] == "/dev/n2" and (nodes[0]["major"], nodes[0]["minor"]) == (1, 3)
    assert rules == [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}]


def test_device_cgroup_rules(tmp_path: Path) -> None:
    from ipy_oci.oci.spec import ProcessOptions, SpecOptions, build_spec

    rules = ["c 1:3 rwm", "b 7:* r", "a 7 m", "c *:* w"]
    assert cfg(*[f"--device-cgroup-rule={r}" for r in rules]).device_cgroup_rules == rules

    def spec_rules(privileged: bool) -> list[dict[str, object]]:
        spec = build_spec(SpecOptions(
            rootfs=str(tmp_path), hostname="h",
            process=ProcessOptions(args=["true"], env=[], privileged=privileged),
            device_cgroup_rules=rules))
        return list(spec["linux"]["resources"]["devices"])

    assert spec_rules(False)[-4:] == [
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "b", "major": 7, "access": "r"},
        {"allow": True, "type": "a", "major": 7, "access": "m"},
        {"allow": True, "type": "c", "access": "w"}]
    assert spec_rules(True) == [{"allow": True, "access": "rwm"}]  # already allows all


@pytest.mark.parametrize("value,message", [  # podman's words (its system tests match them)
    ("b 7:* rmX", "invalid device access in device-access-add: X"),
    ("b 7:2", 'invalid device cgroup rule requires type, major:Minor, and access rules: '
              '"b 7:2"'),
    ("x 7:* rmw", "invalid device type in device-access-add: x"),
    ("a a:* rmw", 'strconv.ParseUint: parsing "a": invalid syntax'),
    ("c 1:-3 rw", 'strconv.ParseUint: parsing "-3": invalid syntax'),
])
def test_device_cgroup_rule_errors(value: str, message: str) -> None:
    assert bad("--device-cgroup-rule", value) == message


@pytest.mark.parametrize("value,words", [
    ("/dev/no-such-device", ["cannot use /dev/no-such-device"]),
    ("/etc/hostname", ["is not a device node"]),
    ("dev/null", ["must be an absolute path"]),
    ("/dev/null:/dev/x:rwx", ["'rwx' is neither"]),
    ("/dev/null:rr", ["'rr' is neither"]),
    ("/dev/null:/a:/b:rw", ["expected HOST-DEVICE"]),
])
def test_device_errors(value: str, words: list[str]) -> None:
    msg = bad("--device", value)
    assert "--device" not in msg or value in msg
    for w in words:
        assert w in msg, msg


def test_sysctls_groups_resources() -> None:
    c = cfg("--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=100000",
            "--group-add", "10", "--group-add", "users", "--cpuset-cpus", "0",
            "-c", "512", "-m", "64m", "--memory-swap", "128m")
    assert c.sysctls == {"net.ipv4.ip_forward": "1", "kernel.shmmax": "100000"}
    assert c.group_add == ["10", "users"]
    assert (c.cpuset_cpus, c.cpu_shares, c.memory_swap) == ("0", 512, 128 << 20)
    assert cfg("-m", "64m", "--memory-swap", "-1").memory_swap == -1
    # podman: --memory alone limits memory+swap to twice it, where swap can be limited
    from ipy_oci.oci.spec_limits import swap_limit_supported

    assert cfg("-m", "64m").memory_swap == (128 << 20 if swap_limit_supported() else None)
    assert cfg().memory_swap is None


@pytest.mark.parametrize("flags,words", [
    (["--sysctl", "kernel.hostname=x"], ["sysctl 'kernel.hostname' is not allowed"]),
    (["--sysctl", "vm.swappiness=1"], ["not allowed"]),
    (["--sysctl", "noequals"], ["expected KEY=VALUE"]),
    (["--cpuset-cpus", "0-x"], ["invalid --cpuset-cpus '0-x'"]),
    (["--cpuset-cpus", "4096"], ["this host has CPUs 0 to"]),
    (["--cpu-shares", "1"], ["invalid --cpu-shares 1", "2 to 262144"]),
    (["--memory-swap", "1g"], ["--memory-swap needs --memory"]),
    (["-m", "64m", "--memory-swap", "32m"], ["must be at least --memory"]),
    (["-m", "64m", "--memory-swap", "lots"], ["invalid size 'lots'"]),
    (["--group-add", "keep-groups"], ["keep-groups needs crun"]),
    (["--group-add", "a:b"], ["invalid --group-add 'a:b'"]),
])
def test_resource_errors(flags: list[str], words: list[str]) -> None:
    msg = bad(*flags)
    for w in words:
        assert w in msg, msg


def test_sysctl_net_refused_with_host_network() -> None:
    with pytest.raises(UsageError, match="cannot be set with --network host"):
        container_config(parse(["create", "--network", "host", "--sysctl",
                                "net.ipv4.ip_forward=1", "busybox"]))


def test_group_names_resolve_in_the_image(tmp_path: Path) -> None:
    from ipy_oci.oci.spec_user import UnknownUser, resolve_groups

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "group").write_text("root:x:0:\nwheel:x:10:\n")
    assert resolve_groups(str(tmp_path), ["wheel", "5000", "10"]) == [10, 5000]
    with pytest.raises(UnknownUser, match="unable to find group nosuch"):
        resolve_groups(str(tmp_path), ["nosuch"])


# -- run only: --attach, --preserve-fds ---------------------------------------------------------
def test_attach_streams() -> None:
    from ipy_oci.grammar.options_run import attach_streams, stream_filter

    assert attach_streams([]) is None
    assert attach_streams(["stdout"]) == (False, True, False)
    assert attach_streams(["STDERR", "stdin"]) == (True, False, True)
    with pytest.raises(UsageError, match="invalid stream 'tty' for --attach"):
        attach_streams(["tty"])
    seen: list[tuple[int, bytes]] = []
    f = stream_filter(["stderr"], lambda s, d: seen.append((s, d)))
    f(2, b"out")
    f(3, b"err")
    assert seen == [(3, b"err")]
    assert parse(["run", "-a", "stdout", "busybox"]).attach == ["stdout"]
    with pytest.raises(UsageError, match="unrecognized arguments: -a"):
        parse(["create", "-a", "stdout", "busybox"])


def test_preserve_fds_checks() -> None:
    with pytest.raises(UsageError, match="--preserve-fds must be zero or a positive"):
        container_config(parse(["run", "--preserve-fds", "-1", "busybox"]))
    assert parse(["run", "--preserve-fds", "2", "busybox"]).preserve_fds == 2


def test_cell_flags_refused_in_the_kernel() -> None:
    from ipy_oci.grammar.options_run import check_cell_flags

    with pytest.raises(UsageError, match="kernel's open files"):
        check_cell_flags(parse(["run", "--preserve-fds", "1", "busybox"]))
    with pytest.raises(UsageError, match="a cell has no stdin"):
        check_cell_flags(parse(["run", "--log-driver", "passthrough", "busybox"]))
    check_cell_flags(parse(["run", "busybox"]))


def test_annotations_reach_the_spec(tmp_path: Path) -> None:
    from ipy_oci.oci.spec import ProcessOptions, SpecOptions, build_spec

    c = cfg("--annotation", "org.example/a=1", "--annotation", "b=")
    assert c.annotations == {"org.example/a": "1", "b": ""}
    spec = build_spec(SpecOptions(rootfs=str(tmp_path), hostname="h",
                                  process=ProcessOptions(args=["true"], env=[]),
                                  annotations=c.annotations))
    assert spec["annotations"] == {"org.example/a": "1", "b": ""}


def test_parents_mount_first(tmp_path: Path) -> None:
    """A tmpfs on /etc goes before the /etc/hosts bind, or it would hide it."""
    from ipy_oci.oci.spec import BindMount, ProcessOptions, SpecOptions, build_spec

    hosts = tmp_path / "hosts"
    hosts.write_text("")
    spec = build_spec(SpecOptions(
        rootfs=str(tmp_path), hostname="h", process=ProcessOptions(args=["true"], env=[]),
        etc_files={"/etc/hosts": str(hosts)},
        mounts=[BindMount("tmpfs", "/etc", type="tmpfs")]))
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests.index("/etc") < dests.index("/etc/hosts")
    assert dests[:3] == ["/proc", "/dev", "/dev/pts"]  # the rest keeps its order


def test_unknown_flag_with_spaced_value_is_named() -> None:
    # argparse reads a word with a space as a positional: it must not become the image.
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus=a b") as err:
        parse(["run", "--bogus=a b", "busybox", "true"])
    assert err.value.exit_code == 125
    assert "invalid image" not in str(err.value)
    # A known flag with a spaced value still parses, and the command's words stay as given.
    args = parse(["run", "--name=a b", "busybox", "echo", "--x=a b"])
    assert (args.name, args.image, args.command) == ("a b", "busybox", ["echo", "--x=a b"])


def test_global_flags_after_the_command_name() -> None:
    args = parse(["--runtime-flag", "debug", "run", "--runtime-flag", "log-format=json",
                  "--runtime", "/opt/rt", "--root", "/r", "busybox", "echo", "--runroot", "x"])
    assert (args.runtime_flag, args.runtime, args.root, args.runroot) == (
        ["debug", "log-format=json"], "/opt/rt", "/r", None)
    assert args.command == ["echo", "--runroot", "x"]
    assert not any(k.startswith("after_cmd_") for k in vars(args))
    assert parse(["ps", "--noout", "-a"]).noout is True
    assert parse(["--runtime", "crun", "ps"]).runtime == "crun"  # not reset by the command
