"""The OCI runtime's state dir deleted under a running container: stop and rm -f
still end its process (by its recorded identity) and leave nothing behind."""

from __future__ import annotations

import shutil

from helpers import OciEnv, alive, inspect, proc_stat


def _forget(oci: OciEnv, name: str) -> tuple[int, int]:
    data = inspect(oci, name)
    cid, pid = data["Id"], data["State"]["Pid"]
    shutil.rmtree(oci.runroot / "runc" / cid)
    st = proc_stat(pid)
    assert st is not None
    return pid, st[2]


def test_stop_ends_a_container_the_runtime_forgot(oci: OciEnv) -> None:
    oci.cli("run", "-d", "--name", "lost", "busybox", "sleep", "1000", check=True)
    pid, start = _forget(oci, "lost")
    res = oci.cli("stop", "-t", "1", "lost")
    assert res.returncode == 0, res.stderr
    assert not alive(pid, start)
    assert inspect(oci, "lost")["State"]["Status"] == "exited"
    oci.cli("rm", "lost", check=True)


def test_rm_force_ends_a_container_the_runtime_forgot(oci: OciEnv) -> None:
    oci.cli("run", "-d", "--name", "lost", "busybox", "sleep", "1000", check=True)
    pid, start = _forget(oci, "lost")
    res = oci.cli("rm", "-f", "-t", "0", "lost")
    assert res.returncode == 0, res.stderr
    assert not alive(pid, start)
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
