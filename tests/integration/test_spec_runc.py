"""build_spec against a real runc (no conmon): the spec must run and mean what it says.

Each test writes a bundle whose rootfs is busybox-static plus a passwd file, runs
``runc run`` in the foreground, and checks the container's view of itself.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ipy_oci.oci.spec import (
    ALL_CAPS,
    DEFAULT_CAPS,
    INIT_PATH,
    BindMount,
    ProcessOptions,
    SpecOptions,
    build_env,
    build_process,
    build_spec,
    host_rlimits,
    resolve_user,
    write_etc_files,
)

RUNC = shutil.which("runc") or "/usr/sbin/runc"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
CATATONIT = "/usr/bin/catatonit"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="runc needs root"),
    pytest.mark.skipif(not os.access(RUNC, os.X_OK), reason="runc is not installed"),
    pytest.mark.skipif(not os.access(BUSYBOX, os.X_OK), reason="busybox-static is not installed"),
]

APPLETS = [
    "sh",
    "cat",
    "id",
    "hostname",
    "env",
    "ls",
    "ps",
    "sleep",
    "touch",
    "wc",
    "tr",
    "grep",
    "mount",
    "echo",
    "true",
]
PASSWD = "root:x:0:0:root:/root:/bin/sh\ntester:x:1234:2345::/home/tester:/bin/sh\n"
GROUP = "root:x:0:\ntesters:x:2345:\nextra:x:3456:tester\n"

_ids = itertools.count()


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("img") / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    return root


@dataclass
class Runner:
    """Runs bundles under a private runc root and removes everything they leave."""

    base: Path
    rootfs: Path
    ids: list[str] = field(default_factory=list)
    cgroup_parent: str = ""

    @property
    def runc_root(self) -> Path:
        return self.base / "runc"

    def new_id(self) -> str:
        cid = f"sp{os.getpid() % 100000}x{next(_ids)}"
        self.ids.append(cid)
        return cid

    def runc(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RUNC, "--root", str(self.runc_root), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_detached(self, bundle: Path, cid: str) -> None:
        """``runc run --detach``: the container keeps its stdio, so give it no pipes."""
        errlog = self.base / f"{cid}.err"
        with open(errlog, "w") as err:
            res = subprocess.run(
                [
                    RUNC,
                    "--root",
                    str(self.runc_root),
                    "run",
                    "--detach",
                    "--bundle",
                    str(bundle),
                    cid,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                timeout=30,
            )
        assert res.returncode == 0, errlog.read_text()

    def options(self, script: str, **kw: Any) -> SpecOptions:
        proc_kw = {
            k: kw.pop(k)
            for k in ("uid", "gid", "additional_gids", "cap_add", "cap_drop", "privileged")
            if k in kw
        }
        env = kw.pop("env", None) or build_env([], [], kw.get("hostname", "ctr"), False)
        proc = ProcessOptions(args=["/bin/sh", "-c", script], env=env, **proc_kw)
        kw.setdefault("hostname", "ctr")
        return SpecOptions(rootfs=str(self.rootfs), process=proc, **kw)

    def write_bundle(self, opts: SpecOptions) -> Path:
        bundle = self.base / f"b{len(self.ids)}"
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(build_spec(opts)))
        return bundle

    def run(self, script: str, **kw: Any) -> tuple[int, str, str]:
        bundle = self.write_bundle(self.options(script, **kw))
        cid = self.new_id()
        res = self.runc("run", "--bundle", str(bundle), cid, timeout=60)
        self.runc("delete", "-f", cid)
        return res.returncode, res.stdout, res.stderr

    def ok(self, script: str, **kw: Any) -> str:
        rc, out, err = self.run(script, **kw)
        assert rc == 0, f"exit {rc}: {err or out}"
        return out

    def cleanup(self) -> None:
        for cid in self.ids:
            self.runc("delete", "-f", cid)
        leftover = os.listdir(self.runc_root) if self.runc_root.exists() else []
        if self.cgroup_parent:
            _remove_cgroup_tree(self.cgroup_parent)
        assert leftover == [], f"runc state left behind: {leftover}"


def _remove_cgroup_tree(rel: str) -> None:
    """rmdir our test cgroup (runc removes the leaf, not the parents we invented)."""
    base = Path("/sys/fs/cgroup")
    for hier in [base, *base.iterdir()]:  # pure v2 has one hierarchy, v1/hybrid several
        top = hier / rel.strip("/")
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True):
            d.rmdir()
        for _ in range(50):  # a just-exited task can keep a cgroup busy for a moment
            try:
                top.rmdir()
                break
            except OSError:
                time.sleep(0.1)


@pytest.fixture
def runner(tmp_path: Path, rootfs: Path) -> Iterator[Runner]:
    r = Runner(tmp_path, rootfs)
    yield r
    r.cleanup()


def _cap_mask(caps: list[str] | tuple[str, ...]) -> int:
    return sum(1 << ALL_CAPS.index(c) for c in caps)


def _status_field(text: str, name: str) -> str:
    return next(ln.split()[1] for ln in text.splitlines() if ln.startswith(name + ":"))


def _interfaces(proc_net_dev: str) -> set[str]:
    return {ln.split(":")[0].strip() for ln in proc_net_dev.splitlines()[2:] if ":" in ln}


def test_hostname_and_env(runner: Runner) -> None:
    env = build_env(["LANG=C"], ["FOO=bar"], "box7", False, home="/root")
    out = runner.ok(
        "hostname; cat /etc/hostname; cat /etc/hosts; env",
        hostname="box7",
        env=env,
        etc_files=write_etc_files(runner.base / "ud", "box7", "none"),
    )
    lines = out.splitlines()
    assert lines[0] == "box7" and lines[1] == "box7"
    assert "127.0.0.1\tbox7" in out
    for var in ("container=oci", "HOSTNAME=box7", "FOO=bar", "LANG=C", "HOME=/root"):
        assert var in lines


def test_default_capabilities(runner: Runner) -> None:
    out = runner.ok("cat /proc/self/status")
    assert int(_status_field(out, "CapEff"), 16) == _cap_mask(DEFAULT_CAPS)
    assert int(_status_field(out, "CapBnd"), 16) == _cap_mask(DEFAULT_CAPS)
    assert int(_status_field(out, "CapInh"), 16) == 0
    added = runner.ok("cat /proc/self/status", cap_add=["NET_ADMIN"], cap_drop=[])
    assert int(_status_field(added, "CapEff"), 16) == _cap_mask((*DEFAULT_CAPS, "CAP_NET_ADMIN"))


def test_user_from_passwd(runner: Runner, rootfs: Path) -> None:
    uid, gid, groups, home = resolve_user(str(rootfs), "tester")
    assert (uid, gid, groups, home) == (1234, 2345, [3456], "/home/tester")
    out = runner.ok("id; cat /proc/self/status", uid=uid, gid=gid, additional_gids=groups)
    ident = out.splitlines()[0]
    assert "uid=1234(tester)" in ident and "gid=2345(testers)" in ident
    assert "3456(extra)" in ident
    # Non-root: default caps stay in the bounding set only.
    assert int(_status_field(out, "CapEff"), 16) == 0
    assert int(_status_field(out, "CapBnd"), 16) == _cap_mask(DEFAULT_CAPS)


def test_bind_mounts_ro_and_rw(runner: Runner) -> None:
    ro_dir = runner.base / "ro"
    rw_dir = runner.base / "rw"
    ro_dir.mkdir()
    rw_dir.mkdir()
    (ro_dir / "f").write_text("hello\n")
    mounts = [BindMount.parse(f"{ro_dir}:/ro:ro"), BindMount.parse(f"{rw_dir}:/rw")]
    rc, out, err = runner.run(
        "cat /ro/f; echo new > /rw/g; echo x > /ro/f && echo WROTE; exit 0", mounts=mounts
    )
    assert rc == 0, err
    assert "hello" in out and "WROTE" not in out
    assert "Read-only file system" in out + err
    assert (rw_dir / "g").read_text() == "new\n"
    assert (ro_dir / "f").read_text() == "hello\n"


def test_masked_and_readonly_paths(runner: Runner) -> None:
    # /proc/kcore needs CONFIG_PROC_KCORE; fall back to another masked, non-empty file.
    path = next((p for p in ("/proc/kcore", "/proc/timer_list") if os.path.exists(p)), "/proc/keys")
    out = runner.ok(
        f"wc -c < {path}; echo 1 > /proc/sysrq-trigger || echo ROFS; "
        "grep ' /proc/sys ' /proc/self/mounts"
    )
    lines = out.splitlines()
    assert lines[0].strip() == "0", f"{path} is not masked"
    assert "ROFS" in lines
    assert " ro," in out


def test_ulimits(runner: Runner) -> None:
    nofile = next(r for r in host_rlimits() if r["type"] == "RLIMIT_NOFILE")["soft"]
    assert runner.ok("ulimit -n").strip() == str(nofile)
    out = runner.ok("ulimit -n; ulimit -Hn", ulimits=["nofile=1024:2048"])
    assert out.split() == ["1024", "2048"]


def test_init_is_pid1(runner: Runner) -> None:
    if not os.access(CATATONIT, os.X_OK):
        pytest.skip("catatonit is not installed")
    out = runner.ok("tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$", init_path=CATATONIT)
    cmdline, mypid = out.splitlines()[:2]
    assert cmdline.startswith(f"{INIT_PATH} -- /bin/sh -c")
    assert mypid != "1"
    # The init bind must land after the --read-only tmpfs on /run, not under it.
    out = runner.ok("cat /proc/1/comm", init_path=CATATONIT, read_only=True)
    assert out.strip() == "ipy-oci-init"


def test_network_none_only_loopback(runner: Runner) -> None:
    assert _interfaces(runner.ok("cat /proc/net/dev")) == {"lo"}


def test_network_host_sees_host_interfaces(runner: Runner) -> None:
    host = _interfaces(Path("/proc/net/dev").read_text())
    out = runner.ok("cat /proc/net/dev; ls /sys/class/net", network="host")
    assert _interfaces(out) == host
    # sysfs shows the host's netns too (runc mounts it fine as real root).
    assert set(out.split()) >= host


def test_read_only_rootfs(runner: Runner) -> None:
    etc = write_etc_files(runner.base / "ud", "ctr", "none")
    rc, out, err = runner.run(
        "touch /newfile || echo DENIED; touch /tmp/x /run/y /var/tmp/z && echo TMPOK; "
        "echo 10.9.9.9 extra >> /etc/hosts && echo HOSTSOK",
        read_only=True,
        etc_files=etc,
    )
    assert rc == 0, err
    assert "DENIED" in out and "TMPOK" in out and "HOSTSOK" in out
    assert "10.9.9.9 extra" in Path(etc["/etc/hosts"]).read_text()


def test_cgroup_limits(runner: Runner) -> None:
    runner.cgroup_parent = f"ipy-oci-spectest-{os.getpid()}"
    out = runner.ok(
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
        cgroups_path=f"/{runner.cgroup_parent}/c1",
        pids_limit=77,
    )
    assert out.strip() == "77"


def test_exec_process_spec(runner: Runner) -> None:
    """build_process output is what conmon hands to `runc exec --process`."""
    bundle = runner.write_bundle(runner.options("sleep 30"))
    cid = runner.new_id()
    try:
        runner.run_detached(bundle, cid)
        proc = build_process(
            ProcessOptions(
                args=["/bin/sh", "-c", "id -u; hostname; echo $EXECVAR; pwd"],
                env=build_env([], ["EXECVAR=hi"], "ctr", False),
                cwd="/etc",
                uid=1234,
                gid=2345,
            )
        )
        spec_file = runner.base / "exec.json"
        spec_file.write_text(json.dumps(proc))
        res = runner.runc("exec", "--process", str(spec_file), cid)
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == ["1234", "ctr", "hi", "/etc"]
    finally:
        runner.runc("kill", cid, "KILL")
        runner.runc("delete", "-f", cid)
