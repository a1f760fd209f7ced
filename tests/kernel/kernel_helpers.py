"""Driving a real IPython kernel through jupyter_client.

Kept apart from conftest.py so test modules can import them by name; what the
kernel tests share with the rest of the suite is in tests/helpers.py.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_client import KernelManager


@dataclass
class Cell:
    """Everything one execute_request produced, in arrival order."""

    msg_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.reply.get("status"))

    @property
    def streams(self) -> list[tuple[str, str]]:
        """(name, text) with consecutive messages of one stream merged."""
        out: list[tuple[str, str]] = []
        for m in self.messages:
            if m["msg_type"] == "stream":
                name, text = m["content"]["name"], m["content"]["text"]
                if out and out[-1][0] == name:
                    out[-1] = (name, out[-1][1] + text)
                else:
                    out.append((name, text))
        return out

    def text(self, name: str = "stdout") -> str:
        return "".join(t for n, t in self.streams if n == name)

    @property
    def error(self) -> dict[str, Any] | None:
        errs = [m["content"] for m in self.messages if m["msg_type"] == "error"]
        return errs[-1] if errs else None

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """display_data and execute_result contents."""
        return [m["content"] for m in self.messages
                if m["msg_type"] in ("display_data", "execute_result")]

    @property
    def result(self) -> dict[str, Any]:
        res = [m["content"]["data"] for m in self.messages
               if m["msg_type"] == "execute_result"]
        assert res, f"no execute_result: {self.messages}"
        return res[-1]


class Kernel:
    def __init__(self, km: KernelManager, kernel_id: str) -> None:
        self.km = km
        self.kernel_id = kernel_id
        self.kc = km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.log: list[dict[str, Any]] = []  # every iopub message, in order

    def _read(self, timeout: float) -> dict[str, Any] | None:
        try:
            msg: dict[str, Any] = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return None
        self.log.append(msg)
        return msg

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], what: str,
                 timeout: float = 60.0, start: int = 0) -> dict[str, Any]:
        """The first iopub message (from index ``start`` on) matching ``pred``."""
        i = start
        deadline = time.monotonic() + timeout
        while True:
            while i < len(self.log):
                if pred(self.log[i]):
                    return self.log[i]
                i += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self._read(0.2)

    def send(self, code: str) -> str:
        msg_id: str = self.kc.execute(code)
        return msg_id

    def finish(self, msg_id: str, timeout: float = 120.0) -> Cell:
        """Collect a cell's messages until the kernel is idle again, and its reply."""
        self.wait_for(lambda m: m["parent_header"].get("msg_id") == msg_id
                      and m["msg_type"] == "status"
                      and m["content"]["execution_state"] == "idle",
                      "the cell to finish", timeout)
        cell = Cell(msg_id, [m for m in self.log
                             if m["parent_header"].get("msg_id") == msg_id])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.kc.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg_id:
                cell.reply = reply["content"]
                return cell
        raise AssertionError("no execute_reply")

    def run(self, code: str, timeout: float = 120.0) -> Cell:
        return self.finish(self.send(code), timeout)

    def ok(self, code: str, timeout: float = 120.0) -> Cell:
        cell = self.run(code, timeout)
        assert cell.status == "ok", f"{code!r} failed: {cell.error}"
        return cell

    def value(self, code: str) -> Any:
        """Evaluate a Python expression in the kernel; its value travels as JSON."""
        cell = self.ok(f"import json as _j; print(_j.dumps({code}))")
        return json.loads(cell.text())

    def comm_messages(self, start: int = 0) -> list[dict[str, Any]]:
        return [m for m in self.log[start:] if m["msg_type"] in ("comm_open", "comm_msg")]

    def send_comm(self, comm_id: str, data: dict[str, Any]) -> None:
        """What a widget's front end sends, e.g. a button click."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.kc.shell_channel.send(msg)

    def shutdown(self, restart: bool = False) -> None:
        if restart:
            self.km.restart_kernel(now=False)
            self.kc.stop_channels()
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=60)
            self.log = []
            return
        self.kc.stop_channels()
        if self.km.is_alive():
            self.km.shutdown_kernel(now=False)
        else:
            self.km.cleanup_resources()


def one_line_error(cell: Cell) -> dict[str, Any]:
    """The cell failed with exactly one traceback line and no Python traceback."""
    assert cell.status == "error", cell.messages
    err = cell.error
    assert err is not None
    assert len(err["traceback"]) == 1, err["traceback"]
    assert "\n" not in err["traceback"][0]
    assert "Traceback" not in err["traceback"][0]
    return err
