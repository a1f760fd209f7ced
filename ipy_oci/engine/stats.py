"""``stats``: containers' resource usage, as podman's ``stats`` reports it.

Counters come from the container's cgroup (oci/cgroups.py: v1 and v2 readers) and
its network namespace (``/proc/PID/net/dev``). CPU % is the CPU time used between
two samples over the time between them: the first report takes its two samples
``FIRST_WINDOW`` seconds apart, later reports use the previous report's. AVG CPU %
is the CPU time over the time since the container started.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import is_rootless
from ..errors import NoSuchContainer, UsageError
from ..oci import cgroups, procfs
from ..state.procs import is_alive
from ..state.records import State
from .gounits import go_bytes_size, go_duration, go_human_size

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime

FIRST_WINDOW = 0.25

DEFAULT_TEMPLATE = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t"
                    "{{.NetIO}}\t{{.BlockIO}}\t{{.PIDS}}\t{{.UpTime}}\t{{.AVGCPU}}")
HEADERS = {"ID": "ID", "UpTime": "CPU TIME", "CPUPerc": "CPU %", "AVGCPU": "AVG CPU %",
           "MemUsage": "MEM USAGE / LIMIT", "MemUsageBytes": "MEM USAGE / LIMIT",
           "MemPerc": "MEM %", "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDS": "PIDS"}


@dataclass
class Sample:
    """One reading of one container's counters (zeros for one without a process)."""

    id: str
    name: str
    at_ns: int  # when it was taken (epoch ns)
    started_ns: int
    live: bool
    cg: cgroups.CgroupStats
    net_rx: int = 0
    net_tx: int = 0


def _physical_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def sample(ctr: Container, proc: Path = Path("/proc")) -> Sample:
    rec = ctr.record
    now = time.time_ns()
    live = rec.state in (State.RUNNING, State.PAUSED, State.STOPPING) and bool(rec.pid) \
        and is_alive(rec.pid, rec.pid_start)
    cg = cgroups.read_for_pid(rec.pid, proc) if live else None
    if cg is None:
        return Sample(rec.id, rec.name, now, int(rec.started_at * 1e9), False,
                      cgroups.CgroupStats())
    rx = tx = 0
    if rec.config.network != "host":  # the host's own counters are not the container's
        try:
            rx, tx = procfs.net_dev((proc / str(rec.pid) / "net" / "dev").read_text())
        except OSError:
            pass
    return Sample(rec.id, rec.name, now, int(rec.started_at * 1e9), True, cg, rx, tx)


def _percent(part: float, whole: float) -> float:
    return part / whole * 100 if whole > 0 and part > 0 else 0.0


def _pct(value: float) -> str:
    return f"{value:.2f}%"


def row(cur: Sample, prev: Sample | None, memory_limit: int | None = None,
        no_trunc: bool = False) -> dict[str, Any]:
    """podman's stats fields for one container (what templates and tables see)."""
    cg = cur.cg
    limit = cg.mem_limit or memory_limit or 0
    phys = _physical_memory()
    limit = min(limit, phys) if limit else phys
    if not cur.live:
        limit = 0
    cpu = 0.0
    if cur.live and prev is not None and prev.live and prev.cg.cpu_ns <= cg.cpu_ns:
        cpu = _percent(cg.cpu_ns - prev.cg.cpu_ns, cur.at_ns - prev.at_ns)
    avg = _percent(cg.cpu_ns, cur.at_ns - cur.started_ns) if cur.live else 0.0
    mem_pct = _percent(cg.mem_usage, limit)
    return {
        "ID": cur.id if no_trunc else cur.id[:12], "ContainerID": cur.id, "Name": cur.name,
        "CPU": cpu, "CPUPerc": _pct(cpu), "AvgCPU": avg, "AVGCPU": _pct(avg),
        "CPUNano": cg.cpu_ns, "CPUSystemNano": cg.cpu_system_ns, "Duration": cg.cpu_ns,
        "SystemNano": cur.at_ns, "UpTime": go_duration(cg.cpu_ns),
        "Up": go_duration(cg.cpu_ns),
        "MemUsage": f"{go_human_size(cg.mem_usage)} / {go_human_size(limit)}",
        "MemUsageBytes": f"{go_bytes_size(cg.mem_usage)} / {go_bytes_size(limit)}",
        "MemLimit": limit, "MemPerc": _pct(mem_pct),
        "NetInput": cur.net_rx, "NetOutput": cur.net_tx,
        "NetIO": f"{go_human_size(cur.net_rx)} / {go_human_size(cur.net_tx)}",
        "BlockInput": cg.block_read, "BlockOutput": cg.block_write,
        "BlockIO": f"{go_human_size(cg.block_read)} / {go_human_size(cg.block_write)}",
        "PIDs": cg.pids if cur.live else 0, "PIDS": str(cg.pids if cur.live else 0),
        "PerCPU": [],
    }


def json_row(r: dict[str, Any]) -> dict[str, Any]:
    """``--format json``: podman's keys and strings."""
    return {"id": r["ID"], "name": r["Name"], "cpu_time": r["UpTime"],
            "cpu_percent": r["CPUPerc"], "avg_cpu": r["AVGCPU"], "mem_usage": r["MemUsage"],
            "mem_percent": r["MemPerc"], "net_io": r["NetIO"], "block_io": r["BlockIO"],
            "pids": r["PIDS"]}


def check_options(refs: Sequence[str], all: bool, latest: bool, interval: int) -> None:
    if sum((bool(refs), all, latest)) > 1:
        raise UsageError("--all, --latest and containers cannot be used together")
    if interval < 1:
        raise UsageError("invalid interval, must be a positive number greater zero")


def _targets(rt: Runtime, refs: Sequence[str], all: bool, latest: bool,
             first: bool) -> list[Container]:
    if latest:
        from .selection import latest_container

        return [latest_container(rt)]
    if refs:
        out = []
        for ref in refs:
            try:
                out.append(rt.touch(rt.lookup_container(ref)))
            except NoSuchContainer:
                if first:
                    raise  # a named container that is gone later just leaves the list
        return out
    return [c for c in rt.containers(all=True)
            if all or c.state in (State.RUNNING, State.PAUSED)]


def reports(rt: Runtime, refs: Sequence[str] = (), *, all: bool = False,
            latest: bool = False, interval: float = 5, stream: bool = True,
            no_trunc: bool = False, proc: Path = Path("/proc")
            ) -> Iterator[list[dict[str, Any]]]:
    """One list of rows per report; one report unless ``stream`` (then one every
    ``interval`` seconds until the caller stops iterating)."""
    check_options(refs, all, latest, int(interval))
    if is_rootless():
        from .rootless import check_stats

        check_stats()
    prev: dict[str, Sample] = {}
    first = True
    while True:
        ctrs = _targets(rt, refs, all, latest, first)
        fresh = [c for c in ctrs if c.id not in prev]
        if fresh:
            for c in fresh:
                prev[c.id] = sample(c, proc)
            if any(prev[c.id].live for c in fresh):
                time.sleep(FIRST_WINDOW)
        out = []
        for c in ctrs:
            cur = sample(c, proc)
            out.append(row(cur, prev.get(c.id), c.record.config.memory, no_trunc))
            prev[c.id] = cur
        yield out
        first = False
        if not stream:
            return
        time.sleep(interval)


class UsageMeter:
    """Live CPU % and memory for views that poll (the notebook's ContainerTable, the
    side panel through the server): CPU % is the CPU time between two reads of the
    same meter over the time between them, so the first read of a container has none.
    ``available`` is False where containers have no cgroup (rootless on cgroup v1)."""

    def __init__(self) -> None:
        self._prev: dict[str, Sample] = {}
        self._available: bool | None = None

    @property
    def available(self) -> bool:
        if self._available is None:
            from .rootless import cgroups_usable

            self._available = cgroups_usable()
        return self._available

    def read(self, ctrs: Sequence[Container]) -> dict[str, tuple[float | None, int]]:
        """Container ID -> (CPU %, memory bytes) of the live ones (nothing when not
        ``available``)."""
        if not self.available:
            return {}
        out: dict[str, tuple[float | None, int]] = {}
        fresh: dict[str, Sample] = {}
        for c in ctrs:
            if c.state not in (State.RUNNING, State.PAUSED, State.STOPPING):
                continue
            cur = sample(c)
            if not cur.live:
                continue
            fresh[c.id] = cur
            prev = self._prev.get(c.id)
            cpu = row(cur, prev)["CPU"] if prev is not None else None
            out[c.id] = (cpu, cur.cg.mem_usage)
        self._prev = fresh
        return out
