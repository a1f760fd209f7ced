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
from dataclasses import dataclass
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
        # conmon's exit commands finish a moment later; they would re-create the root.
        deadline = time.monotonic() + 15
        while _users_of(self.base) and time.monotonic() < deadline:
            time.sleep(0.1)
        subprocess.run(["umount", "-R", "-l", str(self.base)], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def _users_of(path: Path) -> list[str]:
    """PIDs of processes whose command line names ``path``."""
    needle = str(path).encode()
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if needle in fh.read():
                    found.append(pid)
        except OSError:
            continue
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Term:
    """Terminal protocol client: counts and searches stdout as it arrives."""

    def __init__(self, ws: WebSocketClientConnection, enter: str = "\r") -> None:
        self.ws = ws
        self.enter = enter  # what the Enter key sends: a pipe (no tty) wants "\n"
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
        await self.send(f"stty -echo 2>/dev/null; echo READY-$((40+2)){self.enter}")
        await self.until("READY-42")


async def echo_once(term: Term, i: int) -> float:
    mark = f"M{i:05d}K"
    t = time.perf_counter()
    await term.send(f"echo {mark}{term.enter}")
    await term.until(mark)
    return (time.perf_counter() - t) * 1000.0


async def throughput(term: Term, nbytes: int) -> float:
    t = time.perf_counter()
    await term.send(f"head -c {nbytes} /dev/zero | tr '\\0' a; echo; echo END-$((1+1))"
                    f"{term.enter}")
    got = 0
    while got < nbytes:
        text = await term.frame()
        got += text.count("a")
        term.tail = (term.tail + text)[-4096:]
    secs = time.perf_counter() - t
    await term.until("END-2")
    return nbytes / secs / 1e6


@dataclass
class Result:
    echo_median: float  # ms
    echo_p95: float  # ms
    runs: list[float]  # MB/s

    @property
    def mbs(self) -> float:
        return statistics.median(self.runs)


async def compare(terms: dict[str, Term], samples: int, nbytes: int,
                  rounds: int) -> dict[str, Result]:
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
    return {name: Result(statistics.median(lat[name]),
                         statistics.quantiles(lat[name], n=20)[-1], mbs[name])
            for name in terms}


async def run(srv: Server, samples: int, nbytes: int, rounds: int,
              with_pipes: bool) -> dict[str, Result]:
    sid = srv.rest("POST", "/ipy-oci/api/containers/bench/exec",
                   {"Cmd": ["sh"], "Tty": True})["Id"]
    exec_term = Term(await srv.connect(f"/ipy-oci/api/exec/{sid}/attach"))
    name = srv.rest("POST", "/api/terminals")["name"]
    lab_term = Term(await srv.connect(f"/terminals/websocket/{name}"))
    terms = {"ipy-oci exec tty (/ipy-oci/api/exec/{sid}/attach)": exec_term,
             "JupyterLab terminal (jupyter_server_terminals)": lab_term}
    sids = [sid]
    if with_pipes:
        # Not a terminal: the same websocket path without the pty, for reference.
        sids.append(srv.rest("POST", "/ipy-oci/api/containers/bench/exec",
                             {"Cmd": ["sh"], "Tty": False})["Id"])
        terms["ipy-oci exec without tty (reference)"] = Term(
            await srv.connect(f"/ipy-oci/api/exec/{sids[1]}/attach"), enter="\n")
    try:
        return await compare(terms, samples, nbytes, rounds)
    finally:
        for term in terms.values():
            term.ws.close()
        for s in sids:
            srv.rest("POST", f"/ipy-oci/api/exec/{s}/stop?t=0")
        srv.rest("DELETE", f"/api/terminals/{name}")


def table(results: dict[str, Result], samples: int, nbytes: int) -> str:
    lines = [f"| terminal | echo median (ms) | echo p95 (ms) | "
             f"throughput, {nbytes / 1e6:g} MB (MB/s, median) | runs (MB/s) |",
             "|---|---:|---:|---:|---|"]
    for name, r in results.items():
        runs = ", ".join(f"{x:.0f}" for x in r.runs)
        lines.append(f"| {name} | {r.echo_median:.2f} | {r.echo_p95:.2f} | {r.mbs:.1f} "
                     f"| {runs} |")
    a, b = list(results.values())[:2]
    lines.append("")
    lines.append(f"{samples} echo samples per terminal and {len(a.runs)} throughput runs, "
                 f"interleaved. Exec tty vs JupyterLab terminal: median echo "
                 f"{a.echo_median:.2f} vs {b.echo_median:.2f} ms; throughput "
                 f"{a.mbs / b.mbs:.2f}x.")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--bytes", type=int, default=30_000_000)
    ap.add_argument("--rounds", type=int, default=5, help="throughput runs per terminal")
    ap.add_argument("--with-pipes", action="store_true",
                    help="add a reference row: an exec session without a tty")
    args = ap.parse_args()
    srv = Server()
    try:
        srv.start()
        results = asyncio.run(run(srv, args.samples, args.bytes, args.rounds,
                                    args.with_pipes))
    finally:
        srv.close()
    print(table(results, args.samples, args.bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
