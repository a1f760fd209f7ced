"""Widgets update themselves over comm messages as state changes."""

from __future__ import annotations

from typing import Any

from helpers import db_rows, exec_rows, inspect, running_container, wait_until
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

        # The remove button removes the container and its row.
        remove = _button(kernel, "remove")
        mark = len(kernel.log)
        kernel.send_comm(remove, {"method": "custom", "content": {"event": "click"}})
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
