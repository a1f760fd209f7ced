"""Slurm that cannot be used: its tools missing, its controller unreachable, a node
name it does not know. Each is exit 125 with Slurm's (or our) words, and nothing
is left; local containers keep working meanwhile."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(oci: Any, **changes: str) -> dict[str, str]:
    env = dict(oci.env)
    env.update(changes)
    return env


def test_without_slurm_tools(slurm_cluster: Any, oci: Any, tmp_path: Path) -> None:
    # PATH without the Slurm tools: the python running ipy-oci is called by path.
    res = oci.cli("run", "--rm", "--slurm", "--network", "none", "busybox", "true",
                  env=_env(oci, PATH="/nonexistent"))
    assert res.returncode == 125
    assert "sbatch is not on PATH" in res.stderr and "slurm-client" in res.stderr
    assert oci.cli("ps", "-a", "-q").stdout == ""


def test_controller_unreachable(slurm_cluster: Any, oci: Any, tmp_path: Path) -> None:
    conf = tmp_path / "slurm.conf"
    text = Path(os.environ["SLURM_CONF"]).read_text()
    conf.write_text(re.sub(r"(?m)^SlurmctldPort=\d+", f"SlurmctldPort={_closed_port()}",
                           text) + "MessageTimeout=2\n")
    # A running Slurm container (on the real controller) and a local one.
    oci.cli("run", "-d", "--slurm", "--name", "far", "--network", "none", "busybox",
            "sleep", "1000", check=True)
    oci.cli("run", "-d", "--name", "near", "--network", "none", "busybox", "sleep",
            "1000", check=True)
    try:
        down = _env(oci, SLURM_CONF=str(conf))
        res = oci.cli("run", "--rm", "--slurm", "--network", "none", "busybox", "true",
                      env=down, timeout=120)
        assert res.returncode == 125 and "Slurm cannot be reached" in res.stderr
        assert "sbatch said" in res.stderr and "Unable to contact slurm controller" \
            in res.stderr
        # ps still lists both: the Slurm one as its record last said.
        listed = oci.cli("ps", "--format", "{{.Names}} {{.State}}", env=down, timeout=120)
        assert listed.returncode == 0
        assert sorted(listed.stdout.split("\n")[:-1]) == ["far running", "near running"]
    finally:
        oci.cli("rm", "-f", "-t", "0", "far", "near")


def test_unknown_node_and_bad_time(slurm_cluster: Any, oci: Any) -> None:
    res = oci.cli("run", "--rm", "--slurm", "--slurm-opt=--nodelist=n9", "--network",
                  "none", "busybox", "true")
    assert res.returncode == 125 and "Invalid node name specified" in res.stderr
    res = oci.cli("run", "--rm", "--slurm", "--slurm-opt=--time=xyz", "--network", "none",
                  "busybox", "true")
    assert res.returncode == 125 and "Invalid --time specification" in res.stderr
    assert oci.cli("ps", "-a", "-q").stdout == ""
    assert slurm_cluster.jobs() == []
