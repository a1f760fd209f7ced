"""A user without /etc/subuid lines: the single-uid fallback, with a warning (§2)."""

from __future__ import annotations

import json
import shutil

from rlimages import UID1234_FILE
from users import User, expected_map, parse_map, run_pty


def test_fallback_maps_only_the_user_and_warns(nosub: User) -> None:
    # A fresh store, so the first command extracts the image (where the warning is due).
    shutil.rmtree(nosub.storage, ignore_errors=True)
    res = nosub.oci("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                    "id -u; cat /proc/self/uid_map")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "0"
    assert parse_map("\n".join(lines[1:])) == [(0, nosub.uid, 1)]
    assert "subuid" in res.stderr, f"no warning about the missing subuid range: {res.stderr!r}"
    assert "Traceback" not in res.stderr
    # files of other owners in the image belong to root inside
    assert nosub.oci_ok("run", "--rm", "--network", "none", "busybox", "stat", "-c", "%u",
                        "/home/user") == "0\n"


def test_fallback_info_unshare_and_user_refusal(nosub: User) -> None:
    data = json.loads(nosub.oci_ok("info", "--format", "json"))
    assert data["host"]["security"]["rootless"] is True
    assert data["host"]["idMappings"]["uidmap"] == [
        {"container_id": 0, "host_id": nosub.uid, "size": 1}]
    assert data["host"]["idMappings"]["gidmap"] == [
        {"container_id": 0, "host_id": nosub.gid, "size": 1}]
    assert parse_map(nosub.oci_ok("unshare", "cat", "/proc/self/uid_map")) == \
        expected_map(nosub, nosub.uid)
    # uid 1000 is not mapped: refused up front, not by runc
    res = nosub.oci("run", "--rm", "--network", "none", "--user", "1000", "busybox", "true")
    assert res.returncode == 125, res.stderr
    assert "1000" in res.stderr
    assert nosub.oci_ok("ps", "-aq") == ""


def test_fallback_pull_of_uid_1234_files(nosub: User, uid1234_ref: str) -> None:
    nosub.oci_ok("pull", uid1234_ref)
    out = nosub.oci_ok("run", "--rm", "--network", "none", uid1234_ref, "stat", "-c", "%u:%g",
                       f"/{UID1234_FILE}")
    assert out == "0:0\n"
    nosub.oci_ok("rmi", uid1234_ref)


def test_fallback_runs_with_a_terminal(nosub: User) -> None:
    """devpts is mounted without gid=5, which a single-uid map cannot hold (§2)."""
    rc, out = run_pty(nosub, "ipy-oci", "run", "--rm", "-t", "--network", "none", "busybox",
                      "sh", "-c", "tty; id -u")
    lines = out.decode(errors="replace").replace("\r", "").splitlines()
    assert rc == 0, lines
    assert lines[-2:][0].startswith("/dev/pts/") and lines[-1] == "0", lines
