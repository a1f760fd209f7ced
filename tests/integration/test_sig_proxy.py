"""An attached ``run`` passes the signals it gets on to its container (podman's
--sig-proxy): killing the client reaches the process, whose own code is the exit."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

SCRIPT = ('trap "echo got-$0; exit 7" TERM; trap "echo got-USR1" USR1; '
          'echo ready; while true; do sleep 0.1; done')


@pytest.mark.parametrize("rm", [True, False])
def test_term_to_an_attached_run_reaches_the_container(oci: Any, rm: bool) -> None:
    args = ["run", "--network", "none", "--name", "sigs", *(["--rm"] if rm else []),
            "busybox", "sh", "-c", SCRIPT, "trapper"]
    proc = oci.spawn(*args)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGUSR1)
    assert proc.stdout.readline() == b"got-USR1\n"
    time.sleep(0.2)  # the shell runs its USR1 trap before it can take the next one
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=60)
    assert out == b"got-trapper\n" and proc.returncode == 7
    listed = oci.cli("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    if rm:
        assert listed == ""
    else:
        assert listed.startswith("sigs Exited (7)")
        oci.cli("rm", "sigs", check=True)
