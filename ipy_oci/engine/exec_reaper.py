"""Reaping exec sessions: the rules of DESIGN.md, in one place.

1. Status comes from the runtime (exit file, process identity), synced on look.
2. A container that stops takes its sessions with it.
3. Removal removes every session.
4. An attached session whose owner is gone is stopped and reaped.
6. Stopped detached sessions are pruned after an age.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import NoSuchContainer, NoSuchExecSession
from ..oci.fsutil import wait_for_file
from ..state.procs import is_alive, signal_process
from .exec_records import ExecRecord, ExecState
from .exec_session import ExecSession

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime


def sync_session(rt: Runtime, sess: ExecSession, wait: float = 0.5) -> None:
    """Rule 1: a running session whose process is gone becomes stopped, files removed."""
    rec = sess.record
    # A live attached client is streaming from this session's conmon: it records
    # the exit and removes the files itself, so others only record state.
    client_streaming = rec.attached and is_alive(rec.owner_pid, rec.owner_start) \
        and rec.owner_pid != os.getpid()
    if rec.state != ExecState.RUNNING:
        if rec.state == ExecState.STOPPED and sess.bundle.exists() and not client_streaming:
            sess.cleanup()
        return
    oci = rt.oci
    conmon_alive = is_alive(rec.conmon_pid, rec.conmon_start)
    if oci.exec_update_status(rec.container_id, rec.id, rec.pid, rec.pid_start):
        if conmon_alive:
            return
        # Its conmon is gone (killed): nobody can attach to it or record its exit,
        # so the process is ended rather than left running unmonitored.
        signal_process(rec.pid, rec.pid_start, signal.SIGKILL)
    exit_file = oci.exec_exit_file_path(rec.container_id, rec.id)
    # conmon writes the exit file a moment after the process ends, if it is alive.
    if not exit_file.exists() and conmon_alive:
        wait_for_file(exit_file, wait)
    code = oci.read_exec_exit_code(rec.container_id, rec.id)
    if code is None:
        code = -1  # conmon died too (e.g. SIGKILLed): the real code is unknowable
    if not client_streaming:
        sess.cleanup()
    with rt.db.write() as cur:
        cur.execute(
            "UPDATE exec_sessions SET state = ?, exit_code = ?, finished_at = ? "
            "WHERE id = ? AND state = ?",
            (ExecState.STOPPED, code, time.time(), rec.id, ExecState.RUNNING),
        )
    try:
        sess.reload()
    except NoSuchExecSession:
        sess.record.state = ExecState.STOPPED  # removed meanwhile by its own client
        sess.record.exit_code = code


def _sessions(rt: Runtime, where: str, args: tuple[object, ...]) -> list[ExecSession]:
    rows = rt.db.query(f"SELECT * FROM exec_sessions WHERE {where} ORDER BY created_at", args)
    return [ExecSession(rt, ExecRecord.from_row(r)) for r in rows]


def list_sessions(rt: Runtime, container_id: str | None = None) -> list[ExecSession]:
    if container_id:
        return _sessions(rt, "container_id = ?", (container_id,))
    return _sessions(rt, "1 = 1", ())


def _owner_gone(rec: ExecRecord) -> bool:
    return rec.attached and not is_alive(rec.owner_pid, rec.owner_start)


def get_active_exec_sessions(rt: Runtime, container_id: str) -> list[ExecSession]:
    """Sync the container's running sessions; reap orphans; return the live ones."""
    live = []
    for sess in _sessions(rt, "container_id = ? AND state = ?",
                          (container_id, ExecState.RUNNING)):
        if _owner_gone(sess.record):
            reap_session(rt, sess, remove=True)
            continue
        sync_session(rt, sess)
        if sess.state == ExecState.RUNNING:
            live.append(sess)
    return live


def touch_container(rt: Runtime, container_id: str) -> None:
    """The reaping pass every command that touches a container runs (rules 1, 4, 6)."""
    _touch(rt, _sessions(rt, "container_id = ?", (container_id,)))


def touch_all(rt: Runtime) -> None:
    """The same pass over every container's sessions, in one query."""
    _touch(rt, _sessions(rt, "1 = 1", ()))


def _touch(rt: Runtime, sessions: list[ExecSession]) -> None:
    cutoff = time.time() - rt.config.exec_prune_age
    for sess in sessions:
        if sess.state == ExecState.RUNNING:
            if _owner_gone(sess.record):
                reap_session(rt, sess, remove=True)
            else:
                sync_session(rt, sess)
        elif _is_debris(sess.record, cutoff):
            reap_session(rt, sess, remove=True)


def _is_debris(rec: ExecRecord, cutoff: float) -> bool:
    """A finished session past its age or whose attached owner is gone, or a session
    created but never started by an owner that is gone (rule 6)."""
    if rec.state == ExecState.STOPPED:
        return rec.finished_at < cutoff or (rec.attached and _owner_gone(rec))
    if rec.state == ExecState.CREATED:
        return not is_alive(rec.owner_pid, rec.owner_start)
    return False


def reap_session(rt: Runtime, sess: ExecSession, remove: bool, timeout: float = 0) -> None:
    """Stop (signal, timeout, SIGKILL), record the exit, remove files and maybe the row."""
    rec = sess.record
    if rec.state == ExecState.RUNNING and rt.oci.exec_update_status(
            rec.container_id, rec.id, rec.pid, rec.pid_start):
        rt.oci.exec_stop_container(rec.container_id, rec.id, rec.pid, rec.pid_start,
                                   timeout)
    elif rec.state == ExecState.CREATED:
        _kill_unrecorded_process(rt, sess)
    sync_session(rt, sess, wait=2.0)
    sess.cleanup()
    if remove:
        with rt.db.write() as cur:
            cur.execute("DELETE FROM exec_sessions WHERE id = ?", (rec.id,))


def _kill_unrecorded_process(rt: Runtime, sess: ExecSession) -> None:
    """A starter that died between spawning and recording the pid leaves a process
    the row does not name: runc's pid file does. It is trusted only if that process
    lives in this container's rootfs (a recycled pid would not)."""
    try:
        pid = int((sess.bundle / "pidfile").read_text().strip())
        root = os.readlink(f"/proc/{pid}/root")
    except (OSError, ValueError):
        return
    row = rt.db.query_one("SELECT rootfs FROM containers WHERE id = ?",
                          (sess.record.container_id,))
    if row is not None and row["rootfs"] and root == row["rootfs"]:
        signal_process(pid, 0, signal.SIGKILL, group=True)


def reap_container_sessions(rt: Runtime, ctr: Container, remove: bool) -> None:
    """Rules 2 and 3. Called with the container lock held, on cleanup and removal."""
    timeout = rt.config.exec_stop_timeout if remove else 0.0
    for sess in list_sessions(rt, ctr.id):
        reap_session(rt, sess, remove=remove,
                     timeout=timeout if sess.state == ExecState.RUNNING else 0)


@dataclass
class ReapReport:
    containers_synced: int = 0
    orphans_reaped: list[str] = field(default_factory=list)
    sessions_synced: int = 0
    pruned: list[str] = field(default_factory=list)


def reap_owner(rt: Runtime, kernel_id: str = "", pid: int = 0,
               timeout: float | None = None) -> list[str]:
    """Stop and remove everything a kernel (or a process) that is going away owns.

    Its sessions get SIGTERM all at once, share one ``timeout`` (a kernel being shut
    down has seconds, not one stop timeout per session), then SIGKILL; a kernel's
    ``--rm`` containers are removed too. Returns the reaped session ids.
    """
    if kernel_id:
        sessions = _sessions(rt, "owner_kernel = ?", (kernel_id,))
    else:
        sessions = _sessions(rt, "owner_pid = ?", (pid,))
    wait = rt.config.exec_stop_timeout if timeout is None else timeout
    live = [s for s in sessions if s.state == ExecState.RUNNING]
    if wait > 0 and live:
        for sess in live:
            sess.signal(signal.SIGTERM)
        deadline = time.monotonic() + wait
        for sess in live:
            exit_file = rt.oci.exec_exit_file_path(sess.record.container_id, sess.id)
            wait_for_file(exit_file, max(0.0, deadline - time.monotonic()))
    for sess in sessions:
        reap_session(rt, sess, remove=True, timeout=0)
    if kernel_id:
        from .container import Container
        from .records import ContainerRecord

        for row in rt.db.query("SELECT * FROM containers WHERE owner_kernel = ?",
                               (kernel_id,)):
            ctr = Container(rt, ContainerRecord.from_row(row))
            if ctr.record.config.auto_remove:
                try:
                    ctr.remove(force=True, timeout=0)
                except NoSuchContainer:
                    pass
    return [s.id for s in sessions]


def system_reap(rt: Runtime, prune_age: float | None = None) -> ReapReport:
    """The full pass: sync containers, reap orphaned sessions, prune old stopped ones."""
    report = ReapReport()
    report.containers_synced = len(rt.containers(all=True, sync=True))
    for sess in _sessions(rt, "state = ?", (ExecState.RUNNING,)):
        report.sessions_synced += 1
        if _owner_gone(sess.record):
            reap_session(rt, sess, remove=True)
            report.orphans_reaped.append(sess.id)
        else:
            sync_session(rt, sess)
    age = rt.config.exec_prune_age if prune_age is None else prune_age
    cutoff = time.time() - age
    for sess in _sessions(rt, "state != ?", (ExecState.RUNNING,)):
        if _is_debris(sess.record, cutoff):
            reap_session(rt, sess, remove=True)
            report.pruned.append(sess.id)
    return report
