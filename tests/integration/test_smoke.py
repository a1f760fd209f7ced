"""The issue's headline checks, end to end through the CLI."""

from __future__ import annotations

from helpers import OciEnv


def test_run_rm_echo(oci: OciEnv) -> None:
    res = oci.cli("run", "--rm", "busybox", "echo", "hi")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hi\n"


def test_detached_lifecycle(oci: OciEnv) -> None:
    cid = oci.cli("run", "-d", "--name", "sl", "busybox", "sh", "-c",
                  'trap "" TERM; sleep 1000 & wait', check=True).stdout.strip()
    assert len(cid) == 64
    assert "sl" in oci.cli("ps", check=True).stdout
    oci.cli("pause", "sl", check=True)
    assert "Paused" in oci.cli("ps", "-a", check=True).stdout  # podman: ps hides paused
    oci.cli("unpause", "sl", check=True)
    oci.cli("stop", "-t", "1", "sl", check=True)
    import json

    state = json.loads(oci.cli("inspect", "sl", check=True).stdout)[0]["State"]
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 137
    oci.cli("rm", "sl", check=True)
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
