"""sbatch, srun, scontrol, squeue and scancel: found on PATH, with ``SLURM_CONF`` and
the rest of the caller's environment passed through as Slurm expects."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from ..errors import OciError

# A job in one of these states has ended: its processes are gone or going.
ENDED_STATES = frozenset({
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
    "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT",
})
# The keys of ``scontrol -o show job`` we read. Values of others (Command, WorkDir,
# Reason...) may hold spaces, so lines are cut at these keys only.
_KEYS = ("JobId", "JobName", "JobState", "Reason", "ExitCode", "Partition", "NodeList",
         "BatchHost", "StartTime", "EndTime", "RunTime", "TimeLimit")
_KEY_AT = re.compile(r"(?:^|\s)(" + "|".join(_KEYS) + r")=")


# A status query gives up after this (an unreachable controller otherwise holds a
# listing for Slurm's own retries).
STATUS_TIMEOUT = 15.0


class SlurmError(OciError):
    """Slurm refused or could not be reached; the message is Slurm's own."""


@dataclass
class JobInfo:
    job_id: str
    state: str
    reason: str = ""
    exit_code: int | None = None  # the batch script's code, or 128+signal
    partition: str = ""
    node: str = ""
    start_time: str = ""
    end_time: str = ""

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES


@cache
def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SlurmError(f"Slurm's {name} is not on PATH: install Slurm's client tools "
                         "(Debian: apt-get install slurm-client) or add them to PATH")
    return path


def _run(name: str, *args: str, input: bytes | None = None,
         timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run([_tool(name), *args], input=input, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{name} did not answer within {timeout:.0f} s: is slurmctld "
                         "running and reachable (check SLURM_CONF)?") from None


def _failed(name: str, proc: subprocess.CompletedProcess[bytes], what: str) -> SlurmError:
    text = proc.stderr.decode(errors="replace").strip() or \
        proc.stdout.decode(errors="replace").strip() or f"exit status {proc.returncode}"
    return SlurmError(f"{what}: {name} said: {text}")


def submit(script: str, options: list[str], job_name: str) -> str:
    """``sbatch --parsable``: the new job's id (the script is read from stdin)."""
    proc = _run("sbatch", "--parsable", f"--job-name={job_name}", "--output=/dev/null",
                "--error=/dev/null", *options, input=script.encode())
    if proc.returncode != 0:
        if b"Unable to contact slurm controller" in proc.stderr:
            raise _failed("sbatch", proc, "Slurm cannot be reached (is slurmctld running, "
                          "and does SLURM_CONF name this cluster?)")
        raise _failed("sbatch", proc, "Slurm refused the job")
    # "ID" or "ID;cluster" on a multi-cluster setup.
    return proc.stdout.decode().strip().split(";")[0]


def show_job(job_id: str) -> JobInfo | None:
    """``scontrol -o show job``; None once Slurm has forgotten the job."""
    proc = _run("scontrol", "-o", "show", "job", job_id, timeout=STATUS_TIMEOUT)
    if proc.returncode != 0:
        if b"Invalid job id" in proc.stderr:
            return None
        raise _failed("scontrol", proc, f"cannot read Slurm job {job_id}")
    return parse_job_line(proc.stdout.decode(errors="replace").splitlines()[0])


def parse_job_line(line: str) -> JobInfo:
    marks = list(_KEY_AT.finditer(line))
    fields: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
        # A value ends at the next known key, or at the first space when the
        # next key is one we do not read.
        value = line[m.end():end].strip()
        fields[m.group(1)] = value.split(" ")[0] if m.group(1) != "Reason" else value
    code: int | None = None
    if ":" in fields.get("ExitCode", ""):
        status, _, sig = fields["ExitCode"].partition(":")
        code = 128 + int(sig) if sig.isdigit() and int(sig) else int(status)
    node = fields.get("BatchHost") or fields.get("NodeList", "")
    return JobInfo(job_id=fields.get("JobId", ""), state=fields.get("JobState", ""),
                   reason=fields.get("Reason", "").split(" ")[0], exit_code=code,
                   partition=fields.get("Partition", ""),
                   node="" if node in ("(null)", "None") else node,
                   start_time=fields.get("StartTime", ""), end_time=fields.get("EndTime", ""))


def job_states(job_ids: list[str]) -> dict[str, str]:
    """Many jobs' states in one ``squeue`` (finished ones Slurm still remembers
    included); a job it has forgotten is absent."""
    if not job_ids:
        return {}
    proc = _run("squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i|%T",
                timeout=STATUS_TIMEOUT)
    if proc.returncode != 0 and b"Invalid job id" not in proc.stderr:
        raise _failed("squeue", proc, "cannot read the state of Slurm jobs")
    out: dict[str, str] = {}
    for line in proc.stdout.decode(errors="replace").splitlines():
        jid, _, state = line.strip().partition("|")
        if jid and state:
            out[jid] = state
    return out


def steps(job_id: str) -> dict[str, str]:
    """The job's steps, name -> step id (``squeue -s``); empty once it has ended."""
    proc = _run("squeue", "-h", "-s", "-j", job_id, "-o", "%i %j")
    if proc.returncode != 0:
        return {}
    out: dict[str, str] = {}
    for line in proc.stdout.decode(errors="replace").splitlines():
        sid, _, name = line.strip().partition(" ")
        if sid:
            out[name] = sid
    return out


def cancel(target: str, signal: str = "", batch: bool = False) -> bool:
    """``scancel [--signal=SIG] [--batch] J[.S]``; False if Slurm no longer has it."""
    args = [f"--signal={signal}"] if signal else []
    if batch:
        args.append("--batch")
    proc = _run("scancel", *args, target)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        if "Invalid job id" in err or "already completing or completed" in err or \
                "Job/step already" in err:
            return False
        raise _failed("scancel", proc, f"cannot signal Slurm job {target}")
    return True


def srun_step(job_id: str, node: str, name: str, pty: bool = False) -> list[str]:
    """The argv prefix that runs a command as a step of a running job on its node.

    ``--overlap``: the holder's batch step keeps the job's CPUs, and exec steps
    must run beside it, never wait for it.
    """
    argv = [_tool("srun"), "--jobid", job_id, "--overlap", "-w", node, "-N1", "-n1",
            "-J", name, "--quiet"]
    if pty:
        argv.append("--pty")
    return argv


def srun_tool() -> str:
    return _tool("srun")


def kill_wait() -> float:
    """Seconds Slurm gives a cancelled job between SIGTERM and SIGKILL (``KillWait``)."""
    proc = _run("scontrol", "show", "config")
    m = re.search(rb"^KillWait\s*=\s*(\d+)", proc.stdout, re.M)
    return float(m.group(1)) if m else 30.0
