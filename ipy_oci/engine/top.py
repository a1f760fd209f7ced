"""``top``: a container's processes with podman's (psgo's) AIX format descriptors.

The processes are every process in the container's pid namespace (its main
process and its exec sessions), read from the host's /proc; pids are shown as the
container sees them. User and group names come from the container's own
/etc/passwd and /etc/group, read inside its root (symlinks cannot leave it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidState, UsageError
from ..oci import procfs
from ..oci.spec_user import parse_group, parse_passwd, read_in_root
from ..state.records import State
from .gounits import go_duration

if TYPE_CHECKING:
    from .container import Container

DEFAULT_DESCRIPTORS = ("user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args")


@dataclass
class _Ctx:
    """What every column needs: the processes, names and the clock."""

    proc: Path
    now: float
    boot: float
    ns_pid: dict[int, int]  # host pid -> pid in the container
    users: dict[int, str]
    groups: dict[int, str]


@dataclass
class _Row:
    host_pid: int
    p: procfs.Process


def _start(c: _Ctx, r: _Row) -> float:
    return c.boot + r.p.stat.starttime / procfs.CLK_TCK


def _cpu_ticks(r: _Row) -> int:
    return r.p.stat.utime + r.p.stat.stime


def _user(c: _Ctx, uid: int) -> str:
    return c.users.get(uid, str(uid))


def _group(c: _Ctx, gid: int) -> str:
    return c.groups.get(gid, str(gid))


def _args(c: _Ctx, r: _Row) -> str:
    return " ".join(r.p.cmdline) if r.p.cmdline else f"[{r.p.stat.comm}]"


def _pcpu(c: _Ctx, r: _Row) -> str:
    elapsed = c.now - _start(c, r)
    used = _cpu_ticks(r) / procfs.CLK_TCK
    return f"{(used / elapsed * 100) if elapsed > 0 else 0.0:.3f}"


def _host_user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _host_group(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


_SECCOMP = {0: "disabled", 1: "strict", 2: "filter"}

Column = Callable[[_Ctx, _Row], str]

# descriptor -> (header, column); the AIX codes of psgo map to these names.
COLUMNS: dict[str, tuple[str, Column]] = {
    "args": ("COMMAND", _args),
    "comm": ("COMMAND", lambda c, r: r.p.stat.comm),
    "etime": ("ELAPSED", lambda c, r: go_duration(int((c.now - _start(c, r)) * 1e9))),
    "group": ("GROUP", lambda c, r: _group(c, r.p.status.gids[1])),
    "groups": ("GROUPS", lambda c, r: ",".join(_group(c, g) for g in r.p.status.groups)),
    "nice": ("NI", lambda c, r: str(r.p.stat.nice)),
    "pcpu": ("%CPU", _pcpu),
    "pgid": ("PGID", lambda c, r: str(c.ns_pid.get(r.p.stat.pgrp, 0))),
    "pid": ("PID", lambda c, r: str(c.ns_pid.get(r.host_pid, r.host_pid))),
    "ppid": ("PPID", lambda c, r: str(c.ns_pid.get(r.p.stat.ppid, 0))),
    "rgroup": ("RGROUP", lambda c, r: _group(c, r.p.status.gids[0])),
    "rss": ("RSS", lambda c, r: str(r.p.stat.rss * procfs.PAGE_SIZE // 1024)),
    "ruser": ("RUSER", lambda c, r: _user(c, r.p.status.uids[0])),
    "seccomp": ("SECCOMP", lambda c, r: _SECCOMP.get(r.p.status.seccomp, "?")),
    "state": ("STATE", lambda c, r: r.p.stat.state),
    "stime": ("STIME", lambda c, r: time.strftime("%Y-%m-%d %H:%M:%S %z %Z",
                                                  time.localtime(_start(c, r)))),
    "time": ("TIME", lambda c, r: go_duration(_cpu_ticks(r) * 1_000_000_000
                                              // procfs.CLK_TCK)),
    "tty": ("TTY", lambda c, r: procfs.tty_name(r.p.stat.tty_nr)),
    "user": ("USER", lambda c, r: _user(c, r.p.status.uids[1])),
    "vsz": ("VSZ", lambda c, r: str(r.p.stat.vsize // 1024)),
    "hpid": ("HPID", lambda c, r: str(r.host_pid)),
    "huser": ("HUSER", lambda c, r: _host_user(r.p.status.uids[1])),
    "hgroup": ("HGROUP", lambda c, r: _host_group(r.p.status.gids[1])),
}
ALIASES = {"%C": "pcpu", "%cpu": "pcpu", "%G": "group", "%P": "ppid", "%U": "user",
           "%a": "args", "%c": "comm", "%g": "rgroup", "%n": "nice", "%p": "pid",
           "%r": "pgid", "%t": "etime", "%u": "ruser", "%x": "time", "%y": "tty",
           "%z": "vsz"}


def parse_descriptors(words: Sequence[str]) -> list[str]:
    """Descriptors as separate words or one comma-separated word; UsageError naming
    the valid ones for anything else."""
    out = []
    for word in words:
        for d in (w.strip() for w in word.split(",")):
            if not d:
                continue
            name = ALIASES.get(d, d)
            if name not in COLUMNS:
                valid = ", ".join(sorted(COLUMNS)) + ", and the codes " + \
                    " ".join(sorted(ALIASES))
                raise UsageError(f"unknown top descriptor {d!r}: valid descriptors are "
                                 f"{valid}")
            out.append(name)
    return out or list(DEFAULT_DESCRIPTORS)


def _names(root: str, path: str, parse: Callable[[str], list[Any]]) -> dict[int, str]:
    try:
        text = read_in_root(root, path) or ""
    except OSError:
        return {}
    out: dict[int, str] = {}
    for entry in parse(text):
        key = entry.uid if hasattr(entry, "uid") else entry.gid
        out.setdefault(key, entry.name)
    return out


def top(ctr: Container, descriptors: Sequence[str] = (),
        proc: Path = Path("/proc")) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) for the container's processes."""
    names = parse_descriptors(descriptors)
    ctr.runtime.touch(ctr)
    rec = ctr.record
    if rec.state not in (State.RUNNING, State.PAUSED, State.STOPPING) or not rec.pid:
        raise InvalidState("top can only be used on running containers: "
                           f"{ctr.name} is {State.display(rec.state)}")
    ns = procfs.pid_namespace(rec.pid, proc)
    if ns is None:
        raise InvalidState(f"top can only be used on running containers: {ctr.name} "
                           "has no process any more")
    rows: list[_Row] = []
    for pid in procfs.pids_in_namespace(ns, proc):
        p = procfs.read_process(pid, proc)
        if p is not None:
            rows.append(_Row(pid, p))
    root = str(proc / str(rec.pid) / "root")
    c = _Ctx(proc=proc, now=time.time(), boot=procfs.boot_time(proc),
             ns_pid={r.host_pid: (r.p.status.nspid[-1] if r.p.status.nspid else r.host_pid)
                     for r in rows},
             users=_names(root, "/etc/passwd", parse_passwd),
             groups=_names(root, "/etc/group", parse_group))
    rows.sort(key=lambda r: c.ns_pid[r.host_pid])
    headers = [COLUMNS[n][0] for n in names]
    return headers, [[COLUMNS[n][1](c, r) for n in names] for r in rows]
