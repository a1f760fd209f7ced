"""Run by a test user with the shared venv's python: a real kernel uses %oci and %%oci exec.

Not a test module: test_rootless_kernel.py runs it as the user and reads the JSON
it prints. It starts an IPython kernel through jupyter_client (as a notebook
server would), runs the cells given on the command line as a JSON list, asks
the CLI for the container's exec sessions, removes the container, shuts the
kernel down, and prints what each cell wrote. With a third argument ``keep`` the
container stays, and its exec sessions are listed again after the shutdown (the
kernel's reaping).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from jupyter_client import KernelManager


def run_cell(kc: Any, code: str) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code, "stdout": "", "stderr": "", "error": None}

    def hook(msg: dict[str, Any]) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out[content["name"]] += content["text"]
        elif kind == "error":
            out["error"] = f"{content['ename']}: {content['evalue']}"

    reply = kc.execute_interactive(code, output_hook=hook, timeout=120)
    out["status"] = reply["content"]["status"]
    return out


def main() -> None:
    cells: list[str] = json.loads(sys.argv[1])
    container = sys.argv[2]
    keep = sys.argv[3:] == ["keep"]
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    result: dict[str, Any] = {}
    kc = km.client()
    try:
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        result["cells"] = [run_cell(kc, code) for code in cells]
        res = subprocess.run(["ipy-oci", "inspect", "--format", "{{json .ExecIDs}}", container],
                             capture_output=True, text=True, timeout=60)
        result["exec_ids"] = res.stdout.strip()
        result["inspect_stderr"] = res.stderr
        if not keep:
            result["cells"].append(run_cell(kc, f"%oci rm -f -t 0 {container}"))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    if keep:
        res = subprocess.run(["ipy-oci", "inspect", "--format", "{{json .ExecIDs}}",
                              container], capture_output=True, text=True, timeout=60)
        result["exec_ids_after_shutdown"] = res.stdout.strip()
        res = subprocess.run(["ipy-oci", "top", container, "args"], capture_output=True,
                             text=True, timeout=60)
        result["top_after_shutdown"] = res.stdout
    print(json.dumps(result))


if __name__ == "__main__":
    main()
