"""The namespace holder: one process per runroot that keeps the user's user and mount
namespaces alive between commands, as podman's rootless pause process does.

It is ``catatonit -P`` (or a sleeping Python when catatonit is missing), detached
with ``setsid`` so no terminal, process group or Jupyter shutdown reaches it, and
sharing the host's pid, network and ipc namespaces. ``<runroot>/userns.pid`` holds
``"PID STARTTIME"``; every change happens under ``<runroot>/userns.lock``.

Re-adoption: containers live in the namespace, and runc from any other namespace can
neither exec into nor kill them. So when the holder is gone but a conmon of this
runroot still lives, the new holder joins that conmon's namespaces instead of making
fresh ones.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..config import find_binary, host_uid
from ..errors import OciError
from ..state.procs import is_zombie, start_time
from .subids import SUBGID_FILE, SUBUID_FILE, IdRange, free_range, read_ranges

PID_FILE = "userns.pid"
LOCK_FILE = "userns.lock"


class UsernsError(OciError):
    """The user namespace cannot be made or entered (exit 125)."""


@dataclass(frozen=True)
class Holder:
    pid: int
    start: int
    # Set when the namespace was made just now with one mapped id (no subordinate
    # ranges): what to tell the user.
    warning: str = ""


def ns_inode(pid: int | str, ns: str = "user") -> int:
    """The inode of a process's namespace (0 when it cannot be read)."""
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
    except OSError:
        return 0


def in_user_namespace() -> bool:
    """True when this process is in a user namespace other than the host's."""
    try:
        with open("/proc/self/uid_map", "rb") as fh:
            first = fh.readline().split()
    except OSError:
        return False
    return not (len(first) == 3 and first[0] == b"0" and first[1] == b"0"
                and first[2] == b"4294967295")


@contextmanager
def _locked(runroot: Path) -> Iterator[None]:
    fd = os.open(runroot / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_pid_file(runroot: Path) -> tuple[int, int] | None:
    try:
        pid_s, start_s = (runroot / PID_FILE).read_text().split()
        return int(pid_s), int(start_s)
    except (OSError, ValueError):
        return None


def find_holder(runroot: Path) -> Holder | None:
    """The live holder of this runroot, or None."""
    rec = _read_pid_file(runroot)
    if rec is None:
        return None
    pid, start = rec
    # A killed holder stays a zombie until init reaps it: its namespaces are gone.
    if start_time(pid) != start or is_zombie(pid) or not ns_inode(pid):
        return None
    return Holder(pid, start)


def ensure_holder(runroot: Path) -> Holder:
    """The runroot's holder, started (or re-adopted) when there is none."""
    held = find_holder(runroot)
    if held is not None:
        return held
    with _locked(runroot):
        held = find_holder(runroot)
        if held is not None:
            return held
        pid, warning = _spawn(runroot)
        start = start_time(pid)
        if not start:
            raise UsernsError("the user namespace holder exited at once: check that "
                              "newuidmap/newgidmap (package uidmap) are installed and "
                              "setuid, and that user namespaces are enabled "
                              "(sysctl kernel.unprivileged_userns_clone=1)")
        tmp = runroot / f".{PID_FILE}.{os.getpid()}"
        tmp.write_text(f"{pid} {start}\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, runroot / PID_FILE)
        return Holder(pid, start, warning)


def _pause_argv() -> list[str]:
    catatonit = find_binary("catatonit", ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit"))
    if catatonit:
        return [catatonit, "-P"]
    import sys

    return [sys.executable, "-I", "-c", "import signal\nwhile True: signal.pause()"]


def _setsid() -> str:
    path = shutil.which("setsid", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if not path:
        raise UsernsError("setsid (util-linux) is missing: install util-linux")
    return path


def _spawn(runroot: Path) -> tuple[int, str]:
    """Start a holder; (its pid, a warning or "")."""
    pause = " ".join(_quote(a) for a in _pause_argv())
    # The shell prints its pid, then becomes the pause process: that pid is the holder.
    script = f"echo $$; exec {pause} </dev/null >/dev/null 2>&1"
    warning = ""
    if in_user_namespace():
        # Already inside (a conmon exit command, ``ipy-oci unshare``): keep this one.
        argv = [_setsid(), "-f", "sh", "-c", script]
    else:
        adopt = _live_conmon(runroot)
        if adopt:
            argv = [_setsid(), "-f", _tool("nsenter"), "-U", "-m", "--preserve-credentials",
                    "-t", str(adopt), "--", "sh", "-c", script]
        else:
            maps, warning = _map_args()
            argv = [_setsid(), "-f", _tool("unshare"), *maps, "--mount",
                    "--propagation", "private", "--", "sh", "-c", script]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                         check=False, cwd="/")
    out = res.stdout.decode(errors="replace").split()
    if res.returncode != 0 or not out or not out[0].isdigit():
        err = res.stderr.decode(errors="replace").strip()
        raise UsernsError(f"cannot create the user namespace for rootless containers: {err} "
                          "(needs newuidmap/newgidmap from the uidmap package and "
                          "ranges in /etc/subuid and /etc/subgid)")
    return int(out[0]), warning


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if not path:
        raise UsernsError(f"{name} (util-linux) is missing: install util-linux")
    return path


def user_name() -> str:
    try:
        return pwd.getpwuid(host_uid()).pw_name
    except KeyError:
        return str(host_uid())


def subid_ranges() -> tuple[list[IdRange], list[IdRange]]:
    """The user's subordinate uid and gid ranges."""
    name, uid = user_name(), host_uid()
    return read_ranges(SUBUID_FILE, name, uid), read_ranges(SUBGID_FILE, name, uid)


def single_id_warning() -> str:
    free = free_range()
    ids = f"{free.start}-{free.start + free.count - 1}"
    return (f"no subordinate id ranges for user {user_name()} in {SUBUID_FILE} and "
            f"{SUBGID_FILE}: containers get a single uid and gid, and every file of an "
            "image belongs to root inside them (ask the administrator for ranges, e.g. "
            f"usermod --add-subuids {ids} --add-subgids {ids} {user_name()}, "
            "then run: ipy-oci system migrate)")


def _map_args() -> tuple[list[str], str]:
    uids, gids = subid_ranges()
    if not uids or not gids:
        return ["--map-root-user"], single_id_warning()
    # Container 0 is the user; 1..N are the first subordinate range (podman's layout).
    return ["--map-root-user", f"--map-users={uids[0].start},1,{uids[0].count}",
            f"--map-groups={gids[0].start},1,{gids[0].count}"], ""


def _live_conmon(runroot: Path) -> int:
    """A live conmon of this runroot in a user namespace of its own (0: none)."""
    marker = f"{runroot}/exits".encode()
    own = ns_inode("self")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm", "rb") as fh:
                if fh.read().strip() != b"conmon":
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if marker not in fh.read().split(b"\0"):
                    continue
        except OSError:
            continue
        ino = ns_inode(entry)
        if ino and ino != own:
            return int(entry)
    return 0


def id_maps(pid: int | str) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """The (container id, host id, size) lines of a process's uid and gid maps."""

    def read(kind: str) -> list[tuple[int, int, int]]:
        try:
            with open(f"/proc/{pid}/{kind}", encoding="ascii") as fh:
                rows = [line.split() for line in fh]
        except OSError:
            return []
        return [(int(r[0]), int(r[1]), int(r[2])) for r in rows if len(r) == 3]

    return read("uid_map"), read("gid_map")


def users_of(holder: Holder) -> list[int]:
    """Processes other than the holder and this one in the holder's user namespace."""
    ino = ns_inode(holder.pid)
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in (holder.pid, os.getpid()):
            if ns_inode(entry) == ino:
                out.append(int(entry))
    return out


def stop_holder(runroot: Path) -> tuple[bool, list[int]]:
    """Stop the holder when nothing else uses its namespace: (stopped, the users)."""
    import signal

    with _locked(runroot):
        held = find_holder(runroot)
        if held is None:
            (runroot / PID_FILE).unlink(missing_ok=True)
            return False, []
        users = users_of(held)
        if users:
            return False, users
        try:
            os.kill(held.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        (runroot / PID_FILE).unlink(missing_ok=True)
        return True, []
