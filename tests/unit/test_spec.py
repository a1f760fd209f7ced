"""Unit tests for OCI spec generation (ipy_oci.oci.spec and its spec_* helpers)."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.errors import OciError, UsageError
from ipy_oci.oci import spec_caps, spec_limits, spec_mounts
from ipy_oci.oci.spec import (
    ALL_CAPS,
    DEFAULT_CAPS,
    DEFAULT_PATH,
    INIT_PATH,
    MASKED_PATHS,
    OCI_VERSION,
    READONLY_PATHS,
    RLIM_INFINITY,
    BindMount,
    ProcessOptions,
    SpecOptions,
    UnknownUser,
    build_capabilities,
    build_env,
    build_process,
    build_rlimits,
    build_spec,
    host_rlimits,
    merge_caps,
    normalize_cap,
    parse_sysctl,
    parse_ulimit,
    read_in_root,
    resolve_command,
    resolve_user,
    write_etc_files,
)

# --- BindMount -----------------------------------------------------------------------


def test_bind_parse_plain(tmp_path: Path) -> None:
    m = BindMount.parse(f"{tmp_path}:/data")
    assert (m.source, m.destination, m.readonly, m.options) == (str(tmp_path), "/data", False, [])
    assert m.to_spec() == {
        "destination": "/data",
        "type": "bind",
        "source": str(tmp_path),
        "options": ["rbind", "rprivate", "rw"],
    }


def test_bind_parse_options(tmp_path: Path) -> None:
    m = BindMount.parse(f"{tmp_path}/:/data/../srv/:ro,Z,nosuid,rslave")
    assert m.source == str(tmp_path)
    assert m.destination == "/srv"
    assert m.readonly
    assert m.to_spec()["options"] == ["rbind", "nosuid", "rslave", "ro"]
    assert BindMount.parse(f"{tmp_path}:/d:rw,z").readonly is False
    assert BindMount.parse(f"{tmp_path}:/d:ro,ro").readonly is True


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("data", ["expected HOST-DIR:CONTAINER-DIR"]),
        ("my vol:/data", ["neither an absolute host path nor a volume name"]),
        ("{tmp}:data", ["container path 'data' must be absolute"]),
        ("{tmp}:/", ["cannot mount over"]),
        ("{tmp}:/d:ro:x", ["expected HOST-DIR"]),
        ("{tmp}::ro", ["expected HOST-DIR"]),
        ("{tmp}:/d:", ["expected HOST-DIR"]),
        ("{tmp}:/d:ro,rw", ["both ro and rw"]),
        ("{tmp}:/d:bogus", ["unknown option 'bogus'"]),
        ("{tmp}:/d:shared,rslave", ["more than one propagation"]),
        ("{tmp}/missing:/d", ["does not exist"]),
        (":/d", ["expected HOST-DIR"]),  # (named and anonymous volumes: test_volumes_units)
    ],
)
def test_bind_parse_errors(tmp_path: Path, text: str, words: list[str]) -> None:
    text = text.format(tmp=tmp_path)
    with pytest.raises(UsageError) as exc:
        BindMount.parse(text)
    msg = str(exc.value)
    assert repr(text) in msg  # the error names the bad value
    for w in words:
        assert w in msg


# --- capabilities --------------------------------------------------------------------


def test_normalize_cap() -> None:
    assert normalize_cap("net_admin") == "CAP_NET_ADMIN"
    assert normalize_cap("CAP_SYS_ADMIN") == "CAP_SYS_ADMIN"
    with pytest.raises(UsageError, match="unknown capability 'NET_BOGUS'"):
        normalize_cap("NET_BOGUS")


def test_all_caps_numbering() -> None:
    # The list index is the kernel's capability number.
    assert ALL_CAPS.index("CAP_SYS_ADMIN") == 21
    assert ALL_CAPS.index("CAP_SETFCAP") == 31
    assert ALL_CAPS.index("CAP_CHECKPOINT_RESTORE") == 40


@pytest.fixture
def all_caps_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spec_caps, "host_bounding_caps", lambda: frozenset(ALL_CAPS))


@pytest.mark.usefixtures("all_caps_available")
def test_merge_caps() -> None:
    assert merge_caps([], []) == sorted(DEFAULT_CAPS)
    assert "CAP_NET_ADMIN" in merge_caps(["net_admin"], [])
    assert "CAP_CHOWN" not in merge_caps([], ["chown"])
    assert merge_caps(["NET_RAW"], ["ALL"]) == ["CAP_NET_RAW"]
    assert merge_caps([], ["all"]) == []
    everything = merge_caps(["ALL"], ["SYS_ADMIN"])
    assert "CAP_SYS_ADMIN" not in everything
    assert len(everything) == len(ALL_CAPS) - 1
    assert merge_caps(["ALL"], ["ALL"]) == sorted(ALL_CAPS)
    assert merge_caps([], ["ALL"], privileged=True) == sorted(ALL_CAPS)
    assert "CAP_SYS_ADMIN" not in merge_caps([], ["SYS_ADMIN"], privileged=True)


@pytest.mark.usefixtures("all_caps_available")
def test_merge_caps_errors() -> None:
    with pytest.raises(UsageError, match="CAP_NET_ADMIN is in both"):
        merge_caps(["NET_ADMIN"], ["cap_net_admin"])
    with pytest.raises(UsageError, match="unknown capability 'FLY'"):
        merge_caps(["FLY"], [])
    with pytest.raises(UsageError, match="unknown capability 'SWIM'"):
        merge_caps([], ["SWIM"])


def test_merge_caps_limited_by_host(monkeypatch: pytest.MonkeyPatch) -> None:
    host = frozenset(ALL_CAPS) - {"CAP_SYS_RESOURCE"}
    monkeypatch.setattr(spec_caps, "host_bounding_caps", lambda: host)
    with pytest.raises(UsageError, match="cannot add capability CAP_SYS_RESOURCE"):
        merge_caps(["SYS_RESOURCE"], [])
    assert "CAP_SYS_RESOURCE" not in merge_caps([], [], privileged=True)
    assert "CAP_SYS_RESOURCE" not in merge_caps(["ALL"], [])


def test_host_bounding_caps_reads_proc() -> None:
    caps = spec_caps.host_bounding_caps()
    assert caps <= frozenset(ALL_CAPS)
    assert "CAP_CHOWN" in caps or os.geteuid() != 0


@pytest.mark.usefixtures("all_caps_available")
def test_build_capabilities_root_and_user() -> None:
    root = build_capabilities([], [], False, 0)
    assert root == {
        "bounding": sorted(DEFAULT_CAPS),
        "effective": sorted(DEFAULT_CAPS),
        "permitted": sorted(DEFAULT_CAPS),
    }
    user = build_capabilities([], [], False, 1000)
    assert user["bounding"] == sorted(DEFAULT_CAPS)
    assert user["effective"] == user["permitted"] == user["ambient"] == []
    added = build_capabilities(["NET_RAW"], [], False, 1000)
    assert added["effective"] == added["ambient"] == added["inheritable"] == ["CAP_NET_RAW"]
    assert "CAP_NET_RAW" in added["bounding"]
    priv = build_capabilities([], [], True, 1000)
    assert priv["bounding"] == sorted(ALL_CAPS)
    assert priv["effective"] == []


# --- users ---------------------------------------------------------------------------

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1::/usr/sbin:/usr/sbin/nologin
broken line
tester:x:1234:2345:Test User:/home/tester:/bin/sh
huge:x:99999999999:1::/:/bin/sh
nohome:x:1500:1500::
"""
GROUP = """\
root:x:0:
testers:x:2345:
extra:x:3456:tester,daemon
wheel:x:10:root
more:x:4567: tester
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    return root


def test_resolve_user_forms(rootfs: Path) -> None:
    r = str(rootfs)
    assert resolve_user(r, "") == (0, 0, [10], "/root")
    assert resolve_user(r, "root") == (0, 0, [10], "/root")
    assert resolve_user(r, "tester") == (1234, 2345, [3456, 4567], "/home/tester")
    assert resolve_user(r, "1234") == (1234, 2345, [3456, 4567], "/home/tester")
    assert resolve_user(r, "tester:extra") == (1234, 3456, [], "/home/tester")
    assert resolve_user(r, "1234:0") == (1234, 0, [], "/home/tester")
    assert resolve_user(r, "tester:777") == (1234, 777, [], "/home/tester")
    # A numeric uid need not exist, like runc/podman.
    assert resolve_user(r, "4242") == (4242, 0, [], "/")
    assert resolve_user(r, "4242:4242") == (4242, 4242, [], "/")
    assert resolve_user(r, "nohome") == (1500, 1500, [], "/")


def test_resolve_user_unknown(rootfs: Path) -> None:
    with pytest.raises(UnknownUser) as exc:
        resolve_user(str(rootfs), "alice", image="docker.io/library/alpine:latest")
    msg = str(exc.value)
    assert "unable to find user alice: no matching entries in passwd file" in msg
    assert "docker.io/library/alpine:latest" in msg
    assert isinstance(exc.value, UsageError)
    with pytest.raises(UnknownUser, match="unable to find group nogroup"):
        resolve_user(str(rootfs), "tester:nogroup")


@pytest.mark.parametrize("user", [":", "tester:", ":10", "99999999999"])
def test_resolve_user_bad_forms(rootfs: Path, user: str) -> None:
    with pytest.raises(UsageError, match="invalid user"):
        resolve_user(str(rootfs), user)


def test_resolve_user_without_passwd(tmp_path: Path) -> None:
    assert resolve_user(str(tmp_path), "") == (0, 0, [], "/")
    assert resolve_user(str(tmp_path), "1000:1000") == (1000, 1000, [], "/")
    with pytest.raises(UnknownUser):
        resolve_user(str(tmp_path), "nobody")


def test_resolve_user_symlinks_stay_in_rootfs(tmp_path: Path) -> None:
    outside = tmp_path / "host-etc"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:666:666::/:/bin/sh\n")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "real").mkdir()
    (root / "real/passwd").write_text("good:x:42:42::/home/good:/bin/sh\n")
    # Relative escape: clamped at the rootfs, so it resolves to rootfs/host-etc (absent).
    (root / "etc/passwd").symlink_to("../../../../../../../host-etc/passwd")
    with pytest.raises(UnknownUser):
        resolve_user(str(root), "evil")
    # Absolute link: resolved against the rootfs, not the host.
    (root / "etc/passwd").unlink()
    (root / "etc/passwd").symlink_to("/real/passwd")
    assert resolve_user(str(root), "good") == (42, 42, [], "/home/good")
    # Absolute link to a host path that exists only outside the rootfs.
    (root / "etc/passwd").unlink()
    (root / "etc/passwd").symlink_to(str(outside / "passwd"))
    with pytest.raises(UnknownUser):
        resolve_user(str(root), "evil")
    # Directory symlink in the middle of the path.
    (root / "etc/passwd").unlink()
    (root / "etc").rmdir()
    (root / "etc").symlink_to("real")
    assert resolve_user(str(root), "good")[0] == 42


def test_read_in_root_edge_cases(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "etc/passwd").mkdir(parents=True)  # a directory, not a file
    assert read_in_root(str(root), "/etc/passwd") is None
    os.mkfifo(root / "fifo")  # must not block
    assert read_in_root(str(root), "/fifo") is None
    (root / "loop").symlink_to("loop")
    with pytest.raises(OSError):
        read_in_root(str(root), "/loop")
    (root / "file").write_text("x")
    assert read_in_root(str(root), "/file/below") is None
    assert read_in_root(str(root), "/./etc/../file") == "x"
    (root / "big").write_bytes(b"a" * 100)
    with pytest.raises(OSError):
        read_in_root(str(root), "/big", limit=10)


# --- command and environment ---------------------------------------------------------

IMAGE = {"config": {"Entrypoint": ["/entry"], "Cmd": ["serve", "--port", "80"]}}


def test_resolve_command() -> None:
    assert resolve_command(IMAGE, None, None) == ["/entry", "serve", "--port", "80"]
    assert resolve_command(IMAGE, None, ["sh"]) == ["/entry", "sh"]
    # --entrypoint drops the image's Cmd unless a command is given.
    assert resolve_command(IMAGE, ["/bin/sh"], None) == ["/bin/sh"]
    assert resolve_command(IMAGE, ["/bin/sh"], ["-c", "id"]) == ["/bin/sh", "-c", "id"]
    assert resolve_command(IMAGE, [], ["id"]) == ["id"]
    # The inner config object works too.
    assert resolve_command({"Cmd": ["sh"]}, None, []) == ["sh"]
    assert resolve_command({"config": {"Cmd": "sh"}}, None, None) == ["sh"]


@pytest.mark.parametrize(
    ("cfg", "ep", "cmd"),
    [({}, None, None), ({"config": {"Cmd": None}}, None, []), (IMAGE, [], None), ({}, [""], [])],
)
def test_resolve_command_empty(cfg: dict[str, Any], ep: list[str] | None, cmd: list[str]) -> None:
    with pytest.raises(UsageError, match="no command or entrypoint provided, and no CMD or"):
        resolve_command(cfg, ep, cmd)


def test_resolve_command_bad_image_config() -> None:
    with pytest.raises(UsageError, match="Cmd must be a list"):
        resolve_command({"Cmd": [1, 2]}, None, None)


def _env(entries: list[str]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in entries)


def test_build_env_defaults() -> None:
    env = _env(build_env([], [], "box", False, home="/root"))
    assert env == {"PATH": DEFAULT_PATH, "container": "oci", "HOSTNAME": "box", "HOME": "/root"}
    assert _env(build_env([], [], "box", True))["TERM"] == "xterm"


def test_build_env_layers() -> None:
    image = ["PATH=/opt/bin", "HOSTNAME=image", "HOME=/image", "LANG=C", "junk"]
    user = ["LANG=en_US.UTF-8", "EMPTY=", "FROMHOST", "MISSING", "PRE*", "EQ=a=b"]
    host = {"FROMHOST": "yes", "PRE_A": "1", "PRE_B": "2", "OTHER": "x"}
    out = build_env(image, user, "box", False, home="/root", host_env=host)
    env = _env(out)
    assert env["PATH"] == "/opt/bin"
    assert env["HOSTNAME"] == "box"
    assert env["HOME"] == "/image"
    assert env["LANG"] == "en_US.UTF-8"
    assert env["EMPTY"] == ""
    assert env["FROMHOST"] == "yes"
    assert env["EQ"] == "a=b"
    assert (env["PRE_A"], env["PRE_B"]) == ("1", "2")
    assert "MISSING" not in env and "OTHER" not in env and "junk" not in out
    assert _env(build_env([], ["HOSTNAME=mine", "container=x"], "box", False))["HOSTNAME"] == "mine"


def test_build_env_host_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPY_OCI_TEST_VAR", "42")
    assert "IPY_OCI_TEST_VAR=42" in build_env([], ["IPY_OCI_TEST_VAR"], "h", False)


@pytest.mark.parametrize("bad", ["=value", "", "A B"])
def test_build_env_errors(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid environment variable"):
        build_env([], [bad], "h", False)


# --- rlimits and sysctls -------------------------------------------------------------


def _hard(res: int) -> int:
    h = resource.getrlimit(res)[1]
    return RLIM_INFINITY if h == resource.RLIM_INFINITY else h


def test_host_rlimits_within_hard_limits() -> None:
    lims = {r["type"]: r for r in host_rlimits()}
    assert set(lims) == {"RLIMIT_NOFILE", "RLIMIT_NPROC"}
    assert lims["RLIMIT_NOFILE"]["hard"] <= _hard(resource.RLIMIT_NOFILE)
    assert lims["RLIMIT_NPROC"]["hard"] <= _hard(resource.RLIMIT_NPROC)
    assert lims["RLIMIT_NOFILE"]["hard"] == min(1048576, _hard(resource.RLIMIT_NOFILE))
    for r in lims.values():
        assert r["soft"] == r["hard"] > 0


def test_parse_ulimit() -> None:
    assert parse_ulimit("nofile=1024:2048") == {
        "type": "RLIMIT_NOFILE",
        "soft": 1024,
        "hard": 2048,
    }
    assert parse_ulimit("NPROC=50") == {"type": "RLIMIT_NPROC", "soft": 50, "hard": 50}
    assert parse_ulimit("core=-1")["hard"] == RLIM_INFINITY
    assert parse_ulimit("core=0:unlimited") == {
        "type": "RLIMIT_CORE",
        "soft": 0,
        "hard": RLIM_INFINITY,
    }
    assert parse_ulimit("locks=5")["type"] == "RLIMIT_LOCKS"


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("nofile", "expected NAME=SOFT[:HARD]"),
        ("nofile=", "expected NAME=SOFT[:HARD]"),
        ("=5", "expected NAME=SOFT[:HARD]"),
        ("files=10", "unknown limit 'files'"),
        ("nofile=abc", "'abc' is not a number"),
        ("nofile=1:2:3", "expected NAME=SOFT[:HARD]"),
        ("nofile=2048:1024", "soft limit 2048 is above hard limit 1024"),
        ("nofile=-5", "is not a number"),
    ],
)
def test_parse_ulimit_errors(spec: str, words: str) -> None:
    with pytest.raises(UsageError) as exc:
        parse_ulimit(spec)
    assert repr(spec) in str(exc.value)
    assert words in str(exc.value)


def test_build_rlimits_overrides() -> None:
    lims = {r["type"]: r for r in build_rlimits(["nofile=100:200", "core=0"])}
    assert lims["RLIMIT_NOFILE"] == {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}
    assert lims["RLIMIT_CORE"]["hard"] == 0
    assert "RLIMIT_NPROC" in lims
    base = [{"type": "RLIMIT_NOFILE", "soft": 5, "hard": 5}]
    assert build_rlimits([], base) == base
    host = {r["type"] for r in build_rlimits(["host"])}
    assert {"RLIMIT_STACK", "RLIMIT_MEMLOCK", "RLIMIT_NOFILE"} <= host


def test_build_rlimits_above_host_hard(monkeypatch: pytest.MonkeyPatch) -> None:
    hard = _hard(resource.RLIMIT_NOFILE)
    if hard == RLIM_INFINITY:
        pytest.skip("host nofile hard limit is unlimited")
    spec = f"nofile={hard + 1}:{hard + 1}"
    monkeypatch.setattr(spec_limits, "has_host_cap", lambda cap: False)
    with pytest.raises(UsageError, match="lacks CAP_SYS_RESOURCE") as exc:
        build_rlimits([spec])
    assert f"use at most {hard}" in str(exc.value)
    monkeypatch.setattr(spec_limits, "has_host_cap", lambda cap: True)
    assert build_rlimits([spec])[0]["hard"] == hard + 1


def test_has_host_cap() -> None:
    assert isinstance(spec_caps.has_host_cap("CAP_CHOWN"), bool)
    with pytest.raises(UsageError):
        spec_caps.has_host_cap("NOPE")


def test_parse_sysctl() -> None:
    assert parse_sysctl("net.ipv4.ip_forward=1") == ("net.ipv4.ip_forward", "1")
    assert parse_sysctl("net/core/somaxconn=512") == ("net.core.somaxconn", "512")
    assert parse_sysctl("kernel.shmmax=1000") == ("kernel.shmmax", "1000")
    assert parse_sysctl("fs.mqueue.msg_max=20") == ("fs.mqueue.msg_max", "20")
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_sysctl("net.ipv4.ip_forward")
    with pytest.raises(UsageError, match="'vm.swappiness' is not allowed"):
        parse_sysctl("vm.swappiness=10")
    with pytest.raises(UsageError, match="--network host"):
        parse_sysctl("net.ipv4.ip_forward=1", network="host")


# --- /etc files ----------------------------------------------------------------------


def test_write_etc_files(tmp_path: Path) -> None:
    files = write_etc_files(tmp_path / "userdata", "box1", "none")
    assert set(files) == {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}
    assert Path(files["/etc/hostname"]).read_text() == "box1\n"
    hosts = Path(files["/etc/hosts"]).read_text()
    assert "127.0.0.1\tlocalhost" in hosts and "::1\tlocalhost" in hosts
    assert "box1" in hosts
    assert "nameserver" in Path(files["/etc/resolv.conf"]).read_text()
    assert not list((tmp_path / "userdata").glob("*.tmp"))
    assert oct(Path(files["/etc/hosts"]).stat().st_mode & 0o777) == "0o644"
    # Rewriting (e.g. on restart) replaces the files.
    files2 = write_etc_files(tmp_path / "userdata", "box2", "host")
    assert Path(files2["/etc/hostname"]).read_text() == "box2\n"


def test_resolv_conf_drops_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = tmp_path / "resolv.conf"
    host.write_text("search example.com\nnameserver 127.0.0.53\noptions edns0\n")
    real_read = spec_mounts._read
    monkeypatch.setattr(
        spec_mounts, "_read", lambda p: None if p.startswith("/run/systemd") else real_read(p)
    )
    text = spec_mounts.resolv_conf_text("none", str(host))
    assert "127.0.0.53" not in text
    assert "search example.com" in text and "nameserver 8.8.8.8" in text
    assert "127.0.0.53" in spec_mounts.resolv_conf_text("host", str(host))
    host.write_text("nameserver 10.1.2.3\nnameserver ::1\n")
    assert spec_mounts.resolv_conf_text("none", str(host)) == "nameserver 10.1.2.3\n"
    assert "8.8.8.8" in spec_mounts.resolv_conf_text("none", str(tmp_path / "absent"))


def test_hosts_text_host_network(tmp_path: Path) -> None:
    host = tmp_path / "hosts"
    host.write_text("10.0.0.1 db")
    text = spec_mounts.hosts_text("box", "host", str(host))
    assert text == "10.0.0.1 db\n127.0.0.1\tbox\n"


# --- process and spec ----------------------------------------------------------------


def _proc(**kw: Any) -> ProcessOptions:
    return ProcessOptions(args=kw.pop("args", ["/bin/sh"]), env=["PATH=/bin"], **kw)


@pytest.mark.usefixtures("all_caps_available")
def test_build_process() -> None:
    p = build_process(
        _proc(
            cwd="/work",
            uid=1000,
            gid=1000,
            additional_gids=[10, 10, 20],
            terminal=True,
            no_new_privileges=True,
        )
    )
    assert p["terminal"] is True
    assert p["user"] == {"uid": 1000, "gid": 1000, "umask": 0o022, "additionalGids": [10, 20]}
    assert p["args"] == ["/bin/sh"] and p["env"] == ["PATH=/bin"] and p["cwd"] == "/work"
    assert p["noNewPrivileges"] is True
    assert p["capabilities"]["effective"] == []
    assert p["rlimits"] == host_rlimits()
    lims = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}]
    assert build_process(_proc(rlimits=lims))["rlimits"] == lims
    assert "additionalGids" not in build_process(_proc())["user"]
    json.dumps(p)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"args": []}, "no command given"),
        ({"args": [""]}, "no command given"),
        ({"cwd": "work"}, "invalid working directory 'work'"),
        ({"uid": -1}, "invalid uid -1"),
        ({"additional_gids": [2**32]}, "invalid gid"),
        ({"cap_add": ["BOGUS"]}, "unknown capability 'BOGUS'"),
    ],
)
def test_build_process_errors(kw: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        build_process(_proc(**kw))


def _spec(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    proc = kw.pop("process", None) or _proc()
    opts = SpecOptions(rootfs=str(tmp_path), process=proc, hostname="box", **kw)
    return build_spec(opts)


def _ns(spec: dict[str, Any]) -> list[str]:
    return [n["type"] for n in spec["linux"]["namespaces"]]


def test_build_spec_defaults(tmp_path: Path) -> None:
    spec = _spec(tmp_path, annotations={"a": "b"})
    json.dumps(spec)
    assert spec["ociVersion"] == OCI_VERSION
    assert spec["root"] == {"path": str(tmp_path), "readonly": False}
    assert spec["hostname"] == "box"
    assert spec["annotations"] == {"a": "b"}
    assert {"pid", "ipc", "uts", "mount", "network"} <= set(_ns(spec))
    linux = spec["linux"]
    assert linux["maskedPaths"] == list(MASKED_PATHS)
    assert linux["readonlyPaths"] == list(READONLY_PATHS)
    assert linux["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"  # podman's default profile
    assert linux["resources"]["pids"] == {"limit": 2048}  # podman's default pids limit
    assert "cgroupsPath" not in linux and "sysctl" not in linux
    devices = linux["resources"]["devices"]
    assert devices[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in devices
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests[:7] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/mqueue",
        "/dev/shm",
        "/sys",
        "/sys/fs/cgroup",
    ]
    assert spec["mounts"][1]["options"] == [
        "nosuid", "noexec", "strictatime", "mode=755", "size=65536k"]  # podman's /dev
    shm = spec["mounts"][4]
    assert f"size={64 << 20}" in shm["options"]
    pts = spec["mounts"][2]["options"]
    assert {"newinstance", "ptmxmode=0666", "mode=0620", "gid=5"} <= set(pts)
    assert "ro" in spec["mounts"][5]["options"]
    assert spec["process"]["args"] == ["/bin/sh"]


def test_build_spec_network(tmp_path: Path) -> None:
    assert "network" not in _ns(_spec(tmp_path, network="host"))
    ns = _spec(tmp_path, network="ns:/run/netns/x")["linux"]["namespaces"]
    assert {"type": "network", "path": "/run/netns/x"} in ns
    with pytest.raises(UsageError, match="unsupported network mode 'bridge'"):
        _spec(tmp_path, network="bridge")
    assert "cgroup" in _ns(_spec(tmp_path, cgroupns="private"))
    assert "cgroup" not in _ns(_spec(tmp_path, cgroupns="host"))
    with pytest.raises(UsageError, match="invalid cgroupns mode"):
        _spec(tmp_path, cgroupns="shared")


def test_build_spec_privileged(tmp_path: Path) -> None:
    spec = _spec(tmp_path, process=_proc(privileged=True))
    assert "maskedPaths" not in spec["linux"] and "readonlyPaths" not in spec["linux"]
    assert "seccomp" not in spec["linux"]  # --privileged runs unconfined
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert spec["process"]["capabilities"]["bounding"] == sorted(spec_caps.host_bounding_caps())
    sysfs = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sysfs["options"]


def test_build_spec_init(tmp_path: Path) -> None:
    init = tmp_path / "catatonit"
    init.write_text("")
    spec = _spec(tmp_path, init_path=str(init), process=_proc(args=["sleep", "1"]))
    assert spec["process"]["args"] == [INIT_PATH, "--", "sleep", "1"]
    m = next(m for m in spec["mounts"] if m["destination"] == INIT_PATH)
    assert m["source"] == str(init) and "ro" in m["options"]
    with pytest.raises(UsageError, match="init binary .* not found"):
        _spec(tmp_path, init_path=str(tmp_path / "nope"))


def test_build_spec_mounts(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    spec = _spec(
        tmp_path,
        mounts=[BindMount.parse(f"{shm}:/dev/shm"), BindMount.parse(f"{tmp_path}:/data:ro")],
        etc_files={"/etc/hosts": "/x/hosts"},
        read_only=True,
        shm_size=1 << 20,
    )
    assert spec["root"]["readonly"] is True
    mounts = {m["destination"]: m for m in spec["mounts"]}
    assert mounts["/dev/shm"]["type"] == "bind"  # the -v mount replaced the tmpfs
    assert [m["destination"] for m in spec["mounts"]].count("/dev/shm") == 1
    assert mounts["/data"]["options"][-1] == "ro"
    assert mounts["/etc/hosts"] == {
        "destination": "/etc/hosts",
        "type": "bind",
        "source": "/x/hosts",
        "options": ["bind", "rprivate", "rw"],
    }
    for d in ("/run", "/tmp", "/var/tmp"):
        assert mounts[d]["type"] == "tmpfs"
    assert "/tmp" not in {m["destination"] for m in _spec(tmp_path, read_only=False)["mounts"]}
    no_tmpfs = _spec(tmp_path, read_only=True, read_only_tmpfs=False)
    assert "/tmp" not in {m["destination"] for m in no_tmpfs["mounts"]}


def test_build_spec_resources(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        memory=64 << 20,
        memory_swap=128 << 20,
        pids_limit=100,
        cpu_shares=512,
        cpus=0.5,
        cgroups_path="/ipy-oci/abc",
        sysctls=["net.ipv4.ip_forward=1"],
        ulimits=["nofile=10:20"],
    )
    res = spec["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert res["pids"] == {"limit": 100}
    assert res["cpu"] == {"shares": 512, "period": 100000, "quota": 50000}
    assert spec["linux"]["cgroupsPath"] == "/ipy-oci/abc"
    assert spec["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}
    nofile = next(r for r in spec["process"]["rlimits"] if r["type"] == "RLIMIT_NOFILE")
    assert (nofile["soft"], nofile["hard"]) == (10, 20)
    assert _spec(tmp_path, pids_limit=0)["linux"]["resources"]["pids"] == {"limit": -1}


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"memory": 1024}, "too small"),
        ({"memory": 64 << 20, "memory_swap": 1 << 20}, "must not be below"),
        ({"memory_swap": 1 << 30}, "needs a memory limit"),
        ({"cpus": 0.0}, "invalid --cpus"),
        ({"cpus": 10_000.0}, "invalid --cpus"),
        ({"cpu_shares": 1}, "cpu shares 1 out of range"),
        ({"hostname": ""}, "invalid hostname"),
        ({"shm_size": -1}, "invalid shm size"),
        ({"sysctls": ["kernel.panic=1"]}, "not allowed"),
        ({"ulimits": ["nofile=x"]}, "invalid ulimit"),
    ],
)
def test_build_spec_errors(tmp_path: Path, kw: dict[str, Any], words: str) -> None:
    hostname = kw.pop("hostname", "box")
    opts = SpecOptions(rootfs=str(tmp_path), process=_proc(), hostname=hostname, **kw)
    with pytest.raises(OciError, match=words):
        build_spec(opts)


def test_build_spec_relative_rootfs() -> None:
    with pytest.raises(UsageError, match="must be an absolute path"):
        build_spec(SpecOptions(rootfs="rootfs", process=_proc(), hostname="h"))
