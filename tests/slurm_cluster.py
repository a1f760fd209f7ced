"""A throwaway Slurm cluster on this machine, for tests and benchmarks (docs/SLURM.md §1).

``SlurmCluster.start(base)`` gives ``base`` its own munged (own key and socket), a
``slurm.conf`` with free TCP ports, one ``slurmctld`` and one ``slurmd -N nK`` per node,
and returns once every node is idle and one batch job has run (the first one after the
controller starts waits ~3 s for the scheduler's first pass; later ones ~1 s at most).
``stop()`` cancels every job, shuts the daemons down, waits for each to exit, and
returns what it had to SIGKILL.
Nothing uses ``/etc/slurm`` or the system munge socket: daemons and clients find the
cluster through ``SLURM_CONF`` (``env``), and the config names the munge socket.

Needs root (SlurmUser=root) and Debian's ``slurm-wlm`` and ``munge``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

BINARIES = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "srun", "squeue",
            "scancel", "scontrol", "sinfo")
START_TIMEOUT = 30.0


def missing_binaries() -> list[str]:
    """The Slurm and munge programs this module needs that are not on PATH (or in sbin)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [b for b in BINARIES if shutil.which(b, path=path) is None]


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports nothing listens on now (all held open while choosing)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _identity(pid: int) -> tuple[int, int] | None:
    """(pid, start time) of a live, non-zombie process; None once it is gone."""
    data = _read(f"/proc/{pid}/stat")
    if not data:
        return None
    rest = data[data.rfind(b")") + 2:].split()  # comm, in parentheses, may hold spaces
    if rest[0] in (b"Z", b"X"):
        return None
    return pid, int(rest[19])


def _same(ident: tuple[int, int]) -> bool:
    return _identity(ident[0]) == ident


def _ancestors() -> set[int]:
    """This process and its ancestors: their environment may name the cluster too."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        data = _read(f"/proc/{pid}/stat")
        pid = int(data[data.rfind(b")") + 2:].split()[1]) if data else 0
    return out


def _sbin_env() -> dict[str, str]:
    """os.environ without inherited SLURM_* (a caller inside a job must not leak its job)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    path = env.get("PATH", "/usr/bin:/bin")
    if "/usr/sbin" not in path.split(":"):
        env["PATH"] = path + ":/usr/sbin:/sbin"
    return env


@dataclass
class SlurmCluster:
    base: Path
    conf: Path
    env: dict[str, str]
    nodes: list[str]
    kill_wait: int = 5
    munge_socket: Path = field(default=Path())
    # (pid, start time) of every daemon started, to see each one exit.
    daemons: dict[str, tuple[int, int]] = field(default_factory=dict)

    # -- start -------------------------------------------------------------------------

    @classmethod
    def start(cls, base: Path, nodes: int = 3) -> SlurmCluster:
        """Make and start a cluster of ``nodes`` nodes (n1..nN) under ``base``; ready to use."""
        if nodes < 1:
            raise ValueError(f"a cluster needs at least one node, not {nodes}")
        base = Path(base).resolve()
        names = [f"n{i}" for i in range(1, nodes + 1)]
        c = cls(base=base, conf=base / "slurm.conf", env={"SLURM_CONF": str(base / "slurm.conf")},
                nodes=names, munge_socket=base / "munge" / "munge.sock")
        try:
            c._start_munge()
            c._write_conf()
            c._start_slurm()
            c._wait_idle()
            c._warm_up()
        except BaseException:
            c.stop()
            raise
        return c

    def _daemon_env(self) -> dict[str, str]:
        return {**_sbin_env(), **self.env}

    def _launch(self, what: str, argv: list[str]) -> None:
        """Run a daemonizing program to its fork; its parent exits here, so no zombie stays."""
        r = subprocess.run(argv, env=self._daemon_env(), cwd=self.base, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"{what} failed (rc {r.returncode}): {r.stderr.strip()}\n"
                               + self.log_tail())

    def _start_munge(self) -> None:
        d = self.base / "munge"
        d.mkdir(parents=True, exist_ok=True)
        # munged refuses a socket whose directory or any parent is not executable by
        # all (mkdtemp makes 0700): open base and munge/; the key stays 0600.
        self.base.chmod(0o755)
        d.chmod(0o755)
        key = d / "munge.key"
        self._launch("mungekey", ["mungekey", "--create", f"--keyfile={key}"])
        self._launch("munged", [
            "munged", f"--key-file={key}", f"--socket={self.munge_socket}",
            f"--pid-file={d / 'munged.pid'}", f"--log-file={d / 'munged.log'}",
            f"--seed-file={d / 'munged.seed'}"])
        self._record("munged", d / "munged.pid")

    def _write_conf(self) -> None:
        b = self.base
        for sub in ("ctld", "spool", "run", "log"):
            (b / sub).mkdir(exist_ok=True)
        host = socket.gethostname()
        ctld_port, slurmd_port, *node_ports = _free_ports(2 + len(self.nodes))
        lines = [
            f"ClusterName=islurm{os.getpid()}",
            f"SlurmctldHost={host}(127.0.0.1)",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"StateSaveLocation={b}/ctld",
            f"SlurmdSpoolDir={b}/spool/%n",
            f"SlurmctldPidFile={b}/run/slurmctld.pid",
            f"SlurmdPidFile={b}/run/slurmd-%n.pid",
            f"SlurmctldLogFile={b}/log/slurmctld.log",
            f"SlurmdLogFile={b}/log/slurmd-%n.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerParameters=batch_sched_delay=0",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "MailProg=/bin/true",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",  # CPUs=4 whatever this machine has
            f"KillWait={self.kill_wait}",
            "MinJobAge=300",
        ]
        lines += [f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={p} CPUs=4 "
                  "State=UNKNOWN" for n, p in zip(self.nodes, node_ports, strict=True)]
        lines.append(f"PartitionName=debug Nodes={','.join(self.nodes)} Default=YES "
                     "MaxTime=INFINITE State=UP")
        lines.append(f"PartitionName=other Nodes={self.nodes[-1]} MaxTime=INFINITE State=UP")
        self.conf.write_text("\n".join(lines) + "\n")

    def _start_slurm(self) -> None:
        # -f as well as SLURM_CONF: the daemons' command lines then name base, so a
        # leftover is easy to find and to tell from another cluster's.
        # -i: state files missing on a first start are errors to ignore.
        self._launch("slurmctld", ["slurmctld", "-i", "-f", str(self.conf)])
        self._record("slurmctld", self.base / "run" / "slurmctld.pid")
        for n in self.nodes:
            self._launch(f"slurmd {n}", ["slurmd", "-f", str(self.conf), "-N", n])
            self._record(f"slurmd-{n}", self.base / "run" / f"slurmd-{n}.pid")

    def _record(self, name: str, pid_file: Path) -> None:
        """Note the daemon's identity from its pid file (written before its parent exits)."""
        deadline = time.monotonic() + 10
        while True:
            text = _read(str(pid_file)).strip()
            ident = _identity(int(text)) if text.isdigit() else None
            if ident is not None:
                self.daemons[name] = ident
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not write a live pid to {pid_file}\n"
                                   + self.log_tail())
            time.sleep(0.02)

    def _node_states(self) -> dict[str, str]:
        r = self.run("sinfo", "-h", "-N", "-o", "%N %T")
        return dict(line.split(None, 1) for line in r.stdout.splitlines() if " " in line)

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = self._node_states()
            if all(states.get(n) == "idle" for n in self.nodes):
                return
            time.sleep(0.05)
        raise RuntimeError(f"nodes not idle after {START_TIMEOUT:.0f}s: {states}\n"
                           + self.log_tail())

    def _warm_up(self) -> None:
        """Run one batch job to its end. Batch jobs are started by the controller's
        scheduler pass, not at submission, and the first pass comes ~3 s after the
        controller starts: paying that here keeps it out of the first test's time."""
        # Not ``sbatch --wait``: it polls at growing intervals (seconds late).
        r = self.run("sbatch", "--parsable", "-o", "/dev/null", "-t", "1", "--wrap", "true")
        job = r.stdout.strip().split(";")[0]
        if r.returncode != 0 or not job:
            raise RuntimeError(f"warm-up sbatch failed (rc {r.returncode}): "
                               f"{r.stderr.strip()}\n" + self.log_tail())
        if not self._wait_gone(lambda: job in self.jobs(), START_TIMEOUT):
            raise RuntimeError(f"warm-up job {job} did not end in {START_TIMEOUT:.0f}s: "
                               f"{self.job_states()}\n" + self.log_tail())

    # -- clients -----------------------------------------------------------------------

    def run(self, *argv: str, timeout: float = 60.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client (text in and out, never raises on rc) against this cluster."""
        return subprocess.run(list(argv), env={**os.environ, **self.env}, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def jobs(self) -> list[str]:
        """Ids of the jobs squeue lists (pending, running or completing)."""
        r = self.run("squeue", "-h", "-o", "%i")
        if r.returncode != 0:
            raise RuntimeError(f"squeue failed (rc {r.returncode}): {r.stderr.strip()}")
        return r.stdout.split()

    def job_states(self) -> dict[str, str]:
        """Job id -> squeue's state (RUNNING, COMPLETING, ...) of every listed job."""
        r = self.run("squeue", "-h", "-o", "%i %T")
        return dict(line.split(None, 1) for line in r.stdout.splitlines() if " " in line)

    def cancel_all(self, timeout: float | None = None) -> list[str]:
        """scancel every job and wait (bounded) until squeue lists none; return those cancelled.

        Raises if some are still listed when the time is up (KillWait plus a margin).
        """
        ids = self.jobs()
        if ids:
            self.run("scancel", *ids)
        deadline = time.monotonic() + (timeout if timeout is not None else self.kill_wait + 15)
        left = self.jobs()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.jobs()
        if left:
            raise RuntimeError(f"jobs still listed after scancel: {left}")
        return ids

    # -- stop --------------------------------------------------------------------------

    def processes(self) -> list[tuple[int, int, str]]:
        """(pid, start time, command) of live processes of this cluster: started by it or
        from a job of it (command line naming ``base``, or SLURM_CONF=this conf in the
        environment), besides this process and its ancestors."""
        needle = str(self.base).encode()
        mark = f"SLURM_CONF={self.conf}".encode()
        mine = _ancestors()
        found = []
        for e in os.listdir("/proc"):
            if not e.isdigit() or int(e) in mine:
                continue
            pid = int(e)
            cmd = _read(f"/proc/{pid}/cmdline")
            if needle in cmd or mark in _read(f"/proc/{pid}/environ").split(b"\0"):
                ident = _identity(pid)
                if ident is not None:
                    found.append((pid, ident[1], cmd.replace(b"\0", b" ").decode(
                        errors="replace").strip()[:200]))
        return found

    def stop(self) -> list[str]:
        """Cancel all jobs, stop every daemon, wait for them; return what had to be KILLed.

        Safe to call on a half-started or already stopped cluster.
        """
        problems: list[str] = []
        ctld = self.daemons.get("slurmctld")
        if ctld is not None and _same(ctld):
            try:
                self.cancel_all()
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                problems.append(str(e))
            # Job processes linger (COMPLETING) until KillWait; the queue being empty
            # means slurmstepd is done, but wait for them anyway.
            self._wait_gone(lambda: [p for p in self.processes()
                                     if p[2].startswith("slurmstepd")], self.kill_wait + 5)
            try:
                self.run("scontrol", "shutdown", timeout=15)
            except subprocess.TimeoutExpired:
                pass
        slurm = [n for n in self.daemons if n != "munged"]
        if not self._wait_gone(lambda: [n for n in slurm if _same(self.daemons[n])], 15):
            for n in slurm:
                if _same(self.daemons[n]):
                    os.kill(self.daemons[n][0], signal.SIGTERM)
            self._wait_gone(lambda: [n for n in slurm if _same(self.daemons[n])], 5)
        munged = self.daemons.get("munged")
        if munged is not None and _same(munged):
            # TERM by pid, as ``munged -s`` does, without its 1.7 s of polling.
            os.kill(munged[0], signal.SIGTERM)
            self._wait_gone(lambda: _same(munged), 10)
        left = self.processes()
        for pid, start, cmd in left:
            if _same((pid, start)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            problems.append(f"killed leftover {pid}: {cmd}")
        self.daemons.clear()
        return problems

    @staticmethod
    def _wait_gone(pending: Callable[[], object], timeout: float) -> bool:
        """Poll ``pending()`` until it is falsy; False if still truthy after ``timeout``."""
        deadline = time.monotonic() + timeout
        while pending():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def log_tail(self, lines: int = 15) -> str:
        """The last ``lines`` of each daemon's log, for error messages."""
        out = []
        for log in sorted(self.base.glob("log/*.log")) + [self.base / "munge" / "munged.log"]:
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(out)

    def __enter__(self) -> SlurmCluster:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        problems = self.stop()
        if problems and et is None:
            raise RuntimeError("slurm cluster stop: " + "; ".join(problems))
