"""A pull killed with SIGKILL in the middle of a download leaves no partial image."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conftest import Pushed, StallProxy
from helpers import find_processes, wait_until

from ipy_oci.engine import images as eng


def _partial_download(tmp: Path) -> bool:
    """True once some scratch file of the pull holds a good part of a blob."""
    for p in tmp.glob("work-*/**/*"):
        try:
            if p.is_file() and p.stat().st_size >= 256 * 1024:
                return True
        except OSError:
            pass
    return False


def test_sigkill_mid_pull_leaves_nothing_listed(oci: Any, pushed: Pushed,
                                                stall_proxy: StallProxy) -> None:
    stalled = pushed.refs["big"].replace(pushed.host, stall_proxy.host)
    proc = subprocess.Popen([sys.executable, "-m", "ipy_oci", "pull", stalled],
                            env=oci.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tmp = oci.root / "images" / "tmp"
    deadline = time.monotonic() + 120  # a bound against hanging, not a timing check
    while not _partial_download(tmp):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the pull never got going"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    # skopeo dies with it (parent-death signal): the leak check of the oci fixture
    # would also catch it; wait here so the assertions below see the final state.
    root = str(oci.root).encode()
    wait_until(lambda: not find_processes(lambda cmd: root in cmd),
               "skopeo to die with the killed pull", timeout=30)

    res = oci.cli_bytes("images", "--format", "json")
    assert res.returncode == 0 and res.stdout.strip() == b"[]", res.stderr
    assert oci.runtime().images.list() == []

    # The next pull (straight to the registry) succeeds and sweeps the dead scratch dir.
    img = eng.pull_image(oci.runtime(), pushed.refs["big"])
    assert img.names == (pushed.refs["big"],)
    assert (img.layer_dirs[0] / "big").stat().st_size == 8 << 20
    assert list(tmp.iterdir()) == []
    res = oci.cli_bytes("images", "-q")
    assert res.stdout.decode().split() == [img.id[:12]]
