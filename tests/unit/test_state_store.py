"""The state layer: records round-trip, lookups by prefix treat % and _ literally,
transactions are all or nothing, and a container with sessions is not deleted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipy_oci.errors import (
    AmbiguousRef,
    InvalidState,
    NameInUse,
    NoSuchContainer,
    NoSuchExecSession,
)
from ipy_oci.state.records import (
    ContainerConfig,
    ContainerRecord,
    ExecConfig,
    ExecRecord,
    ExecState,
    State,
)
from ipy_oci.state.store import StateStore


def _container(cid: str, name: str, state: str = State.RUNNING) -> ContainerRecord:
    return ContainerRecord(id=cid, name=name, image_id="img", image_name="busybox",
                           created_at=time.time(), state=state,
                           config=ContainerConfig(image="busybox", command=["sh"],
                                                  labels={"a": "b"}),
                           oom_killed=True)


def _session(sid: str, cid: str) -> ExecRecord:
    return ExecRecord(id=sid, container_id=cid, state=ExecState.CREATED,
                      config=ExecConfig(command=["true"], env=["A=1"]), created_at=time.time(),
                      attached=True, owner_kernel="k1", owner_pid=1)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    st = StateStore(tmp_path / "state.db")
    yield st
    st.close()


def test_records_round_trip(store: StateStore) -> None:
    rec = _container("ab" * 32, "box")
    store.add_container(rec)
    got = store.container(rec.id)
    assert got is not None and got == rec and got is not rec
    assert got.config.labels == {"a": "b"} and got.oom_killed is True
    sess = _session("cd" * 32, rec.id)
    store.add_exec_session(sess)
    assert store.exec_session(sess.id) == sess
    store.update(sess, state=ExecState.RUNNING, pid=42)
    again = store.exec_session(sess.id)
    assert again is not None and again.state == ExecState.RUNNING and again.pid == 42
    assert store.exec_counts() == {rec.id: 1}
    assert [r.id for r in store.exec_sessions(rec.id, states=(ExecState.RUNNING,))] == [sess.id]
    assert store.exec_sessions(owner_kernel="other") == []


def test_prefix_lookups_escape_like_wildcards(store: StateStore) -> None:
    rec = _container("ab" * 32, "box")
    store.add_container(rec)
    sess = _session("cd" * 32, rec.id)
    store.add_exec_session(sess)
    for ref in ("%", "_", "%cd", "c_", "cd%", "\\"):
        with pytest.raises(NoSuchExecSession):
            store.find_exec_session(ref)
    assert store.find_exec_session("cdc").id == sess.id
    for ref in ("%", "a_", "ab%"):
        with pytest.raises(NoSuchContainer):
            store.find_container(ref)
    assert store.find_container("aba").id == rec.id
    assert store.find_container("box").id == rec.id


def test_ambiguous_prefix(store: StateStore) -> None:
    store.add_container(_container("ab" + "0" * 62, "one"))
    store.add_container(_container("ab" + "1" * 62, "two"))
    with pytest.raises(AmbiguousRef, match="2 containers"):
        store.find_container("ab")


def test_names_are_unique(store: StateStore) -> None:
    store.add_container(_container("ab" * 32, "box"))
    with pytest.raises(NameInUse, match="box"):
        store.add_container(_container("ef" * 32, "box"))


def test_exec_needs_a_running_container(store: StateStore) -> None:
    store.add_container(_container("ab" * 32, "box", state=State.PAUSED))
    with pytest.raises(InvalidState, match="unpause it first"):
        store.add_exec_session(_session("cd" * 32, "ab" * 32))
    with pytest.raises(NoSuchContainer):
        store.add_exec_session(_session("cd" * 32, "ef" * 32))
    assert store.exec_sessions() == []


def test_container_with_sessions_is_not_deleted(store: StateStore) -> None:
    rec = _container("ab" * 32, "box")
    store.add_container(rec)
    store.add_exec_session(_session("cd" * 32, rec.id))
    assert store.delete_container(rec.id) is False
    assert store.container(rec.id) is not None
    store.delete_exec_session("cd" * 32)
    assert store.delete_container(rec.id) is True
    assert store.container(rec.id) is None


def test_transaction_is_all_or_nothing(store: StateStore) -> None:
    rec = _container("ab" * 32, "box")
    with pytest.raises(RuntimeError), store.transaction():
        store.add_container(rec)
        store.add_exec_session(_session("cd" * 32, rec.id))
        raise RuntimeError("boom")
    assert store.container(rec.id) is None and store.exec_sessions() == []


def test_mark_stopped_only_once(store: StateStore) -> None:
    rec = _container("ab" * 32, "box")
    store.add_container(rec)
    sess = _session("cd" * 32, rec.id)
    store.add_exec_session(sess)
    assert store.mark_exec_stopped(sess.id, 3, time.time()) is False  # not running
    store.update(sess, state=ExecState.RUNNING)
    assert store.mark_exec_stopped(sess.id, 3, time.time()) is True
    assert store.mark_exec_stopped(sess.id, 4, time.time()) is False
    again = store.exec_session(sess.id)
    assert again is not None and again.exit_code == 3
