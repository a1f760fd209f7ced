"""Helpers shared by the whole test suite, each defined once.

tests/conftest.py puts this directory on ``sys.path``, so every test module (and
leaks.py, the per-directory conftests and helper modules) imports them by name:
``from helpers import OciEnv, running_container, wait_until``.

Sections: the test's ipy-oci world, polling, containers and the state database,
processes and mounts read from /proc, and tar layers built in memory.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import select
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tarfile
import termios
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

# -- the test's ipy-oci world ------------------------------------------------------------


@dataclass
class OciEnv:
    """One test's ipy-oci world: its roots, an engine Runtime and a CLI runner."""

    root: Path
    runroot: Path

    @property
    def env(self) -> dict[str, str]:
        """The process environment that points ipy-oci at this test's roots."""
        env = dict(os.environ)
        env["IPY_OCI_ROOT"] = str(self.root)
        env["IPY_OCI_RUNROOT"] = str(self.runroot)
        env["IPY_OCI_RUNTIME"] = "runc"
        env["IPY_OCI_CONFIG"] = str(self.root.parent / "ipy-oci.toml")
        return env

    def runtime(self) -> Any:
        """A fresh engine ``Runtime`` on this test's roots."""
        from ipy_oci.config import Config
        from ipy_oci.engine.runtime import Runtime

        return Runtime(Config.load(str(self.root), str(self.runroot), "runc"))

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 120,
            check: bool = False,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``ipy-oci ARGS`` as a separate process, as a user would (``env``: in
        place of this root's environment)."""
        res = subprocess.run([sys.executable, "-m", "ipy_oci", *args],
                             env=self.env if env is None else env,
                             input=input.decode() if input is not None else None,
                             capture_output=True, text=True, timeout=timeout,
                             stdin=None if input is not None else subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise AssertionError(f"ipy-oci {' '.join(args)} exited {res.returncode}: "
                                 f"{res.stderr}")
        return res

    def cli_bytes(self, *args: str, input: bytes = b"", timeout: float = 120
                  ) -> subprocess.CompletedProcess[bytes]:
        """Run ``ipy-oci ARGS`` with bytes in and out (stdin is ``input``, empty by default)."""
        return subprocess.run([sys.executable, "-m", "ipy_oci", *args], env=self.env,
                              input=input, capture_output=True, timeout=timeout)

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``ipy-oci ARGS`` in the background: no stdin, stdout and stderr piped."""
        return subprocess.Popen([sys.executable, "-m", "ipy_oci", *args], env=self.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)


# -- polling --------------------------------------------------------------------------------


def wait_until(pred: Callable[[], T], what: str, timeout: float = 20.0) -> T:
    """Poll ``pred`` until it returns something truthy (bounded, not a timing check); return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- containers and the state database ----------------------------------------------------------


def rm_force(oci: OciEnv, *names: str) -> None:
    """``ipy-oci rm -f -t 0 NAMES``: remove containers whatever their state, ignoring errors."""
    oci.cli("rm", "-f", "-t", "0", *names)


@contextmanager
def running_container(oci: OciEnv, name: str = "c", *command: str) -> Iterator[str]:
    """A running busybox container made by the CLI, yielding its id; removed with its sessions."""
    res = oci.cli("run", "-d", "--name", name, "busybox", *(command or ("sleep", "1000")))
    try:
        assert res.returncode == 0, res.stderr
        yield res.stdout.strip()
    finally:
        rm_force(oci, name)


@contextmanager
def engine_container(oci: OciEnv, name: str = "c") -> Iterator[Any]:
    """``running_container`` as an engine ``Container`` handle."""
    with running_container(oci, name):
        yield oci.runtime().lookup_container(name)


def inspect(oci: OciEnv, ref: str, kind: str | None = None) -> dict[str, Any]:
    """``ipy-oci inspect [--type KIND] REF``: the one object it describes."""
    res = oci.cli("inspect", *(("--type", kind) if kind else ()), ref, check=True)
    data = json.loads(res.stdout)
    assert isinstance(data, list) and len(data) == 1, data
    return dict(data[0])


def _query(oci: OciEnv, sql: str, args: tuple[Any, ...], named: bool) -> list[Any]:
    """What ``db_rows`` and ``db_records`` share."""
    path = oci.root / "state.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(str(path), timeout=30)
    if named:
        conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def db_rows(oci: OciEnv, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows (tuples) read straight from the state DB, as an outside observer; [] without one."""
    return _query(oci, sql, args, named=False)


def db_records(oci: OciEnv, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """``db_rows`` with columns by name (``sqlite3.Row``)."""
    return _query(oci, sql, args, named=True)


def exec_rows(oci: OciEnv) -> list[tuple[Any, ...]]:
    """Every exec session row as ``(id, state, owner_kernel)``."""
    return db_rows(oci, "SELECT id, state, owner_kernel FROM exec_sessions")


def exec_dirs(oci: OciEnv) -> list[str]:
    """The exec session bundle dirs under the runroot, sorted."""
    d = oci.runroot / "exec"
    return sorted(os.listdir(d)) if d.is_dir() else []


def run_in_pty(oci: OciEnv, args: list[str], *, size: tuple[int, int] | None = None,
               feed: bytes | None = None, prompt: bytes = b"# ",
               timeout: float = 60.0) -> tuple[int, bytes]:
    """Run ``ipy-oci ARGS`` on a pty (``feed`` typed once ``prompt`` shows) -> (code, output)."""
    master, slave = os.openpty()
    if size is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "ipy_oci", *args], env=oci.env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    out = bytearray()
    fed = feed is None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave side has closed it
                    break
                if not chunk:
                    break
                out += chunk
                if not fed and prompt in out:
                    assert feed is not None
                    os.write(master, feed)
                    fed = True
            elif proc.poll() is not None:
                # The process is gone; drain anything still buffered, then stop.
                r, _, _ = select.select([master], [], [], 0.2)
                if not r:
                    break
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return rc, bytes(out)


# -- processes and mounts (/proc) --------------------------------------------------------------


def pids() -> list[int]:
    """Every process id listed in /proc."""
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def proc_cmdline(pid: int | str) -> bytes:
    """/proc/PID/cmdline (argv joined by NULs); b"" once the process is gone, or for a zombie."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def proc_stat(pid: int | str) -> tuple[str, int, int] | None:
    """(state, ppid, start time in clock ticks) from /proc/PID/stat; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2:].split()  # comm, in parentheses, may hold spaces
    return rest[0].decode(), int(rest[1]), int(rest[19])


def is_live(pid: int | str) -> bool:
    """The process exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def alive(pid: int, start: int) -> bool:
    """The process with this identity (pid and start time) exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[2] == start and st[0] not in ("Z", "X")


def find_processes(match: Callable[[bytes], bool]) -> list[int]:
    """Live processes whose /proc/PID/cmdline (argv joined by NULs) ``match`` accepts."""
    return [pid for pid in pids() if match(proc_cmdline(pid)) and is_live(pid)]


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid``, zombies (children not yet waited for) included."""
    return [p for p in pids() if (st := proc_stat(p)) is not None and st[1] == pid]


def exec_conmons(oci: OciEnv) -> list[int]:
    """Live conmon processes monitoring an exec session of this test's runroot."""
    needle = f"{oci.runroot}/exec/".encode()
    return find_processes(lambda cmd: needle in cmd and b"conmon" in cmd.split(b"\0", 1)[0])


def orphan_exec_conmons(oci: OciEnv) -> list[int]:
    """Exec conmon processes whose session bundle is already gone (a failed exec's)."""
    found = []
    for pid in exec_conmons(oci):
        argv = proc_cmdline(pid).split(b"\0")
        sid = argv[argv.index(b"-u") + 1].decode() if b"-u" in argv else ""
        if sid and not (oci.runroot / "exec" / sid).exists():
            found.append(pid)
    return found


def extra_processes(oci: OciEnv, name: str) -> list[str]:
    """``"PID: COMMAND"`` of live processes in the container besides its PID 1 (exec leftovers)."""
    main = inspect(oci, name, kind="container")["State"]["Pid"]
    ns = os.readlink(f"/proc/{main}/ns/pid")
    found = []
    for pid in pids():
        if pid == main:
            continue
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") != ns:
                continue
        except OSError:
            continue
        cmd = proc_cmdline(pid).replace(b"\0", b" ").decode(errors="replace")
        if is_live(pid):
            found.append(f"{pid}: {cmd}")
    return found


def mountinfo() -> list[str]:
    """The lines of /proc/self/mountinfo."""
    with open("/proc/self/mountinfo") as fh:
        return fh.read().splitlines()


def mount_points() -> list[str]:
    """Every mount point of this mount namespace (field 5 of /proc/self/mountinfo)."""
    return [line.split()[4] for line in mountinfo()]


# -- tar layers built in memory -------------------------------------------------------------

Entry = tuple[tarfile.TarInfo, bytes | None]


def tar_info(name: str, kind: bytes, mode: int, **attrs: object) -> tarfile.TarInfo:
    """A tar header of type ``kind`` with a fixed mtime and any other ``attrs`` set."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 1_600_000_000
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


def reg(name: str, data: bytes = b"data", mode: int = 0o644, **attrs: object) -> Entry:
    """A regular file entry."""
    info = tar_info(name, tarfile.REGTYPE, mode, **attrs)
    info.size = len(data)
    return info, data


def dir_(name: str, mode: int = 0o755, **attrs: object) -> Entry:
    """A directory entry."""
    return tar_info(name, tarfile.DIRTYPE, mode, **attrs), None


def sym(name: str, target: str, **attrs: object) -> Entry:
    """A symlink entry."""
    return tar_info(name, tarfile.SYMTYPE, 0o777, linkname=target, **attrs), None


def hard(name: str, target: str) -> Entry:
    """A hardlink entry."""
    return tar_info(name, tarfile.LNKTYPE, 0o644, linkname=target), None


def dev(name: str, kind: bytes, major: int, minor: int, mode: int = 0o666) -> Entry:
    """A device node entry (``kind`` is tarfile.CHRTYPE or BLKTYPE)."""
    return tar_info(name, kind, mode, devmajor=major, devminor=minor), None


def tar_bytes(entries: Sequence[Entry]) -> bytes:
    """An uncompressed PAX tar of ``entries``, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def files_tar(files: dict[str, bytes]) -> bytes:
    """A plain tar of regular files with tarfile's default headers (name to content)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# -- networking -------------------------------------------------------------------------

needs_network = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("iptables-save")
    or not os.path.exists("/usr/lib/podman/netavark"),
    reason="needs root, netavark and iptables")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 10.0) -> str:
    """The body at ``url``, retried until ``timeout`` (a server still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


REGISTRY_TESTS = Path(__file__).resolve().parent / "registry"


def registry_module(name: str) -> Any:
    """tests/registry's ``conftest`` or ``regimages`` for suites outside that directory
    (a loopback registry, images pushed to it), imported by path once per session."""
    import importlib.util

    key = f"_registry_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, REGISTRY_TESTS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]
