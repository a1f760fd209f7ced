"""Reaping rules (DESIGN.md): no exec session outlives its purpose.

Real containers, real conmon/runc; asynchronous effects are awaited with bounded
polling, never asserted on timing.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest
from helpers import (
    OciEnv,
    alive,
    db_records,
    exec_conmons,
    exec_dirs,
    running_container,
    wait_until,
)

# -- helpers ---------------------------------------------------------------------------


def session_row(oci: OciEnv, sid: str) -> sqlite3.Row | None:
    rows = db_records(oci, "SELECT * FROM exec_sessions WHERE id = ?", (sid,))
    return rows[0] if rows else None


def running_rows(oci: OciEnv) -> list[sqlite3.Row]:
    return db_records(oci, "SELECT * FROM exec_sessions WHERE state = 'running' AND pid > 0")


def kill_quietly(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)


def detached(oci: OciEnv, *cmd: str) -> str:
    res = oci.cli("exec", "-d", "c", *cmd)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def wait_no_exec_leftovers(oci: OciEnv) -> None:
    wait_until(lambda: not exec_conmons(oci), "every exec conmon to exit", timeout=10)
    wait_until(lambda: not exec_dirs(oci), "every exec bundle dir to go", timeout=10)


# -- rule 4: an attached session whose owner is gone is stopped and reaped -------------

TRIGGERS = {
    "system-reap": ("system", "reap"),
    "exec": ("exec", "c", "true"),
    "ps": ("ps",),
    "inspect": ("inspect", "c"),
}


@pytest.mark.parametrize("trigger", list(TRIGGERS))
def test_sigkilled_client_session_is_reaped_by_next_pass(oci: OciEnv, trigger: str) -> None:
    with running_container(oci):
        client = oci.spawn("exec", "c", "sleep", "100")
        try:
            row = wait_until(lambda: running_rows(oci), "the attached session to run")[0]
            sid, pid, start = row["id"], row["pid"], row["pid_start"]
            assert row["attached"] == 1
            assert alive(pid, start)
            client.kill()
            client.wait(timeout=30)
            # Nobody reaps by magic: the process outlives its SIGKILLed client...
            assert alive(pid, start)
            # ...until the next reaping pass.
            res = oci.cli(*TRIGGERS[trigger])
            assert res.returncode == 0, res.stderr
            wait_until(lambda: not alive(pid, start), "`sleep 100` to be gone", timeout=5)

            def session_done() -> bool:
                r = session_row(oci, sid)
                return r is None or r["state"] == "stopped"

            wait_until(session_done, "the session to be stopped or removed", timeout=5)
            wait_no_exec_leftovers(oci)
        finally:
            kill_quietly(client)


def test_reap_leaves_detached_sessions_running(oci: OciEnv) -> None:
    # The CLI that made a detached session exits at once: its session is not an orphan.
    with running_container(oci):
        sid = detached(oci, "sleep", "100")
        row = session_row(oci, sid)
        assert row is not None and row["state"] == "running"
        res = oci.cli("system", "reap")
        assert res.returncode == 0, res.stderr
        assert "reaped 0 orphaned" in res.stdout
        assert oci.cli("exec", "c", "true").returncode == 0
        assert oci.cli("ps").returncode == 0
        row = session_row(oci, sid)
        assert row is not None and row["state"] == "running"
        assert alive(row["pid"], row["pid_start"])


def test_reap_keeps_a_live_clients_session(oci: OciEnv) -> None:
    with running_container(oci):
        client = oci.spawn("exec", "c", "sh", "-c", "sleep 3; echo finished")
        try:
            row = wait_until(lambda: running_rows(oci), "the attached session to run")[0]
            assert oci.cli("system", "reap").returncode == 0
            assert alive(row["pid"], row["pid_start"])
            out, err = client.communicate(timeout=60)
            assert client.returncode == 0, err
            assert out == b"finished\n"
        finally:
            kill_quietly(client)
        assert session_row(oci, row["id"]) is None


# -- rule 2: a container that stops takes its sessions with it -------------------------


def test_stopping_container_stops_its_detached_sessions(oci: OciEnv) -> None:
    with running_container(oci):
        sids = [detached(oci, "sleep", "100") for _ in range(5)]
        rows = [session_row(oci, s) for s in sids]
        assert all(r is not None and r["state"] == "running" for r in rows)
        procs = [(r["pid"], r["pid_start"]) for r in rows if r is not None]
        assert all(alive(*p) for p in procs)
        assert len(exec_conmons(oci)) == 5

        res = oci.cli("stop", "-t", "0", "c")
        assert res.returncode == 0, res.stderr

        rt = oci.runtime()
        for sid in sids:
            info = rt.lookup_exec(sid).inspect()
            assert info["State"] == "stopped", info
            assert info["Running"] is False
            assert info["ExitCode"] == 137, info  # killed with the container's SIGKILL
        assert not any(alive(*p) for p in procs)
        wait_no_exec_leftovers(oci)
        # The stopped sessions stay listed until the container goes.
        import json

        ids = json.loads(oci.cli("inspect", "c").stdout)[0]["ExecIDs"]
        assert sorted(ids) == sorted(sids)


def test_container_killed_with_nobody_watching_takes_its_sessions(oci: OciEnv) -> None:
    # conmon's exit command for the container (`container cleanup`) does the reaping.
    with running_container(oci):
        sids = [detached(oci, "sleep", "100") for _ in range(3)]
        procs = [(r["pid"], r["pid_start"]) for r in map(lambda s: session_row(oci, s), sids)
                 if r is not None]
        assert len(procs) == 3
        res = oci.cli("kill", "c")
        assert res.returncode == 0, res.stderr

        def all_recorded() -> bool:
            rows = [session_row(oci, s) for s in sids]
            return all(r is not None and r["state"] == "stopped" and r["exit_code"] is not None
                       for r in rows)

        wait_until(all_recorded, "the exit command to record every session's exit")
        assert {session_row(oci, s)["exit_code"] for s in sids} == {137}
        assert not any(alive(*p) for p in procs)
        wait_no_exec_leftovers(oci)
        wait_until(lambda: db_records(oci, "SELECT state FROM containers")[0]["state"] == "exited",
                   "the container's exit command to finish its cleanup")


# -- rule 3: removal removes every session ---------------------------------------------


def test_rm_force_removes_attached_and_detached_sessions(oci: OciEnv) -> None:
    clients: list[subprocess.Popen[bytes]] = []
    try:
        with running_container(oci):
            for _ in range(2):
                clients.append(oci.spawn("exec", "c", "sleep", "100"))
            sids = [detached(oci, "sleep", "100") for _ in range(2)]
            try:
                rows = wait_until(lambda: (r := running_rows(oci)) and len(r) == 4 and r,
                                  "four running sessions")
            except AssertionError:
                # Say what each client did (a CI run once saw three sessions only).
                ended = [(c.returncode, c.communicate()[1]) for c in clients
                         if c.poll() is not None]
                rows_now = [dict(r) for r in db_records(oci, "SELECT * FROM exec_sessions")]
                raise AssertionError(f"not four running sessions: clients ended {ended}, "
                                     f"rows {rows_now}") from None
            procs = [(r["pid"], r["pid_start"]) for r in rows]
            assert sum(r["attached"] for r in rows) == 2
            assert all(alive(*p) for p in procs)

            # Freeze the attached clients so that `rm -f` alone does the reaping (a
            # client racing it to remove its own session is covered separately, in
            # test_exec_engine.py::test_reaper_tolerates_a_session_removed_meanwhile).
            for client in clients:
                client.send_signal(signal.SIGSTOP)
            try:
                res = oci.cli("rm", "-f", "-t", "0", "c")
            finally:
                for client in clients:
                    client.send_signal(signal.SIGCONT)
            assert res.returncode == 0, res.stderr

            assert db_records(oci, "SELECT id FROM exec_sessions") == []
            assert db_records(oci, "SELECT id FROM containers") == []
            assert not any(alive(*p) for p in procs)
            for sid in sids:
                assert session_row(oci, sid) is None
            wait_no_exec_leftovers(oci)
            # The attached clients notice their process is gone and end.
            for client in clients:
                client.communicate(timeout=60)
                assert client.returncode != 0
            assert oci.cli("ps", "-a", "-q").stdout == ""
            assert db_records(oci, "SELECT id FROM exec_sessions") == []
    finally:
        for client in clients:
            kill_quietly(client)


# -- rule 1 with conmon gone -------------------------------------------------------------


def test_sigkilled_exec_conmon_is_synced(oci: OciEnv) -> None:
    with running_container(oci) as cid:
        sid = detached(oci, "sleep", "100")
        rt = oci.runtime()
        sess = rt.lookup_exec(sid)
        rec = sess.record
        assert rec.conmon_pid > 0 and rec.pid > 0
        os.kill(rec.conmon_pid, signal.SIGKILL)
        wait_until(lambda: not alive(rec.conmon_pid, rec.conmon_start), "conmon to die")

        # The next look marks it stopped: with its monitor gone nobody could attach to
        # the process or record its exit, so it is ended rather than left unmonitored.
        sess.sync()
        assert sess.state == "stopped"
        assert not alive(rec.pid, rec.pid_start)
        # conmon died before it could write an exit file: the code is unknowable,
        # but it is recorded as something, never left NULL on a stopped session.
        assert sess.record.exit_code is not None
        listed = rt.exec_sessions(cid)
        assert [(s.id, s.state) for s in listed] == [(sid, "stopped")]
        assert sid not in exec_dirs(oci)
        # Nothing crashes afterwards either.
        assert oci.cli("system", "reap").returncode == 0
        assert oci.cli("exec", "c", "true").returncode == 0
        res = oci.cli("inspect", "--type", "exec", sid)
        assert res.returncode == 0, res.stderr
        wait_no_exec_leftovers(oci)


def test_sigkilled_exec_conmon_is_stopped_by_listing(oci: OciEnv) -> None:
    with running_container(oci) as cid:
        sid = detached(oci, "sleep", "100")
        rt = oci.runtime()
        rec = rt.lookup_exec(sid).record
        os.kill(rec.conmon_pid, signal.SIGKILL)
        wait_until(lambda: not alive(rec.conmon_pid, rec.conmon_start), "conmon to die")
        listed = oci.runtime().exec_sessions(cid)
        assert [(s.id, s.state) for s in listed] == [(sid, "stopped")]
        assert not alive(rec.pid, rec.pid_start)
        wait_no_exec_leftovers(oci)


def test_sigkilled_conmon_of_finished_process_is_stopped_at_next_sync(oci: OciEnv) -> None:
    with running_container(oci) as cid:
        sid = detached(oci, "sh", "-c", "sleep 1")
        rt = oci.runtime()
        rec = rt.lookup_exec(sid).record
        os.kill(rec.conmon_pid, signal.SIGKILL)

        def stopped() -> bool:
            return any(s.id == sid and s.state == "stopped" for s in rt.exec_sessions(cid))

        wait_until(stopped, "the session to be synced to stopped")
        assert not alive(rec.pid, rec.pid_start)
        wait_no_exec_leftovers(oci)


# -- rule 5: conmon's exit command cleans up when nobody is watching ----------------------


def test_exit_command_records_detached_exit_without_any_client(oci: OciEnv) -> None:
    with running_container(oci):
        sid = detached(oci, "sh", "-c", "sleep 0.5; exit 5")

        def recorded() -> sqlite3.Row | None:
            r = session_row(oci, sid)
            return r if r is not None and r["state"] == "stopped" else None

        row = wait_until(recorded, "conmon's exit command to record the exit", timeout=10)
        assert row["exit_code"] == 5
        wait_no_exec_leftovers(oci)


# -- interrupts ----------------------------------------------------------------------------


def test_sigint_to_attached_cli_stops_and_reaps(oci: OciEnv) -> None:
    with running_container(oci):
        client = oci.spawn("exec", "c", "sleep", "100")
        try:
            row = wait_until(lambda: running_rows(oci), "the attached session to run")[0]
            time.sleep(0.3)  # let the client settle into its relay loop
            client.send_signal(signal.SIGINT)
            out, err = client.communicate(timeout=30)
            # podman: the interrupted command's status, 128 + SIGINT.
            assert client.returncode != 0
            assert client.returncode in (130, 137, 143), err
            assert not alive(row["pid"], row["pid_start"])
            assert session_row(oci, row["id"]) is None
            wait_no_exec_leftovers(oci)
        finally:
            kill_quietly(client)


def test_sigint_to_cli_escalates_when_ignored(oci: OciEnv) -> None:
    # The process ignores SIGINT and SIGTERM: after the grace period it is killed.
    script = 'trap "" INT TERM; echo ready; while :; do sleep 0.1; done'
    with running_container(oci):
        client = oci.spawn("exec", "c", "sh", "-c", script)
        try:
            row = wait_until(lambda: running_rows(oci), "the attached session to run")[0]
            assert client.stdout is not None
            assert client.stdout.readline() == b"ready\n"
            client.send_signal(signal.SIGINT)
            client.communicate(timeout=60)
            assert client.returncode == 137
            assert not alive(row["pid"], row["pid_start"])
            assert session_row(oci, row["id"]) is None
            wait_no_exec_leftovers(oci)
        finally:
            kill_quietly(client)


def test_second_sigint_stops_at_once(oci: OciEnv) -> None:
    script = 'trap "" INT TERM; echo ready; while :; do sleep 0.1; done'
    with running_container(oci):
        client = oci.spawn("exec", "c", "sh", "-c", script)
        try:
            row = wait_until(lambda: running_rows(oci), "the attached session to run")[0]
            assert client.stdout is not None
            assert client.stdout.readline() == b"ready\n"
            client.send_signal(signal.SIGINT)
            time.sleep(0.2)
            if client.poll() is None:
                client.send_signal(signal.SIGINT)
            client.communicate(timeout=60)
            assert client.returncode == 137
            assert not alive(row["pid"], row["pid_start"])
            assert session_row(oci, row["id"]) is None
        finally:
            kill_quietly(client)
