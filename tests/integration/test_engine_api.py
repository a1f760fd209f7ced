"""The engine's public API (``Runtime`` / ``Container``), in process, with real containers."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import OciEnv, wait_until

from ipy_oci.engine.names import valid_name
from ipy_oci.engine.records import ContainerConfig
from ipy_oci.errors import (
    AmbiguousRef,
    CommandNotFound,
    InvalidState,
    NameInUse,
    NoSuchContainer,
    NoSuchImage,
    OciError,
    UsageError,
)


def _cfg(*cmd: str, **kw: Any) -> ContainerConfig:
    return ContainerConfig(image="busybox", command=[], cmd=list(cmd) or None, **kw)


@pytest.fixture
def rt(oci: OciEnv) -> Iterator[Any]:
    """The engine Runtime; every container left at the end is force-removed."""
    runtime = oci.runtime()
    yield runtime
    for ctr in runtime.containers(all=True):
        try:
            ctr.remove(force=True, timeout=0)
        except OciError:
            pass


def test_lifecycle(rt: Any) -> None:
    ctr = rt.create_container(_cfg("sh", "-c", 'trap "exit 3" TERM; echo up; sleep 1000 & wait'),
                              name="eng1")
    assert re.fullmatch(r"[0-9a-f]{64}", ctr.id)
    assert ctr.name == "eng1" and ctr.state == "configured"
    assert ctr.record.config.command == ["sh", "-c",
                                         'trap "exit 3" TERM; echo up; sleep 1000 & wait']
    ctr.start()
    assert ctr.state == "running"
    assert rt.lookup_container("eng1").refresh().state == "running"
    wait_until(lambda: b"up" in b"".join(d for _s, d in ctr.logs()), "the container to print",
               timeout=15)
    assert ctr.stop(timeout=30) == 3
    assert ctr.refresh().state == "exited"
    assert ctr.record.exit_code == 3
    info = ctr.inspect()
    assert info["State"]["ExitCode"] == 3 and info["Name"] == "eng1"
    ctr.remove()
    with pytest.raises(NoSuchContainer):
        rt.lookup_container("eng1")
    assert rt.containers(all=True) == []


def test_run_wait_kill_pause(rt: Any) -> None:
    quick = rt.run(_cfg("sh", "-c", "exit 12"), name="quick")
    assert quick.wait(timeout=30) == 12
    slow = rt.run(_cfg("sleep", "1000"), name="slow")
    assert slow.wait(timeout=0.3) is None  # still running: the wait times out
    slow.pause()
    assert slow.state == "paused"
    with pytest.raises(InvalidState, match="paused"):
        slow.pause()
    with pytest.raises(InvalidState, match="running|paused"):
        slow.remove()
    slow.unpause()
    slow.kill(signal.SIGKILL)
    assert slow.wait(timeout=30) == 137
    running = [c.name for c in rt.containers(all=False)]
    assert running == []
    assert sorted(c.name for c in rt.containers(all=True)) == ["quick", "slow"]
    for c in (quick, slow):
        c.remove()
    assert rt.containers(all=True) == []


def test_run_attached_collects_output(rt: Any) -> None:
    ctr = rt.create_container(_cfg("sh", "-c", "echo out; echo err >&2; exit 2"),
                              name="att", )
    chunks: list[tuple[int, bytes]] = []
    res = ctr.run_attached(lambda stream, data: chunks.append((stream, data)), remove=True)
    assert res.exit_code == 2
    by_stream: dict[int, bytes] = {}
    for stream, data in chunks:
        by_stream[stream] = by_stream.get(stream, b"") + data
    assert sorted(by_stream.values()) == [b"err\n", b"out\n"]
    assert by_stream.get(3) == b"err\n"  # stderr is attach stream 3
    with pytest.raises(NoSuchContainer):
        rt.lookup_container("att")


def test_lookup_by_name_id_and_prefix(rt: Any) -> None:
    a = rt.create_container(_cfg("true"), name="alpha")
    b = rt.create_container(_cfg("true"), name="beta")
    for ref in ("alpha", a.id):
        assert rt.lookup_container(ref).id == a.id
    assert rt.lookup_container("beta").id == b.id
    # the shortest prefix of a.id that b.id does not share is unique
    n = next(i for i in range(1, 65) if a.id[:i] != b.id[:i])
    assert rt.lookup_container(a.id[:n]).id == a.id
    assert rt.lookup_container(a.id[:12]).id == a.id
    with pytest.raises(NoSuchContainer, match="gamma"):
        rt.lookup_container("gamma")
    with pytest.raises(NoSuchContainer):
        rt.lookup_container(a.id[:12] + "z")  # not hex: never a prefix
    with pytest.raises(NoSuchContainer):
        rt.lookup_container("")


def test_ambiguous_prefix(rt: Any) -> None:
    # 17 IDs cannot all start with different hex digits: make a clash.
    by_first: dict[str, list[Any]] = {}
    while not any(len(v) > 1 for v in by_first.values()):
        c = rt.create_container(_cfg("true"))
        by_first.setdefault(c.id[0], []).append(c)
        assert sum(len(v) for v in by_first.values()) <= 17
    first, clash = next((k, v) for k, v in by_first.items() if len(v) > 1)
    with pytest.raises(AmbiguousRef) as exc:
        rt.lookup_container(first)
    assert first in str(exc.value) and exc.value.exit_code == 125
    # the full IDs still resolve
    for c in clash:
        assert rt.lookup_container(c.id).id == c.id


def test_generated_names_unique_and_valid(rt: Any) -> None:
    ctrs = [rt.create_container(_cfg("true")) for _ in range(40)]
    names = [c.name for c in ctrs]
    assert len(set(names)) == 40
    for n in names:
        assert valid_name(n) and re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", n), n
        assert rt.lookup_container(n).name == n


def test_create_errors_leave_no_row(rt: Any) -> None:
    with pytest.raises(NoSuchImage, match="no-such-image"):
        rt.create_container(ContainerConfig(image="no-such-image", command=[]), pull="never")
    with pytest.raises(OciError, match="no-such-image"):  # the pull (a closed port) fails
        rt.create_container(ContainerConfig(image="no-such-image", command=[]))
    with pytest.raises(UsageError, match="bad name"):
        rt.create_container(_cfg("true"), name="bad name")
    first = rt.create_container(_cfg("true"), name="dup")
    with pytest.raises(NameInUse, match="dup") as exc:
        rt.create_container(_cfg("true"), name="dup")
    assert first.id[:12] in str(exc.value)
    with pytest.raises(CommandNotFound) as nf:
        rt.run(_cfg("no-such-command"), name="nf")
    assert nf.value.exit_code == 127
    assert [c.name for c in rt.containers(all=True)] == ["dup"]


def test_state_errors_name_the_state(rt: Any) -> None:
    ctr = rt.create_container(_cfg("true"), name="idle")
    with pytest.raises(InvalidState, match="idle.*(configured|created)"):
        ctr.pause()
    with pytest.raises(InvalidState, match="idle.*(configured|created)"):
        ctr.kill()
    with pytest.raises(InvalidState, match="not paused"):
        ctr.unpause()


def test_stale_handle_of_removed_container(rt: Any, oci: OciEnv) -> None:
    """Another client removed the container: a handle we still hold raises
    NoSuchContainer for every operation and leaves nothing behind."""
    ctr = rt.create_container(_cfg("true"), name="gone")
    stale = rt.lookup_container("gone")
    ctr.remove()
    locks = oci.runroot / "locks"
    for op in (stale.start, stale.kill, stale.stop, stale.remove):
        with pytest.raises(NoSuchContainer):
            op()
    assert [f for f in os.listdir(locks) if f.startswith(ctr.id)] == []
