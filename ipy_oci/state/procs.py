"""Process identity that survives PID reuse: (pid, start time in clock ticks).

A bare PID is never trusted: a PID can be recycled between two looks. The start
time from /proc/PID/stat (field 22) pins the identity of one process.
"""

from __future__ import annotations

import os
import time


def start_time(pid: int) -> int:
    """The process start time in clock ticks since boot, or 0 if it does not exist."""
    if pid <= 0:
        return 0
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return 0
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(b")") + 2 :].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return 0


def is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return True
    return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] in (b"Z", b"X")


def is_alive(pid: int, start: int) -> bool:
    """True when the process with this exact identity is still running."""
    if pid <= 0:
        return False
    st = start_time(pid)
    if st == 0 or (start and st != start):
        return False
    return not is_zombie(pid)


def wait_gone(pid: int, start: int, timeout: float) -> bool:
    """Wait (briefly) for a process just sent SIGKILL to be gone: delivery is
    asynchronous, and on a busy machine it may still run for a moment."""
    deadline = time.monotonic() + timeout
    while is_alive(pid, start):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def identity(pid: int | None = None) -> tuple[int, int]:
    pid = os.getpid() if pid is None else pid
    return pid, start_time(pid)


def signal_process(pid: int, start: int, sig: int, group: bool = False) -> bool:
    """Signal a process only if it is still the same process (pidfd, then identity check).

    With ``group``, a process that leads its own process group (as runc makes every
    exec) is signalled with its whole group.

    Opening a pidfd pins the process; checking the start time after that closes
    the window in which the PID could be reused by another process.
    """
    if pid <= 0:
        return False
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if start and start_time(pid) != start:
            return False
        import signal as _signal

        if group:
            # The pidfd pins the leader, so its pid still names its group: reach the
            # children too (a shell's foreground job), as a terminal's ^C does.
            try:
                if os.getpgid(pid) == pid:
                    os.killpg(pid, sig)
                    return True
            except OSError:
                pass
        _signal.pidfd_send_signal(pidfd, sig)
        return True
    except OSError:
        return False
    finally:
        os.close(pidfd)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def kill_process_group(leader: int, leader_start: int, marker: str) -> None:
    """SIGKILL a process group led by ``leader`` (conmon and its exit-delay child).

    The group id is trusted only while the leader (alive or a zombie) still has
    the recorded start time; once the leader is reaped, members are found by
    ``marker`` in their command line instead, so a reused id is never hit.
    """
    import signal as _signal

    if os.getpgid(0) == leader:
        # We are conmon's exit command, running in its group: ending the group
        # would end us before we record anything. conmon exits on its own.
        return
    needle = marker.encode()
    current = start_time(leader)
    # Without a recorded start time (conmon failed before it was read), the leader's
    # command line naming the session is the identity check.
    if current and (current == leader_start
                    or (not leader_start and needle in _cmdline(leader))):
        try:
            os.killpg(leader, _signal.SIGKILL)
        except OSError:
            pass
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        if int(entry) == os.getpid():
            continue
        if needle in cmd and b"conmon" in cmd.split(b"\0", 1)[0]:
            try:
                os.kill(int(entry), _signal.SIGKILL)
            except OSError:
                pass


def kill_monitors(marker: str, programs: tuple[bytes, ...]) -> int:
    """SIGKILL every process named one of ``programs`` (argv[0]'s base name) whose
    command line names ``marker`` (a container or session id): what a client
    killed half-way through a start leaves, before any pid of it was recorded.
    Returns how many."""
    import signal as _signal

    needle = marker.encode()
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        cmd = _cmdline(int(entry))
        if needle not in cmd or os.path.basename(cmd.split(b"\0", 1)[0]) not in programs:
            continue
        try:
            os.kill(int(entry), _signal.SIGKILL)
            killed += 1
        except OSError:
            pass
    return killed
