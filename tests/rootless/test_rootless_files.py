"""Files between the user and containers: cp, diff and named volumes (§3, §8)."""

from __future__ import annotations

import os

from users import User, container


def test_cp_and_diff(rl1: User) -> None:
    src, back = rl1.home / "to-container", rl1.home / "from-container"
    try:
        res = rl1.run("sh", "-c", f"echo from-host > {src}")
        assert res.returncode == 0, res.stderr
        with container(rl1, "files", "--network", "none", "busybox", "sleep", "1000"):
            rl1.oci_ok("cp", str(src), "files:/tmp/in")
            assert rl1.oci_ok("exec", "files", "cat", "/tmp/in") == "from-host\n"
            # the user's file becomes root's inside (copied as 0:0, not as the host uid)
            assert rl1.oci_ok("exec", "files", "stat", "-c", "%u", "/tmp/in") == "0\n"
            rl1.oci_ok("exec", "files", "sh", "-c", "echo made > /tmp/out")
            rl1.oci_ok("cp", "files:/tmp/out", str(back))
            assert back.read_text() == "made\n"
            assert os.stat(back).st_uid == rl1.uid
            assert "A /tmp/out" in rl1.oci_ok("diff", "files").splitlines()
    finally:
        for path in (src, back):
            if path.exists():
                path.unlink()


def test_named_volume_keeps_owners(rl1: User) -> None:
    rl1.oci_ok("volume", "create", "rlvol")
    try:
        rl1.oci_ok("run", "--rm", "--network", "none", "-v", "rlvol:/data", "busybox", "sh",
                   "-c", "echo v > /data/f && chown 1000:1000 /data/f")
        out = rl1.oci_ok("run", "--rm", "--network", "none", "-v", "rlvol:/data", "busybox",
                         "stat", "-c", "%u:%g", "/data/f")
        assert out == "1000:1000\n"
    finally:
        rl1.oci("volume", "rm", "-f", "rlvol")
    assert "rlvol" not in rl1.oci_ok("volume", "ls", "-q").split()
