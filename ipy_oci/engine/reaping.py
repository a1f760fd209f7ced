"""Reaping exec sessions: one entry point per trigger (docs/ARCHITECTURE.md, "Reaping").

| trigger                         | entry point                  |
|---------------------------------|------------------------------|
| a container stops or exits      | ``on_container_exit``        |
| a container is removed          | ``remove_all_exec_sessions`` |
| a client dies                   | ``reap_dead_clients``        |
| a kernel goes away              | ``reap_kernel``              |
| a cell is interrupted           | ``stop_interrupted``         |
| ``system reap``                 | ``system_reap``              |
| the age prune                   | ``prune_exec_sessions``      |

Front ends call these (through ``Runtime``) and nothing else. Underneath, rule 1
(status comes from the runtime) is ``sync_session``, and
``get_active_exec_sessions`` syncs a container's sessions whenever one looks.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import NoSuchContainer, NoSuchExecSession
from ..oci.fsutil import wait_for_file
from ..state.procs import is_alive, signal_process, wait_gone
from ..state.records import ExecRecord, ExecState, State
from .events import exec_event
from .exec_session import ExecSession

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime


# -- rule 1: status comes from the runtime ------------------------------------------
def sync_session(rt: Runtime, sess: ExecSession, wait: float = 0.5) -> None:
    """A running session whose process is gone becomes stopped, its files removed."""
    rec = sess.record
    # A live attached client is streaming from this session's conmon: it records
    # the exit and removes the files itself, so others only record state.
    client_streaming = rec.attached and is_alive(rec.owner_pid, rec.owner_start) \
        and rec.owner_pid != os.getpid()
    if rec.state != ExecState.RUNNING:
        if rec.state == ExecState.STOPPED and sess.bundle.exists() and not client_streaming:
            sess.cleanup()
        return
    oci = sess.oci
    conmon_alive = is_alive(rec.conmon_pid, rec.conmon_start)
    if oci.exec_update_status(rec.container_id, rec.id, rec.pid, rec.pid_start):
        if conmon_alive:
            return
        # Its conmon is gone (killed): nobody can attach to it or record its exit,
        # so the process is ended rather than left running unmonitored.
        if signal_process(rec.pid, rec.pid_start, signal.SIGKILL):
            wait_gone(rec.pid, rec.pid_start, 1.0)
    exit_file = oci.exec_exit_file_path(rec.container_id, rec.id)
    # conmon writes the exit file a moment after the process ends, if it is alive
    # (a foreground session has no exit dir: its runtime never writes one).
    if not exit_file.exists() and conmon_alive and exit_file.parent.is_dir():
        wait_for_file(exit_file, wait)
    code = oci.read_exec_exit_code(rec.container_id, rec.id)
    if code is None:
        code = -1  # conmon died too (e.g. SIGKILLed): the real code is unknowable
    # Record first, then remove the files: a second process syncing at the same
    # time would otherwise find neither the exit file nor the process and record -1.
    if rt.state.mark_exec_stopped(rec.id, code, time.time()):
        exec_event(sess, "exec_died", code)
    if not client_streaming:
        sess.cleanup()
    try:
        sess.reload()
    except NoSuchExecSession:
        rec.state = ExecState.STOPPED  # removed meanwhile by its own client
        rec.exit_code = code


def _sessions(rt: Runtime, records: Iterable[ExecRecord]) -> list[ExecSession]:
    """Sessions this process may judge: those of a Slurm container on another node
    have node-local pids, so only their node (or their step: engine/slurm.py) can."""
    from .slurm_placement import judged_here

    judge = judged_here(rt)
    return [ExecSession(rt, r) for r in records if judge(r)]


def _owner_gone(rec: ExecRecord) -> bool:
    return not is_alive(rec.owner_pid, rec.owner_start)


def _client_gone(rec: ExecRecord) -> bool:
    """An attached session whose client (its owner process) is gone: rule 4."""
    return rec.attached and _owner_gone(rec)


def get_active_exec_sessions(rt: Runtime, container_id: str) -> list[ExecSession]:
    """The container's running sessions, synced first; orphans are reaped on the way."""
    live = []
    for sess in _sessions(rt, rt.state.exec_sessions(container_id,
                                                      states=(ExecState.RUNNING,))):
        if _client_gone(sess.record):
            reap_session(rt, sess, remove=True)
            continue
        sync_session(rt, sess)
        if sess.state == ExecState.RUNNING:
            live.append(sess)
    return live


def reap_session(rt: Runtime, sess: ExecSession, remove: bool, timeout: float = 0) -> None:
    """Stop (signal, timeout, SIGKILL), record the exit, remove files and maybe the row."""
    rec = sess.record
    oci = sess.oci
    if rec.state == ExecState.RUNNING and oci.exec_update_status(
            rec.container_id, rec.id, rec.pid, rec.pid_start):
        oci.exec_stop_container(rec.container_id, rec.id, rec.pid, rec.pid_start, timeout)
    elif rec.state == ExecState.CREATED:
        _kill_unrecorded_process(rt, sess)
    sync_session(rt, sess, wait=2.0)
    sess.cleanup()
    if remove:
        rt.state.delete_exec_session(rec.id)


def _kill_unrecorded_process(rt: Runtime, sess: ExecSession) -> None:
    """A starter that died between spawning and recording the pid leaves processes
    the row does not name. First its monitor (conmon, or runc in the foreground),
    found by the session id in its command line, so nothing starts after this;
    then the process runc's pid file names, trusted only if it lives in this
    container's rootfs (a recycled pid would not)."""
    sess.oci.kill_monitors(sess.id)
    try:
        pid = int((sess.bundle / "pidfile").read_text().strip())
        root = os.readlink(f"/proc/{pid}/root")
    except (OSError, ValueError):
        return
    ctr = rt.state.container(sess.record.container_id)
    if ctr is not None and ctr.rootfs and root == ctr.rootfs:
        signal_process(pid, 0, signal.SIGKILL, group=True)


# -- the triggers ---------------------------------------------------------------------
def on_container_exit(rt: Runtime, ctr: Container) -> None:
    """A container stopped or exited (rule 2): its sessions' processes are gone with
    it; their exit codes are recorded and their files removed. Container lock held."""
    for sess in _sessions(rt, rt.state.exec_sessions(ctr.id)):
        reap_session(rt, sess, remove=False)


def remove_all_exec_sessions(rt: Runtime, ctr: Container) -> None:
    """A container is being removed (rule 3): live sessions are stopped (stop signal,
    the exec stop timeout, SIGKILL), then every session goes. Container lock held."""
    timeout = rt.config.exec_stop_timeout
    for sess in _sessions(rt, rt.state.exec_sessions(ctr.id)):
        reap_session(rt, sess, remove=True,
                     timeout=timeout if sess.state == ExecState.RUNNING else 0)


def reap_dead_clients(rt: Runtime, container_id: str | None = None,
                      running_kernels: set[str] | None = None) -> list[str]:
    """A client died (rule 4): its attached sessions are stopped and removed.

    With ``running_kernels`` (the server knows which kernels run), every session,
    detached ones too, of a kernel that is not running and whose process is gone
    is reaped as well. Returns the reaped session ids.
    """
    reaped = []
    for sess in _sessions(rt, rt.state.exec_sessions(container_id)):
        rec = sess.record
        kernel_gone = (running_kernels is not None and bool(rec.owner_kernel)
                       and rec.owner_kernel not in running_kernels and _owner_gone(rec))
        if kernel_gone or (rec.state == ExecState.RUNNING and _client_gone(rec)):
            try:
                reap_session(rt, sess, remove=True)
            except NoSuchExecSession:
                continue
            reaped.append(rec.id)
    if running_kernels is not None:
        from .slurm_exec import end_remote_sessions

        reaped += end_remote_sessions(
            rt, lambda r: bool(r.owner_kernel) and r.owner_kernel not in running_kernels)
    return reaped


def reap_kernel(rt: Runtime, kernel_id: str = "", pid: int = 0,
                timeout: float | None = None, restarted: bool = False,
                created_before: float | None = None) -> list[str]:
    """A kernel (or, without an id, a process) goes away: stop and remove what it owns.

    Its sessions get SIGTERM all at once and share one ``timeout`` (a kernel being
    shut down has seconds, not one stop timeout per session), then SIGKILL; its
    ``--rm`` containers (created before ``created_before``) are removed too. After
    a ``restarted`` kernel the id lives on in a new process: only sessions whose
    owner process is gone are reaped. Returns the reaped session ids.
    """
    records = rt.state.exec_sessions(owner_kernel=kernel_id) if kernel_id \
        else rt.state.exec_sessions(owner_pid=pid)
    if kernel_id and not restarted:
        from .slurm_exec import end_remote_sessions

        end_remote_sessions(rt, lambda r: r.owner_kernel == kernel_id)
    sessions = _sessions(rt, (r for r in records if not (restarted and not _owner_gone(r))))
    wait = rt.config.exec_stop_timeout if timeout is None else timeout
    live = [s for s in sessions if s.state == ExecState.RUNNING and s.signal(0)]
    if wait > 0 and live:
        for sess in live:
            sess.signal(signal.SIGTERM)
        deadline = time.monotonic() + wait
        while live and time.monotonic() < deadline:
            time.sleep(0.02)
            live = [s for s in live if s.signal(0)]
    for sess in sessions:
        try:
            reap_session(rt, sess, remove=True, timeout=0)
        except NoSuchExecSession:
            pass
    if kernel_id:
        for rec in rt.state.containers(owner_kernel=kernel_id):
            if rec.config.auto_remove and (created_before is None
                                           or rec.created_at < created_before):
                try:
                    rt.container(rec).remove(force=True, timeout=0)
                except NoSuchContainer:
                    pass
    return [s.id for s in sessions]


def stop_interrupted(sess: ExecSession, grace: float) -> None:
    """A cell (or an attached client) was interrupted: its process group had SIGINT;
    now the stop signal, ``grace`` seconds, then SIGKILL. The attached caller
    records the exit and removes the session once its stream has ended."""
    rec = sess.record
    sess.oci.exec_stop_container(rec.container_id, rec.id, rec.pid, rec.pid_start, grace)


def prune_exec_sessions(rt: Runtime, age: float | None = None,
                        container_id: str | None = None) -> list[str]:
    """The age prune (rule 6): finished sessions past ``age`` seconds go, and debris:
    finished attached sessions whose client is gone, and sessions created but never
    started by an owner that is gone."""
    cutoff = time.time() - (rt.config.exec_prune_age if age is None else age)
    pruned = []
    for sess in _sessions(rt, rt.state.exec_sessions(
            container_id, states=(ExecState.STOPPED, ExecState.CREATED))):
        rec = sess.record
        if rec.state == ExecState.CREATED and not _owner_gone(rec):
            continue  # its owner may still start it
        if rec.state == ExecState.CREATED or rec.finished_at < cutoff or _client_gone(rec):
            reap_session(rt, sess, remove=True)
            pruned.append(sess.id)
    return pruned


def touch_sessions(rt: Runtime, container_id: str | None = None) -> None:
    """The pass every command that touches a container (or, with None, every
    container: ``ps``) runs: sync on look, dead clients, the age prune."""
    if container_id is not None:
        get_active_exec_sessions(rt, container_id)
    else:
        reap_dead_clients(rt)
        for sess in _sessions(rt, rt.state.exec_sessions(states=(ExecState.RUNNING,))):
            sync_session(rt, sess)
    prune_exec_sessions(rt, container_id=container_id)


@dataclass
class ReapReport:
    containers_synced: int = 0
    orphans_reaped: list[str] = field(default_factory=list)
    sessions_synced: int = 0
    pruned: list[str] = field(default_factory=list)
    removed_containers: list[str] = field(default_factory=list)


def system_reap(rt: Runtime, prune_age: float | None = None,
                running_kernels: set[str] | None = None) -> ReapReport:
    """``system reap`` (and the server's periodic pass): sync every container, reap
    dead clients' sessions, sync the rest, prune old ones, and remove ``--rm``
    containers whose attached client died before removing them."""
    report = ReapReport()
    containers = rt.containers(all=True, sync=True)
    report.containers_synced = len(containers)
    report.orphans_reaped = reap_dead_clients(rt, running_kernels=running_kernels)
    for sess in _sessions(rt, rt.state.exec_sessions(states=(ExecState.RUNNING,))):
        report.sessions_synced += 1
        sync_session(rt, sess)
    report.pruned = prune_exec_sessions(rt, prune_age)
    for ctr in containers:
        if ctr.state == State.EXITED and ctr.record.config.auto_remove:
            try:
                ctr.cleanup(rm=True)
            except NoSuchContainer:
                continue
            if rt.state.container(ctr.id) is None:
                report.removed_containers.append(ctr.id)
    from .networks import recover

    # Networks set up for containers that are not live (a cleanup that died): only
    # those live now, or being initialized or started by a live process, keep theirs.
    keep = {r.id for r in rt.state.containers()
            if r.state in (*State.ACTIVE, *State.INTENTS)}
    recover(rt, keep)
    sweep_stale_locks(rt)
    return report


def sweep_stale_locks(rt: Runtime) -> list[str]:
    """Lock files (``<runroot>/locks/ID.lock|.attach|.stop``) of containers that no
    longer exist, left by a process killed between taking a lock and finding the
    container gone (locks are only taken on a container whose record exists, so one
    without a record is never needed again); those nobody holds. Their names."""
    import fcntl

    known = {r.id for r in rt.state.containers()}
    removed = []
    try:
        entries = list(os.scandir(rt.locks_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        cid, dot, kind = entry.name.partition(".")
        if not dot or kind not in ("lock", "attach", "stop") or cid in known:
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: its holder will deal with it
        else:
            os.unlink(entry.path)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed
