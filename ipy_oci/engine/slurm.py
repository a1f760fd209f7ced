"""Containers as Slurm jobs (``run --slurm``): see docs/SCALE.md.

The container runs in its job's foreground on a compute node: the job's batch
script is ``ipy-oci container slurm-hold`` (``hold``, below), which runs the
container there with conmon and runc, turns Slurm's SIGTERM (``scancel``, a time
limit) into a proper stop, reaps the container's dead exec clients, and exits
with the container's exit code, so the job lives exactly as long as the
container. Everything else that must happen on the node (attach, exec, stop,
kill) is an ipy-oci command run there as a step of the job (``srun --jobid J
--overlap -w NODE``); its stdin, output and exit code pass through srun.

Two views of one record in the shared state database:

- on the login side (any process whose config has no ``slurm_node``, or another
  one), a Slurm container is a ``SlurmContainer``: its status comes from the
  database the node writes, and from Slurm once the job has ended;
- on its node (``--slurm-node``, set by the job's own commands) it is an ordinary
  ``Container``, with the node's own runroot.
"""

from __future__ import annotations

import os
import signal as _signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import slurm
from ..errors import InvalidState, NoSuchContainer, OciError, UsageError
from ..state.locks import FileLock
from ..state.records import (
    ContainerRecord,
    ExecConfig,
    ExecRecord,
    ExecState,
    SlurmJobRecord,
    State,
)
from .attached import OutputCallback, ProcessResult, attach_until_exit
from .container import Container
from .exec_session import ExecSession
from .names import new_id

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
_POLL = 0.05


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


def node_runroot(rt: Runtime, node: str) -> Path:
    """The runroot of ``node``: flock files, exit files, conmon sockets and runc
    state only make sense on one node (on one machine, nodes must not share it)."""
    base = rt.runroot.parent.parent if rt.config.slurm_node else rt.runroot
    return base / "slurm" / node


def _node_argv(rt: Runtime, node: str) -> list[str]:
    """``ipy-oci`` with the global flags of the node side (root shared, own runroot)."""
    return [sys.executable, "-m", "ipy_oci", "--root", str(rt.root),
            "--runroot", str(node_runroot(rt, node)), "--runtime", rt.config.runtime,
            "--slurm-node", node]


def _job_script(rt: Runtime, ctr_id: str, attached: bool) -> str:
    """The batch script: the holder, in the job's foreground (exec: no shell in between)."""
    q = _shell_quote
    base = rt.runroot.parent.parent if rt.config.slurm_node else rt.runroot
    return (
        "#!/bin/sh\n"
        f"exec {q(sys.executable)} -m ipy_oci --root {q(str(rt.root))} "
        f"--runroot {q(str(base / 'slurm'))}/\"$SLURMD_NODENAME\" "
        f"--runtime {q(rt.config.runtime)} --slurm-node \"$SLURMD_NODENAME\" "
        f"container slurm-hold {'--attached ' if attached else ''}{ctr_id}\n")


def _shell_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


# -- the login side ----------------------------------------------------------------------
class SlurmContainer(Container):
    """A container whose processes run on a Slurm node; every runtime call is a job
    step there, and its status is the shared record's or, once the job ended,
    Slurm's."""

    _last_job: SlurmJobRecord | None = None

    @cached_property
    def lock(self) -> FileLock:
        # This side's lock lives in the container's directory on the shared root, so
        # the node's removal (--rm) takes it along: none outlives its container.
        return _DirLock(self.dir / "login.lock", self.record.name)

    @property
    def job(self) -> SlurmJobRecord:
        job = self.runtime.state.slurm_job(self.id)
        if job is None:
            raise NoSuchContainer(self.record.name)
        self._last_job = job
        return job

    @property
    def placement(self) -> dict[str, str]:
        """Where it ran, as last seen (still known after its removal): provenance."""
        job = self._last_job
        if job is None:
            return {}
        return {"job_id": job.job_id, "node": job.node, "partition": job.partition}

    # -- status ----------------------------------------------------------------------
    def _reload(self) -> None:
        try:
            super()._reload()
        except NoSuchContainer:
            # Removed on its node (--rm): this side's lock file goes with it.
            self.lock.remove()
            raise

    def needs_sync(self) -> bool:
        return self.record.state in (*State.ACTIVE, *State.INTENTS)

    # A listing's one squeue for all its Slurm containers (``prefetch_job_states``):
    # a job it saw running needs no scontrol of its own.
    _job_state_hint: str | None = None

    def _refresh_locked(self) -> None:
        self._reload()
        if self.record.state not in (*State.ACTIVE, *State.INTENTS):
            return
        job = self.job
        if not job.job_id:
            return  # being submitted
        hint, self._job_state_hint = self._job_state_hint, None
        if hint is not None and hint not in slurm.ENDED_STATES:
            return
        info = slurm.show_job(job.job_id)
        if info is not None and not info.ended:
            return
        # The job ended but the record says the container still runs: the holder
        # died before it could record the exit (SIGKILL after KillWait, a node
        # failure). The node is swept, then the record takes Slurm's word.
        self._reload()
        if self.record.state not in (*State.ACTIVE, *State.INTENTS):
            return
        code = info.exit_code if info is not None else None
        if job.node:
            _sweep_node(self.runtime, self.id, job.node)
            self._reload()
            if self.record.state not in (*State.ACTIVE, *State.INTENTS):
                return
        self._save(state=State.EXITED, exit_code=-1 if code is None else code,
                   finished_at=time.time(), pid=0, conmon_pid=0)
        self.runtime.state.update(job, job_state=info.state if info else "GONE",
                                  reason=info.reason if info else "")

    def _job_ended(self) -> bool:
        job = self.job
        if not job.job_id:
            return False
        info = slurm.show_job(job.job_id)
        return info is None or info.ended

    # -- starting ----------------------------------------------------------------------
    def init(self, exit_delay: int = 0, preserve_fds: int = 0) -> None:
        raise UsageError(f"{self.name} runs as a Slurm job: it is initialized on its node "
                         "when it starts; use 'start'")

    def start(self, preserve_fds: int = 0) -> None:
        """Submit the job (detached holder) and return once the container runs."""
        self._refresh_locked()
        if self.record.state in State.LIVE:
            return
        if self.record.state == State.EXITED:
            self._reset_for_restart()
        submitted = time.time()
        self._submit(attached=False)
        # Running, or already over: but this run's, not the exit of the one before.
        self._wait_for(lambda st: st in State.LIVE or (
            st in (State.STOPPED, State.EXITED) and self.record.started_at >= submitted))

    def _reset_for_restart(self) -> None:
        self.runtime.state.update(self.job, job_id="", node="", job_state="", reason="")

    def _submit(self, attached: bool) -> None:
        rt = self.runtime
        job = self.job
        if job.job_id and not self._job_ended():
            raise InvalidState(f"{self.name} already has Slurm job {job.job_id}")
        # The holder's stderr lands beside the container (the storage root is shared),
        # so a job that fails before the container runs can say why.
        self.dir.mkdir(mode=0o700, exist_ok=True)
        err = self.dir / "slurm-job.err"
        err.unlink(missing_ok=True)
        job_id = slurm.submit(_job_script(rt, self.id, attached),
                              [f"--error={err}", *self.record.config.slurm_opts],
                              job_name=f"{STEP_PREFIX}{self.name}")
        rt.state.update(job, job_id=job_id, submitted_at=time.time(), node="",
                        job_state="PENDING", reason="")

    def _wait_for(self, ok: Callable[[str], bool], timeout: float = START_TIMEOUT) -> None:
        """Poll the record until ``ok(state)``; a job that ended first is an error
        with the holder's own words."""
        deadline = time.monotonic() + timeout
        next_slurm = 0.0
        while True:
            self._reload()
            if ok(self.record.state):
                return
            now = time.monotonic()
            if now >= next_slurm:
                next_slurm = now + 0.5
                info = slurm.show_job(self.job.job_id)
                if info is None or info.ended:
                    self._reload()
                    if ok(self.record.state):
                        return
                    raise self._job_failed(info)
                if now > deadline:
                    reason = info.reason if info.reason != "None" else info.state
                    slurm.cancel(self.job.job_id)
                    raise OciError(f"Slurm job {info.job_id} for {self.name} did not start "
                                   f"within {timeout:.0f} s ({reason}): it was cancelled")
            time.sleep(_POLL)

    def _job_failed(self, info: slurm.JobInfo | None) -> OciError:
        words = ""
        try:
            words = (self.dir / "slurm-job.err").read_text(errors="replace").strip()
        except OSError:
            pass
        lines = [ln.removeprefix("Error: ") for ln in words.splitlines() if ln.strip()]
        state = f"{info.state} ({info.reason})" if info else "gone"
        detail = lines[-1] if lines else "no message from the job"
        err = OciError(f"Slurm job {self.job.job_id} for {self.name} ended before the "
                       f"container ran: {state}: {detail}")
        if info is not None and info.exit_code in (126, 127):
            err.exit_code = info.exit_code
        return err

    # -- attached runs -----------------------------------------------------------------
    def run_attached(
        self,
        on_output: OutputCallback,
        stdin_fd: int | None = None,
        detach_keys: bytes = b"",
        should_stop: Callable[[], bool] | None = None,
        interrupt_grace: float = 2.0,
        on_started: Callable[[Container], None] | None = None,
        remove: bool | None = None,
        preserve_fds: int = 0,
        terminal: bool = False,
    ) -> ProcessResult:
        """Submit the holder, which creates the container on its node, then attach
        from here as a step that starts it (no output is missed) and streams it.

        ``terminal``: the caller's own stdin/stdout are a terminal the step uses
        directly (``srun --pty``); else output comes through ``on_output``.
        """
        if preserve_fds:
            raise UsageError("--preserve-fds cannot pass descriptors to a Slurm node")
        remove = self.record.config.auto_remove if remove is None else remove
        self._refresh_locked()
        if self.record.state in State.LIVE:
            raise InvalidState(f"{self.name} is already running: attach to it with "
                               f"'exec -it {self.name} sh' or follow its logs")
        try:
            if self.record.state == State.EXITED:
                self._reset_for_restart()
            submitted = time.time()
            self._submit(attached=True)
            self._wait_for(lambda st: st in (State.CREATED, *State.LIVE) or (
                st in (State.STOPPED, State.EXITED) and self.record.started_at >= submitted))
        except BaseException:
            self._give_up(remove)
            raise
        job = self.job
        argv = [*slurm.srun_step(job.job_id, job.node, f"{STEP_PREFIX}attach-{self.id[:12]}",
                                 pty=terminal),
                *_node_argv(self.runtime, job.node), "container", "slurm-attach",
                *(["--rm"] if remove else []), self.id]
        result = ProcessResult(kind="run", container_id=self.id, container_name=self.name,
                               command=list(self.record.config.command),
                               started_at=time.time())
        step = _Step(argv, stdin_fd, terminal)
        try:
            if on_started is not None:
                on_started(self)
            if terminal:
                code = step.wait_terminal()
            else:
                out = attach_until_exit(step.pump, on_output, signal=self._signal_quietly,
                                        stop=lambda grace: self.stop(timeout=grace),
                                        should_stop=should_stop,
                                        interrupt_grace=interrupt_grace)
                result.interrupted = out.interrupted
                code = step.wait()
        finally:
            step.close()
        result.exit_code = self._exit_code_after(code)
        result.finished_at = time.time()
        if remove:
            self._wait_gone()
        return result

    def _give_up(self, remove: bool) -> None:
        """A run that failed before attaching leaves no job, and with --rm no record."""
        try:
            job = self.job
            if job.job_id:
                slurm.cancel(job.job_id)
                self._wait_job_end()
            self._reload()
            if remove:
                self.runtime.state.delete_container(self.id)
                from ..storage.fsops import remove_tree

                remove_tree(self.dir, ignore_errors=True)
        except OciError:
            pass

    def _exit_code_after(self, step_code: int) -> int | None:
        """The container's exit code: the record's once it exited, else the step's."""
        try:
            self._reload()
        except NoSuchContainer:
            return step_code  # --rm: removed by the step after it read the code
        if self.record.state in (State.STOPPED, State.EXITED):
            return self.record.exit_code
        return step_code

    def _wait_gone(self, timeout: float = 30.0) -> None:
        """--rm: the node removes the record; wait for it (and the job's end)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.runtime.state.container(self.id) is None:
                return
            time.sleep(_POLL)

    # -- control: each is a step on the node ----------------------------------------------
    def _node_command(self, *args: str,
                      timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
        job = self.job
        name = f"{STEP_PREFIX}{args[0]}-{new_id()[:8]}"
        argv = [*slurm.srun_step(job.job_id, job.node, name),
                *_node_argv(self.runtime, job.node), *args]
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise OciError(f"{args[0]} of {self.name} on Slurm node {job.node} did not "
                           f"finish within {timeout:.0f} s") from None

    def _node_error(self, proc: subprocess.CompletedProcess[bytes], verb: str) -> OciError:
        text = proc.stderr.decode(errors="replace").strip().splitlines()
        words = [t.removeprefix("Error: ") for t in text if not t.startswith("srun: ")]
        err = OciError(f"{verb} {self.name} on Slurm node {self.job.node}: "
                       + (words[-1] if words else " ".join(text) or "failed"))
        return err

    def kill(self, sig: int = _signal.SIGKILL) -> None:
        self.refresh()
        if self.record.state not in State.LIVE:
            raise InvalidState(f"can only kill running containers. {self.id} is in state "
                               f"{State.display(self.record.state)}: container state improper")
        proc = self._node_command("kill", "--signal", str(sig), self.id)
        if proc.returncode != 0 and not self._job_ended():
            raise self._node_error(proc, "cannot kill")

    def run_cli_on_node(self, words: list[str]) -> int:
        """Run an ``ipy-oci`` command line on the container's node as a step, with
        our stdin and output (``top``, ``cp``, ``export``, ``stats``: what reads the
        running container's processes, cgroup or mounted root filesystem)."""
        job = self.job
        if not job.node or self.record.state not in State.LIVE:
            raise InvalidState(f"{self.name} is not running on a Slurm node "
                               f"({State.display(self.record.state)})")
        pty = all(os.isatty(fd) for fd in (0, 1))
        argv = [*slurm.srun_step(job.job_id, job.node, f"{STEP_PREFIX}cli-{new_id()[:8]}",
                                 pty=pty), *_node_argv(self.runtime, job.node), *words]
        step = _Step(argv, 0, terminal=True)
        try:
            return step.wait_terminal()
        finally:
            step.close()

    def _signal_quietly(self, sig: int) -> None:
        try:
            self.kill(sig)
        except OciError:
            pass

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop on the node (its stop signal, ``timeout``, SIGKILL); the holder then
        exits and the job ends."""
        self.refresh()
        if self.record.state in State.LIVE:
            t = self.record.config.stop_timeout if timeout is None else timeout
            proc = self._node_command("stop", "--time", str(int(t)), self.id,
                                      timeout=t + 60)
            if proc.returncode != 0 and not self._job_ended():
                raise self._node_error(proc, "cannot stop")
        elif self.record.state in (State.CREATED, State.CONFIGURED) and self.job.job_id:
            slurm.cancel(self.job.job_id)  # an attached run's holder, never attached to
        self._wait_job_end()
        self.refresh()
        return self.record.exit_code

    def _wait_job_end(self, timeout: float = 60.0) -> None:
        job_id = self.job.job_id
        if not job_id:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = slurm.show_job(job_id)
            if info is None or info.ended:
                return
            time.sleep(0.1)

    def pause(self) -> None:
        self._simple("pause")

    def unpause(self) -> None:
        self._simple("unpause")

    def _simple(self, verb: str) -> None:
        self.refresh()
        proc = self._node_command(verb, self.id)
        if proc.returncode != 0:
            raise self._node_error(proc, f"cannot {verb}")

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        next_sync = 0.0
        while True:
            self._reload()
            if self.record.state in (State.EXITED, State.STOPPED):
                return self.record.exit_code
            now = time.monotonic()
            if now >= next_sync:  # Slurm only when the record has not moved for a while
                next_sync = now + 1.0
                with self.lock.held():
                    self._refresh_locked()
                continue
            if deadline is not None and now > deadline:
                return None
            time.sleep(0.1)

    def remove(self, force: bool = False, timeout: float | None = None,
               volumes: bool = False) -> None:
        with self.lock.held():
            self._refresh_locked()
            if self.record.state in State.LIVE and not force:
                raise InvalidState(
                    f"cannot remove container {self.id} as it is "
                    f"{State.display(self.record.state)} - running or paused containers "
                    "cannot be removed without force: container state improper")
        if self.record.state not in (State.EXITED, State.CONFIGURED):
            self.stop(timeout)
        if self.record.config.auto_remove and self.job.node:
            # Its holder removes it on the node once it exited: never both at once.
            self._wait_gone()
            if self.runtime.state.container(self.id) is None:
                self.lock.remove()
                return
        with self.lock.held():
            try:
                self._refresh_locked()
            except NoSuchContainer:
                return  # its --rm holder removed it
            self._remove_locked(volumes=volumes)

    def _remove_locked(self, volumes: bool = False) -> None:
        # Its sessions ended with it on its node (rule 2); their rows are all that
        # is left, and this side cannot judge them by their node-local pids.
        for rec in self.runtime.state.exec_sessions(self.id):
            self.runtime.state.delete_exec_session(rec.id)
        super()._remove_locked(volumes=volumes)

    def cleanup(self, rm: bool = False) -> None:
        self.refresh()
        if rm and self.record.state == State.EXITED:
            self.remove()

    def attach_socket(self) -> Any:
        raise OciError(f"{self.name} runs as a Slurm job on {self.job.node}: its main "
                       "process cannot be attached to from here; open a terminal with "
                       f"'ipy-oci exec -it {self.name} sh' (or follow its logs)")

    def resize(self, rows: int, cols: int) -> None:
        pass  # srun --pty carries the window size of the caller's terminal

    def logs(self, follow: bool = False, poll: float = 0.1) -> Iterator[tuple[str, bytes]]:
        # The log is in the container's directory on the shared root: read it here.
        return super().logs(follow, poll=max(poll, 0.25))


class _DirLock(FileLock):
    """A container's lock file in its own directory: gone with the container."""

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(path)
        self.name = name

    def acquire(self) -> None:
        try:
            super().acquire()
        except FileNotFoundError:
            raise NoSuchContainer(self.name) from None


def prefetch_job_states(rt: Runtime, ctrs: list[Container]) -> None:
    """Before a listing syncs many Slurm containers: one ``squeue`` for all."""
    active = [c for c in ctrs if isinstance(c, SlurmContainer)
              and c.record.state in (*State.ACTIVE, *State.INTENTS)]
    if len(active) < 2:
        return
    jobs = {j.id: j.job_id for j in rt.state.slurm_jobs()}
    try:
        states = slurm.job_states([jobs[c.id] for c in active if jobs.get(c.id)])
    except OciError:
        return  # each asks scontrol itself
    for c in active:
        assert isinstance(c, SlurmContainer)
        c._job_state_hint = states.get(jobs.get(c.id, ""))


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


class _Step:
    """A local ``srun`` running one node command, with our stdin, and its output
    relayed (or, with a terminal, written straight to ours by srun --pty)."""

    def __init__(self, argv: list[str], stdin_fd: int | None, terminal: bool,
                 pty: bool = False) -> None:
        self.terminal = terminal
        self.master: int | None = None
        if pty:
            # srun --pty needs a terminal: ours is a pty whose other end we relay
            # (a Jupyter terminal pane); its size reaches the node through srun.
            self.master, slave = os.openpty()
            import tty

            tty.setraw(slave)  # the node's pty does the line discipline, not ours
            try:
                self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                             start_new_session=True,
                                             preexec_fn=_take_controlling_tty)
            finally:
                os.close(slave)
            self.stdin_fd = stdin_fd
            return
        self.proc = subprocess.Popen(
            argv, stdin=stdin_fd if stdin_fd is not None else subprocess.DEVNULL,
            stdout=None if terminal else subprocess.PIPE,
            stderr=None if terminal else subprocess.PIPE)

    def pump(self, on_output: OutputCallback, stdin_fd: int | None = None,
             detach_keys: bytes = b"", should_stop: Callable[[], bool] | None = None,
             poll_interval: float = 0.2) -> str:
        from ..oci.attach import pump_pipes

        if self.master is not None:
            return self._pump_pty(on_output, should_stop, poll_interval)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        # conmon's stream numbers, as every OutputCallback gets them: 2 out, 3 err.
        return pump_pipes({self.proc.stdout.fileno(): 2, self.proc.stderr.fileno(): 3},
                          _without_srun_noise(on_output), should_stop=should_stop,
                          poll_interval=poll_interval)

    def _pump_pty(self, on_output: OutputCallback, should_stop: Callable[[], bool] | None,
                  poll_interval: float) -> str:
        """Relay the pty: its output to ``on_output``, our stdin fd (a pipe) into it."""
        import selectors

        from ..oci.attach import AttachResult

        assert self.master is not None
        relay = _without_srun_noise(on_output)
        sel = selectors.DefaultSelector()
        sel.register(self.master, selectors.EVENT_READ, "out")
        # Keystrokes wait (in their pipe) for the node's first output: srun flushes
        # its terminal's input when it connects, which would drop them.
        waiting_input = self.stdin_fd
        try:
            while True:
                if should_stop is not None and should_stop():
                    return AttachResult.STOPPED
                for key, _ev in sel.select(poll_interval):
                    try:
                        data = os.read(key.fd, 65536)
                    except OSError:  # EIO: srun closed its side
                        data = b""
                    if key.data == "in":
                        if data:
                            self.write_pty(data)
                        else:
                            sel.unregister(key.fd)
                    elif data:
                        relay(2, data)
                        if waiting_input is not None:
                            sel.register(waiting_input, selectors.EVENT_READ, "in")
                            waiting_input = None
                    else:
                        return AttachResult.EOF
        finally:
            sel.close()

    def write_pty(self, data: bytes) -> None:
        if self.master is None:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]

    def resize(self, rows: int, cols: int) -> None:
        if self.master is not None:
            import fcntl
            import struct
            import termios

            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait_terminal(self) -> int:
        # Ctrl-C is a byte on the node's pty (raw mode); a SIGINT that still reaches
        # us must not end the wait with srun half-way.
        while True:
            try:
                return self.wait()
            except KeyboardInterrupt:
                continue

    def wait(self) -> int:
        rc = self.proc.wait()
        return 128 - rc if rc < 0 else rc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
        if self.master is not None:
            os.close(self.master)
            self.master = None


def _take_controlling_tty() -> None:
    """In the child, after setsid: make its stdin (our pty) its controlling terminal."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _without_srun_noise(on_output: OutputCallback) -> OutputCallback:
    """srun's own lines about a task's exit code repeat what the result says."""
    def relay(stream: int, data: bytes) -> None:
        if data.startswith(b"srun: error: ") and b"Exited with exit code" in data \
                and data.count(b"\n") <= 1:
            return
        on_output(stream, data)
    return relay


# -- exec sessions of a Slurm container ----------------------------------------------------
class SlurmExec(ExecSession):
    """An exec session of a Slurm container, seen from the login side. Its row is
    made here (owner: this client); a step on the node runs ``container
    slurm-exec``, which adopts the row (owner: that node process, judged only on
    its node) and runs the real session there."""

    remote = True

    def __init__(self, rt: Runtime, record: ExecRecord, ctr: SlurmContainer | None = None
                 ) -> None:
        super().__init__(rt, record)
        self._container = ctr
        self._step: _Step | None = None

    @classmethod
    def create(cls, ctr: Container, config: ExecConfig, owner_kernel: str = "",
               session_id: str = "") -> ExecSession:
        if config.preserve_fds:
            raise UsageError("--preserve-fds cannot pass descriptors to a Slurm node")
        ctr.refresh()
        if ctr.record.state not in State.LIVE:
            raise InvalidState(f"can only create exec sessions on running containers: "
                               f"container {ctr.id} is not running: container state improper")
        sess = super().create(ctr, config, owner_kernel, session_id)
        assert isinstance(sess, SlurmExec) and isinstance(ctr, SlurmContainer)
        sess._container = ctr
        return sess

    @property
    def container(self) -> SlurmContainer:
        if self._container is None:
            ctr = self.runtime.lookup_container(self.record.container_id)
            assert isinstance(ctr, SlurmContainer)
            self._container = ctr
        return self._container

    @property
    def step_name(self) -> str:
        return f"{STEP_PREFIX}exec-{self.id[:12]}"

    def __repr__(self) -> str:
        return f"<SlurmExec {self.id[:12]} {self.record.state} on {self.container.name}>"

    def sync(self) -> ExecSession:
        """The row the node writes; a running one whose step is gone (its node
        process was killed with it) is over: the holder's pass reaps it there."""
        self.reload()
        if self.record.state == ExecState.RUNNING and self._step is None \
                and self.container._job_ended():
            self.runtime.state.mark_exec_stopped(self.id, -1, time.time())
            self.reload()
        return self

    def _argv(self, detach: bool, pty: bool, keep: bool = False) -> list[str]:
        job = self.container.job
        return [*slurm.srun_step(job.job_id, job.node, self.step_name, pty=pty),
                *_node_argv(self.runtime, job.node), "container", "slurm-exec",
                *(["--detach"] if detach else []), *(["--keep"] if keep else []),
                self.id, self.container.id]

    def start(self) -> None:
        """Detached: the node starts the session and the step returns."""
        self._require(ExecState.CREATED, "started")
        proc = subprocess.run(self._argv(True, False), stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
        if proc.returncode != 0:
            self._forget()
            raise self.container._node_error(proc, "cannot exec in")
        self.reload()

    def _forget(self) -> None:
        """A session that never ran on its node leaves no row behind."""
        rec = self.runtime.state.exec_session(self.id)
        if rec is not None and rec.state == ExecState.CREATED:
            self.runtime.state.delete_exec_session(self.id)

    def run_in_terminal(self) -> int:
        """The CLI's ``exec -it``: srun --pty on our own terminal."""
        self._require(ExecState.CREATED, "started")
        step = _Step(self._argv(False, True), None, terminal=True)
        try:
            return step.wait_terminal()
        finally:
            step.close()
            self._forget()

    def start_and_attach(
        self,
        on_output: OutputCallback,
        stdin_fd: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        interrupt_grace: float = 2.0,
        on_started: Callable[[ExecSession], None] | None = None,
        remove: bool = False,
    ) -> ProcessResult:
        """Run the session's step, relaying its output; with a terminal (the Jupyter
        server's panes) srun gets a pty of ours (``srun --pty``)."""
        self._require(ExecState.CREATED, "started")
        cfg = self.record.config
        result = ProcessResult(kind="exec", container_id=self.container.id,
                               container_name=self.container.name, session_id=self.id,
                               command=list(cfg.command), started_at=time.time())
        # A terminal's keystrokes are its input, -i or not (a server pane's stdin).
        step = _Step(self._argv(False, cfg.tty, keep=not remove),
                     stdin_fd if cfg.attach_stdin or cfg.tty else None, terminal=False,
                     pty=cfg.tty)
        self._step = step
        try:
            if on_started is not None:
                on_started(self)
            out = attach_until_exit(step.pump, on_output, signal=partial(self.signal),
                                    stop=lambda grace: self.stop(grace),
                                    should_stop=should_stop, interrupt_grace=interrupt_grace)
            result.interrupted = out.interrupted
            code = step.wait()
        except BaseException:
            self.stop(0)  # the client failed mid-stream: the session must not outlive it
            raise
        finally:
            step.close()
            self._step = None
            self._forget()
        if code != 0 and self.container._job_ended():
            raise InvalidState(f"container {self.container.name} stopped (its Slurm job "
                               "ended) while the exec session ran")
        rec = self.runtime.state.exec_session(self.id)
        if rec is not None:
            self.record = rec
        self.record.exit_code = result.exit_code = code
        self.record.state = ExecState.STOPPED
        result.finished_at = time.time()
        return result

    def write_stdin(self, data: bytes) -> None:
        if self._step is not None:
            self._step.write_pty(data)

    def _step_id(self) -> str | None:
        return slurm.steps(self.container.job.job_id).get(self.step_name)

    def signal(self, sig: int, group: bool = True) -> bool:
        """Signal the session's step (its node process forwards INT and turns TERM
        into the session's stop); ``signal(0)`` tells whether the step runs."""
        step = self._step_id()
        if step is None:
            return False
        if sig == 0:
            return True
        return slurm.cancel(step, signal=_signal.Signals(sig).name.removeprefix("SIG"))

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM to the step (the node stops and reaps the session), then, after
        ``timeout``, cancel the step (SIGKILL)."""
        step = self._step_id()
        if step is not None:
            slurm.cancel(step, signal="TERM")
            wait = self.runtime.config.exec_stop_timeout if timeout is None else timeout
            deadline = time.monotonic() + wait + 5.0
            while time.monotonic() < deadline and self._step_id() is not None:
                if self._step is not None and self._step.proc.poll() is not None:
                    break
                time.sleep(0.05)
            if self._step_id() is not None:
                slurm.cancel(step)
        try:
            self.reload()
        except OciError:
            pass
        return self.record.exit_code

    def resize(self, rows: int, cols: int) -> None:
        if self._step is not None:
            self._step.resize(rows, cols)  # srun --pty carries it to the node

    def cleanup(self) -> None:
        pass  # its files are on the node, removed there

    def attach_socket(self) -> Any:
        raise InvalidState(f"exec session {self.id[:12]} runs on Slurm node "
                           f"{self.container.job.node}: only its own client streams it")


def end_remote_sessions(rt: Runtime, gone: Callable[[ExecRecord], bool]) -> list[str]:
    """Reaping across the cluster: the Slurm exec steps of sessions whose owner is
    ``gone`` (a kernel that died or shut down) get SIGTERM, which their node process
    turns into the session's stop and reap (a step that does not end is cancelled
    by Slurm's own KillWait when its job ends)."""
    reaped: list[str] = []
    for job in rt.state.slurm_jobs():
        if not job.job_id or not job.node or job.node == rt.config.slurm_node:
            continue
        sessions = [s for s in rt.state.exec_sessions(job.id)
                    if s.state == ExecState.RUNNING and gone(s)]
        if not sessions:
            continue
        steps = slurm.steps(job.job_id)
        for sess in sessions:
            step = steps.get(f"{STEP_PREFIX}exec-{sess.id[:12]}")
            if step is not None:
                slurm.cancel(step, signal="TERM")
                reaped.append(sess.id)
    return reaped


def _sweep_node(rt: Runtime, ctr_id: str, node: str) -> None:
    """A job that ended without its holder recording the exit may have left conmon
    and the container on the node (they are outside the job's process tree): a short
    job there stops and cleans them up."""
    argv = [slurm.srun_tool(), "-w", node, "-N1", "-n1", "--quiet",
            "-J", f"{STEP_PREFIX}sweep", *_node_argv(rt, node), "container",
            "slurm-sweep", ctr_id]
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                       check=False)
    except subprocess.TimeoutExpired:
        pass


# -- the node side ---------------------------------------------------------------------------
def record_node(rt: Runtime, ctr_id: str) -> None:
    """The holder, first thing on its node: where the container runs."""
    job = rt.state.slurm_job(ctr_id)
    if job is None:
        raise NoSuchContainer(ctr_id)
    rt.state.update(job, node=rt.config.slurm_node, node_runroot=str(rt.runroot),
                    job_id=os.environ.get("SLURM_JOB_ID", job.job_id),
                    partition=os.environ.get("SLURM_JOB_PARTITION", job.partition),
                    job_state="RUNNING")


def hold(rt: Runtime, ctr: Container, attached: bool) -> int:
    """The job's foreground process on the node: run the container, stop it on
    SIGTERM within Slurm's KillWait, reap its exec sessions' dead clients, and exit
    with its exit code."""
    terminate = {"at": 0.0}

    def on_term(_sig: int, _frame: object) -> None:
        terminate["at"] = terminate["at"] or time.monotonic()

    _signal.signal(_signal.SIGTERM, on_term)
    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # Slurm signals the whole step
    _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
    if attached:
        ctr.init(exit_delay=rt.config.attached_exit_delay)
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while ctr.state == State.CREATED and not terminate["at"]:
            if time.monotonic() > deadline:
                ctr.start()  # nobody attached (its client died): it runs all the same
                break
            time.sleep(_POLL)
            ctr.refresh()
    else:
        ctr.start()
    grace = max(0.0, slurm.kill_wait() - CLEANUP_MARGIN)
    next_reap = time.monotonic() + REAP_INTERVAL
    exit_file = ctr.oci.exit_file_path(ctr.id)
    from ..oci.fsutil import wait_for_file

    code: int | None = None
    while True:
        try:
            if terminate["at"]:
                if ctr.record.state in (*State.LIVE, State.CREATED):
                    # (A created one, never attached to, is deleted from the runtime.)
                    ctr.stop(timeout=min(float(ctr.record.config.stop_timeout), grace))
                break
            ctr.refresh()
        except NoSuchContainer:
            break  # removed by the attached step (--rm), which read its code
        code = ctr.record.exit_code
        if ctr.record.state not in (*State.LIVE, State.CREATED, State.STOPPING):
            break
        if time.monotonic() >= next_reap:
            rt.touch(ctr)
            next_reap = time.monotonic() + REAP_INTERVAL
        wait_for_file(exit_file, 0.2)
    return _finish(rt, ctr, code)


def _finish(rt: Runtime, ctr: Container, code: int | None) -> int:
    """Clean up after the exit; the job's exit code is the container's."""
    try:
        ctr.refresh()
    except NoSuchContainer:
        return _job_code(code)
    code = ctr.record.exit_code
    if ctr.record.config.auto_remove and ctr.record.state == State.EXITED:
        # An attached step reading the exit code removes it itself.
        ctr._wait_for_attached_client(rt.config.attached_client_grace)
        try:
            ctr.remove()
        except NoSuchContainer:
            pass
    return _job_code(code)


def _job_code(code: int | None) -> int:
    return 0 if code is None or code < 0 else min(code, 255)


def sweep(rt: Runtime, ctr: Container) -> None:
    """``container slurm-sweep``: after a holder was killed, end what it left."""
    try:
        ctr.refresh()
        if ctr.record.state in State.ACTIVE:
            ctr.stop(timeout=0)
        ctr.refresh()
    except NoSuchContainer:
        return
    if ctr.record.config.auto_remove:
        ctr.remove(force=True, timeout=0)


def exec_on_node(rt: Runtime, ctr: Container, session_id: str, detach: bool,
                 keep: bool = False) -> int:
    """``container slurm-exec``: adopt the session its login-side client created and
    run it here, attached to this step's stdin and output (with ``-t``: srun's pty,
    put in raw mode, its size passed on). SIGINT (``scancel --signal=INT``) is
    forwarded as a terminal's Ctrl-C; SIGTERM stops and reaps the session."""
    from ..state.procs import identity

    sess = rt.lookup_exec(session_id)
    if sess.record.container_id != ctr.id:
        raise UsageError(f"exec session {session_id[:12]} is not {ctr.name}'s")
    sess._require(ExecState.CREATED, "started")
    pid, start = identity()
    rt.state.update(sess.record, owner_pid=pid, owner_start=start)  # judged on this node
    if detach:
        sess.start()
        return 0
    stop_requested = _stop_on_term()
    config = sess.record.config
    stdin_fd = sys.stdin.fileno() if config.attach_stdin or config.tty else None
    with _node_terminal(sess.resize if config.tty else None) as started:
        res = sess.start_and_attach(_write_stream, stdin_fd=stdin_fd,
                                    should_stop=stop_requested, remove=not keep,
                                    on_started=lambda _s: started())
    code = res.exit_code
    return 125 if code is None or code < 0 else min(code, 255)


def _stop_on_term() -> Callable[[], bool]:
    """A node half's ``should_stop``: Slurm's SIGTERM (or a hangup) to the step asks
    for the ordinary stop and reap, not a death that leaves the process running."""
    asked = threading.Event()
    for sig in (_signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, lambda _s, _f: asked.set())
    return asked.is_set


@contextmanager
def _node_terminal(resize: Callable[[int, int], None] | None) -> Iterator[Callable[[], None]]:
    """srun --pty gave this step a terminal: raw (the container's own pty does the
    line discipline), and its size, now and on every SIGWINCH, passed to ``resize``
    once the process runs (call the yielded function then)."""
    import termios
    import tty

    if resize is None or not os.isatty(0):
        yield lambda: None
        return
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    running = {"yes": False}

    def apply(*_args: object) -> None:
        if not running["yes"]:
            return
        size = os.get_terminal_size(0)
        if size.lines and size.columns:
            try:
                resize(size.lines, size.columns)
            except OciError:
                pass

    def started() -> None:
        running["yes"] = True
        apply()

    old = _signal.signal(_signal.SIGWINCH, apply)
    try:
        yield started
    finally:
        _signal.signal(_signal.SIGWINCH, old)
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


def attach_on_node(rt: Runtime, ctr: Container, remove: bool) -> int:
    """``container slurm-attach``: start the container the holder created and stream
    it to this step (an attached ``run``'s node half). SIGTERM stops it."""
    stop_requested = _stop_on_term()

    cfg = ctr.record.config
    stdin_fd = sys.stdin.fileno() if cfg.stdin else None
    with _node_terminal(ctr.resize if cfg.tty else None) as started:
        res = ctr.run_attached(_write_stream, stdin_fd=stdin_fd,
                               should_stop=stop_requested, remove=remove,
                               already_init=True, on_started=lambda _c: started())
    code = res.exit_code
    return 125 if code is None or code < 0 else min(code, 255)


def _write_stream(stream: int, data: bytes) -> None:
    """The node half's output, on the step's stdout (stream 2) or stderr (3)."""
    view = memoryview(data)
    fd = 2 if stream == 3 else 1
    while view:
        view = view[os.write(fd, view):]
