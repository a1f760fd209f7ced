"""Unit-test fixtures: the engine on FakeOCIRuntime (tests/fake_oci.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import OciEnv


def fake_processes(runroot: Path) -> list[str]:
    """Live processes a FakeOCIRuntime on ``runroot`` started, as ``"PID: CMDLINE"``."""
    from fake_oci import MARK

    from ipy_oci.state.procs import is_alive

    needle, found = f"\0{MARK}={runroot}\0".encode(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if needle in b"\0" + env and is_alive(int(pid), 0):
            found.append(f"{pid}: {cmd.decode(errors='replace')}")
    return found


@pytest.fixture
def fake_rt(oci: OciEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """An engine ``Runtime`` on FakeOCIRuntime with short timeouts, runc and conmon off
    PATH. Fails the test if a process the fake started or its state outlives it."""
    from fake_oci import FakeOCIRuntime

    from ipy_oci.config import Config
    from ipy_oci.engine.runtime import Runtime

    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    cfg = Config.load(str(oci.root), str(oci.runroot), "fake")
    cfg.exec_stop_timeout = 0.5
    cfg.kernel_stop_timeout = 0.5
    cfg.interrupt_grace = 0.3
    cfg.attached_client_grace = 1.0
    rt = Runtime(cfg, oci_factory=lambda name: FakeOCIRuntime(oci.runroot, name))
    yield rt
    left_containers = [ctr.name for ctr in rt.containers(sync=False)]
    for ctr in rt.containers(sync=False):  # a failed test's: so the leak check can pass
        try:
            ctr.remove(force=True, timeout=0)
        except Exception:
            pass
    rt.close()
    left = fake_processes(oci.runroot)
    for entry in left:
        try:
            os.kill(int(entry.split(":")[0]), signal.SIGKILL)
        except OSError:
            pass
    state_dir = oci.runroot / "fake-oci"
    state = sorted(os.listdir(state_dir)) if state_dir.is_dir() else []
    if left or state or left_containers:
        pytest.fail(f"left behind: containers {left_containers}, processes {left}, fake "
                    f"runtime state {state}")
