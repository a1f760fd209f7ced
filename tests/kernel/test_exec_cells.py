"""``%%oci exec`` in a real kernel: live streaming, order, bytes, exit codes, flags."""

from __future__ import annotations

import json
from typing import Any

from helpers import exec_rows, extra_processes, running_container
from kernel_helpers import Kernel, one_line_error


def test_output_streams_before_the_command_ends(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        # The body waits for a file only the test creates, after seeing "first".
        msg_id = kernel.send("%%oci exec c\n"
                             "echo first\n"
                             "while [ ! -e /tmp/go ]; do sleep 0.1; done\n"
                             "echo second\n")
        first = kernel.wait_for(
            lambda m: m["parent_header"].get("msg_id") == msg_id
            and m["msg_type"] == "stream" and "first" in m["content"]["text"],
            "the first chunk")
        start = kernel.log.index(first)
        seen = [m for m in kernel.log[:start + 1]
                if m["parent_header"].get("msg_id") == msg_id]
        assert not any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                       for m in seen), "the cell finished before its output arrived"
        assert "second" not in "".join(m["content"].get("text", "") for m in seen)
        oci.cli("exec", "c", "touch", "/tmp/go", check=True)
        cell = kernel.finish(msg_id)
        assert cell.status == "ok", cell.error
        assert cell.text() == "first\nsecond\n"
        assert exec_rows(oci) == []


def test_stdout_and_stderr_keep_their_order_and_bytes_never_crash(
        oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        cell = kernel.ok(
            "%%oci exec c\n"
            "echo out1; sleep 0.3\n"
            "echo err1 >&2; sleep 0.3\n"
            "echo out2; sleep 0.3\n"
            # a UTF-8 sequence split across two writes, then invalid bytes on stderr
            "printf 'caf\\303'; sleep 0.3; printf '\\251\\n'; sleep 0.3\n"
            "printf 'bad \\377\\376 end\\n' >&2\n")
        assert cell.streams == [("stdout", "out1\n"), ("stderr", "err1\n"),
                                ("stdout", "out2\ncafé\n"),
                                ("stderr", "bad \ufffd\ufffd end\n")]


def test_nonzero_exit_raises_and_last_keeps_the_result(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        cell = kernel.run("%%oci exec c\necho before\nexit 3\n")
        err = one_line_error(cell)
        assert err["ename"] == "ExecError"
        assert "exited with code 3" in err["traceback"][0]
        assert cell.text() == "before\n"
        last = kernel.value("(lambda r: [r.exit_code, r.session_id, r.interrupted, "
                            "r.duration >= 0])(get_ipython().run_line_magic('oci', 'last'))")
        assert last[0] == 3 and len(last[1]) == 64 and last[2] is False and last[3] is True
        # --no-raise: the cell succeeds and the code is still recorded.
        kernel.ok("%%oci exec --no-raise c\nexit 4\n")
        assert kernel.value("get_ipython().run_line_magic('oci', 'last').exit_code") == 4
        html = kernel.ok("%oci last").result["text/html"]
        assert "4" in html and "%%oci exec" in html
        assert exec_rows(oci) == []


def test_env_user_workdir_and_shell_flags(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        cell = kernel.ok("%%oci exec -e FOO=bar -u 65534 -w /tmp --shell /bin/sh c\n"
                         "echo $FOO; id -u; pwd\n")
        assert cell.text() == "bar\n65534\n/tmp\n"
        cmd = kernel.value("get_ipython().run_line_magic('oci', 'last').command")
        assert cmd[:2] == ["/bin/sh", "-c"]
        # A body larger than one argv string may be goes through stdin instead.
        filler = "".join(f": {'x' * 100}\n" for _ in range(1200))
        cell = kernel.ok("%%oci exec c\n" + filler + "echo big done\n")
        assert cell.text() == "big done\n"
        assert kernel.value("get_ipython().run_line_magic('oci', 'last').command") == ["sh"]


def test_timeout_stops_and_reaps(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        cell = kernel.run("%%oci exec --timeout 1 c\necho started\nsleep 1000\n")
        err = one_line_error(cell)
        assert err["ename"] == "ExecTimeout"
        assert "timed out" in err["traceback"][0]
        assert cell.text() == "started\n"
        assert exec_rows(oci) == []
        assert extra_processes(oci, "c") == []


def test_line_exec_streams_and_raises(oci: Any, kernel: Kernel) -> None:
    with running_container(oci):
        cell = kernel.ok("%oci exec c sh -c 'echo line; echo oops >&2'")
        # Each stream whole; their order across two pipes is not kept under load.
        assert (cell.text("stdout"), cell.text("stderr")) == ("line\n", "oops\n")
        # magic-only flags inside the command belong to the command
        cell = kernel.ok("%oci exec c echo --timeout 3")
        assert cell.text() == "--timeout 3\n"
        err = one_line_error(kernel.run("%oci exec c false"))
        assert err["ename"] == "ExecError"
        assert exec_rows(oci) == []


def test_tty_exec_creates_a_session_for_jupyterlab(oci: Any, kernel: Kernel) -> None:
    with running_container(oci) as cid:
        cell = kernel.ok("%oci exec -it c sh")
        [out] = cell.outputs
        payload = out["data"]["application/vnd.ipy-oci.exec+json"]
        assert payload["container_id"] == cid
        assert payload["container_name"] == "c"
        assert payload["command"] == ["sh"]
        assert payload["tty"] is True
        assert "JupyterLab" in out["data"]["text/plain"]
        rows = exec_rows(oci)
        assert rows == [(payload["session_id"], "created", kernel.kernel_id)]
        info = json.loads(oci.cli("inspect", payload["session_id"], check=True).stdout)[0]
        assert info["ProcessConfig"]["tty"] is True
