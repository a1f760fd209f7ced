"""aardvark-dns, as netavark runs it: name service on networks with DNS enabled.

netavark starts one aardvark-dns per config dir (``--config <runroot>/networks``: it
keeps its files in ``<config>/aardvark-dns/``) and tells it about changes:

- ``<config>/aardvark-dns/<network name>``: first line the addresses it listens on (the
  network's gateways), then one line per container: ``ID IPv4s IPv6s names,aliases``;
- ``<config>/aardvark-dns/aardvark.pid``: its pid; setup and teardown send it SIGHUP
  after changing the files, and it exits once no network file is left (the last
  container's teardown deletes the last line, then the file).

This module only reads those files (to make teardown idempotent and to check for
leftovers) and, as a safety net after a crash, stops an aardvark-dns that has nothing
left to serve. netavark itself writes them.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

SUBDIR = "aardvark-dns"
PID_FILE = "aardvark.pid"


def aardvark_dir(config_dir: Path) -> Path:
    return config_dir / SUBDIR


def entries(config_dir: Path) -> dict[str, list[str]]:
    """Network name -> IDs of the containers aardvark-dns serves on it."""
    d = aardvark_dir(config_dir)
    out: dict[str, list[str]] = {}
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return out
    for name in names:
        if name == PID_FILE or name.startswith("."):
            continue
        try:
            lines = (d / name).read_text().splitlines()
        except OSError:
            continue
        out[name] = [ln.split()[0] for ln in lines[1:] if ln.split()]
    return out


def has_entry(config_dir: Path, network: str, container_id: str) -> bool:
    return container_id in entries(config_dir).get(network, [])


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _is_live(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def processes(config_dir: Path | None = None) -> list[int]:
    """Live aardvark-dns processes (serving ``config_dir``, if given)."""
    want = str(aardvark_dir(config_dir)) if config_dir is not None else None
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        args = _cmdline(pid)
        if not args or not os.path.basename(args[0]).startswith("aardvark-dns"):
            continue
        if want is not None and want not in args:
            continue
        if _is_live(pid):
            found.append(pid)
    return found


def running_pid(config_dir: Path) -> int | None:
    """The pid of the aardvark-dns serving ``config_dir``, if it runs."""
    try:
        pid = int((aardvark_dir(config_dir) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    args = _cmdline(pid)
    if str(aardvark_dir(config_dir)) in args and _is_live(pid):
        return pid
    return None


def stop_if_idle(config_dir: Path, timeout: float = 2.0) -> list[int]:
    """Stop the aardvark-dns of ``config_dir`` when no network file is left (normally it
    has exited by itself; this is for one whose last teardown was lost, e.g. killed
    between removing the last entry and signalling). The caller holds the netavark lock,
    so no setup adds a network meanwhile. Cheap when there is nothing to do: only the
    pid file is looked at. The pids it had to stop."""
    pid_file = aardvark_dir(config_dir) / PID_FILE
    if not pid_file.exists() or entries(config_dir):
        return []
    pid = running_pid(config_dir)
    pids = [pid] if pid is not None else []
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(_is_live(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    for p in pids:
        if _is_live(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        pid_file.unlink()
    except OSError:
        pass
    return pids
