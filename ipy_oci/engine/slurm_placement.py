"""Where Slurm containers run, and what the login side and their nodes share:
which records are whose, the node's runroot, the argv of the node's ipy-oci and
the job's script (docs/SCALE.md; the login side's view is engine/slurm.py)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..state.records import (
    ContainerRecord,
    ExecRecord,
    ExecState,
)
from .container import Container

if TYPE_CHECKING:
    from .runtime import Runtime
# How long a job may take to start and report its container before ``run`` gives up
# (Slurm may queue it: the caller sees why in the error).
START_TIMEOUT = 120.0
# An attached run's holder starts the container itself if nobody attached by then.
ATTACH_TIMEOUT = 60.0
# Seconds the holder keeps back from KillWait for cleanup after a stop.
CLEANUP_MARGIN = 2.0
# The holder's reaping pass over its container's exec sessions (dead clients).
REAP_INTERVAL = 2.0
STEP_PREFIX = "ipyoci-"
POLL = 0.05


def is_slurm(rec: ContainerRecord) -> bool:
    return rec.config.backend == "slurm"


def is_remote(rt: Runtime, rec: ContainerRecord) -> bool:
    """A Slurm container seen from anywhere but its own node."""
    if not is_slurm(rec):
        return False
    if not rt.config.slurm_node:
        return True
    job = rt.state.slurm_job(rec.id)
    return job is None or job.node != rt.config.slurm_node


def remote_container_ids(rt: Runtime) -> set[str]:
    """Slurm containers whose node is not this process's."""
    return {j.id for j in rt.state.slurm_jobs() if j.node != rt.config.slurm_node}


def judged_here(rt: Runtime) -> Callable[[ExecRecord], bool]:
    """Which exec rows this process may judge by their pids: a Slurm container's
    running sessions only on its node (their owners and monitors are node
    processes), its created ones only on the login side (their owner, the client
    that made them, is there until the node adopts them)."""
    nodes = {j.id: j.node for j in rt.state.slurm_jobs()}
    here = rt.config.slurm_node

    def judge(rec: ExecRecord) -> bool:
        node = nodes.get(rec.container_id)
        if node is None:
            return True
        if rec.state == ExecState.CREATED:
            return not here
        return bool(here) and node == here

    return judge


def _nodes_dir(rt: Runtime) -> Path:
    """``<login runroot>/slurm``, which holds each node's runroot (seen from a node,
    its own runroot is two levels below the login side's)."""
    return (rt.runroot.parent.parent if rt.config.slurm_node else rt.runroot) / "slurm"


def node_runroot(rt: Runtime, node: str) -> Path:
    """The runroot of ``node``: flock files, exit files, conmon sockets and runc
    state only make sense on one node (on one machine, nodes must not share it)."""
    return _nodes_dir(rt) / node


def node_argv(rt: Runtime, node: str) -> list[str]:
    """``ipy-oci`` with the global flags of the node side (root shared, own runroot)."""
    return [sys.executable, "-m", "ipy_oci", "--root", str(rt.root),
            "--runroot", str(node_runroot(rt, node)), "--runtime", rt.config.runtime,
            "--slurm-node", node]


def job_script(rt: Runtime, ctr_id: str, attached: bool) -> str:
    """The batch script: the holder, in the job's foreground (exec: no shell in between)."""
    q = shlex.quote
    return (
        "#!/bin/sh\n"
        f"exec {q(sys.executable)} -m ipy_oci --root {q(str(rt.root))} "
        f"--runroot {q(str(_nodes_dir(rt)))}/\"$SLURMD_NODENAME\" "
        f"--runtime {q(rt.config.runtime)} --slurm-node \"$SLURMD_NODENAME\" "
        f"container slurm-hold {'--attached ' if attached else ''}{ctr_id}\n")




def slurm_view(rt: Runtime, rec: ContainerRecord) -> dict[str, Any]:
    """The ``Slurm`` section of inspect, ps's node and job, the widgets' columns."""
    job = rt.state.slurm_job(rec.id)
    if job is None:
        return {}
    return {"JobId": job.job_id, "Node": job.node, "Partition": job.partition,
            "NodeRunRoot": job.node_runroot, "Options": list(rec.config.slurm_opts),
            "JobState": job.job_state, "Reason": job.reason}


def placement_text(ctr: Container) -> str:
    """Where a Slurm container runs, for tables ("n2 · job 42"); "" for a local one."""
    if not ctr.record.config.backend:
        return ""
    job = ctr.runtime.state.slurm_job(ctr.id)
    if job is None or not job.job_id:
        return "Slurm: submitting"
    return f"{job.node or 'pending'} · job {job.job_id}"

