"""Containers as Slurm jobs (``run --slurm``): see docs/SCALE.md.

The container runs in its job's foreground on a compute node: the job's batch
script is ``ipy-oci container slurm-hold`` (engine/slurm_node.py), which runs the
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

This module is the login side's view; its exec sessions are engine/slurm_exec.py,
what both sides share engine/slurm_placement.py, the local srun engine/slurm_step.py.
"""

from __future__ import annotations

import os
import signal as _signal
import subprocess
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import slurm
from ..errors import InvalidState, NoSuchContainer, OciError, UsageError
from ..state.locks import FileLock
from ..state.records import (
    SlurmJobRecord,
    State,
)
from .attached import OutputCallback, ProcessResult, attach_until_exit
from .container import Container
from .names import new_id
from .slurm_placement import (
    POLL,
    START_TIMEOUT,
    STEP_PREFIX,
    job_script,
    node_argv,
)
from .slurm_step import Step

if TYPE_CHECKING:
    from .runtime import Runtime


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
    _slurm_checked = 0.0  # monotonic time this object last asked Slurm

    def _refresh_locked(self) -> None:
        self._reload()
        if self.record.state not in (*State.ACTIVE, *State.INTENTS):
            return
        job = self.job
        if not job.job_id:
            return  # being submitted
        hint, self._job_state_hint = self._job_state_hint, None
        if hint is not None and hint not in slurm.ENDED_STATES:
            return  # running (or, with UNREACHABLE, unknown: the record stands)
        # While its holder lives the record is the truth; Slurm is only asked whether
        # the holder died, and not on every look of a follower (logs -f, wait).
        now = time.monotonic()
        if hint is None and now - self._slurm_checked < SLURM_RECHECK:
            return
        self._slurm_checked = now
        try:
            info = slurm.show_job(job.job_id)
        except slurm.SlurmError:
            return  # Slurm cannot be asked now: the record stands until it can
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
            sweep_node(self.runtime, self.id, job.node)
            self._reload()
            if self.record.state not in (*State.ACTIVE, *State.INTENTS):
                return
        self._save(state=State.EXITED, exit_code=-1 if code is None else code,
                   finished_at=time.time(), pid=0, conmon_pid=0)
        self.runtime.state.update(job, job_state=info.state if info else "GONE",
                                  reason=info.reason if info else "")

    def job_ended(self) -> bool:
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
        submitted = time.time()
        self._submit(attached=False)
        # Running, or already over: but this run's, not the exit of the one before.
        self._wait_for(lambda st: st in State.LIVE or (
            st in (State.STOPPED, State.EXITED) and self.record.started_at >= submitted))

    def _submit(self, attached: bool) -> None:
        rt = self.runtime
        job = self.job
        if job.job_id and not self.job_ended():
            raise InvalidState(f"{self.name} already has Slurm job {job.job_id}")
        # The holder's stderr lands beside the container (the storage root is shared),
        # so a job that fails before the container runs can say why.
        self.dir.mkdir(mode=0o700, exist_ok=True)
        err = self.dir / "slurm-job.err"
        err.unlink(missing_ok=True)
        rt.state.update(job, job_id="", node="", job_state="PENDING", reason="",
                        submitted_at=time.time())
        job_id = slurm.submit(job_script(rt, self.id, attached),
                              [f"--error={err}", *self.record.config.slurm_opts],
                              job_name=f"{STEP_PREFIX}{self.name}")
        # Only the id: the holder may already have recorded its node (a fast start).
        rt.state.update(job, job_id=job_id)

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
            time.sleep(POLL)

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
                *node_argv(self.runtime, job.node), "container", "slurm-attach",
                *(["--rm"] if remove else []), self.id]
        result = ProcessResult(kind="run", container_id=self.id, container_name=self.name,
                               command=list(self.record.config.command),
                               started_at=time.time())
        step = Step(argv, stdin_fd, terminal)
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
            time.sleep(POLL)

    # -- control: each is a step on the node ----------------------------------------------
    def _node_command(self, *args: str,
                      timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
        job = self.job
        name = f"{STEP_PREFIX}{args[0]}-{new_id()[:8]}"
        argv = [*slurm.srun_step(job.job_id, job.node, name),
                *node_argv(self.runtime, job.node), *args]
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise OciError(f"{args[0]} of {self.name} on Slurm node {job.node} did not "
                           f"finish within {timeout:.0f} s") from None

    def node_error(self, proc: subprocess.CompletedProcess[bytes], verb: str) -> OciError:
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
        if proc.returncode != 0 and not self.job_ended():
            raise self.node_error(proc, "cannot kill")

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
                                 pty=pty), *node_argv(self.runtime, job.node), *words]
        step = Step(argv, 0, terminal=True)
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
            if proc.returncode != 0 and not self.job_ended():
                raise self.node_error(proc, "cannot stop")
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
            raise self.node_error(proc, f"cannot {verb}")

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


UNREACHABLE = "UNREACHABLE"  # a hint: Slurm did not answer this listing
# Seconds between one object's own questions to Slurm about its job.
SLURM_RECHECK = 2.0


def prefetch_job_states(rt: Runtime, ctrs: list[Container]) -> None:
    """Before a listing syncs many Slurm containers: one ``squeue`` for all."""
    active = [c for c in ctrs if isinstance(c, SlurmContainer)
              and c.record.state in (*State.ACTIVE, *State.INTENTS)]
    if len(active) < 2:
        return
    jobs = {j.id: j.job_id for j in rt.state.slurm_jobs()}
    try:
        states = slurm.job_states([jobs[c.id] for c in active if jobs.get(c.id)])
    except slurm.SlurmError:
        states = None  # unreachable: nobody asks again in this listing
    for c in active:
        assert isinstance(c, SlurmContainer)
        c._job_state_hint = UNREACHABLE if states is None else states.get(jobs.get(c.id, ""))


def sweep_node(rt: Runtime, ctr_id: str, node: str) -> None:
    """A job that ended without its holder recording the exit may have left conmon
    and the container on the node (they are outside the job's process tree): a short
    job there stops and cleans them up."""
    argv = [slurm.srun_tool(), "-w", node, "-N1", "-n1", "--quiet",
            "-J", f"{STEP_PREFIX}sweep", *node_argv(rt, node), "container",
            "slurm-sweep", ctr_id]
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                       check=False)
    except subprocess.TimeoutExpired:
        pass

