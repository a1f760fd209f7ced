"""The rootless pieces that need no user: subordinate id files, the id-map readers,
and how a forked call carries exceptions back (ipy_oci/userns/)."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

from ipy_oci import config
from ipy_oci.errors import NoSuchContainer, OciError
from ipy_oci.userns import enter, holder, subids


def test_ranges_are_read_by_name_or_uid(tmp_path: Path) -> None:
    f = tmp_path / "subuid"
    f.write_text("alice:100000:65536\n1001:300000:1000\nbob:200000:65536\n"
                 "alice:bad:1\nalice:0:5\n\n# comment\n")
    assert subids.read_ranges(str(f), "alice", 1001) == [
        subids.IdRange(100000, 65536), subids.IdRange(300000, 1000)]
    assert subids.read_ranges(str(f), "carol", 1003) == []
    assert subids.read_ranges(str(tmp_path / "missing"), "alice", 1001) == []


def test_free_range_starts_after_every_line(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    uid, gid = tmp_path / "subuid", tmp_path / "subgid"
    uid.write_text("a:100000:65536\nb:300000:65536\n")
    gid.write_text("a:100000:65536\nc:500000:10\n")
    monkeypatch.setattr(subids, "SUBUID_FILE", str(uid))
    monkeypatch.setattr(subids, "SUBGID_FILE", str(gid))
    assert subids.free_range() == subids.IdRange(500010, 65536)
    uid.write_text("")
    gid.write_text("")
    assert subids.free_range().start == 100000


def test_host_uid_of_root_outside_any_namespace() -> None:
    # This suite runs as root on the host: the identity map.
    assert config.host_uid() == os.getuid() == 0
    assert not config.is_rootless()
    assert not holder.in_user_namespace()
    uids, gids = holder.id_maps("self")
    assert uids == [(0, 0, 4294967295)] and gids == [(0, 0, 4294967295)]


def test_root_never_goes_through_the_namespace() -> None:
    assert enter.outside_holder() is None
    assert enter.prefix() == []
    assert enter.call(lambda a, b=1: a + b, 2, b=3) == 5
    marked = enter.in_userns(lambda: "plain")
    assert marked() == "plain"


def test_exceptions_come_back_whole_or_as_their_base() -> None:
    plain = OSError(errno.EPERM, "Operation not permitted", "/x")
    assert enter._portable(plain) is plain
    # NoSuchContainer's constructor takes a ref, not a message: pickling it would fail
    # on the way back, so its base class carries the message and the exit code.
    exc = NoSuchContainer("web")
    back = pickle.loads(pickle.dumps(enter._portable(exc)))
    assert isinstance(back, OciError) and str(back) == str(exc)
    assert back.exit_code == exc.exit_code


def test_a_forked_call_returns_results_and_raises_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # With a "holder" that is this very process, the child's setns is a no-op join of
    # our own namespaces: what is tested is the fork, the pipe and the pickling.
    monkeypatch.setattr(enter, "_outside_holder", os.getpid())
    monkeypatch.setattr(enter, "_join", lambda pid: None)
    assert enter.call(lambda: {"pid": os.getpid()})["pid"] != os.getpid()
    with pytest.raises(OciError, match="no container with name or ID"):
        enter.call(lambda: (_ for _ in ()).throw(NoSuchContainer("web")))
    with pytest.raises(holder.UsernsError, match="died"):
        enter.call(lambda: os._exit(3))
