"""Two users never see or touch each other's containers, sockets or state (0700 dirs)."""

from __future__ import annotations

import os

from users import User, container, holder_pid, inspect


def test_second_user_cannot_see_or_touch_the_first_users_containers(
        rl1: User, rl2: User) -> None:
    with container(rl1, "iso", "--network", "none", "busybox", "sleep", "1000") as cid:
        assert rl2.oci_ok("ps", "-a", "--format", "{{.ID}} {{.Names}}").strip() == ""
        assert rl2.oci_ok("ps", "-aq", "--no-trunc") == ""
        for verb in (("inspect",), ("stop", "-t", "0"), ("kill",), ("exec",), ("logs",)):
            args = (*verb, cid, "true") if verb == ("exec",) else (*verb, cid)
            res = rl2.oci(*args)
            assert res.returncode != 0, f"rl2 ran {verb[0]} on rl1's container: {res.stdout}"
        rl2.oci("rm", "-f", "-t", "0", cid)
        assert inspect(rl1, "iso")["State"]["Status"] == "running"
        # names are per user: rl2 has its own "iso"
        assert rl2.oci_ok("run", "--rm", "--network", "none", "--name", "iso", "busybox",
                          "echo", "mine") == "mine\n"
        assert rl1.oci_ok("exec", "iso", "echo", "still") == "still\n"


def test_second_user_cannot_read_the_first_users_state(rl1: User, rl2: User) -> None:
    with container(rl1, "priv", "--network", "none", "busybox", "sleep", "1000"):
        for d in (rl1.storage, rl1.runroot):
            assert os.stat(d).st_mode & 0o077 == 0, d
            res = rl2.run("ls", str(d))
            assert res.returncode != 0 and "Permission denied" in res.stderr, (d, res)
        # pointing ipy-oci at them does not get around it
        res = rl2.oci("--root", str(rl1.storage), "--runroot", str(rl1.runroot), "ps", "-a")
        assert res.returncode != 0
        assert "priv" not in res.stdout
        # nor can rl2 enter rl1's user namespace
        holder = holder_pid(rl1)
        assert holder is not None
        res = rl2.run("nsenter", "-U", "-t", str(holder), "--preserve-credentials", "true")
        assert res.returncode != 0
