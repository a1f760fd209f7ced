"""Helpers shared by the exec session tests (tests/integration/test_exec_*.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def wait_until(pred: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Bounded polling for an asynchronous effect (never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        val = pred()
        if val:
            return val
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def alive(pid: int, start: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return False
    rest = data[data.rfind(b")") + 2:].split()
    return int(rest[19]) == start and rest[0] not in (b"Z", b"X")


def exec_dirs(oci: Any) -> list[str]:
    d = oci.runroot / "exec"
    return sorted(os.listdir(d)) if d.is_dir() else []


def orphan_exec_conmons(oci: Any) -> list[int]:
    """Exec conmon processes whose session bundle is already gone (a failed exec's)."""
    needle = f"{oci.runroot}/exec/".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        if b"conmon" not in argv[0] or not any(needle in a for a in argv):
            continue
        if stat[stat.rfind(b")") + 2:].split()[0] in (b"Z", b"X"):
            continue
        sid = argv[argv.index(b"-u") + 1].decode() if b"-u" in argv else ""
        if sid and not (oci.runroot / "exec" / sid).exists():
            found.append(int(entry))
    return found


@contextmanager
def running_container(oci: Any, name: str = "c") -> Iterator[str]:
    """A running busybox container made by the CLI; removed (with all its sessions)
    afterwards. Yields its id."""
    res = oci.cli("run", "-d", "--name", name, "busybox", "sleep", "1000")
    try:
        assert res.returncode == 0, res.stderr
        yield res.stdout.strip()
    finally:
        oci.cli("rm", "-f", "-t", "0", name)
