"""Terminal speed over websockets, side by side in one Jupyter server:
the ipy-oci exec tty (/ipy-oci/api/exec/{sid}/attach) and JupyterLab's own
terminal (jupyter_server_terminals, /terminals/websocket/{name}).

- Keystroke echo round trip: after ``stty -echo``, send ``echo MARK\\r`` and time
  until MARK comes back (median and p95 over ``--samples``).
- Output throughput: ``head -c N /dev/zero | tr '\\0' a``, timed from the command to
  the N-th ``a``.

The script starts the server itself on 127.0.0.1 with a token and a private
ipy-oci storage root, and removes everything afterwards. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

PY = sys.executable
GUARD = 120.0  # seconds: a hang guard for every read


class Server:
    """A Jupyter server with ipy_oci and the terminals extension, plus a container."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="ioci-bench-ws-", dir="/tmp"))
        self.root, self.runroot = self.base / "root", self.base / "run"
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, IPY_OCI_ROOT=str(self.root),
                        IPY_OCI_RUNROOT=str(self.runroot), IPY_OCI_RUNTIME="runc",
                        JUPYTER_CONFIG_DIR=str(self.base / "jcfg"),
                        JUPYTER_RUNTIME_DIR=str(self.base / "jrt"), SHELL="/bin/sh")
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> None:
        subprocess.run([PY, "-m", "ipy_oci", *args], env=self.env, check=True,
                       capture_output=True)

    def start(self) -> None:
        self.cli("run", "-d", "--name", "bench", "busybox", "sleep", "1000000")
        cfg_dir = Path(self.env["JUPYTER_CONFIG_DIR"])
        cfg_dir.mkdir()
        (cfg_dir / "jupyter_server_config.json").write_text(json.dumps({
            "ServerApp": {"ip": "127.0.0.1", "port": self.port, "open_browser": False,
                          "allow_root": True, "root_dir": str(self.base),
                          "jpserver_extensions": {"ipy_oci.server": True,
                                                  "jupyter_server_terminals": True},
                          "terminado_settings": {"shell_command": ["/bin/sh"]}},
            "IdentityProvider": {"token": self.token},
            "IpyOciApp": {"root": str(self.root), "runroot": str(self.runroot)},
        }))
        self.log = open(self.base / "server.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([PY, "-m", "jupyter_server"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.rest("GET", "/api/status")
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    log = (self.base / "server.log").read_text(errors="replace")
                    raise RuntimeError(f"the Jupyter server did not start:\n{log}") from None
                time.sleep(0.2)

    def rest(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    async def connect(self, path: str) -> WebSocketClientConnection:
        url = f"ws://127.0.0.1:{self.port}{path}?token={self.token}"
        conn = await websocket_connect(HTTPRequest(url), max_message_size=256 << 20)
        stream = getattr(getattr(conn, "protocol", None), "stream", None)
        if stream is not None:
            stream.set_nodelay(os.environ.get("NODELAY", "1") == "1")  # as browsers do
        return conn

    def close(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        try:
            self.cli("rm", "-af", "-t", "0")
        except subprocess.CalledProcessError:
            pass
        subprocess.run(["umount", "-R", "-l", str(self.base)], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Term:
    """Terminal protocol client: counts and searches stdout as it arrives."""

    def __init__(self, ws: WebSocketClientConnection) -> None:
        self.ws = ws
        self.tail = ""

    async def send(self, text: str) -> None:
        await self.ws.write_message(json.dumps(["stdin", text]))

    async def frame(self) -> str:
        msg = await asyncio.wait_for(self.ws.read_message(), GUARD)
        if msg is None:
            raise RuntimeError("the terminal closed")
        kind, *rest = json.loads(msg)
        return str(rest[0]) if kind == "stdout" else ""

    async def until(self, mark: str) -> None:
        while mark not in self.tail:
            self.tail = (self.tail + await self.frame())[-4096:]
        self.tail = self.tail[self.tail.index(mark) + len(mark):]

    async def settle(self) -> None:
        await self.send("stty -echo; echo READY-$((40+2))\r")
        await self.until("READY-42")


async def echo_once(term: Term, i: int) -> float:
    mark = f"M{i:05d}K"
    t = time.perf_counter()
    await term.send(f"echo {mark}\r")
    await term.until(mark)
    return (time.perf_counter() - t) * 1000.0


async def throughput(term: Term, nbytes: int) -> float:
    t = time.perf_counter()
    await term.send(f"head -c {nbytes} /dev/zero | tr '\\0' a; echo; echo END-$((1+1))\r")
    got = 0
    while got < nbytes:
        text = await term.frame()
        got += text.count("a")
        term.tail = (term.tail + text)[-4096:]
    secs = time.perf_counter() - t
    await term.until("END-2")
    return nbytes / secs / 1e6


async def compare(terms: dict[str, Term], samples: int, nbytes: int,
                  rounds: int) -> dict[str, dict[str, float]]:
    """Interleaved, so machine noise hits both terminals alike."""
    for term in terms.values():
        await term.settle()
    lat: dict[str, list[float]] = {name: [] for name in terms}
    for i in range(samples + 10):  # the first 10 warm up
        for name, term in terms.items():
            ms = await echo_once(term, i)
            if i >= 10:
                lat[name].append(ms)
    mbs: dict[str, list[float]] = {name: [] for name in terms}
    for _ in range(rounds):
        for name, term in terms.items():
            mbs[name].append(await throughput(term, nbytes))
    return {name: {"median": statistics.median(lat[name]),
                   "p95": statistics.quantiles(lat[name], n=20)[-1],
                   "mbs": statistics.median(mbs[name]),
                   "mbs_all": mbs[name]}  # type: ignore[dict-item]
            for name in terms}


async def run(srv: Server, samples: int, nbytes: int,
              rounds: int) -> dict[str, dict[str, float]]:
    sid = srv.rest("POST", "/ipy-oci/api/containers/bench/exec",
                   {"Cmd": ["sh"], "Tty": True})["Id"]
    exec_term = Term(await srv.connect(f"/ipy-oci/api/exec/{sid}/attach"))
    name = srv.rest("POST", "/api/terminals")["name"]
    lab_term = Term(await srv.connect(f"/terminals/websocket/{name}"))
    try:
        return await compare({
            "ipy-oci exec tty (/ipy-oci/api/exec/{sid}/attach)": exec_term,
            "JupyterLab terminal (jupyter_server_terminals)": lab_term,
        }, samples, nbytes, rounds)
    finally:
        exec_term.ws.close()
        lab_term.ws.close()
        srv.rest("POST", f"/ipy-oci/api/exec/{sid}/stop?t=0")
        srv.rest("DELETE", f"/api/terminals/{name}")


def table(results: dict[str, dict[str, float]], samples: int, nbytes: int) -> str:
    lines = [f"| terminal | echo median (ms) | echo p95 (ms) | "
             f"throughput, {nbytes / 1e6:g} MB (MB/s, median) | rounds (MB/s) |",
             "|---|---:|---:|---:|---|"]
    for name, r in results.items():
        each = ", ".join(f"{x:.0f}" for x in r["mbs_all"])  # type: ignore[attr-defined]
        lines.append(f"| {name} | {r['median']:.2f} | {r['p95']:.2f} | {r['mbs']:.1f} "
                     f"| {each} |")
    (a, b) = results.values()
    lines.append("")
    lines.append(f"{samples} echo samples each, interleaved; exec tty vs terminal: "
                 f"echo {b['median'] / a['median']:.1f}x faster (median), "
                 f"throughput {a['mbs'] / b['mbs']:.1f}x.")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--bytes", type=int, default=30_000_000)
    ap.add_argument("--rounds", type=int, default=5, help="throughput runs per terminal")
    args = ap.parse_args()
    srv = Server()
    try:
        srv.start()
        results = asyncio.run(run(srv, args.samples, args.bytes, args.rounds))
    finally:
        srv.close()
    print(table(results, args.samples, args.bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
