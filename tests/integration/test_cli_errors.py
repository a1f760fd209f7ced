"""Bad input to the CLI: podman's exit codes, one clear message, nothing left behind.

Exit codes: 125 engine or usage error, 126 command cannot be invoked, 127 command
not found. Every failure must leave the root empty (the ``oci`` fixture checks
processes, mounts, runtime state, files and rows; the tests also check ``ps -a``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

import pytest
from helpers import OciEnv, inspect, mountinfo, rm_force, wait_until


def _assert_clean_error(res: Any, code: int = 125) -> str:
    """One ``Error: ...`` line on stderr, no traceback, the expected exit code."""
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.stderr.startswith("Error: "), res.stderr
    return str(res.stderr)


def _assert_nothing_left(oci: OciEnv) -> None:
    assert oci.cli("ps", "-a", "-q", check=True).stdout == ""


# -- unknown objects ----------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["run", "create"])
def test_unknown_image(oci: OciEnv, cmd: str) -> None:
    res = oci.cli(cmd, "--rm", "--pull=never", "no-such-image-xyz", "true") if cmd == "run" \
        else oci.cli(cmd, "--pull=never", "no-such-image-xyz", "true")
    err = _assert_clean_error(res)
    assert "no-such-image-xyz" in err
    _assert_nothing_left(oci)


@pytest.mark.parametrize("argv", [
    ["start", "ghost-ctr"], ["start", "-a", "ghost-ctr"], ["stop", "ghost-ctr"],
    ["kill", "ghost-ctr"], ["pause", "ghost-ctr"], ["unpause", "ghost-ctr"],
    ["rm", "ghost-ctr"], ["logs", "ghost-ctr"],
    ["inspect", "ghost-ctr"], ["wait", "ghost-ctr"], ["restart", "ghost-ctr"],
    ["init", "ghost-ctr"], ["exec", "ghost-ctr", "true"],
], ids=lambda a: " ".join(a))
def test_unknown_container(oci: OciEnv, argv: list[str]) -> None:
    # podman: rm of an unknown container exits 1, everything else 125
    err = _assert_clean_error(oci.cli(*argv), 1 if argv[0] == "rm" else 125)
    assert "ghost-ctr" in err


def test_unknown_container_among_known_ones(oci: OciEnv) -> None:
    """rm of several: podman looks every name up first, so an unknown one fails the
    whole command (exit 1) and the known one stays; ``rm -f`` skips the unknown one."""
    try:
        cid = oci.cli("create", "--name", "real", "busybox", "true", check=True).stdout.strip()
        res = oci.cli("rm", "real", "ghost-ctr")
        err = _assert_clean_error(res, 1)
        assert "ghost-ctr" in err and "real" not in err and res.stdout == ""
        forced = oci.cli("rm", "-f", "real", "ghost-ctr")
        assert forced.returncode == 0 and forced.stderr == "", forced.stderr
        assert forced.stdout.split() == ["real"] and cid
        _assert_nothing_left(oci)
    finally:
        rm_force(oci, "real")


# -- commands that cannot run -------------------------------------------------------------
@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
def test_command_not_found_127(oci: OciEnv, detach: bool) -> None:
    res = oci.cli("run", *(["-d"] if detach else []), "busybox", "no-such-command")
    err = _assert_clean_error(res, 127)
    assert "no-such-command" in err
    _assert_nothing_left(oci)


@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
def test_command_not_executable_126(oci: OciEnv, detach: bool) -> None:
    res = oci.cli("run", "--rm", *(["-d"] if detach else []), "busybox", "/etc")
    err = _assert_clean_error(res, 126)
    assert "/etc" in err
    _assert_nothing_left(oci)


def test_start_of_bad_command_keeps_created_container(oci: OciEnv) -> None:
    """create + start: start fails with 125 (podman's start has no 126/127: 130-kill.bats);
    the container stays, runtime state does not."""
    try:
        cid = oci.cli("create", "--name", "bad", "busybox", "no-such-command",
                      check=True).stdout.strip()
        err = _assert_clean_error(oci.cli("start", "bad"), 125)
        assert "no-such-command" in err
        assert oci.cli("ps", "-a", "-q", "--no-trunc", check=True).stdout.split() == [cid]
        assert not (oci.runroot / "runc" / cid).exists()
        assert inspect(oci, "bad")["State"]["Running"] is False
    finally:
        rm_force(oci, "bad")


# -- names ------------------------------------------------------------------------------------
def test_duplicate_name(oci: OciEnv) -> None:
    try:
        first = oci.cli("run", "-d", "--name", "twin", "busybox", "sleep", "1000",
                        check=True).stdout.strip()
        for argv in (["run", "--rm", "--name", "twin", "busybox", "true"],
                     ["create", "--name", "twin", "busybox", "true"]):
            err = _assert_clean_error(oci.cli(*argv))
            assert "'twin'" in err and "already in use" in err
            assert first[:12] in err
        assert oci.cli("ps", "-a", "-q", "--no-trunc", check=True).stdout.split() == [first]
        assert inspect(oci, "twin")["State"]["Running"] is True
    finally:
        rm_force(oci, "twin")


@pytest.mark.parametrize("name", ["bad name", "_under", "-dash", "sl/ash", "ünï"])
def test_invalid_name(oci: OciEnv, name: str) -> None:
    err = _assert_clean_error(oci.cli("create", f"--name={name}", "busybox", "true"))
    assert repr(name) in err or name in err
    _assert_nothing_left(oci)


# -- flags ------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,word", [
    (["run", "--bogus", "busybox", "true"], "--bogus"),
    (["--bogus", "ps"], "--bogus"),
    (["ps", "--bogus"], "--bogus"),
    (["rm", "--nope", "x"], "--nope"),
    (["frobnicate"], "frobnicate"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_unknown_flag_or_command(oci: OciEnv, argv: list[str], word: str) -> None:
    err = _assert_clean_error(oci.cli(*argv))
    assert word in err
    _assert_nothing_left(oci)


def test_missing_command(oci: OciEnv) -> None:
    err = _assert_clean_error(oci.cli())
    assert "missing command" in err


@pytest.mark.parametrize("argv,word", [
    (["run", "--stop-timeout", "abc", "busybox", "true"], "abc"),
    (["run", "--stop-timeout", "-1", "busybox", "true"], "--stop-timeout"),
    (["run", "--stop-signal", "NOPE", "busybox", "true"], "NOPE"),
    (["run", "-m", "lots", "busybox", "true"], "lots"),
    (["run", "--cpus", "0", "busybox", "true"], "--cpus"),
    (["run", "--cpus", "many", "busybox", "true"], "many"),
    (["run", "--pids-limit", "x", "busybox", "true"], "x"),
    (["run", "--network", "none,host", "busybox", "true"], "conflicting --network"),
    (["run", "-e", "=x", "busybox", "true"], "=x"),
    (["run", "-l", "=x", "busybox", "true"], "=x"),
    (["run", "-v", "relative-no-colon", "busybox", "true"], "relative-no-colon"),
    (["run", "--pull", "sometimes", "busybox", "true"], "sometimes"),
    (["stop", "-t", "abc", "x"], "abc"),
    (["kill", "-s", "BOGUS", "x"], "BOGUS"),
    (["ps", "--format", "{{.Names"], "template"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_malformed_flag_value(oci: OciEnv, argv: list[str], word: str) -> None:
    err = _assert_clean_error(oci.cli(*argv))
    assert word in err
    _assert_nothing_left(oci)


# -- wrong state ------------------------------------------------------------------------------
def test_pause_non_running_names_state(oci: OciEnv) -> None:
    try:
        oci.cli("create", "--name", "fresh", "busybox", "true", check=True)
        oci.cli("run", "--name", "gone", "busybox", "true", check=True)
        err = _assert_clean_error(oci.cli("pause", "fresh"))
        assert "fresh" in err and ("created" in err or "configured" in err)
        err = _assert_clean_error(oci.cli("pause", "gone"))
        assert "gone" in err and "exited" in err
        err = _assert_clean_error(oci.cli("unpause", "gone"))
        assert "gone" in err and "exited" in err
        err = _assert_clean_error(oci.cli("kill", "gone"))
        assert "gone" in err and "exited" in err
    finally:
        rm_force(oci, "fresh", "gone")


def test_pause_twice_and_unpause_running(oci: OciEnv) -> None:
    try:
        oci.cli("run", "-d", "--name", "pp", "busybox", "sleep", "1000", check=True)
        err = _assert_clean_error(oci.cli("unpause", "pp"))
        assert "pp" in err and "running" in err
        oci.cli("pause", "pp", check=True)
        err = _assert_clean_error(oci.cli("pause", "pp"))
        assert "pp" in err and "paused" in err
    finally:
        rm_force(oci, "pp")


def test_rm_running_without_force(oci: OciEnv) -> None:
    try:
        cid = oci.cli("run", "-d", "--name", "busy", "busybox", "sleep", "1000",
                      check=True).stdout.strip()
        err = _assert_clean_error(oci.cli("rm", "busy"), 2)  # podman: state improper
        # podman's exact words (its 055-rm.bats compares them)
        assert err == (f"Error: cannot remove container {cid} as it is running - running or "
                       "paused containers cannot be removed without force: container state "
                       "improper\n")
        assert inspect(oci, "busy")["State"]["Running"] is True  # untouched
        oci.cli("pause", "busy", check=True)
        err = _assert_clean_error(oci.cli("rm", "busy"), 2)
        assert "paused" in err
    finally:
        rm_force(oci, "busy")


def test_start_attach_several_is_an_error(oci: OciEnv) -> None:
    try:
        oci.cli("create", "--name", "a1", "busybox", "true", check=True)
        oci.cli("create", "--name", "a2", "busybox", "true", check=True)
        _assert_clean_error(oci.cli("start", "-a", "a1", "a2"))
        assert inspect(oci, "a1")["State"]["StartedAt"].startswith("0001-")
    finally:
        rm_force(oci, "a1", "a2")


# -- failed creates leave nothing behind ---------------------------------------------------------
@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
@pytest.mark.parametrize("flags,cmd,code,word", [
    ([], ["no-such-command"], 127, "no-such-command"),
    ([], ["/etc"], 126, "/etc"),
    (["-u", "nosuchuser"], ["true"], 125, "nosuchuser"),
    (["-v", "/nonexistent/ioci-missing:/x"], ["true"], 125, "/nonexistent/ioci-missing"),
    (["-w", "/etc/passwd"], ["true"], 126, "/etc/passwd"),  # podman: exists, not a directory
], ids=["cmd", "noexec", "user", "volume", "workdir-is-file"])
def test_failed_create_leaves_nothing(oci: OciEnv, detach: bool, flags: list[str], cmd: list[str],
                                      code: int, word: str) -> None:
    res = oci.cli("run", *(["-d"] if detach else []), *flags, "busybox", *cmd)
    err = _assert_clean_error(res, code)
    assert word in err
    _assert_nothing_left(oci)


def test_failed_init_of_created_container_leaves_no_runtime_state(oci: OciEnv) -> None:
    try:
        cid = oci.cli("create", "--name", "nouser", "-u", "nosuchuser", "busybox", "true",
                      check=True).stdout.strip()
        err = _assert_clean_error(oci.cli("start", "nouser"))
        assert "nosuchuser" in err
        assert not (oci.runroot / "runc" / cid).exists()
        assert not any(cid in line for line in mountinfo())
    finally:
        rm_force(oci, "nouser")


# -- missing binaries ----------------------------------------------------------------------------
# A missing runc or conmon cannot be arranged on this host without uninstalling them,
# so it is simulated by pointing ipy-oci at a path that does not exist.
def test_missing_runc_flag(oci: OciEnv) -> None:
    for argv in (["run", "--rm", "busybox", "true"], ["run", "-d", "busybox", "true"]):
        res = oci.cli("--runtime", "/nonexistent/runc", *argv)
        err = _assert_clean_error(res)
        assert "runc" in err and "apt-get install runc" in err
    _assert_nothing_left(oci)


def test_missing_runc_env(oci: OciEnv) -> None:
    env = {**oci.env, "IPY_OCI_RUNTIME": "/nonexistent/runc"}
    res = subprocess.run([sys.executable, "-m", "ipy_oci", "run", "--rm", "busybox", "true"],
                         env=env, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    err = _assert_clean_error(res)
    assert "/nonexistent/runc" in err and "apt-get install runc" in err
    _assert_nothing_left(oci)


@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
def test_missing_conmon(oci: OciEnv, monkeypatch: pytest.MonkeyPatch, detach: bool) -> None:
    monkeypatch.setenv("IPY_OCI_CONMON", "/nonexistent/conmon")
    res = oci.cli("run", "--rm", *(["-d"] if detach else []), "busybox", "true")
    err = _assert_clean_error(res)
    assert "conmon" in err and "apt-get install conmon" in err
    monkeypatch.delenv("IPY_OCI_CONMON")
    _assert_nothing_left(oci)


def _hybrid_cgroups() -> bool:
    """v1 hierarchies at /sys/fs/cgroup with cgroup2 mounted at .../unified."""
    return (os.path.isdir("/sys/fs/cgroup/unified")
            and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"))


@pytest.mark.skipif(shutil.which("crun") is None, reason="crun is not installed")
@pytest.mark.skipif(not _hybrid_cgroups(), reason="this host's cgroups are not hybrid")
@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
def test_crun_on_hybrid_cgroups(oci: OciEnv, detach: bool) -> None:
    res = oci.cli("--runtime", "crun", "run", "--rm", *(["-d"] if detach else []),
                  "busybox", "true")
    err = _assert_clean_error(res, 126)  # podman run: a runtime failure is 126
    assert "hybrid" in err and "runc" in err
    _assert_nothing_left(oci)
    crun_state = oci.runroot / "crun"
    assert not crun_state.is_dir() or os.listdir(crun_state) == []


def test_runtime_flag_and_global_flags_after_the_command(oci: OciEnv, tmp_path: Any) -> None:
    # --runtime-flag F: runc gets --F; one it lacks fails the run with 126, as in podman
    for argv in (["--runtime-flag", "invalidflag", "run"], ["run", "--runtime-flag=invalidflag"]):
        for mode in (["--rm"], ["-d"]):
            res = oci.cli(*argv, *mode, "--network", "none", "busybox", "true")
            assert "invalidflag" in _assert_clean_error(res, 126)
            _assert_nothing_left(oci)
    res = oci.cli("--runtime-flag", "log-format=json", "run", "--rm", "--network", "none",
                  "busybox", "echo", "--runtime", "x")  # the command's words stay its own
    assert (res.returncode, res.stdout) == (0, "--runtime x\n"), res.stderr
    # --runtime after the command name; inspect shows it as given
    runc = shutil.which("runc") or "/usr/sbin/runc"
    copy = tmp_path / "myruntime"
    shutil.copy2(runc, copy)
    try:
        oci.cli("run", "-d", "--name", "rtpath", "--network", "none", "--runtime", str(copy),
                "busybox", "sleep", "60", check=True)
        assert inspect(oci, "rtpath")["OCIRuntime"] == str(copy)
        oci.cli("kill", "rtpath", check=True)
        assert oci.cli("wait", "rtpath", check=True).stdout == "137\n"
    finally:
        rm_force(oci, "rtpath")


# -- podman's words and codes (its test/system/*.bats compare them) -------------------------
@pytest.mark.parametrize("sig", ["0", "SIGBADSIG", "SIG", "BADSIG", "%%", "-0", "-SIGBADSIG",
                                 "-SIG", "-BADSIG", "-", " "])
def test_kill_bad_signal_words(oci: OciEnv, sig: str) -> None:
    res = oci.cli("kill", "-s", sig, "nosuchcontainer")
    assert res.returncode == 125
    assert res.stderr == f"Error: invalid signal: {sig.removeprefix('-')}\n"


@pytest.mark.parametrize("sig", ["65", "-65", "99999999"])
def test_kill_and_stop_signal_out_of_range(oci: OciEnv, sig: str) -> None:
    for argv in (["kill", "-s", sig, "nosuchcontainer"],
                 ["create", f"--stop-signal={sig}", "busybox", "true"]):
        res = oci.cli(*argv)
        assert res.returncode == 125
        assert res.stderr == "Error: valid signals are 1 through 64\n"
    _assert_nothing_left(oci)


def test_kill_signal_forms(oci: OciEnv) -> None:
    """A leading dash, SIG or not, any case, RTMIN+N: each reaches the container."""
    try:
        oci.cli("run", "-d", "--name", "sigs", "--network", "none", "busybox", "sh", "-c",
                'for s in 1 2 10 12 36; do trap "echo got $s" $s; done; echo ready; '
                'while :; do sleep 0.1; done', check=True)
        def logged(text: str) -> bool:
            return text in oci.cli("logs", "sigs", check=True).stdout

        wait_until(lambda: logged("ready"), "the traps to be set", timeout=30)
        for sig, num in (("-1", 1), ("-INT", 2), ("-SIGUSR1", 10), ("usr2", 12),
                         ("RTMIN+2", 36)):
            res = oci.cli("kill", "-s", sig, "sigs")
            assert res.returncode == 0, res.stderr
            wait_until(lambda n=num: logged(f"got {n}\n"), f"signal {num}", timeout=30)
    finally:
        rm_force(oci, "sigs")
