"""Throwaway Unix users for the rootless suite, and running ipy-oci as them.

Every user is made with ``useradd -K SUB_UID_COUNT=0`` (login.defs here would
otherwise hand out a range of its own) and then given exactly the subordinate
range the test chose, or none at all. Ranges are picked clear of every line
already in /etc/subuid and /etc/subgid: other people's users live on this host.

The user's processes are found by host uid: the user's own (ipy-oci, conmon,
slirp4netns, the ``catatonit -P`` namespace holder, container root) and those of
its subordinate range (container processes running as a non-root user).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipy_oci.userns.subids import SUBGID_FILE, SUBUID_FILE, all_ranges

SUBID_COUNT = 65536
PREFIX = "ipyoci-rl"  # every user this suite makes; nothing else is ever touched


@dataclass
class User:
    """A test user, the shared venv it runs ipy-oci from, and where ipy-oci keeps its state."""

    name: str
    uid: int
    gid: int
    subid: int | None  # first subordinate uid/gid (count SUBID_COUNT), None for no range
    venv: Path

    @property
    def home(self) -> Path:
        return Path("/home") / self.name

    @property
    def storage(self) -> Path:
        """The default storage root (docs/ROOTLESS.md §6), XDG_DATA_HOME unset."""
        return self.home / ".local/share/ipy-oci"

    @property
    def runroot(self) -> Path:
        """The default runroot with XDG_RUNTIME_DIR unset (as run_as leaves it)."""
        return Path(f"/tmp/ipy-oci-run-{self.uid}")

    @property
    def config(self) -> Path:
        return self.home / ".config/ipy-oci/ipy-oci.toml"

    def host_uids(self) -> set[int]:
        """Host uids this user's containers may run as: its own and its subordinate range."""
        ids = {self.uid}
        if self.subid is not None:
            ids |= set(range(self.subid, self.subid + SUBID_COUNT))
        return ids

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A clean login-like environment; XDG_RUNTIME_DIR is deliberately unset."""
        env = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name,
               "PATH": f"{self.venv}/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        env.update(extra or {})
        return env

    def run(self, *argv: str, input: str | None = None, timeout: float = 120,
            env: Mapping[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run_as(self, *argv, input=input, timeout=timeout, env=env, cwd=cwd)

    def oci(self, *args: str, input: str | None = None, timeout: float = 120,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``ipy-oci ARGS`` as this user, from the shared venv."""
        return run_as(self, "ipy-oci", *args, input=input, timeout=timeout, env=env)

    def oci_ok(self, *args: str, input: str | None = None, timeout: float = 120,
               env: Mapping[str, str] | None = None) -> str:
        """``oci`` that must exit 0; its stdout."""
        res = self.oci(*args, input=input, timeout=timeout, env=env)
        assert res.returncode == 0, (
            f"[{self.name}] ipy-oci {' '.join(args)} exited {res.returncode}:\n"
            f"stdout: {res.stdout}\nstderr: {res.stderr}")
        return res.stdout


@dataclass
class Users:
    """The suite's three users: two with their own subordinate ranges, one with none."""

    rl1: User
    rl2: User
    nosub: User

    def all(self) -> list[User]:
        return [self.rl1, self.rl2, self.nosub]


def run_as(user: User, *argv: str, input: str | None = None, timeout: float = 120,
           env: Mapping[str, str] | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ARGV as ``user`` through runuser with only the environment ``User.env`` gives.

    ``env -i`` drops everything root's environment has (PIP_*, IPY_OCI_*, XDG_*);
    stdin is ``input`` or /dev/null, never the test's own.
    """
    pairs = [f"{k}={v}" for k, v in user.env(env).items()]
    cmd = ["runuser", "-u", user.name, "--", "env", "-i", *pairs, *argv]
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          cwd=str(cwd or user.home))


# -- accounts --------------------------------------------------------------------------------


def _subid_ranges() -> list[tuple[int, int]]:
    """(start, count) of every line in /etc/subuid and /etc/subgid."""
    return [(r.start, r.count) for path in (SUBUID_FILE, SUBGID_FILE)
            for _owner, r in all_ranges(path)]


def free_subid_starts(n: int, first: int = 200000) -> list[int]:
    """``n`` range starts (SUBID_COUNT apart) that overlap no existing subuid/subgid line."""
    taken = _subid_ranges()
    found: list[int] = []
    start = first
    while len(found) < n:
        end = start + SUBID_COUNT
        if not any(s < end and start < s + c for s, c in taken):
            found.append(start)
        start += 100000
    return found


def _sh(*argv: str) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr}")


def create_user(name: str, subid: int | None, venv: Path) -> User:
    """``useradd -m`` with no automatic range, then ``usermod --add-subuids`` if ``subid``."""
    assert name.startswith(PREFIX), name
    remove_user(name)  # a previous run that crashed
    _sh("useradd", "-m", "-s", "/bin/bash", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0",
        name)
    if subid is not None:
        span = f"{subid}-{subid + SUBID_COUNT - 1}"
        _sh("usermod", "--add-subuids", span, "--add-subgids", span, name)
    pw = pwd.getpwnam(name)
    user = User(name, pw.pw_uid, pw.pw_gid, subid, venv)
    # A runroot left under this (reused) uid by an earlier owner is not this user's state.
    shutil.rmtree(user.runroot, ignore_errors=True)
    return user


def stale_users() -> list[str]:
    """Users of this suite left by an earlier run."""
    return [p.pw_name for p in pwd.getpwall() if p.pw_name.startswith(PREFIX)]


def remove_user(name: str) -> None:
    """Stop everything the user runs, ``userdel -r`` it, and drop its runroot and home."""
    assert name.startswith(PREFIX), name
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return
    uids = {pw.pw_uid} | _subids_of(name)
    kill_pids([pid for pid, _uid, _cmd in processes(uids)])
    subprocess.run(["userdel", "-r", name], capture_output=True, timeout=60)
    for path in (Path("/home") / name, Path(f"/tmp/ipy-oci-run-{pw.pw_uid}")):
        shutil.rmtree(path, ignore_errors=True)
    remove_files_owned(uids)


def _subids_of(name: str) -> set[int]:
    return {i for path in (SUBUID_FILE, SUBGID_FILE)
            for owner, r in all_ranges(path) if owner == name
            for i in range(r.start, r.start + r.count)}


def remove_files_owned(uids: set[int]) -> list[str]:
    """Remove what these uids left at the top of the shared temp dirs; return the paths."""
    found = []
    for top in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            entries = os.listdir(top)
        except OSError:
            continue
        for entry in entries:
            path = os.path.join(top, entry)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if st.st_uid in uids:
                found.append(path)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
    return found


# -- processes ---------------------------------------------------------------------------------


def _status_uid(pid: str) -> tuple[set[int], str] | None:
    """({real, effective uid}, state letter) from /proc/PID/status; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            text = fh.read()
    except OSError:
        return None
    uids: set[int] = set()
    state = "?"
    for line in text.splitlines():
        if line.startswith("Uid:"):
            uids = {int(x) for x in line.split()[1:3]}
        elif line.startswith("State:"):
            state = line.split()[1]
    return uids, state


def cmdline(pid: int | str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def processes(uids: set[int]) -> list[tuple[int, int, str]]:
    """Live (not zombie) processes whose real or effective uid is one of ``uids``:
    (pid, uid, cmdline), as ``pgrep -u`` and ``pgrep -U`` would find them."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _status_uid(entry)
        if st is None or st[1] in ("Z", "X") or not st[0] & uids:
            continue
        out.append((int(entry), min(st[0] & uids), cmdline(entry)))
    return out


def kill_pids(pids: list[int]) -> None:
    """SIGKILL each pid (processes of this suite's users only), then wait for them to go."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [p for p in pids if (st := _status_uid(str(p))) and st[1] not in ("Z", "X")]
        if not left:
            return
        time.sleep(0.05)


def holder_pid(user: User, runroot: Path | None = None) -> int | None:
    """The user-namespace holder named in ``<runroot>/userns.pid`` if it still runs."""
    path = (runroot or user.runroot) / "userns.pid"
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    st = _status_uid(str(pid))
    return pid if st is not None and st[1] not in ("Z", "X") else None


def holder_mounts(user: User, pid: int) -> list[str]:
    """Mount points in the holder's mount namespace under the user's storage root or runroot."""
    try:
        with open(f"/proc/{pid}/mountinfo") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    dirs = (str(user.storage), str(user.runroot))
    points = [line.split()[4] for line in lines]
    return [p for p in points if any(p == d or p.startswith(d + "/") for d in dirs)]


def uid_map(pid: int | str) -> list[tuple[int, int, int]]:
    """/proc/PID/uid_map as (inside, outside, count) rows."""
    with open(f"/proc/{pid}/uid_map") as fh:
        return parse_map(fh.read())


def parse_map(text: str) -> list[tuple[int, int, int]]:
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            rows.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return rows


def expected_map(user: User, ident: int) -> list[tuple[int, int, int]]:
    """podman's rootless mapping: 0 -> the user's id, 1..N -> the subordinate range."""
    rows = [(0, ident, 1)]
    if user.subid is not None:
        rows.append((1, user.subid, SUBID_COUNT))
    return rows


# -- containers of a test user ---------------------------------------------------------------


def inspect(user: User, ref: str) -> dict[str, Any]:
    """``ipy-oci inspect REF`` as the user: the one object it describes."""
    data = json.loads(user.oci_ok("inspect", ref))
    assert isinstance(data, list) and len(data) == 1, data
    return dict(data[0])


@contextmanager
def container(user: User, name: str, *args: str) -> Iterator[str]:
    """``run -d --name NAME ARGS`` as the user (ARGS: flags, image, command), yielding the
    id; removed with ``rm -f -t 0`` afterwards whatever happened."""
    try:
        yield user.oci_ok("run", "-d", "--name", name, *args).strip()
    finally:
        user.oci("rm", "-f", "-t", "0", name)


def proc_uids(pid: int) -> tuple[int, int]:
    """(real uid, real gid) of a process as the host sees them."""
    uid = gid = -1
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("Uid:"):
                uid = int(line.split()[1])
            elif line.startswith("Gid:"):
                gid = int(line.split()[1])
    return uid, gid


def userns(pid: int | str) -> str:
    return os.readlink(f"/proc/{pid}/ns/user")


def run_pty(user: User, *argv: str, timeout: float = 60) -> tuple[int, bytes]:
    """ARGV as ``user`` on a fresh pty (stdin, stdout and stderr): (exit code, output)."""
    import select

    master, slave = os.openpty()
    pairs = [f"{k}={v}" for k, v in user.env().items()]
    proc = subprocess.Popen(["runuser", "-u", user.name, "--", "env", "-i", *pairs, *argv],
                            stdin=slave, stdout=slave, stderr=slave, cwd=str(user.home),
                            start_new_session=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the last holder of the slave side closed it
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return rc, bytes(out)
