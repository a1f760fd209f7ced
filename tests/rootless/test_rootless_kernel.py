"""%oci and %%oci exec in a kernel started by the user (docs/ROOTLESS.md §7).

The kernel stays outside the user namespace (it is threaded and cannot join): it
runs as the user with the identity map, and its engine sends namespace work in.
"""

from __future__ import annotations

import json
from pathlib import Path

from users import User

SCRIPT = Path(__file__).with_name("kernel_session.py")

CELLS = [
    "import os; print(os.getuid()); print(open('/proc/self/uid_map').read().split())",
    "%load_ext ipy_oci",
    "%oci run -d --name kc --network none busybox sleep 100",
    "%%oci exec kc\nid -u\ncat /proc/self/uid_map\n",
]


def test_oci_exec_cell_in_a_kernel_started_by_the_user(rl1: User) -> None:
    res = rl1.run(str(rl1.venv / "bin/python"), str(SCRIPT), json.dumps(CELLS), "kc",
                  timeout=240)
    try:
        assert res.returncode == 0, f"kernel script failed:\n{res.stdout}\n{res.stderr}"
        result = json.loads(res.stdout.splitlines()[-1])
        cells = result["cells"]
        for cell in cells:
            assert cell["status"] == "ok", cell
        who, _load, _run, exe, rm = cells
        # the kernel itself: the user, outside any user namespace
        assert who["stdout"].splitlines() == [str(rl1.uid), str(["0", "0", "4294967295"])]
        lines = exe["stdout"].splitlines()
        assert lines[0] == "0", exe
        assert lines[1].split() == ["0", str(rl1.uid), "1"], exe
        # the exec session is gone once the cell is done
        assert json.loads(result["exec_ids"] or "null") in ([], None), result
        assert rm["error"] is None
    finally:
        rl1.oci("rm", "-f", "-t", "0", "kc")
    assert rl1.oci_ok("ps", "-aq") == ""


def test_kernel_shutdown_reaps_its_detached_exec_sessions(rl1: User) -> None:
    cells = ["%load_ext ipy_oci",
             "%oci run -d --name kr --network none busybox sleep 1000",
             "%oci exec -d kr sleep 999"]
    res = rl1.run(str(rl1.venv / "bin/python"), str(SCRIPT), json.dumps(cells), "kr", "keep",
                  timeout=240)
    try:
        assert res.returncode == 0, f"kernel script failed:\n{res.stdout}\n{res.stderr}"
        result = json.loads(res.stdout.splitlines()[-1])
        assert all(c["status"] == "ok" for c in result["cells"]), result["cells"]
        # while the kernel lived, its detached session was there
        assert len(json.loads(result["exec_ids"])) == 1, result
        # the kernel's shutdown reaped it: no session, no process left in the container
        assert json.loads(result["exec_ids_after_shutdown"] or "null") in ([], None), result
        assert "sleep 999" not in result["top_after_shutdown"], result
        assert "sleep 1000" in result["top_after_shutdown"], result
    finally:
        rl1.oci("rm", "-f", "-t", "0", "kr")
