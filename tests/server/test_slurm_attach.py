"""The server's REST and terminal panes on a container that runs as a Slurm job:
the session runs on its node, through a step whose srun --pty is the server's pty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_attach import new_exec
from wsterm import Term


@pytest.fixture
def attach(jp_ws_fetch: Any) -> Any:
    async def connect(kind: str, ref: str) -> Term:
        return Term(await jp_ws_fetch("ipy-oci", "api", kind, ref, "attach"))

    return connect


@pytest.fixture
def far(slurm_cluster: Any, ext: Any, oci: Any) -> Iterator[str]:
    oci.cli("run", "-d", "--slurm", "--slurm-opt=--nodelist=n2", "--name", "far",
            "--network", "none", "busybox", "sleep", "1000", check=True)
    try:
        yield "far"
    finally:
        oci.cli("rm", "-f", "-t", "0", "far")
        assert slurm_cluster.jobs() == []


async def test_rest_lists_where_it_runs(api: Any, far: str) -> None:
    code, rows = await api("GET", "containers")
    assert code == 200
    [row] = [r for r in rows if r["Names"] == [far]]
    assert row["Slurm"]["Node"] == "n2" and row["Slurm"]["JobId"].isdigit()
    code, info = await api("GET", "containers", far)
    assert info["Slurm"]["Node"] == "n2" and info["Slurm"]["Partition"] == "debug"


async def test_terminal_pane_on_a_slurm_container(api: Any, far: str, attach: Any) -> None:
    sid = await new_exec(api, far, ["sh"])
    term = await attach("exec", sid)
    await term.send("set_size", 31, 97)
    await term.type("echo $((6*7))-far\r")
    await term.read_until("42-far")
    await term.type("stty size\r")
    await term.read_until("31 97")
    code, info = await api("GET", "exec", sid)
    assert code == 200 and info["Running"] and info["ProcessConfig"]["tty"]
    await term.type("exit 5\r")
    assert await term.wait_closed() == 5


async def test_output_without_a_terminal(api: Any, far: str, attach: Any) -> None:
    sid = await new_exec(api, far, ["sh", "-c", "echo out; echo err >&2; exit 4"], tty=False)
    term = await attach("exec", sid)
    assert await term.wait_closed() == 4
    assert "out" in term.out and "err" in term.out
