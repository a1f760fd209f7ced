"""Exec sessions of Slurm containers seen from the login side (``SlurmExec``) and
the reaping of those whose kernel is gone: both act on the session's job step."""

from __future__ import annotations

import signal as _signal
import subprocess
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from .. import slurm
from ..errors import InvalidState, OciError, UsageError
from ..state.records import (
    ExecConfig,
    ExecRecord,
    ExecState,
    State,
)
from .attached import OutputCallback, ProcessResult, attach_until_exit
from .container import Container
from .exec_session import ExecSession
from .slurm import SlurmContainer
from .slurm_placement import STEP_PREFIX, node_argv
from .slurm_step import Step

if TYPE_CHECKING:
    from .runtime import Runtime


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
        self._step: Step | None = None

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
                and self.container.job_ended():
            self.runtime.state.mark_exec_stopped(self.id, -1, time.time())
            self.reload()
        return self

    def _argv(self, detach: bool, pty: bool, keep: bool = False) -> list[str]:
        job = self.container.job
        return [*slurm.srun_step(job.job_id, job.node, self.step_name, pty=pty),
                *node_argv(self.runtime, job.node), "container", "slurm-exec",
                *(["--detach"] if detach else []), *(["--keep"] if keep else []),
                self.id, self.container.id]

    def start(self) -> None:
        """Detached: the node starts the session and the step returns."""
        self._require(ExecState.CREATED, "started")
        proc = subprocess.run(self._argv(True, False), stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
        if proc.returncode != 0:
            self._forget()
            raise self.container.node_error(proc, "cannot exec in")
        self.reload()

    def _forget(self) -> None:
        """A session that never ran on its node leaves no row behind."""
        rec = self.runtime.state.exec_session(self.id)
        if rec is not None and rec.state == ExecState.CREATED:
            self.runtime.state.delete_exec_session(self.id)

    def run_in_terminal(self) -> int:
        """The CLI's ``exec -it``: srun --pty on our own terminal."""
        self._require(ExecState.CREATED, "started")
        step = Step(self._argv(False, True), None, terminal=True)
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
        step = Step(self._argv(False, cfg.tty, keep=not remove),
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
        if code != 0 and self.container.job_ended():
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

