"""``logs`` options, ``events`` and ``attach``, end to end against real runc + conmon.

Behaviour and wording follow podman v4.3.1 (test/system/035-logs.bats,
090-events.bats, docs/source/markdown/podman-{logs,events,attach}.1.md). Where a
test needs an order of events in time it uses gate files in a bind mount, never
sleeps; times for --since/--until come from the log's own timestamps.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import OciEnv, inspect, rm_force, wait_until

IMAGE = "localhost/busybox:latest"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|[+-]\d\d:\d\d)"
WAIT_GATE = "while [ ! -e /gate/{0} ]; do sleep 0.05; done"


# -- helpers ----------------------------------------------------------------------------
def _gated(oci: OciEnv, name: str, gate: Path, script: str, *flags: str) -> str:
    """A detached busybox running ``script`` with ``gate`` at /gate; returns its ID."""
    res = oci.cli("run", "-d", "--network", "none", "--name", name, *flags,
                  "-v", f"{gate}:/gate", "busybox", "sh", "-c", script, check=True)
    return res.stdout.strip()


def _wait_log(oci: OciEnv, name: str, text: str) -> None:
    wait_until(lambda: text in oci.cli("logs", name).stdout, f"{text!r} in logs of {name}")


def _events(oci: OciEnv, *args: str) -> list[str]:
    res = oci.cli("events", "--stream=false", *args, check=True)
    return res.stdout.splitlines()


def _attached_once(oci: OciEnv, name: str, *filters: str) -> None:
    """Until an ``attach`` event of ``name`` exists: the attach client is connected."""
    wait_until(lambda: _events(oci, "--filter", f"container={name}", "--filter",
                               "event=attach", *filters), f"{name} attached")


class Reader:
    """Lines of a running process's stdout, read as they come (select, bounded waits)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.buf = b""

    def until(self, pred: Callable[[bytes], bool], what: str, timeout: float = 30) -> bytes:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while not pred(self.buf):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.buf!r}")
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.buf += chunk
        assert pred(self.buf), f"{what}: stream ended with {self.buf!r}"
        return self.buf


def _spawn(oci: OciEnv, *args: str, stdin: int | None = subprocess.DEVNULL
           ) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "ipy_oci", *args], env=oci.env,
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _end(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def _pty_session(oci: OciEnv, args: list[str],
                 steps: list[tuple[bytes, bytes]], timeout: float = 60) -> tuple[int, bytes]:
    """``ipy-oci ARGS`` on a pty; each step waits for its text in the output (from the
    end of what the previous step matched) and then types its keys."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "ipy_oci", *args], env=oci.env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    out = bytearray()
    pos, i = 0, 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if i < len(steps):
                at = out.find(steps[i][0], pos)
                if at >= 0:
                    pos = at + len(steps[i][0])
                    os.write(master, steps[i][1])
                    i += 1
                    continue
            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        _end(proc)
        os.close(master)
    assert i == len(steps), f"step {i} ({steps[i][0]!r}) never came: {bytes(out)!r}"
    return rc, bytes(out)


# -- logs ---------------------------------------------------------------------------------
def test_logs_tail_and_timestamps_across_a_restart(oci: OciEnv) -> None:
    """podman's 'logs - tail test': the last line, with a timestamp; a restart appends."""
    try:
        oci.cli("run", "-d", "--network", "none", "--name", "lt", "busybox", "sh", "-c",
                "echo test1; echo test2", check=True)
        oci.cli("wait", "lt", check=True)
        first = oci.cli("logs", "--tail", "1", "--timestamps", "lt", check=True).stdout
        assert re.fullmatch(f"{STAMP} test2\n", first), first
        oci.cli("restart", "lt", check=True)
        oci.cli("wait", "lt", check=True)
        second = oci.cli("logs", "-t", "--tail", "1", "lt", check=True).stdout
        assert re.fullmatch(f"{STAMP} test2\n", second), second
        assert second != first, "log timestamps should differ"
        assert oci.cli("logs", "lt", check=True).stdout == "test1\ntest2\n" * 2
        assert oci.cli("logs", "--tail", "3", "lt", check=True).stdout == \
            "test2\ntest1\ntest2\n"
        assert oci.cli("logs", "--tail", "0", "lt", check=True).stdout == ""
        assert oci.cli("logs", "--tail", "-1", "lt", check=True).stdout == \
            "test1\ntest2\n" * 2
    finally:
        rm_force(oci, "lt")


def test_logs_since_and_until(oci: OciEnv, tmp_path: Path) -> None:
    """--since/--until in each of podman's forms; the times are the log's own."""
    try:
        _gated(oci, "ls", tmp_path, f"echo before; {WAIT_GATE.format('go')}; echo after")
        _wait_log(oci, "ls", "before")
        (tmp_path / "go").touch()
        oci.cli("wait", "ls", check=True)
        stamped = oci.cli("logs", "-t", "ls", check=True).stdout.splitlines()
        (s1, _), (s2, _) = (line.split(" ", 1) for line in stamped)
        assert s1 < s2

        def logs(*flags: str) -> str:
            return oci.cli("logs", *flags, "ls", check=True).stdout

        assert logs() == "before\nafter\n"
        assert logs("--since", s1) == "after\n"  # strictly after, as podman
        assert logs("--until", s2) == "before\n"
        assert logs("--since", s1, "--until", s2) == ""
        assert logs("--since", "0") == "before\nafter\n"  # Unix seconds
        assert logs("--since", "1000") == "before\nafter\n"
        assert logs("--until", "1000") == ""
        assert logs("--since", "10m") == "before\nafter\n"  # durations: ago ...
        assert logs("--until", "10m") == "before\nafter\n"  # ... and from now
        assert logs("--since", "2000-01-01") == "before\nafter\n"
        assert logs("--until", "2000-01-01T00:00:00Z") == ""
        assert logs("--since", s1, "-t", "--tail", "5") == f"{s2} after\n"
    finally:
        rm_force(oci, "ls")


def test_logs_partial_lines_are_whole_again(oci: OciEnv) -> None:
    """Pieces conmon wrote with its P tag come back as one line with one prefix."""
    try:
        oci.cli("run", "--network", "none", "--name", "lp", "busybox", "sh", "-c",
                "printf part; sleep 0.2; printf more; sleep 0.2; echo end; "
                "head -c 20000 /dev/zero | tr '\\0' a; echo", check=True)
        raw = (oci.root / "containers" / inspect(oci, "lp")["Id"] / "ctr.log").read_bytes()
        assert b" stdout P " in raw, "conmon wrote no partial pieces: the test proves nothing"
        out = oci.cli("logs", "-t", "lp", check=True).stdout.splitlines()
        assert len(out) == 2
        assert re.fullmatch(f"{STAMP} partmoreend", out[0]), out[0]
        assert re.fullmatch(f"{STAMP} a{{20000}}", out[1]), out[1][:80]
        assert oci.cli("logs", "--tail", "1", "lp", check=True).stdout == "a" * 20000 + "\n"
    finally:
        rm_force(oci, "lp")


def test_logs_of_several_containers_and_names(oci: OciEnv) -> None:
    try:
        id1 = oci.cli("run", "-d", "--network", "none", "--name", "lm1", "busybox", "sh",
                      "-c", "echo a; echo oops >&2", check=True).stdout.strip()
        id2 = oci.cli("run", "-d", "--network", "none", "--name", "lm2", "busybox",
                      "echo", "b", check=True).stdout.strip()
        oci.cli("wait", "lm1", "lm2", check=True)
        res = oci.cli("logs", "lm1", "lm2", check=True)
        assert res.stdout == f"{id1[:12]} a\n{id2[:12]} b\n"
        assert res.stderr == f"{id1[:12]} oops\n"
        assert oci.cli("logs", "-n", "lm1", "lm2", check=True).stdout == "lm1 a\nlm2 b\n"
        assert oci.cli("logs", "--names", "lm2", check=True).stdout == "b\n"  # one: no prefix
        assert oci.cli("logs", "--latest", check=True).stdout == "b\n"
        colored = oci.cli("logs", "--color", "--names", "lm1", "lm2", check=True).stdout
        assert colored == "\x1b[37mlm1 a\x1b[0m\n\x1b[31mlm2 b\x1b[0m\n"
    finally:
        rm_force(oci, "lm1", "lm2")


def test_logs_follow_several_containers(oci: OciEnv, tmp_path: Path) -> None:
    """podman's 'logs - multi': lines interleaved as they come; done when all exited
    (and were removed: --rm)."""
    proc = None
    try:
        id1 = _gated(oci, "f1", tmp_path, f"echo a; {WAIT_GATE.format('1')}; echo d", "--rm")
        id2 = _gated(oci, "f2", tmp_path, f"{WAIT_GATE.format('0')}; echo b; echo c", "--rm")
        _wait_log(oci, "f1", "a")
        proc = _spawn(oci, "logs", "-f", "f1", "f2")
        lines = Reader(proc)
        lines.until(lambda b: b"a\n" in b, "line a")
        (tmp_path / "0").touch()
        lines.until(lambda b: b"c\n" in b, "line c")
        assert proc.poll() is None, "logs -f ended while f1 still runs"
        (tmp_path / "1").touch()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert lines.buf + out == (f"{id1[:12]} a\n{id2[:12]} b\n{id2[:12]} c\n"
                                   f"{id1[:12]} d\n").encode()
    finally:
        _end(proc)
        rm_force(oci, "f1", "f2")


def test_logs_follow_with_tail_and_timestamps(oci: OciEnv, tmp_path: Path) -> None:
    proc = None
    try:
        _gated(oci, "ft", tmp_path, f"echo 1; echo 2; echo 3; {WAIT_GATE.format('go')}; "
                                    "echo 4")
        _wait_log(oci, "ft", "3")
        proc = _spawn(oci, "logs", "-f", "--tail", "1", "-t", "ft")
        lines = Reader(proc)
        lines.until(lambda b: b" 3\n" in b, "the last line")
        (tmp_path / "go").touch()
        out, _ = proc.communicate(timeout=60)
        got = (lines.buf + out).decode().splitlines()
        assert [x.split(" ", 1)[1] for x in got] == ["3", "4"]
        assert all(re.fullmatch(f"{STAMP} \\d", x) for x in got)
    finally:
        _end(proc)
        rm_force(oci, "ft")


def test_logs_of_a_container_without_a_log(oci: OciEnv) -> None:
    try:
        oci.cli("create", "--network", "none", "--log-driver", "none", "--name", "nolog",
                "busybox", "true", check=True)
        res = oci.cli("logs", "nolog")
        assert res.returncode == 125
        assert "this container is using the 'none' log driver, cannot read logs" in res.stderr
        res = oci.cli("logs", "-f", "nolog")
        assert res.returncode == 125
        assert oci.cli("logs", "--tail", "1", "nolog").returncode == 125
    finally:
        rm_force(oci, "nolog")


@pytest.mark.parametrize("args,words", [
    (["logs"], "specify at least one container name or ID to log"),
    (["logs", "ghost-log"], "ghost-log"),
    (["logs", "--tail", "x", "ghost-log"], "--tail"),
    (["logs", "--since", "bogus", "ghost-log"], "parsing --since: invalid time 'bogus'"),
    (["logs", "--until", "2023-02-30", "ghost-log"], "parsing --until"),
    (["logs", "-l", "ghost-log"], "--latest and containers cannot be used together"),
    (["logs", "--latest"], "--latest found no containers"),
])
def test_logs_bad_inputs(oci: OciEnv, args: list[str], words: str) -> None:
    res = oci.cli(*args)
    assert res.returncode == 125, res
    assert words in res.stderr
    assert res.stdout == ""


# -- events -----------------------------------------------------------------------------------
def test_events_of_a_container_lifecycle(oci: OciEnv) -> None:
    t0 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
    try:
        res = oci.cli("run", "--rm", "--network", "none", "--name", "ev1", "--label", "k=v x",
                      "busybox", "sh", "-c", "exit 3")
        assert res.returncode == 3
        statuses = _events(oci, "--filter", "container=ev1", "--format", "{{.Status}}")
        assert statuses == ["create", "init", "start", "attach", "died", "cleanup", "remove"]
        # podman's 'labels included in container die'
        assert _events(oci, "--filter", "container=ev1", "--filter", "status=died",
                       "--format", "{{.ContainerExitCode}} {{.Attributes.k}}") == ["3 v x"]
        line = _events(oci, "--filter", "container=ev1", "--filter", "event=start")
        assert len(line) == 1
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+ container "
                            rf"start [0-9a-f]{{64}} \(image={IMAGE}, name=ev1, k=v x\)",
                            line[0]), line
        short = _events(oci, "--filter", "container=ev1", "--filter", "event=start",
                        "--no-trunc=false")
        assert re.search(r" container start [0-9a-f]{12} \(", short[0]), short
        docs = [json.loads(x) for x in _events(oci, "--filter", "container=ev1", "--format",
                                               "json")]
        assert [d["Status"] for d in docs] == statuses
        assert {d["Type"] for d in docs} == {"container"}
        assert {d["Name"] for d in docs} == {"ev1"} and {d["Image"] for d in docs} == {IMAGE}
        assert docs[4]["ContainerExitCode"] == 3 and docs[0]["Attributes"] == {"k": "v x"}
        # --since / --until and their --filter forms
        assert len(_events(oci, "--since", t0, "--filter", "container=ev1")) == 7
        assert _events(oci, "--until", t0, "--filter", "container=ev1") == []
        assert len(_events(oci, "--filter", f"since={t0}", "--filter", "container=ev1")) == 7
        assert _events(oci, "--filter", f"until={t0}", "--filter", "container=ev1") == []
        assert _events(oci, "--filter", "label=k=v x", "--filter", "event=died",
                       "--format", "{{.Name}}") == ["ev1"]
        assert _events(oci, "--filter", "label=k=other") == []
    finally:
        rm_force(oci, "ev1")


def test_events_of_stop_kill_pause_restart_exec(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-d", "--network", "none", "--name", "ev2", "busybox", "sleep", "1000",
                check=True)
        oci.cli("pause", "ev2", check=True)
        oci.cli("unpause", "ev2", check=True)
        assert oci.cli("exec", "ev2", "sh", "-c", "exit 4").returncode == 4
        oci.cli("kill", "ev2", check=True)
        oci.cli("wait", "ev2", check=True)
        oci.cli("restart", "-t", "0", "ev2", check=True)
        oci.cli("stop", "-t", "0", "ev2", check=True)
        got = _events(oci, "--filter", "container=ev2", "--format", "{{.Status}}")
        assert got[:9] == ["create", "init", "start", "pause", "unpause", "exec", "exec_died",
                           "kill", "died"]
        assert got[9:] == ["cleanup", "restart", "init", "start", "stop", "died", "cleanup"] \
            or got[9:] == ["cleanup", "restart", "init", "start", "died", "cleanup", "stop"] \
            or got[9:] == ["cleanup", "restart", "init", "start", "died", "stop", "cleanup"]
        died = _events(oci, "--filter", "container=ev2", "--filter", "event=exec_died",
                       "--format", "{{.ContainerExitCode}} {{len .Attributes.execID}}")
        assert died == ["4 64"]
        both = _events(oci, "--filter", "event=pause", "--filter", "event=unpause",
                       "--format", "{{.Status}}")
        assert both == ["pause", "unpause"]
    finally:
        rm_force(oci, "ev2")


def test_events_of_images_networks_and_volumes(oci: OciEnv) -> None:
    try:
        oci.cli("tag", "busybox", "localhost/ev-tag:1", check=True)
        oci.cli("untag", "busybox", "localhost/ev-tag:1", check=True)
        got = _events(oci, "--filter", "type=image", "--format", "{{.Status}}--{{.Name}}")
        assert got == ["tag--localhost/ev-tag:1", "untag--localhost/ev-tag:1"]
        image_id = inspect(oci, "busybox", "image")["Id"]
        assert _events(oci, "--filter", "type=image", "--filter", "event=tag",
                       "--format", "{{.ID}}") == [image_id.removeprefix("sha256:")]
        assert _events(oci, "--filter", f"image={image_id.removeprefix('sha256:')[:12]}",
                       "--format", "{{.Status}}") == ["tag", "untag"]
        oci.cli("network", "create", "evnet", check=True)
        oci.cli("network", "rm", "evnet", check=True)
        assert _events(oci, "--filter", "network=evnet", "--format",
                       "{{.Type}} {{.Status}} {{.Network}}") == [
            "network create evnet", "network remove evnet"]
        oci.cli("volume", "create", "evvol", check=True)
        oci.cli("volume", "rm", "evvol", check=True)
        oci.cli("volume", "create", "evgone", check=True)
        oci.cli("volume", "prune", "-f", check=True)
        assert _events(oci, "--filter", "type=volume", "--format", "{{.Status}} {{.Name}}") \
            == ["create evvol", "remove evvol", "create evgone", "prune evgone"]
        assert _events(oci, "--filter", "volume=evvol", "--format", "{{.Status}}") == [
            "create", "remove"]
        assert _events(oci, "--filter", "type=container") == []
    finally:
        oci.cli("untag", "busybox", "localhost/ev-tag:1")
        oci.cli("network", "rm", "-f", "evnet")
        oci.cli("volume", "rm", "-f", "evvol", "evgone")


def test_events_stream_shows_new_events_until_interrupted(oci: OciEnv) -> None:
    proc = None
    try:
        oci.cli("tag", "busybox", "localhost/ev-old:1", check=True)
        proc = _spawn(oci, "events", "--filter", "event=tag", "--format", "{{.Name}}")
        lines = Reader(proc)
        n = 0

        def tagged(buf: bytes) -> bool:
            # The stream starts at the end of the log once it has opened it; tag until
            # one of ours shows, so the test does not depend on when that was.
            nonlocal n
            if b"ev-new" not in buf:
                n += 1
                oci.cli("tag", "busybox", f"localhost/ev-new:{n}", check=True)
                return False
            return True

        lines.until(tagged, "a new tag event")
        assert b"ev-old" not in lines.buf, "a stream without --since shows only new events"
        assert proc.poll() is None, "the stream ended by itself"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        assert proc.returncode in (0, 130)
        # With --since the log is read from its start, then followed; --until ends it.
        res = oci.cli("events", "--since", "5m", "--until", "1s", "--filter", "event=tag",
                      "--format", "{{.Name}}", check=True, timeout=60)
        assert res.stdout.splitlines()[0] == "localhost/ev-old:1"
    finally:
        _end(proc)
        for name in ["localhost/ev-old:1", *(f"localhost/ev-new:{i}" for i in range(1, 50))]:
            oci.cli("untag", "busybox", name)


@pytest.mark.parametrize("args,words", [
    (["--filter", "bogus"], "invalid filter 'bogus': use KEY=VALUE"),
    (["--filter", "color=red"], "'color' is an invalid events filter"),
    (["--filter", "type=nope"], "unknown event type 'nope'"),
    (["--filter", "event=strat"], "unknown event status 'strat'"),
    (["--since", "soonish"], "--since: invalid time 'soonish'"),
    (["--until", "2023-13-01"], "--until: invalid time"),
    (["--stream=maybe"], "invalid boolean 'maybe'"),
    (["--format", "{{.Status"], "template"),
    (["--format", "{{.Nope}}"], "can't evaluate field Nope"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_events_bad_inputs(oci: OciEnv, args: list[str], words: str) -> None:
    oci.cli("tag", "busybox", "localhost/ev-bad:1", check=True)  # one event to format
    try:
        res = oci.cli("events", "--stream=false", *args)
        assert res.returncode == 125, res
        assert words in res.stderr, res.stderr
    finally:
        oci.cli("untag", "busybox", "localhost/ev-bad:1")


# -- attach ------------------------------------------------------------------------------------
def test_attach_terminal_detach_and_attach_again(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-dit", "--network", "none", "--name", "at", "busybox", "sh",
                check=True)
        rc, out = _pty_session(oci, ["attach", "at"], [
            (b"# ", b"echo hel''lo-at\n"), (b"hello-at", b"\x10\x11")])
        assert rc == 0, out
        assert b"detached from" in out and b"it keeps running" in out
        assert inspect(oci, "at")["State"]["Status"] == "running"
        # Attached again, the terminal still takes input (podman: no -i with -t).
        rc, out = _pty_session(oci, ["attach", "--detach-keys", "ctrl-x", "at"], [
            (b"# ", b"echo sec''ond\n"), (b"second", b"\x18")])
        assert rc == 0 and b"detached from" in out
        rc, out = _pty_session(oci, ["attach", "at"], [(b"# ", b"exit 7\n")])
        assert rc == 7, out
        state = inspect(oci, "at")["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 7)
        assert len(_events(oci, "--filter", "container=at", "--filter", "event=attach")) == 3
    finally:
        rm_force(oci, "at")


def test_attach_output_and_exit_code(oci: OciEnv, tmp_path: Path) -> None:
    """No terminal: stdout and stderr come through apart; the exit code is the
    container's; an --rm container is gone afterwards."""
    proc = None
    try:
        _gated(oci, "ao", tmp_path, f"{WAIT_GATE.format('go')}; echo out; echo err >&2; "
                                    "exit 5", "--rm")
        proc = _spawn(oci, "attach", "ao")
        _attached_once(oci, "ao")
        (tmp_path / "go").touch()
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out, err) == (5, b"out\n", b"err\n")
        assert oci.cli("ps", "-a", "-q").stdout == ""
        assert oci.cli("inspect", "ao").returncode == 125
    finally:
        _end(proc)
        rm_force(oci, "ao")


def test_attach_sig_proxy(oci: OciEnv, tmp_path: Path) -> None:
    """Ctrl-C reaches the container (--sig-proxy, the default) or detaches (false)."""
    proc = None
    try:
        _gated(oci, "as", tmp_path, "trap 'echo got-int; exit 9' INT; echo ready; "
                                    f"{WAIT_GATE.format('never')}")
        _wait_log(oci, "as", "ready")
        proc = _spawn(oci, "attach", "--sig-proxy=false", "as")
        _attached_once(oci, "as")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0 and b"detached from" in err
        assert inspect(oci, "as")["State"]["Status"] == "running"
        proc = _spawn(oci, "attach", "as")
        wait_until(lambda: len(_events(oci, "--filter", "container=as", "--filter",
                                       "event=attach")) == 2, "second attach")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert (proc.returncode, out) == (9, b"got-int\n")
    finally:
        _end(proc)
        rm_force(oci, "as")


def test_attach_to_a_detached_exec_session(oci: OciEnv, tmp_path: Path) -> None:
    proc = None
    try:
        _gated(oci, "ae", tmp_path, "sleep 1000")
        sid = oci.cli("exec", "-d", "ae", "sh", "-c", f"{WAIT_GATE.format('go')}; "
                      "echo from-exec; exit 4", check=True).stdout.strip()
        proc = _spawn(oci, "attach", sid[:12])
        _attached_once(oci, "ae", "--filter", f"label=execID={sid}")
        (tmp_path / "go").touch()
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out) == (4, b"from-exec\n"), err
        res = oci.cli("attach", sid)
        assert res.returncode == 125
        assert "is stopped (exit code 4): only a running exec session" in res.stderr
    finally:
        _end(proc)
        rm_force(oci, "ae")


@pytest.mark.parametrize("args,words", [
    (["attach"], "attach requires the name or id of one running container"),
    (["attach", "ghost-at"], "ghost-at"),
    (["attach", "-l", "ghost-at"], "--latest and a container cannot be used together"),
    (["attach", "--detach-keys", "ctrl-1", "ghost-at"], "invalid detach key 'ctrl-1'"),
    (["attach", "--sig-proxy=nah", "ghost-at"], "invalid boolean 'nah'"),
    (["attach", "a", "b"], "unrecognized arguments: b"),
])
def test_attach_bad_inputs(oci: OciEnv, args: list[str], words: str) -> None:
    res = oci.cli(*args)
    assert res.returncode == 125, res
    assert words in res.stderr


def test_attach_refuses_a_container_that_does_not_run(oci: OciEnv) -> None:
    try:
        oci.cli("create", "--network", "none", "--name", "anr", "busybox", "true", check=True)
        res = oci.cli("attach", "anr")
        assert res.returncode == 125
        assert "you can only attach to running containers: anr is created" in res.stderr
        assert "start --attach anr" in res.stderr
    finally:
        rm_force(oci, "anr")
