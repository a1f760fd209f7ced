"""Widgets update themselves over comm messages as state changes."""

from __future__ import annotations

import re
import time
from typing import Any

from helpers import db_rows, exec_rows, inspect, rm_force, running_container, wait_until
from kernel_helpers import Kernel


def _update_with(kernel: Kernel, text: str, start: int) -> dict[str, Any]:
    """The first comm update (from ``start``) whose state has a value containing text."""
    return kernel.wait_for(
        lambda m: m["msg_type"] == "comm_msg"
        and m["content"]["data"].get("method") == "update"
        and text in str(m["content"]["data"].get("state", {}).get("value", "")),
        f"a comm update showing {text!r}", timeout=30, start=start)


def _button(kernel: Kernel, description: str) -> str:
    """The comm id of the (only) button with this label."""
    ids = [m["content"]["comm_id"] for m in kernel.comm_messages()
           if m["msg_type"] == "comm_open"
           and m["content"]["data"]["state"].get("_model_name") == "ButtonModel"
           and m["content"]["data"]["state"].get("description") == description]
    assert len(ids) == 1, ids
    return ids[0]


TERM_EXITS = ("sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait")


def test_container_table_follows_state_and_its_buttons_act(oci: Any, kernel: Kernel) -> None:
    with running_container(oci, "c", *TERM_EXITS):
        kernel.ok("t = %oci ps --widget\nt")
        _update_with(kernel, "running", 0)
        assert kernel.value("t.polling") is True

        mark = len(kernel.log)
        oci.cli("pause", "c", check=True)  # a change made elsewhere shows up
        _update_with(kernel, "paused", mark)

        # The row's button says "unpause" now; a click (as the front end sends it) acts.
        button = kernel.wait_for(
            lambda m: m["msg_type"] == "comm_msg"
            and m["content"]["data"].get("state", {}).get("description") == "unpause",
            "the pause button to turn into unpause", start=mark)["content"]["comm_id"]
        mark = len(kernel.log)
        kernel.send_comm(button, {"method": "custom", "content": {"event": "click"}})
        _update_with(kernel, "running", mark)
        assert inspect(oci, "c", kind="container")["State"]["Status"] == "running"

        # An exec session appears in the sessions column.
        mark = len(kernel.log)
        oci.cli("exec", "-d", "c", "sleep", "1000", check=True)
        kernel.wait_for(
            lambda m: m["msg_type"] == "comm_msg"
            and m["content"]["data"].get("state", {}).get("value") == "1",
            "the exec session count", timeout=30, start=mark)

        # The remove button of a running container asks first; confirmed, it removes
        # the container and its row.
        _click(kernel, "remove")
        mark = _click(kernel, "remove?")
        _update_with(kernel, ": 0 (0 running)", mark)
        wait_until(lambda: db_rows(oci, "SELECT id FROM containers") == [], "removal",
                   timeout=30)
        assert exec_rows(oci) == []

        kernel.ok("t.close()")
        assert kernel.value("t.polling") is False
        assert kernel.value("sorted(th.name for th in __import__('threading').enumerate() "
                            "if th.name.startswith('ipy-oci'))") == []


def test_exec_session_view_shows_states_and_output(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        mark = len(kernel.log)
        cell = kernel.ok("%%oci exec --widget c\necho one\nsleep 0.3\necho two >&2\nexit 4\n")
        assert "ExecSessionView" in cell.result["text/plain"]
        _update_with(kernel, "running", mark)
        _update_with(kernel, "stopped (exit 4)", mark)
        out = _update_with(kernel, "two\n</span></pre>", mark)["content"]["data"]["state"]["value"]
        assert "one\n" in out and "color:#c62828" in out  # stderr in red
        result = kernel.value("(lambda v: [v.wait(30), v.state, v.output_text()])(_)")
        assert result == [4, "stopped", "one\ntwo\n"]
        assert exec_rows(oci) == []


def test_closing_a_running_view_stops_its_command(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        kernel.ok("v = get_ipython().run_cell_magic('oci', 'exec --widget c', "
                  "'echo started; sleep 1000')")
        wait_until(lambda: kernel.value("v.state") == "running", "the session to run",
                   timeout=30)
        kernel.ok("v.close()")
        assert kernel.value("v.state") == "stopped"
        assert exec_rows(oci) == []


def _click(kernel: Kernel, description: str) -> int:
    """Click the only button with this label; the log position before the click."""
    button = _button(kernel, description)
    mark = len(kernel.log)
    kernel.send_comm(button, {"method": "custom", "content": {"event": "click"}})
    return mark


def test_table_asks_before_removing_and_counts_the_stop_timeout_down(
        oci: Any, kernel: Kernel) -> None:
    # PID 1 ignores SIGTERM: a stop waits out its timeout (30 s here) unless killed.
    res = oci.cli("run", "-d", "--name", "slow", "--network", "none", "--stop-timeout",
                  "30", "busybox", "sleep", "1000")
    assert res.returncode == 0, res.stderr
    try:
        kernel.ok("t = %oci ps --widget\nt")
        _update_with(kernel, "running", 0)
        # CPU and memory columns fill in for a live container (root has cgroups).
        kernel.wait_for(
            lambda m: m["msg_type"] == "comm_msg"
            and "% · " in str(m["content"]["data"].get("state", {}).get("value", "")),
            "CPU % and memory", timeout=30)

        # remove on a running container only asks; cancel keeps it.
        mark = _click(kernel, "remove")
        time.sleep(1)
        assert inspect(oci, "slow", kind="container")["State"]["Status"] == "running"
        _click(kernel, "cancel")

        # stop: the badge counts the timeout down and "kill now" ends it at once.
        mark = _click(kernel, "stop")
        _update_with(kernel, "SIGKILL in", mark)
        _click(kernel, "kill now")
        wait_until(lambda: inspect(oci, "slow", kind="container")["State"]["Status"]
                   == "exited", "the kill", timeout=20)
        assert inspect(oci, "slow", kind="container")["State"]["ExitCode"] == 137
        kernel.ok("t.close()")
    finally:
        rm_force(oci, "slow")


def test_table_logs_follow_live_and_go_with_their_row(oci: Any, kernel: Kernel) -> None:
    res = oci.cli("run", "-d", "--name", "talker", "--network", "none", "busybox", "sh",
                  "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.3; done")
    assert res.returncode == 0, res.stderr
    try:
        kernel.ok("t = %oci ps --widget\nt")  # running containers only (no -a)
        _update_with(kernel, "running", 0)
        mark = _click(kernel, "logs")
        first = _update_with(kernel, "logs of talker", mark)
        shown = str(first["content"]["data"]["state"]["value"])
        last = max(int(n) for n in re.findall(r"line (\d+)", shown))
        # the panel follows: a later line arrives without another click
        _update_with(kernel, f"line {last + 3}", mark)
        # stopped, the row leaves a table without -a, and its logs go with it
        mark = len(kernel.log)
        oci.cli("stop", "-t", "0", "talker", check=True)
        kernel.wait_for(
            lambda m: m["msg_type"] == "comm_msg"
            and m["content"]["data"].get("state", {}).get("value") == "",
            "the logs panel to empty", timeout=30, start=mark)
        kernel.ok("t.close()")
    finally:
        rm_force(oci, "talker")
