"""Every container command of the CLI, end to end against real runc + conmon.

Each test removes what it made (``rm -f -t 0`` in a ``finally``); the ``oci``
fixture then fails the test if anything of the root was left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import (
    OciEnv,
    children_of,
    inspect,
    proc_cmdline,
    rm_force,
    run_in_pty,
    wait_until,
)

IMAGE_NAME = "localhost/busybox:latest"
CATATONIT = shutil.which("catatonit") or "/usr/bin/catatonit"


# -- helpers ----------------------------------------------------------------------------
def _wait_log(oci: OciEnv, name: str, text: str) -> None:
    """Bounded wait until the container has written ``text`` (e.g. after its trap is set)."""
    wait_until(lambda: text in oci.cli("logs", name).stdout, f"{text!r} in logs of {name}",
               timeout=15)


def _ps_names(oci: OciEnv, *flags: str) -> list[str]:
    out = json.loads(oci.cli("ps", "--format", "json", *flags, check=True).stdout)
    return [n for c in out for n in c["Names"]]


# -- run ------------------------------------------------------------------------------
def test_run_attached_streams_stdout_and_stderr(oci: OciEnv) -> None:
    res = oci.cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "out\n"
    assert res.stderr == "err\n"
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


@pytest.mark.parametrize("code", [0, 3, 42])
def test_run_exit_code_passed_through_with_rm(oci: OciEnv, code: int) -> None:
    res = oci.cli("run", "--rm", "busybox", "sh", "-c", f"exit {code}")
    assert res.returncode == code, res.stderr
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


def test_run_exit_code_kept_without_rm(oci: OciEnv) -> None:
    try:
        res = oci.cli("run", "--name", "e3", "busybox", "sh", "-c", "exit 3")
        assert res.returncode == 3, res.stderr
        ps = oci.cli("ps", "-a", check=True).stdout
        assert re.search(r"Exited \(3\).*\be3$", ps, re.M), ps
        assert "e3" not in oci.cli("ps", check=True).stdout  # not running
        st = inspect(oci, "e3")["State"]
        assert st["Status"] == "exited" and st["ExitCode"] == 3 and st["Running"] is False
    finally:
        rm_force(oci, "e3")


def test_run_detached(oci: OciEnv) -> None:
    try:
        res = oci.cli("run", "-d", "--name", "det", "busybox", "sleep", "1000")
        assert res.returncode == 0, res.stderr
        cid = res.stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", cid), res.stdout
        assert _ps_names(oci) == ["det"]
        st = inspect(oci, "det")["State"]
        assert st["Status"] == "running" and st["Running"] is True
        assert st["Pid"] > 0
        cmdline = proc_cmdline(st["Pid"])
        assert cmdline.split(b"\0")[:2] == [b"sleep", b"1000"]
    finally:
        rm_force(oci, "det")


def test_run_interactive_stdin_piped(oci: OciEnv) -> None:
    res = oci.cli("run", "--rm", "-i", "busybox", "cat", input=b"hello\nworld\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "hello\nworld\n"
    # A larger payload arrives whole, and EOF reaches the container.
    payload = os.urandom(300_000)
    res2 = oci.cli_bytes("run", "--rm", "-i", "busybox", "md5sum", input=payload)
    assert res2.returncode == 0, res2.stderr
    assert res2.stdout.split()[0].decode() == hashlib.md5(payload).hexdigest()


def test_run_interactive_stdin_from_file(oci: OciEnv, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"from a file\n")
    with open(src, "rb") as fh:
        res = subprocess.run([sys.executable, "-m", "ipy_oci", "run", "--rm", "-i", "busybox",
                              "cat"], env=oci.env, stdin=fh, capture_output=True, timeout=60)
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    assert "Traceback" not in res.stderr.decode(), res.stderr
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"from a file\n"


def test_run_tty(oci: OciEnv) -> None:
    rc, out = run_in_pty(oci, ["run", "--rm", "-t", "busybox", "sh", "-c",
                               "echo TERM=$TERM; test -t 1 && echo IS-A-TTY; exit 0"],
                     timeout=30)
    assert rc == 0, out
    text = out.decode(errors="replace")
    assert "TERM=xterm" in text
    assert "IS-A-TTY" in text
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


def test_run_interactive_tty(oci: OciEnv) -> None:
    rc, out = run_in_pty(oci, ["run", "--rm", "-it", "busybox", "sh"],
                         feed=b"echo sum-$((40+2))\nexit 4\n", timeout=30)
    text = out.decode(errors="replace")
    assert "sum-42" in text  # the shell ran the typed line
    assert rc == 4, text
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


def test_run_tty_detach_keys(oci: OciEnv) -> None:
    """ctrl-p ctrl-q detaches the client; the container keeps running."""
    try:
        rc, out = run_in_pty(oci, ["run", "-it", "--name", "dk", "busybox", "sh"],
                             feed=b"\x10\x11", timeout=30)
        assert rc == 0, out
        assert b"detached from" in out
        assert inspect(oci, "dk")["State"]["Running"] is True
    finally:
        rm_force(oci, "dk")


def test_run_attached_ctrl_c_reaches_container(oci: OciEnv) -> None:
    """SIGINT to the attached client is forwarded; the run exits with the container's code."""
    proc = subprocess.Popen([sys.executable, "-m", "ipy_oci", "run", "--rm", "--name", "ci",
                             "busybox", "sh", "-c",
                             'trap "echo got-int; exit 42" INT; echo ready; sleep 1000 & wait'],
                            env=oci.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 42, err
        assert out == b"got-int\n"
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        rm_force(oci, "ci")


def test_run_env(oci: OciEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOCI_TEST_PASSED", "from-host")
    res = oci.cli("run", "--rm", "-e", "FOO=bar baz", "-e", "EMPTY=", "-e", "IOCI_TEST_PASSED",
                  "busybox", "sh", "-c", 'echo "$FOO|${EMPTY-unset}|$IOCI_TEST_PASSED|$TERM"')
    assert res.returncode == 0, res.stderr
    assert res.stdout == "bar baz||from-host|\n"


def test_run_user(oci: OciEnv) -> None:
    res = oci.cli("run", "--rm", "-u", "nobody", "busybox", "id")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("uid=65534(nobody) gid=65534(")
    res = oci.cli("run", "--rm", "-u", "1234:5678", "busybox", "id", "-u")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "1234\n"
    res = oci.cli("run", "--rm", "busybox", "id", "-u")
    assert res.stdout == "0\n"


def test_run_workdir(oci: OciEnv, tmp_path: Path) -> None:
    assert oci.cli("run", "--rm", "-w", "/tmp", "busybox", "pwd", check=True).stdout == "/tmp\n"
    # podman refuses a --workdir the image lacks (126); only the image's own is created
    res = oci.cli("run", "--rm", "-w", "/new/dir", "busybox", "pwd")
    assert res.returncode == 126, res.stderr
    assert res.stderr.startswith('Error: workdir "/new/dir" does not exist on container ')
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    # ... unless a mount provides it, or a path below it, as the runtime makes those
    vol = tmp_path / "wd-vol"
    vol.mkdir()
    (vol / "f").write_text("hi\n")
    for flags, cmd in ((["-v", f"{vol}:/new/dir"], ["cat", "f"]),
                       (["-v", f"{vol}/f:/new/dir/g"], ["cat", "g"])):
        res = oci.cli("run", "--rm", "--network", "none", "-w", "/new/dir", *flags,
                      "busybox", *cmd)
        assert (res.returncode, res.stdout) == (0, "hi\n"), res.stderr


def test_run_entrypoint(oci: OciEnv) -> None:
    res = oci.cli("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "a b\n"
    res = oci.cli("run", "--rm", "--entrypoint", '["/bin/sh", "-c"]', "busybox",
                  "echo json-form")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "json-form\n"


def test_run_volume_rw_and_ro(oci: OciEnv, tmp_path: Path) -> None:
    host = tmp_path / "vol"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    res = oci.cli("run", "--rm", "-v", f"{host}:/data", "busybox", "sh", "-c",
                  "cat /data/in.txt; echo from ctr > /data/out.txt")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "from host\n"
    assert (host / "out.txt").read_text() == "from ctr\n"

    res = oci.cli("run", "--rm", "-v", f"{host}:/data:ro", "busybox", "sh", "-c",
                  "cat /data/in.txt; echo nope > /data/ro.txt")
    assert res.stdout == "from host\n"
    assert res.returncode != 0
    assert "Read-only file system" in res.stderr
    assert not (host / "ro.txt").exists()


def test_run_volume_in_inspect(oci: OciEnv, tmp_path: Path) -> None:
    try:
        oci.cli("create", "--name", "mnt", "-v", f"{tmp_path}:/rw", "-v",
                f"{tmp_path}:/ro:ro", "busybox", "true", check=True)
        mounts = {m["Destination"]: m for m in inspect(oci, "mnt")["Mounts"]}
        assert set(mounts) == {"/rw", "/ro"}
        assert mounts["/rw"]["Source"] == str(tmp_path) and mounts["/rw"]["RW"] is True
        assert mounts["/ro"]["RW"] is False
    finally:
        rm_force(oci, "mnt")


def test_labels_in_inspect(oci: OciEnv) -> None:
    try:
        oci.cli("create", "--name", "lab", "-l", "team=core", "-l", "tier=", "busybox", "true",
                check=True)
        assert inspect(oci, "lab")["Config"]["Labels"] == {"team": "core", "tier": ""}
        ps = json.loads(oci.cli("ps", "-a", "--format", "json", check=True).stdout)
        assert ps[0]["Labels"] == {"team": "core", "tier": ""}
    finally:
        rm_force(oci, "lab")


def test_init_runs_catatonit_as_pid1(oci: OciEnv) -> None:
    if not os.access(CATATONIT, os.X_OK):
        pytest.skip("catatonit is not installed")
    res = oci.cli("run", "--rm", "--init", "busybox", "sh", "-c",
                  "cat /proc/1/cmdline; echo; md5sum /proc/1/exe")
    assert res.returncode == 0, res.stderr
    cmdline, md5line = res.stdout.splitlines()
    argv = cmdline.rstrip("\0").split("\0")
    # PID 1 is the init, and it runs our command after "--"
    assert argv[argv.index("--") + 1:] == ["sh", "-c", "cat /proc/1/cmdline; echo; "
                                           "md5sum /proc/1/exe"]
    host_md5 = hashlib.md5(Path(CATATONIT).read_bytes()).hexdigest()
    assert md5line.split()[0] == host_md5, "PID 1 is not the host's catatonit"
    # Without --init, PID 1 is the command itself.
    res = oci.cli("run", "--rm", "busybox", "cat", "/proc/1/cmdline")
    assert res.stdout.rstrip("\0").split("\0") == ["cat", "/proc/1/cmdline"]


def test_hostname(oci: OciEnv) -> None:
    assert oci.cli("run", "--rm", "--hostname", "box1", "busybox", "hostname",
                   check=True).stdout == "box1\n"
    try:
        res = oci.cli("run", "--name", "hn", "busybox", "hostname", check=True)
        info = inspect(oci, "hn")
        assert res.stdout.strip() == info["Id"][:12] == info["Config"]["Hostname"]
    finally:
        rm_force(oci, "hn")


def test_network_none_and_host(oci: OciEnv) -> None:
    res = oci.cli("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["lo"]
    res = oci.cli("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.split()) == sorted(os.listdir("/sys/class/net"))


def test_name_and_generated_name(oci: OciEnv) -> None:
    try:
        oci.cli("create", "--name", "my.ctr-1", "busybox", "true", check=True)
        gen_id = oci.cli("create", "busybox", "true", check=True).stdout.strip()
        names = _ps_names(oci, "-a")
        assert "my.ctr-1" in names and len(names) == 2
        gen = inspect(oci, gen_id)["Name"]
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", gen) and gen != "my.ctr-1"
        assert inspect(oci, gen)["Id"] == gen_id
    finally:
        rm_force(oci, "my.ctr-1", *[n for n in _ps_names(oci, "-a") if n != "my.ctr-1"])


# -- create / start / stop / kill / pause -----------------------------------------------
def test_create_then_start(oci: OciEnv) -> None:
    try:
        cid = oci.cli("create", "--name", "cs", "busybox", "sh", "-c", "echo started; exit 0",
                      check=True).stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{64}", cid)
        ps = oci.cli("ps", "-a", check=True).stdout
        assert re.search(r"\bCreated\b.*\bcs$", ps, re.M), ps
        st = inspect(oci, "cs")["State"]
        assert st["Running"] is False and st["Pid"] == 0
        assert st["StartedAt"].startswith("0001-")
        res = oci.cli("start", "cs")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "cs"  # podman echoes the reference given
        assert oci.cli("wait", "cs", check=True).stdout == "0\n"
        assert oci.cli("logs", "cs", check=True).stdout == "started\n"
    finally:
        rm_force(oci, "cs")


def test_created_container_status_is_created(oci: OciEnv) -> None:
    try:
        oci.cli("create", "--name", "cr", "busybox", "true", check=True)
        assert "Created" in oci.cli("ps", "-a", check=True).stdout
        ps = json.loads(oci.cli("ps", "-a", "--format", "json", check=True).stdout)
        assert inspect(oci, "cr")["State"]["Status"] == "created"
        assert ps[0]["State"] == "created"
    finally:
        rm_force(oci, "cr")


def test_start_attach(oci: OciEnv) -> None:
    try:
        oci.cli("create", "--name", "sa", "busybox", "sh", "-c",
                "echo hi; echo oops >&2; exit 6", check=True)
        res = oci.cli("start", "-a", "sa")
        assert res.returncode == 6
        assert res.stdout == "hi\n" and res.stderr == "oops\n"
        assert inspect(oci, "sa")["State"]["ExitCode"] == 6
    finally:
        rm_force(oci, "sa")


def test_stop_escalates_to_sigkill(oci: OciEnv) -> None:
    """A container that ignores SIGTERM is SIGKILLed after -t seconds: exit 137."""
    try:
        oci.cli("run", "-d", "--name", "stubborn", "busybox", "sh", "-c",
                'trap "" TERM; echo ready; while true; do sleep 0.2; done', check=True)
        _wait_log(oci, "stubborn", "ready")
        res = oci.cli("stop", "-t", "1", "stubborn")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "stubborn"
        # podman's warning (050-stop.bats looks for these words)
        assert res.stderr == ("Warning: StopSignal SIGTERM failed to stop container stubborn "
                              "in 1 seconds, resorting to SIGKILL\n")
        st = inspect(oci, "stubborn")["State"]
        assert st["Status"] == "exited" and st["ExitCode"] == 137
        assert st["FinishedAt"] != "0001-01-01T00:00:00Z"
    finally:
        rm_force(oci, "stubborn")


def test_stop_timeout_flag_is_the_default_for_stop(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-d", "--name", "st1", "--stop-timeout", "1", "busybox", "sh", "-c",
                'trap "" TERM; echo ready; while true; do sleep 0.2; done', check=True)
        assert inspect(oci, "st1")["Config"]["StopTimeout"] == 1
        _wait_log(oci, "st1", "ready")
        oci.cli("stop", "st1", check=True)  # no -t: the container's 1 s applies
        assert oci.cli("wait", "st1", check=True).stdout == "137\n"
    finally:
        rm_force(oci, "st1")


def test_stop_graceful_trap_exits_with_own_code(oci: OciEnv) -> None:
    """A container that handles TERM exits with its own code, not 137 (-t is generous)."""
    try:
        oci.cli("run", "-d", "--name", "polite", "busybox", "sh", "-c",
                'trap "exit 0" TERM; echo ready; sleep 1000 & wait', check=True)
        _wait_log(oci, "polite", "ready")
        assert oci.cli("stop", "-t", "60", "polite", check=True).stderr == ""  # no warning
        assert inspect(oci, "polite")["State"]["ExitCode"] == 0
    finally:
        rm_force(oci, "polite")


def test_stop_with_init_forwards_term(oci: OciEnv) -> None:
    """With --init the TERM reaches the command, which dies of it (128+15), not of KILL."""
    if not os.access(CATATONIT, os.X_OK):
        pytest.skip("catatonit is not installed")
    try:
        oci.cli("run", "-d", "--init", "--name", "withinit", "busybox", "sleep", "1000",
                check=True)
        pid = inspect(oci, "withinit")["State"]["Pid"]
        # Once catatonit has forked the command it forwards signals.
        wait_until(lambda: children_of(pid), "catatonit to fork sleep", timeout=15)
        oci.cli("stop", "-t", "60", "withinit", check=True)
        assert inspect(oci, "withinit")["State"]["ExitCode"] == 143
    finally:
        rm_force(oci, "withinit")


def test_stop_signal(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-d", "--name", "usr1", "--stop-signal", "SIGUSR1", "busybox", "sh",
                "-c", 'trap "exit 7" USR1; echo ready; sleep 1000 & wait', check=True)
        assert inspect(oci, "usr1")["Config"]["StopSignal"] in (10, "SIGUSR1", "USR1")
        _wait_log(oci, "usr1", "ready")
        oci.cli("stop", "-t", "60", "usr1", check=True)
        assert oci.cli("wait", "usr1", check=True).stdout == "7\n"
    finally:
        rm_force(oci, "usr1")


def test_kill_with_signal(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-d", "--name", "k1", "busybox", "sh", "-c",
                'trap "exit 9" USR2; echo ready; sleep 1000 & wait', check=True)
        oci.cli("run", "-d", "--name", "k2", "busybox", "sleep", "1000", check=True)
        _wait_log(oci, "k1", "ready")
        res = oci.cli("kill", "-s", "USR2", "k1")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "k1"
        assert oci.cli("wait", "k1", check=True).stdout == "9\n"
        oci.cli("kill", "k2", check=True)  # default: SIGKILL
        assert oci.cli("wait", "k2", check=True).stdout == "137\n"
    finally:
        rm_force(oci, "k1", "k2")


def test_pause_unpause(oci: OciEnv) -> None:
    try:
        cid = oci.cli("run", "-d", "--name", "pz", "busybox", "sleep", "1000",
                      check=True).stdout.strip()
        oci.cli("pause", "pz", check=True)
        st = inspect(oci, "pz")["State"]
        assert st["Status"] == "paused" and st["Paused"] is True
        assert "Paused" in oci.cli("ps", "-a", check=True).stdout  # ps alone: running only
        # The runtime agrees: the container is frozen.
        runc = subprocess.run(["runc", "--root", str(oci.runroot / "runc"), "state", cid],
                              capture_output=True, text=True, check=True)
        assert json.loads(runc.stdout)["status"] == "paused"
        oci.cli("unpause", "pz", check=True)
        st = inspect(oci, "pz")["State"]
        assert st["Status"] == "running" and st["Paused"] is False
        runc = subprocess.run(["runc", "--root", str(oci.runroot / "runc"), "state", cid],
                              capture_output=True, text=True, check=True)
        assert json.loads(runc.stdout)["status"] == "running"
        # A paused container can still be stopped.
        oci.cli("pause", "pz", check=True)
        oci.cli("stop", "-t", "1", "pz", check=True)
        assert inspect(oci, "pz")["State"]["Status"] == "exited"
    finally:
        rm_force(oci, "pz")


def test_restart(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-d", "--name", "rs", "busybox", "sh", "-c",
                "echo boot; sleep 1000", check=True)
        pid1 = inspect(oci, "rs")["State"]["Pid"]
        oci.cli("restart", "-t", "0", "rs", check=True)
        st = inspect(oci, "rs")["State"]
        assert st["Running"] is True and st["Pid"] != pid1
        wait_until(lambda: oci.cli("logs", "rs").stdout == "boot\nboot\n", "two boots",
                   timeout=15)
    finally:
        rm_force(oci, "rs")


# -- rm ---------------------------------------------------------------------------------
def test_rm_force_with_time(oci: OciEnv) -> None:
    try:
        cid = oci.cli("run", "-d", "--name", "rmf", "busybox", "sh", "-c",
                      'trap "" TERM; echo ready; while true; do sleep 0.2; done',
                      check=True).stdout.strip()
        oci.cli("run", "-d", "--name", "rmp", "busybox", "sleep", "1000", check=True)
        oci.cli("pause", "rmp", check=True)
        _wait_log(oci, "rmf", "ready")
        res = oci.cli("rm", "-f", "-t", "0", "rmf", "rmp")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == ["rmf", "rmp"] and cid  # podman: the names typed
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    finally:
        rm_force(oci, "rmf", "rmp")


def test_rm_exited_without_force(oci: OciEnv) -> None:
    try:
        oci.cli("run", "--name", "done1", "busybox", "true", check=True)
        oci.cli("create", "--name", "new1", "busybox", "true", check=True)
        res = oci.cli("rm", "done1", "new1")
        assert res.returncode == 0, res.stderr
        assert len(res.stdout.split()) == 2
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
    finally:
        rm_force(oci, "done1", "new1")


# -- ps ---------------------------------------------------------------------------------
def test_ps_variants(oci: OciEnv) -> None:
    try:
        up = oci.cli("run", "-d", "--name", "up-one", "busybox", "sleep", "1000",
                     check=True).stdout.strip()
        down = oci.cli("run", "--name", "a-much-longer-name-that-is-down", "busybox", "sh",
                       "-c", "exit 2").stdout
        assert down == ""
        # ps shows only running ones, -a all of them
        assert _ps_names(oci) == ["up-one"]
        assert sorted(_ps_names(oci, "-a")) == ["a-much-longer-name-that-is-down", "up-one"]
        # -q: short IDs, one per line; --no-trunc: full IDs
        assert oci.cli("ps", "-q", check=True).stdout == up[:12] + "\n"
        assert oci.cli("ps", "-q", "--no-trunc", check=True).stdout == up + "\n"
        assert len(oci.cli("ps", "-a", "-q", check=True).stdout.split()) == 2
        # --format json
        js = {c["Names"][0]: c for c in json.loads(
            oci.cli("ps", "-a", "--format", "json", check=True).stdout)}
        assert js["up-one"]["Id"] == up and js["up-one"]["State"] == "running"
        assert js["up-one"]["Image"] == IMAGE_NAME
        assert js["a-much-longer-name-that-is-down"]["ExitCode"] == 2
        assert js["a-much-longer-name-that-is-down"]["State"] == "exited"
        # the table: a header whose columns line up with every row
        lines = oci.cli("ps", "-a", check=True).stdout.rstrip("\n").split("\n")
        header, rows = lines[0], lines[1:]
        cols = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        starts = [header.index(c) for c in cols]
        assert starts == sorted(starts) and starts[0] == 0
        assert len(rows) == 2
        for row in rows:
            for col, start in zip(cols, starts, strict=True):
                if col == "PORTS":
                    continue  # always empty
                assert row[start] != " ", f"{col} misaligned in {row!r}"
                if start:
                    assert row[start - 2:start] == "  ", f"{col} misaligned in {row!r}"
            assert row[:12] in (up[:12], inspect(oci, "a-much-longer-name-that-is-down")
                               ["Id"][:12])
            assert row[starts[1]:].startswith(IMAGE_NAME)
            assert row[starts[-1]:] in ("up-one", "a-much-longer-name-that-is-down")
        status = {r[starts[-1]:]: r[starts[4]:starts[5]].strip() for r in rows}
        assert status["up-one"].startswith("Up ")
        assert status["a-much-longer-name-that-is-down"].startswith("Exited (2) ")
    finally:
        rm_force(oci, "up-one", "a-much-longer-name-that-is-down")


# -- logs -------------------------------------------------------------------------------
def test_logs(oci: OciEnv) -> None:
    try:
        oci.cli("run", "--name", "lg", "busybox", "sh", "-c",
                "echo one; echo two >&2; echo three", check=True)
        res = oci.cli("logs", "lg")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "one\nthree\n"
        assert res.stderr == "two\n"
    finally:
        rm_force(oci, "lg")


def test_logs_follow_until_exit(oci: OciEnv, tmp_path: Path) -> None:
    """``logs -f`` streams a container that prints over time and ends when it exits.

    The container blocks on a gate file, so ``logs -f`` is certainly following a
    running container when the later lines are printed.
    """
    gate = tmp_path / "gate"
    gate.mkdir()
    proc = None
    try:
        oci.cli("run", "-d", "--name", "lf", "-v", f"{gate}:/gate", "busybox", "sh", "-c",
                "echo line1; while [ ! -e /gate/go ]; do sleep 0.1; done; "
                "echo line2; sleep 0.3; echo line3 >&2; sleep 0.3; echo line4; exit 5",
                check=True)
        _wait_log(oci, "lf", "line1")
        proc = subprocess.Popen([sys.executable, "-m", "ipy_oci", "logs", "-f", "lf"],
                                env=oci.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        time.sleep(0.5)
        assert proc.poll() is None, "logs -f returned while the container still runs"
        (gate / "go").touch()
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert out == b"line1\nline2\nline4\n"
        assert err == b"line3\n"
        assert oci.cli("wait", "lf", check=True).stdout == "5\n"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        rm_force(oci, "lf")


# -- inspect / wait -----------------------------------------------------------------------
def test_inspect_keys(oci: OciEnv, tmp_path: Path) -> None:
    try:
        cid = oci.cli("run", "-d", "--name", "insp", "-l", "k=v", "-e", "A=1", "-v",
                      f"{tmp_path}:/mnt", "busybox", "sleep", "1000", check=True).stdout.strip()
        info = inspect(oci, "insp")
        for key in ("Id", "Name", "Image", "State", "Config", "Mounts", "ExecIDs",
                    "ConmonPidFile"):
            assert key in info, key
        assert info["Id"] == cid and info["Name"] == "insp"
        assert re.fullmatch(r"[0-9a-f]{64}", info["Image"])
        st = info["State"]
        for key in ("Status", "Running", "Paused", "Pid", "ExitCode", "StartedAt",
                    "FinishedAt", "OOMKilled"):
            assert key in st, key
        assert st["Status"] == "running" and st["Running"] is True and st["Paused"] is False
        assert st["OOMKilled"] is False and st["ExitCode"] == 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", st["StartedAt"])
        assert st["StartedAt"][:4] >= "2000"
        assert st["FinishedAt"].startswith("0001-")
        assert os.path.exists(f"/proc/{st['Pid']}")
        conmon_pid = int(Path(info["ConmonPidFile"]).read_text().strip())
        assert b"conmon" in proc_cmdline(conmon_pid)
        assert info["ExecIDs"] == []
        assert info["Mounts"][0]["Source"] == str(tmp_path)
        assert info["Mounts"][0]["Destination"] == "/mnt"
        cfg = info["Config"]
        assert cfg["Labels"] == {"k": "v"} and "A=1" in cfg["Env"]
        assert cfg["Cmd"] == ["sleep", "1000"]
        # lookup by ID prefix gives the same object; several refs give several objects
        assert inspect(oci, cid[:10])["Id"] == cid
        both = json.loads(oci.cli("inspect", "insp", "busybox", check=True).stdout)
        assert len(both) == 2 and both[0]["Id"] == cid
        assert IMAGE_NAME in both[1]["RepoTags"]

        oci.cli("stop", "-t", "0", "insp", check=True)
        st = inspect(oci, "insp")["State"]
        assert st["Status"] == "exited" and st["Running"] is False and st["Pid"] == 0
        assert st["ExitCode"] == 137
        assert not st["FinishedAt"].startswith("0001-")
        assert st["FinishedAt"] >= st["StartedAt"]
    finally:
        rm_force(oci, "insp")


def test_wait_prints_exit_codes(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-d", "--name", "w1", "busybox", "sh", "-c", "exit 5", check=True)
        oci.cli("run", "-d", "--name", "w2", "busybox", "sh", "-c", "sleep 0.5; exit 6",
                check=True)
        res = oci.cli("wait", "w1", "w2")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "5\n6\n"
    finally:
        rm_force(oci, "w1", "w2")


def test_wait_on_never_run_container_returns_0_at_once(oci: OciEnv) -> None:
    """podman 4.3 (130-kill.bats): a container that never ran, created or whose start
    failed, has nothing to wait for: exit code 0."""
    try:
        oci.cli("create", "--name", "nr", "--network", "none", "busybox", "/no/such/command",
                check=True)
        assert oci.cli("wait", "nr", check=True).stdout == "0\n"
        assert oci.cli("start", "nr").returncode == 125  # podman's start: 125, not 127
        assert oci.cli("wait", "nr", check=True).stdout == "0\n"
    finally:
        rm_force(oci, "nr")


def test_wait_on_created_container_prints_a_code(oci: OciEnv) -> None:
    """Whether ``wait`` returns at once (podman) or blocks until the container has run
    (docker), it must print an exit code. The container is started meanwhile, so a
    blocking ``wait`` ends too."""
    proc = None
    try:
        oci.cli("create", "--name", "wc", "busybox", "true", check=True)
        proc = subprocess.Popen([sys.executable, "-m", "ipy_oci", "wait", "wc"], env=oci.env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        oci.cli("start", "wc", check=True)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert re.fullmatch(r"-?\d+\n", out), out
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
        rm_force(oci, "wc")


# -- images / info / container cleanup -------------------------------------------------------
def test_images(oci: OciEnv) -> None:
    # The built-in image is made on first use.
    oci.cli("run", "--rm", "busybox", "true", check=True)
    res = oci.cli("images")
    assert res.returncode == 0, res.stderr
    header, *rows = res.stdout.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(r.split()[:2] == ["localhost/busybox", "latest"] for r in rows), res.stdout
    js = json.loads(oci.cli("images", "--format", "json", check=True).stdout)
    img = next(i for i in js if IMAGE_NAME in i["Names"])
    assert img["Size"] > 0 and re.fullmatch(r"[0-9a-f]{64}", img["Id"])
    assert img["Id"][:12] in oci.cli("images", "-q", check=True).stdout.split()


def test_info(oci: OciEnv) -> None:
    res = oci.cli("info", "--format", "json")  # podman's info JSON
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    store = info["store"]
    assert store["graphRoot"] == str(oci.root) and store["runRoot"] == str(oci.runroot)
    rt = info["host"]["ociRuntime"]
    assert rt["name"] == "runc"
    assert os.access(rt["path"], os.X_OK)
    assert "runc version" in rt["version"]
    conmon = info["host"]["conmon"]
    assert os.access(conmon["path"], os.X_OK)
    assert "conmon version" in conmon["version"]
    # Without --format: podman's YAML; templates use podman's Go field names.
    text = oci.cli("info", check=True).stdout
    assert f"  graphRoot: {oci.root}\n" in text and "  ociRuntime:\n    name: runc\n" in text
    out = oci.cli("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Store.GraphRoot}} "
                  "{{.Host.CgroupManager}} {{.Store.ContainerStore.Number}}", check=True)
    assert out.stdout == f"runc {oci.root} cgroupfs 0\n"


def test_container_cleanup(oci: OciEnv) -> None:
    try:
        cid = oci.cli("run", "-d", "--name", "cu", "busybox", "sh", "-c", "exit 3",
                      check=True).stdout.strip()
        assert oci.cli("wait", "cu", check=True).stdout == "3\n"
        # What conmon's exit command runs; running it again is harmless.
        res = oci.cli("container", "cleanup", cid)
        assert res.returncode == 0, res.stderr
        st = inspect(oci, "cu")["State"]
        assert st["Status"] == "exited" and st["ExitCode"] == 3
        assert not (oci.runroot / "runc" / cid).exists()
        # --rm removes it; cleaning up a container that is gone is not an error.
        assert oci.cli("container", "cleanup", "--rm", cid).returncode == 0
        assert oci.cli("ps", "-a", "-q", check=True).stdout == ""
        assert oci.cli("container", "cleanup", cid).returncode == 0
    finally:
        rm_force(oci, "cu")


def test_container_cleanup_leaves_running_container_alone(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-d", "--name", "live", "busybox", "sleep", "1000", check=True)
        res = oci.cli("container", "cleanup", "--rm", "live")
        assert res.returncode == 0, res.stderr
        assert inspect(oci, "live")["State"]["Running"] is True
    finally:
        rm_force(oci, "live")
