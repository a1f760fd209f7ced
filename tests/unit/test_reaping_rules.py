"""The reaping rules (DESIGN.md) and the container state machine, through the engine's
public API, on FakeOCIRuntime (tests/fake_oci.py): runc and conmon are off PATH.

One test (or parametrized family) per trigger of engine/reaping.py. Each asserts real
outcomes: DB rows, exit codes, bundle dirs and whether processes live. Waits are
bounded polls; the ``fake_rt`` fixture (tests/unit/conftest.py) keeps timeouts short.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fake_oci import FakeOCIRuntime
from helpers import alive, proc_cmdline, proc_stat, wait_until

from ipy_oci.engine.attached import ProcessResult
from ipy_oci.engine.container import Container
from ipy_oci.engine.exec_session import ExecSession
from ipy_oci.engine.records import ContainerConfig, ExecConfig, ExecState, State
from ipy_oci.engine.runtime import Runtime
from ipy_oci.errors import InvalidState
from ipy_oci.state.procs import start_time

SLEEP = ["sleep", "30"]
DEAF = ["sh", "-c", "trap '' TERM; sleep 30"]  # ignores the stop signal: needs SIGKILL
HOST_ENV = {"PATH": "/usr/bin:/bin"}

# -- helpers -----------------------------------------------------------------------------


def run(rt: Runtime, *cmd: str, name: str | None = None, **cfg: Any) -> Container:
    """A running container (the fake runs ``cmd`` on the host)."""
    return rt.run(ContainerConfig(image="busybox", command=[], cmd=list(cmd or SLEEP),
                                  stop_timeout=1, **cfg), name=name)


def detached(rt: Runtime, ctr: Container, cmd: list[str], kernel: str = "") -> ExecSession:
    sess = rt.exec_create(ctr, ExecConfig(command=cmd), owner_kernel=kernel)
    sess.start()
    return sess


def sibling(rt: Runtime) -> Runtime:
    """Another engine Runtime on the same roots and fake (one per thread or process)."""
    return Runtime(rt.config, oci_factory=lambda name: FakeOCIRuntime(rt.runroot, name))


def row(rt: Runtime, sid: str) -> Any:
    return rt.state.exec_session(sid)


def ident(sess: ExecSession) -> tuple[int, int]:
    return sess.record.pid, sess.record.pid_start


def monitor(sess: ExecSession) -> tuple[int, int]:
    return sess.record.conmon_pid, sess.record.conmon_start


def exec_dirs(rt: Runtime) -> list[str]:
    d = rt.runroot / "exec"
    return sorted(os.listdir(d)) if d.is_dir() else []


def gone(*idents: tuple[int, int], within: float = 5.0) -> bool:
    """Every one of these processes has ended, or does so within a few seconds (a
    SIGKILLed process takes a moment to die)."""
    deadline = time.monotonic() + within
    while any(alive(*i) for i in idents):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def dead_identity() -> tuple[int, int]:
    """(pid, start time) of a process that has exited."""
    proc = subprocess.Popen(["/bin/true"])
    start = start_time(proc.pid)  # alive or a zombie until waited for
    proc.wait()
    return proc.pid, start


class Unrelated:
    """A live process the engine never started; it logs every catchable signal."""

    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "signals"
        traps = "; ".join(f'trap "echo {s} >> {self.log}" {s}'
                          for s in ("HUP", "INT", "QUIT", "USR1", "USR2", "TERM", "CONT"))
        ready = tmp / "ready"
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", f"{traps}; : > {ready}; while :; do sleep 0.05; done"],
            env=HOST_ENV, start_new_session=True)
        self.pid, self.start = self.proc.pid, start_time(self.proc.pid)
        wait_until(ready.exists, "the unrelated process to set its traps")

    def untouched(self) -> bool:
        st = proc_stat(self.pid)
        return (self.proc.poll() is None and st is not None and st[0] != "T"
                and not self.log.exists())

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class AttachedClient(threading.Thread):
    """``start_and_attach`` of a new session in a thread, with a Runtime of its own."""

    def __init__(self, rt: Runtime, ctr: Container, cmd: list[str],
                 stop_on_output: bool = False, **kw: Any) -> None:
        super().__init__(daemon=True)
        self.rt, self.ctr_id, self.cmd, self.kw = rt, ctr.id, cmd, kw
        if stop_on_output:  # a kernel interrupt as soon as the cell printed something
            kw["should_stop"] = lambda: bool(self.output)
        self.output: list[bytes] = []
        self.started = threading.Event()
        self.result: ProcessResult | None = None
        self.error: BaseException | None = None
        self.sess: ExecSession | None = None
        self.start()
        assert self.started.wait(15), "the attached session did not start"
        assert self.error is None, self.error

    def run(self) -> None:
        rt = sibling(self.rt)
        try:
            sess = rt.exec_create(self.ctr_id, ExecConfig(command=self.cmd))
            self.result = sess.start_and_attach(lambda _s, data: self.output.append(data),
                                                on_started=self._note_started, **self.kw)
        except BaseException as exc:
            self.error = exc
        finally:
            self.started.set()
            rt.close()

    def _note_started(self, sess: ExecSession) -> None:
        self.sess = sess
        self.started.set()

    def finish(self) -> ProcessResult:
        self.join(15)
        assert not self.is_alive() and self.error is None, self.error
        assert self.result is not None
        return self.result


CLIENT = """
import sys
sys.path.insert(0, {tests!r})
from fake_oci import FakeOCIRuntime
from ipy_oci.config import Config
from ipy_oci.engine.records import ExecConfig
from ipy_oci.engine.runtime import Runtime
cfg = Config.load({root!r}, {runroot!r}, "fake")
rt = Runtime(cfg, oci_factory=lambda name: FakeOCIRuntime(cfg.runroot, name))
sess = rt.exec_create({ctr!r}, ExecConfig(command={cmd!r}))
sess.start_and_attach(lambda s, d: None, remove={remove!r},
                      on_started=lambda s: print(s.id, flush=True))
"""


def client_process(rt: Runtime, ctr: Container, cmd: list[str],
                   remove: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """A separate client process attached to a new session; returns it and the session id."""
    script = CLIENT.format(tests=str(Path(__file__).parents[1]), root=str(rt.root),
                           runroot=str(rt.runroot), ctr=ctr.id, cmd=cmd, remove=remove)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    sid = proc.stdout.readline().decode().strip()
    assert sid, "the client did not start its session"
    return proc, sid


# -- container states --------------------------------------------------------------------


def test_container_state_transitions_and_display_words(fake_rt: Runtime) -> None:
    rt = fake_rt
    ctr = rt.create_container(ContainerConfig(image="busybox", command=[], cmd=SLEEP,
                                              stop_timeout=1), name="c")
    oci = ctr.oci
    assert isinstance(oci, FakeOCIRuntime)
    assert (ctr.state, State.display(ctr.state)) == (State.CONFIGURED, "created")
    assert oci.update_container_status(ctr.id) is None

    ctr.init()
    pid, start = ctr.record.pid, ctr.record.pid_start
    assert (ctr.state, State.display(ctr.state)) == (State.CREATED, "initialized")
    assert alive(pid, start) and not proc_cmdline(pid).startswith(b"sleep")  # not yet run
    assert (oci.update_container_status(ctr.id) or {})["status"] == "created"

    ctr.start()
    assert (ctr.state, State.display(ctr.state)) == (State.RUNNING, "running")
    wait_until(lambda: proc_cmdline(pid).split(b"\0")[:2] == [b"sleep", b"30"], "its command")
    assert alive(pid, start)  # the same process, now running its command

    ctr.pause()
    assert (ctr.state, State.display(ctr.state)) == (State.PAUSED, "paused")
    assert (proc_stat(pid) or ("",))[0] == "T"
    assert (oci.update_container_status(ctr.id) or {})["status"] == "paused"
    with pytest.raises(InvalidState):
        rt.exec_create(ctr, ExecConfig(command=["true"]))
    ctr.unpause()
    assert ctr.state == State.RUNNING and (proc_stat(pid) or ("",))[0] != "T"

    assert ctr.stop(timeout=1) == 128 + signal.SIGTERM
    assert (ctr.state, State.display(ctr.state)) == (State.EXITED, "exited")
    assert not alive(pid, start)
    assert oci.update_container_status(ctr.id) is None  # runtime state deleted
    assert not oci.exit_file_path(ctr.id).exists()
    assert State.display(State.STOPPED) == "exited"  # exited, not yet cleaned up

    ctr.start()  # an exited container starts again, with a new process
    assert ctr.state == State.RUNNING and alive(ctr.record.pid, ctr.record.pid_start)
    ctr.kill(signal.SIGKILL)
    assert ctr.wait(timeout=10) == 128 + signal.SIGKILL
    assert ctr.state == State.EXITED

    ctr.remove()
    assert rt.state.container(ctr.id) is None and not ctr.dir.exists()


def test_container_that_exits_by_itself_is_synced_on_look(fake_rt: Runtime) -> None:
    ctr = run(fake_rt, "sh", "-c", "sleep 0.2; exit 3", name="c")
    pid = ctr.record.pid, ctr.record.pid_start
    wait_until(lambda: fake_rt.oci.exit_file_path(ctr.id).exists(), "the exit file")
    assert fake_rt.lookup_container("c").state == State.RUNNING  # nobody looked yet
    looked = fake_rt.touch(fake_rt.lookup_container("c"))
    assert (looked.state, looked.record.exit_code) == (State.EXITED, 3)
    assert gone(pid) and not fake_rt.oci.exit_file_path(ctr.id).exists()
    looked.remove()


# -- rule 1: status comes from the runtime -----------------------------------------------


def test_finished_session_is_synced_when_looked_at(fake_rt: Runtime) -> None:
    ctr = run(fake_rt)
    sess = detached(fake_rt, ctr, ["sh", "-c", "exit 7"])
    oci = sess.oci
    wait_until(lambda: oci.exec_exit_file_path(ctr.id, sess.id).exists(), "the exit file")
    assert row(fake_rt, sess.id).state == ExecState.RUNNING  # nobody looked yet
    assert [s.state for s in fake_rt.exec_sessions(ctr.id)] == [ExecState.STOPPED]
    rec = row(fake_rt, sess.id)
    assert (rec.state, rec.exit_code) == (ExecState.STOPPED, 7)
    assert exec_dirs(fake_rt) == [] and gone(monitor(sess))
    ctr.remove(force=True, timeout=0)
    assert row(fake_rt, sess.id) is None


# -- rule 2: a container that stops or exits takes its sessions with it ------------------


@pytest.mark.parametrize("how", ["stop", "exits"])
def test_container_stop_or_exit_stops_its_sessions(fake_rt: Runtime, how: str) -> None:
    rt = fake_rt
    ctr = run(rt, name="c")
    main = ctr.record.pid, ctr.record.pid_start
    live = [detached(rt, ctr, SLEEP), detached(rt, ctr, DEAF)]
    done = detached(rt, ctr, ["sh", "-c", "exit 3"])
    wait_until(lambda: done.oci.exec_exit_file_path(ctr.id, done.id).exists(), "an exit")
    client = AttachedClient(rt, ctr, SLEEP)
    assert client.sess is not None
    if how == "stop":
        assert ctr.stop() == 128 + signal.SIGTERM
    else:  # its process ends on its own; the next look syncs it
        os.kill(main[0], signal.SIGTERM)
        wait_until(lambda: rt.oci.exit_file_path(ctr.id).exists(), "the runtime's exit file")
        ctr = rt.touch(rt.lookup_container("c"))
    assert (ctr.state, ctr.record.exit_code) == (State.EXITED, 128 + signal.SIGTERM)
    assert client.finish().exit_code == 128 + signal.SIGKILL
    for sess in [*live, client.sess]:
        rec = row(rt, sess.id)
        assert (rec.state, rec.exit_code) == (ExecState.STOPPED, 128 + signal.SIGKILL)
        assert gone(ident(sess), monitor(sess))
    assert (row(rt, done.id).state, row(rt, done.id).exit_code) == (ExecState.STOPPED, 3)
    assert exec_dirs(rt) == []
    ctr.remove()
    assert rt.state.exec_sessions() == [] and rt.state.container(ctr.id) is None


# -- rule 3: removal removes every session -----------------------------------------------


@pytest.mark.parametrize("how", ["rm", "rm -f", "--rm"])
def test_removal_removes_every_session(fake_rt: Runtime, how: str) -> None:
    rt = fake_rt
    ctr = run(rt, name="c", auto_remove=how == "--rm")
    main = ctr.record.pid, ctr.record.pid_start
    sessions = [detached(rt, ctr, SLEEP), detached(rt, ctr, DEAF),
                detached(rt, ctr, ["sh", "-c", "exit 3"])]
    if how == "rm":
        with pytest.raises(InvalidState):
            ctr.remove()  # a running container needs -f
        ctr.stop()
        assert {row(rt, s.id).state for s in sessions} == {ExecState.STOPPED}
        ctr.remove()
    elif how == "rm -f":
        ctr.remove(force=True, timeout=0)
    else:  # its process exits; the exit command would run ``container cleanup --rm``
        os.kill(main[0], signal.SIGKILL)
        wait_until(lambda: rt.oci.exit_file_path(ctr.id).exists(), "the runtime's exit file")
        rt.lookup_container("c").cleanup(rm=True)
    assert rt.state.container(ctr.id) is None and not ctr.dir.exists()
    assert rt.state.exec_sessions() == [] and exec_dirs(rt) == []
    assert gone(main, *(ident(s) for s in sessions), *(monitor(s) for s in sessions))


# -- rule 4: an attached session whose client is gone is stopped and reaped --------------

TRIGGERS = {
    "reap_dead_clients": lambda rt, ctr: rt.reap_dead_clients(),
    "touch": lambda rt, ctr: rt.touch(ctr),
    "touch_all": lambda rt, ctr: rt.touch_all(),
    "reap": lambda rt, ctr: rt.reap(),
}


@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_dead_clients_session_is_reaped(fake_rt: Runtime, trigger: str) -> None:
    rt = fake_rt
    ctr = run(rt)
    client, sid = client_process(rt, ctr, SLEEP)
    sess = rt.lookup_exec(sid)
    assert sess.record.attached and sess.record.owner_pid == client.pid
    client.kill()
    client.wait()
    assert alive(*ident(sess)) and alive(*monitor(sess))  # nobody reaps by magic...
    TRIGGERS[trigger](rt, ctr)  # ...until the next pass
    assert row(rt, sid) is None and exec_dirs(rt) == []
    assert gone(ident(sess), monitor(sess))
    ctr.remove(force=True, timeout=0)


def test_dead_foreground_clients_session_is_reaped(fake_rt: Runtime) -> None:
    """A one-shot session (``remove=True``) runs under its client, with no monitor."""
    rt = fake_rt
    ctr = run(rt)
    client, sid = client_process(rt, ctr, SLEEP, remove=True)
    sess = rt.lookup_exec(sid)
    assert sess.record.attached and alive(*ident(sess))
    client.kill()
    client.wait()
    assert alive(*ident(sess))
    assert rt.reap_dead_clients() == [sid]
    assert row(rt, sid) is None and exec_dirs(rt) == []
    assert gone(ident(sess))
    ctr.remove(force=True, timeout=0)


def test_owner_pid_reused_by_another_process_is_not_alive(fake_rt: Runtime,
                                                          tmp_path: Path) -> None:
    rt = fake_rt
    ctr = run(rt)
    other = Unrelated(tmp_path)
    try:
        orphan, kept = detached(rt, ctr, SLEEP), detached(rt, ctr, SLEEP)
        # Both "attached" and owned by the unrelated pid: one with its real start time
        # (the owner lives), one with another start time (a reused pid: the owner died).
        rt.state.update(orphan.record, attached=True, owner_pid=other.pid,
                        owner_start=other.start + 1)
        rt.state.update(kept.record, attached=True, owner_pid=other.pid,
                        owner_start=other.start)
        assert rt.reap_dead_clients() == [orphan.id]
        assert row(rt, orphan.id) is None and gone(ident(orphan), monitor(orphan))
        assert row(rt, kept.id).state == ExecState.RUNNING and alive(*ident(kept))
        assert other.untouched()
        ctr.remove(force=True, timeout=0)
        assert rt.state.exec_sessions() == [] and gone(ident(kept))
    finally:
        other.kill()


# -- a kernel goes away ------------------------------------------------------------------


def test_reap_kernel_stops_its_sessions_at_once_and_removes_its_rm_containers(
        fake_rt: Runtime, tmp_path: Path) -> None:
    rt = fake_rt
    mine = rt.create_container(ContainerConfig(image="busybox", command=[], cmd=SLEEP,
                                               auto_remove=True), owner_kernel="k1")
    mine.start()
    kept = rt.create_container(ContainerConfig(image="busybox", command=[], cmd=SLEEP),
                               owner_kernel="k1")  # not --rm: it stays
    kept.start()
    other = run(rt)
    # Deaf to SIGTERM but noting it: each must get SIGTERM, then SIGKILL.
    marks = [tmp_path / f"term{i}" for i in range(4)]
    doomed = [detached(rt, other, ["sh", "-c", f"trap 'echo t > {m}' TERM; : > {m}.ready; "
                                   "while :; do sleep 0.05; done"], kernel="k1")
              for m in marks]
    wait_until(lambda: all(Path(f"{m}.ready").exists() for m in marks), "the traps to be set")
    survivor = detached(rt, other, SLEEP, kernel="k2")
    timeout = 0.75
    began = time.monotonic()
    reaped = rt.reap_kernel(kernel_id="k1", timeout=timeout)
    took = time.monotonic() - began
    assert sorted(reaped) == sorted(s.id for s in doomed)
    # One shared timeout, not one per session (that would take 4 x 0.75 s at least).
    assert took < len(doomed) * timeout
    assert all(m.exists() for m in marks)
    for sess in doomed:
        assert row(rt, sess.id) is None and gone(ident(sess), monitor(sess))
    assert row(rt, survivor.id).state == ExecState.RUNNING and alive(*ident(survivor))
    assert exec_dirs(rt) == [survivor.id]
    assert rt.state.container(mine.id) is None and not mine.dir.exists()
    assert rt.state.container(kept.id) is not None
    for ctr in (kept, other):
        ctr.remove(force=True, timeout=0)
    assert rt.state.exec_sessions() == []


def test_reap_restarted_kernel_only_reaps_sessions_of_dead_processes(fake_rt: Runtime) -> None:
    rt = fake_rt
    ctr = run(rt)
    old, new = detached(rt, ctr, SLEEP, kernel="k1"), detached(rt, ctr, SLEEP, kernel="k1")
    dead_pid, dead_start = dead_identity()
    rt.state.update(old.record, owner_pid=dead_pid, owner_start=dead_start)  # the old process
    assert rt.reap_kernel(kernel_id="k1", restarted=True) == [old.id]
    assert row(rt, old.id) is None and gone(ident(old), monitor(old))
    assert row(rt, new.id).state == ExecState.RUNNING and alive(*ident(new))
    ctr.remove(force=True, timeout=0)


# -- a cell is interrupted ---------------------------------------------------------------


@pytest.mark.parametrize("remove,cmd,code", [
    (False, ["sh", "-c", "echo ready; sleep 30"], 128 + signal.SIGTERM),
    (True, ["sh", "-c", "trap '' TERM; echo ready; sleep 30"], 128 + signal.SIGKILL),
], ids=["kept-obeys-sigterm", "removed-needs-sigkill"])
def test_interrupted_cell_stops_the_process(fake_rt: Runtime, remove: bool, cmd: list[str],
                                            code: int) -> None:
    rt = fake_rt
    ctr = run(rt)
    client = AttachedClient(rt, ctr, cmd, stop_on_output=True, remove=remove,
                            interrupt_grace=rt.config.interrupt_grace)
    res = client.finish()
    assert client.sess is not None
    assert res.interrupted and res.exit_code == code
    assert b"".join(client.output) == b"ready\n"
    assert gone(ident(client.sess)) and exec_dirs(rt) == []
    if remove:
        assert row(rt, client.sess.id) is None
    else:
        rec = row(rt, client.sess.id)
        assert (rec.state, rec.exit_code) == (ExecState.STOPPED, code)
    ctr.remove(force=True, timeout=0)
    assert rt.state.exec_sessions() == []


# -- system reap -------------------------------------------------------------------------


def test_system_reap_syncs_reaps_orphans_and_prunes(fake_rt: Runtime) -> None:
    rt = fake_rt
    ctr = run(rt, name="c")
    ended = run(rt, name="ended")  # exits while nobody looks
    rm = run(rt, name="rm", auto_remove=True)  # --rm, exits while nobody looks
    finished = detached(rt, ctr, ["sh", "-c", "exit 5"])
    old = detached(rt, ctr, ["true"])
    orphan = detached(rt, ctr, SLEEP)
    dead_pid, dead_start = dead_identity()
    rt.state.update(orphan.record, attached=True, owner_pid=dead_pid, owner_start=dead_start)
    assert gone(ident(old), ident(finished))
    old.sync()  # a look records its exit; then make it old:
    rt.state.update(old.record, finished_at=old.record.finished_at - 2 * rt.config.exec_prune_age)
    assert row(rt, finished.id).state == ExecState.RUNNING  # nobody looked at this one
    for c in (ended, rm):
        c.kill(signal.SIGKILL)
    wait_until(lambda: all(rt.oci.exit_file_path(c.id).exists() for c in (ended, rm)), "exits")

    report = rt.reap()
    assert report.containers_synced == 3
    assert report.orphans_reaped == [orphan.id] and gone(ident(orphan), monitor(orphan))
    assert report.pruned == [old.id] and row(rt, old.id) is None
    assert report.removed_containers == [rm.id] and rt.state.container(rm.id) is None
    assert rt.lookup_container("ended").state == State.EXITED
    rec = row(rt, finished.id)
    assert (rec.state, rec.exit_code) == (ExecState.STOPPED, 5)  # synced, young: kept
    assert exec_dirs(rt) == []
    for c in (ctr, ended):
        c.remove(force=True, timeout=0)


# -- the age prune -----------------------------------------------------------------------


def test_age_prune_removes_finished_detached_sessions_past_the_age(fake_rt: Runtime) -> None:
    rt = fake_rt
    rt.config.exec_prune_age = 60
    ctr = run(rt)
    young, old = (detached(rt, ctr, ["sh", "-c", "exit 2"]) for _ in range(2))
    running = detached(rt, ctr, SLEEP)
    unstarted = rt.exec_create(ctr, ExecConfig(command=["true"]))  # owner (we) lives
    assert gone(ident(young), ident(old))
    rt.touch(ctr)
    rec = row(rt, old.id)
    rt.state.update(rec, finished_at=rec.finished_at - 120)
    rt.touch(ctr)
    assert row(rt, old.id) is None
    assert (row(rt, young.id).state, row(rt, young.id).exit_code) == (ExecState.STOPPED, 2)
    assert row(rt, unstarted.id).state == ExecState.CREATED
    rt.config.exec_prune_age = 0
    rt.touch(ctr)
    assert row(rt, young.id) is None
    assert row(rt, running.id).state == ExecState.RUNNING and alive(*ident(running))
    assert row(rt, unstarted.id).state == ExecState.CREATED  # its owner may still start it
    dead_pid, dead_start = dead_identity()
    rt.state.update(unstarted.record, owner_pid=dead_pid, owner_start=dead_start)
    rt.touch(ctr)
    assert row(rt, unstarted.id) is None
    assert exec_dirs(rt) == [running.id]
    ctr.remove(force=True, timeout=0)


# -- PID reuse: a session's pid that now names another process ---------------------------

REUSE_TRIGGERS = {
    "sync": lambda rt, ctr: rt.exec_sessions(ctr.id),
    "reap_dead_clients": lambda rt, ctr: rt.reap_dead_clients(),
    "reap_kernel": lambda rt, ctr: rt.reap_kernel(kernel_id="k1", timeout=0.3),
    "rm -f": lambda rt, ctr: ctr.remove(force=True, timeout=0),  # stop, then remove
}


@pytest.mark.parametrize("trigger", list(REUSE_TRIGGERS))
def test_reused_session_pid_is_never_signalled(fake_rt: Runtime, tmp_path: Path,
                                               trigger: str) -> None:
    rt = fake_rt
    ctr = run(rt)
    other = Unrelated(tmp_path)
    try:
        sess = rt.exec_create(ctr, ExecConfig(command=SLEEP), owner_kernel="k1")
        dead_pid, dead_start = dead_identity()
        # The row says "running as <other's pid>", with another start time: the
        # session's process is long gone and its pid now names an unrelated process.
        rt.state.update(sess.record, state=ExecState.RUNNING, pid=other.pid,
                        pid_start=other.start + 1, started_at=time.time(), attached=True,
                        owner_pid=dead_pid, owner_start=dead_start)
        REUSE_TRIGGERS[trigger](rt, ctr)
        rec = row(rt, sess.id)
        if rec is not None:
            assert (rec.state, rec.exit_code) == (ExecState.STOPPED, -1)
        assert other.untouched(), "the unrelated process was signalled"
        if rt.state.container(ctr.id) is not None:
            rt.lookup_container(ctr.id).remove(force=True, timeout=0)
        assert other.untouched() and rt.state.exec_sessions() == []
    finally:
        other.kill()


# -- a monitor ("conmon") SIGKILLed while its session runs -------------------------------


def test_killed_monitor_of_detached_session_is_synced_to_exit_minus_one(
        fake_rt: Runtime) -> None:
    rt = fake_rt
    ctr = run(rt)
    sess = detached(rt, ctr, SLEEP)
    os.kill(sess.record.conmon_pid, signal.SIGKILL)
    assert gone(monitor(sess))
    assert alive(*ident(sess))  # the process runs on, unmonitored
    assert [s.id for s in rt.exec_sessions()] == [sess.id]  # a look syncs it:
    rec = row(rt, sess.id)
    assert (rec.state, rec.exit_code) == (ExecState.STOPPED, -1)
    assert gone(ident(sess)) and exec_dirs(rt) == []
    ctr.remove(force=True, timeout=0)


def test_killed_monitor_of_attached_session_ends_it_with_exit_minus_one(
        fake_rt: Runtime) -> None:
    rt = fake_rt
    ctr = run(rt)
    client = AttachedClient(rt, ctr, SLEEP)
    assert client.sess is not None
    os.kill(client.sess.record.conmon_pid, signal.SIGKILL)
    res = client.finish()
    assert res.exit_code == -1 and not res.interrupted
    rec = row(rt, client.sess.id)
    assert (rec.state, rec.exit_code) == (ExecState.STOPPED, -1) and exec_dirs(rt) == []
    assert gone(ident(client.sess))
    ctr.remove(force=True, timeout=0)


def test_runc_and_conmon_are_off_path(fake_rt: Runtime) -> None:
    assert shutil.which("runc") is None and shutil.which("conmon") is None
    info = fake_rt.info()["host"]["ociRuntime"]
    assert (info["name"], info["version"]) == ("fake", "fake")


def test_killed_runtime_of_foreground_session_ends_its_process(fake_rt: Runtime) -> None:
    rt = fake_rt
    ctr = run(rt)
    client = AttachedClient(rt, ctr, SLEEP, remove=True)  # runs under ``runc exec``
    assert client.sess is not None
    process = ident(client.sess)
    try:
        os.kill(client.sess.record.conmon_pid, signal.SIGKILL)
        res = client.finish()
        assert row(rt, client.sess.id) is None and exec_dirs(rt) == []
        rt.reap()  # any pass that could still find it
        assert gone(process, within=1.0)
        assert res.exit_code == -1
    finally:
        ctr.remove(force=True, timeout=0)  # the container's kill reaches the orphan
        assert gone(process)
