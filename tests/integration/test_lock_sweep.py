"""``system reap`` removes lock files of containers that no longer exist (a process
SIGKILLed between taking a removed container's lock and noticing it was gone leaves
one), but never a lock someone holds, nor a live container's."""

from __future__ import annotations

import fcntl
import os
from typing import Any


def test_system_reap_sweeps_locks_of_gone_containers(oci: Any) -> None:
    res = oci.cli("create", "--name", "kept", "--network", "none", "busybox", "true")
    assert res.returncode == 0, res.stderr
    kept = res.stdout.strip()
    locks = oci.runroot / "locks"
    gone = "0" * 64
    held = "1" * 64
    for name in (f"{gone}.lock", f"{gone}.attach", f"{gone}.stop", f"{held}.lock",
                 f"{kept}.lock"):
        (locks / name).touch()
    fd = os.open(locks / f"{held}.lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert oci.cli("system", "reap").returncode == 0
        left = set(os.listdir(locks))
        assert not {f"{gone}.lock", f"{gone}.attach", f"{gone}.stop"} & left
        assert {f"{held}.lock", f"{kept}.lock"} <= left
    finally:
        os.close(fd)
        (locks / f"{held}.lock").unlink()
        oci.cli("rm", "-f", "kept")
