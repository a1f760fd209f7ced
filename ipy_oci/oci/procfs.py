"""A container's processes as /proc shows them: the parsers ``top`` and ``stats`` use.

Every function takes the proc root (default ``/proc``) so the parsers can be tested
on fixture files. Values are raw (clock ticks, pages, bytes); engine/top.py turns
them into podman's columns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class ProcStat:
    """The fields of ``/proc/PID/stat`` that ``top`` shows."""

    pid: int
    comm: str
    state: str
    ppid: int
    pgrp: int
    tty_nr: int
    utime: int  # clock ticks
    stime: int
    nice: int
    starttime: int  # clock ticks after boot
    vsize: int  # bytes
    rss: int  # pages


@dataclass
class ProcStatus:
    """The fields of ``/proc/PID/status`` that ``top`` shows."""

    uids: tuple[int, int, int, int] = (0, 0, 0, 0)  # real, effective, saved, fs
    gids: tuple[int, int, int, int] = (0, 0, 0, 0)
    groups: list[int] = field(default_factory=list)
    nspid: list[int] = field(default_factory=list)  # outermost namespace first
    seccomp: int = 0
    caps: dict[str, int] = field(default_factory=dict)  # CapEff, CapBnd ... as bits


def parse_stat(text: str) -> ProcStat:
    """``/proc/PID/stat``: the command may hold spaces and parentheses, so the fields
    are split after its last ``)``."""
    lpar, rpar = text.index("("), text.rindex(")")
    f = text[rpar + 2:].split()
    return ProcStat(pid=int(text[:lpar]), comm=text[lpar + 1:rpar], state=f[0],
                    ppid=int(f[1]), pgrp=int(f[2]), tty_nr=int(f[4]), utime=int(f[11]),
                    stime=int(f[12]), nice=int(f[16]), starttime=int(f[19]),
                    vsize=int(f[20]), rss=int(f[21]))


def parse_status(text: str) -> ProcStatus:
    out = ProcStatus()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        words = value.split()
        if key == "Uid" and len(words) == 4:
            out.uids = (int(words[0]), int(words[1]), int(words[2]), int(words[3]))
        elif key == "Gid" and len(words) == 4:
            out.gids = (int(words[0]), int(words[1]), int(words[2]), int(words[3]))
        elif key == "Groups":
            out.groups = [int(w) for w in words]
        elif key == "NSpid":
            out.nspid = [int(w) for w in words]
        elif key == "Seccomp" and words:
            out.seccomp = int(words[0])
        elif key.startswith("Cap") and words:
            out.caps[key] = int(words[0], 16)
    return out


def parse_cmdline(data: bytes) -> list[str]:
    return [a.decode("utf-8", "replace") for a in data.rstrip(b"\0").split(b"\0")] \
        if data.strip(b"\0") else []


def boot_time(proc: Path = Path("/proc")) -> float:
    """Seconds since the epoch when the machine booted (``btime`` of /proc/stat)."""
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError(f"no btime in {proc / 'stat'}")


@dataclass
class Process:
    stat: ProcStat
    status: ProcStatus
    cmdline: list[str]


def read_process(pid: int, proc: Path = Path("/proc")) -> Process | None:
    """None if the process is gone (it may exit while we read)."""
    d = proc / str(pid)
    try:
        return Process(parse_stat((d / "stat").read_text(errors="replace")),
                       parse_status((d / "status").read_text(errors="replace")),
                       parse_cmdline((d / "cmdline").read_bytes()))
    except (FileNotFoundError, ProcessLookupError):
        return None


def pid_namespace(pid: int, proc: Path = Path("/proc")) -> int | None:
    """The inode of ``pid``'s pid namespace (None if it is gone)."""
    try:
        return os.stat(proc / str(pid) / "ns" / "pid").st_ino
    except OSError:
        return None


def pids_in_namespace(ns: int, proc: Path = Path("/proc")) -> Iterator[int]:
    """Host pids of every process in pid namespace ``ns`` (sorted)."""
    pids = sorted(int(n) for n in os.listdir(proc) if n.isdigit())
    for pid in pids:
        if pid_namespace(pid, proc) == ns:
            yield pid


def tty_name(tty_nr: int) -> str:
    """``tty_nr`` of /proc/PID/stat as ps names it: pts/N, ttyN, ttySN, or ``?``."""
    if tty_nr == 0:
        return "?"
    major, minor = (tty_nr >> 8) & 0xFFF, (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:
        return f"pts/{(major - 136) * 256 + minor}"
    if major == 4:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    return "?"


def net_dev(text: str) -> tuple[int, int]:
    """(received, transmitted) bytes over every interface but ``lo`` in the text of
    ``/proc/PID/net/dev``."""
    rx = tx = 0
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        fields = rest.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        rx += int(fields[0])
        tx += int(fields[8])
    return rx, tx
