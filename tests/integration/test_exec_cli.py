"""``ipy-oci exec`` through the CLI: flags, exit codes and error words (podman's).

Every test runs a real container from the built-in busybox image and removes it
in ``finally``; the ``oci`` fixture then checks that nothing leaked.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    OciEnv,
    exec_dirs,
    exec_rows,
    inspect,
    run_in_pty,
    running_container,
    wait_until,
)


def exec_ids_of(oci: OciEnv, name: str) -> list[str]:
    return list(inspect(oci, name, kind="container")["ExecIDs"])


# -- flags ---------------------------------------------------------------------------


def test_detach_prints_id_lists_it_and_records_exit_code(oci: OciEnv) -> None:
    with running_container(oci) as cid:
        res = oci.cli("exec", "-d", "c", "sh", "-c", "sleep 1; exit 3")
        assert res.returncode == 0, res.stderr
        sid = res.stdout.strip()
        assert len(sid) == 64 and all(ch in "0123456789abcdef" for ch in sid), res.stdout
        assert sid in exec_ids_of(oci, "c")
        rt = oci.runtime()

        def stopped() -> Any:
            sess = rt.lookup_exec(sid).sync()
            return sess if sess.state == "stopped" else None

        sess = wait_until(stopped, "the detached session to stop")
        info = sess.inspect()
        assert info["ExitCode"] == 3
        assert info["Running"] is False
        assert info["ContainerID"] == cid
        # A stopped detached session is kept (until pruned) and still listed.
        assert sid in exec_ids_of(oci, "c")
        assert sid not in exec_dirs(oci), "a stopped session keeps no bundle dir"


def test_interactive_pipes_stdin(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli_bytes("exec", "-i", "c", "sh", "-c", "cat; echo done",
                            input=b"line one\nline two\n")
        assert res.returncode == 0, res.stderr
        assert res.stdout == b"line one\nline two\ndone\n"


def test_without_interactive_stdin_is_not_forwarded(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli_bytes("exec", "c", "sh", "-c", "cat; echo done", input=b"secret\n")
        assert res.returncode == 0, res.stderr
        assert res.stdout == b"done\n"


def test_tty_gives_a_pty_and_term(oci: OciEnv) -> None:
    with running_container(oci):
        rc, out = run_in_pty(oci, ["exec", "-t", "c", "sh", "-c",
                                   'echo "TERM=$TERM"; tty; [ -t 1 ] && echo isatty'],
                             size=(24, 80))
        text = out.replace(b"\r", b"").decode(errors="replace")
        assert rc == 0, text
        assert "TERM=xterm\n" in text
        lines = text.split("\n")
        assert any(line.startswith("/dev/pts/") and line[9:].isdigit() for line in lines), text
        assert "isatty" in text


def test_without_tty_there_is_no_terminal(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli("exec", "c", "sh", "-c", "echo TERM=${TERM:-unset}; tty")
        assert res.returncode == 1, res.stdout  # `tty` fails on a pipe
        assert "not a tty" in res.stdout
        assert "TERM=xterm" not in res.stdout


def test_interactive_tty_takes_the_terminal_size(oci: OciEnv) -> None:
    # The CLI sends the local terminal's size once the session runs; poll inside the
    # container until it shows (bounded), then print it.
    script = ('i=0; while [ "$(stty size)" != "41 117" ] && [ $i -lt 100 ]; do '
              'sleep 0.1; i=$((i+1)); done; stty size; tty')
    with running_container(oci):
        rc, out = run_in_pty(oci, ["exec", "-it", "c", "sh", "-c", script], size=(41, 117))
        text = out.replace(b"\r", b"").decode(errors="replace")
        assert rc == 0, text
        assert "41 117\n" in text
        assert "/dev/pts/" in text


def test_latest_takes_the_newest_container_and_the_first_word_as_command(
        oci: OciEnv) -> None:
    with running_container(oci, "older"), running_container(oci, "newer") as newer:
        res = oci.cli("exec", "-l", "hostname")  # a container's host name is its short ID
        assert (res.returncode, res.stdout) == (0, f"{newer[:12]}\n"), res.stderr
        res = oci.cli("exec", "--latest", "-e", "A=1", "sh", "-c", "echo $A")
        assert (res.returncode, res.stdout) == (0, "1\n"), res.stderr
    res = oci.cli("exec", "-l", "true")
    assert res.returncode == 125 and "no containers" in res.stderr.lower()


def test_env_flag(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli("exec", "-e", "FOO=bar baz", "-e", "EMPTY=", "c", "sh", "-c",
                      'echo "[$FOO][$EMPTY][${EMPTY+set}]"')
        assert res.returncode == 0, res.stderr
        assert res.stdout == "[bar baz][][set]\n"


def test_env_flag_without_value_takes_it_from_the_caller(
        oci: OciEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IPY_OCI_TEST_PASSED", "from-host")
    with running_container(oci):
        res = subprocess.run([sys.executable, "-m", "ipy_oci", "exec", "-e",
                              "IPY_OCI_TEST_PASSED", "c", "sh", "-c",
                              'echo "$IPY_OCI_TEST_PASSED"'],
                             env={**oci.env, "IPY_OCI_TEST_PASSED": "from-host"},
                             capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)
        assert res.returncode == 0, res.stderr
        assert res.stdout == "from-host\n"


def test_user_flag(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli("exec", "-u", "nobody", "c", "sh", "-c", "id -u; id -un; id -g")
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == ["65534", "nobody", "65534"]
        default = oci.cli("exec", "c", "id", "-u")
        assert default.stdout.strip() == "0"


def test_workdir_flag(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli("exec", "-w", "/tmp", "c", "pwd")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "/tmp\n"
        assert oci.cli("exec", "c", "pwd").stdout == "/\n"


def _cap_eff(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no CapEff in {text!r}")


def test_privileged_flag_grants_all_capabilities(oci: OciEnv) -> None:
    with open("/proc/self/status") as fh:
        host_bounding = next(int(line.split()[1], 16) for line in fh
                             if line.startswith("CapBnd:"))
    with running_container(oci):
        plain = oci.cli("exec", "c", "cat", "/proc/self/status")
        priv = oci.cli("exec", "--privileged", "c", "cat", "/proc/self/status")
        assert plain.returncode == 0 and priv.returncode == 0, (plain.stderr, priv.stderr)
        plain_caps, priv_caps = _cap_eff(plain.stdout), _cap_eff(priv.stdout)
        assert priv_caps != plain_caps
        assert priv_caps & plain_caps == plain_caps, "privileged must be a superset"
        # Everything this host can grant (root here lacks a bit or two in this VM).
        assert priv_caps == host_bounding
        assert bin(priv_caps).count("1") > 30
        assert bin(plain_caps).count("1") < 20


def _cli_with_fd3(oci: OciEnv, path: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``ipy-oci ARGS`` with ``path`` open for reading as its fd 3."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return subprocess.run(
            [sys.executable, "-m", "ipy_oci", *args], env=oci.env, capture_output=True,
            timeout=60, stdin=subprocess.DEVNULL, close_fds=False,
            preexec_fn=lambda: os.dup2(fd, 3),  # dup2 clears O_CLOEXEC on fd 3 only
            text=True, errors="replace")
    finally:
        os.close(fd)


def test_preserve_fds_passes_extra_fd(oci: OciEnv, tmp_path: Path) -> None:
    payload = tmp_path / "payload"
    payload.write_text("through fd three\n")
    with running_container(oci):
        res = _cli_with_fd3(oci, payload, "exec", "--preserve-fds", "1", "c", "sh", "-c",
                            "test -e /proc/self/fd/3 && echo has3; cat <&3")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "has3\nthrough fd three\n"


def test_without_preserve_fds_extra_fds_are_not_passed(oci: OciEnv, tmp_path: Path) -> None:
    payload = tmp_path / "payload"
    payload.write_text("secret\n")
    with running_container(oci):
        res = _cli_with_fd3(oci, payload, "exec", "c", "sh", "-c",
                            "cat <&3 2>/dev/null || echo no-fd3")
        assert res.returncode == 0, res.stderr
        assert "secret" not in res.stdout
        assert "no-fd3" in res.stdout


def test_preserve_fds_refuses_fds_the_caller_did_not_pass(oci: OciEnv) -> None:
    # podman: "file descriptor 3 is not available - the preserve-fds option requires
    # that all file descriptors must be passed". Whatever the engine itself has open
    # as fd 3 (here: the state database, read-write) must never reach the container.
    with running_container(oci):
        res = subprocess.run(
            [sys.executable, "-m", "ipy_oci", "exec", "--preserve-fds", "1", "c", "sh",
             "-c", "readlink /proc/self/fd/3; head -c 15 <&3"],
            env=oci.env, capture_output=True, text=True, errors="replace", timeout=60,
            stdin=subprocess.DEVNULL)  # close_fds: fd 3 is not open in the CLI at start
        assert "state.db" not in res.stdout
        assert "SQLite" not in res.stdout
        assert res.returncode == 125, res.stdout
        assert "file descriptor" in res.stderr or "fd" in res.stderr, res.stderr
        assert exec_rows(oci) == []


def test_negative_preserve_fds_is_a_usage_error(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli("exec", "--preserve-fds", "-1", "c", "true")
        assert res.returncode == 125
        assert "preserve-fds" in res.stderr
        assert exec_rows(oci) == []


def test_bad_detach_keys_on_a_tty_is_125(oci: OciEnv) -> None:
    with running_container(oci):
        rc, out = run_in_pty(oci, ["exec", "-it", "--detach-keys", "ctrl-1", "c", "true"],
                             size=(24, 80))
        text = out.decode(errors="replace")
        assert rc == 125, text
        assert "invalid detach key" in text
        assert "Traceback" not in text


def test_bad_detach_keys_on_a_tty_leaves_no_session(oci: OciEnv) -> None:
    with running_container(oci):
        rc, out = run_in_pty(oci, ["exec", "-it", "--detach-keys", "ctrl-1", "c",
                                   "sh", "-c", "echo ran > /tmp/ran"], size=(24, 80))
        assert rc == 125, out
        # An exec that was refused must leave no session behind (nothing to reap later)
        # and should not have run at all.
        assert exec_rows(oci) == []
        assert exec_dirs(oci) == []
        assert oci.cli("exec", "c", "test", "-e", "/tmp/ran").returncode == 1


def test_bad_detach_keys_is_an_error(oci: OciEnv) -> None:
    # podman validates --detach-keys for every attached exec, with or without -t.
    with running_container(oci):
        res = oci.cli("exec", "--detach-keys", "ctrl-1", "c", "echo", "ran")
        assert res.returncode == 125, res.stdout
        assert "detach key" in res.stderr
        assert "ran" not in res.stdout
        assert exec_rows(oci) == []


def test_detach_keys_detach_from_a_tty_session(oci: OciEnv) -> None:
    with running_container(oci):
        master, slave = os.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ipy_oci", "exec", "-it", "--detach-keys", "ctrl-x",
             "c", "sh", "-c", "echo ready; sleep 100"],
            env=oci.env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        buf = bytearray()
        try:
            def ready() -> bool:
                r, _, _ = select.select([master], [], [], 0.1)
                if r:
                    buf.extend(os.read(master, 4096))
                return b"ready" in buf

            wait_until(ready, "the tty session to start")
            os.write(master, b"\x18")  # ctrl-x
            rc = proc.wait(timeout=30)
            try:
                while select.select([master], [], [], 0.2)[0]:
                    buf.extend(os.read(master, 4096))
            except OSError:
                pass
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        assert rc == 0, buf
        assert b"detached" in buf
        rows = exec_rows(oci)
        assert len(rows) == 1 and rows[0][1] == "running", rows
        # The session runs on; removing the container reaps it (checked by the fixture).


# -- exit codes ----------------------------------------------------------------------


def test_exit_code_is_the_commands_own(oci: OciEnv) -> None:
    with running_container(oci):
        assert oci.cli("exec", "c", "sh", "-c", "exit 7").returncode == 7
        assert oci.cli("exec", "c", "true").returncode == 0
        assert oci.cli("exec", "c", "false").returncode == 1
        assert oci.cli("exec", "c", "sh", "-c", "exit 255").returncode == 255
        # Killed by a signal: 128 + signal, as a shell reports it.
        assert oci.cli("exec", "c", "sh", "-c", "kill -9 $$").returncode == 137
        assert exec_rows(oci) == [], "attached one-shot sessions are removed"


def test_not_executable_is_126(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli("exec", "c", "/etc")
        assert res.returncode == 126, res.stderr
        assert "permission denied" in res.stderr.lower()
        assert exec_rows(oci) == []
        assert exec_ids_of(oci, "c") == []
        assert exec_dirs(oci) == []


def test_not_found_is_127_and_leaves_no_session(oci: OciEnv) -> None:
    # podman #20392: a failed exec must not leave a session behind.
    with running_container(oci):
        res = oci.cli("exec", "c", "/no/such")
        assert res.returncode == 127, res.stderr
        assert "/no/such" in res.stderr
        res = oci.cli("exec", "c", "nosuchcommand")
        assert res.returncode == 127, res.stderr
        assert exec_rows(oci) == []
        assert exec_ids_of(oci, "c") == []
        assert exec_dirs(oci) == []


def test_not_found_detached_is_127_and_leaves_no_session(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli("exec", "-d", "c", "/no/such")
        assert res.returncode == 127, res.stderr
        assert res.stdout.strip() == ""
        assert exec_rows(oci) == []
        assert exec_ids_of(oci, "c") == []
        assert exec_dirs(oci) == []


def test_no_command_is_125(oci: OciEnv) -> None:
    with running_container(oci):
        res = oci.cli("exec", "c")
        assert res.returncode == 125
        assert "must provide a non-empty command" in res.stderr
        res = oci.cli("exec", "c", "")
        assert res.returncode == 125
        assert "must provide a non-empty command" in res.stderr
        assert exec_rows(oci) == []


def test_exec_on_stopped_container_is_125(oci: OciEnv) -> None:
    with running_container(oci):
        assert oci.cli("stop", "-t", "0", "c").returncode == 0
        res = oci.cli("exec", "c", "true")
        assert res.returncode == 125
        assert "running" in res.stderr and "c" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr
        res = oci.cli("exec", "-d", "c", "true")
        assert res.returncode == 125
        assert exec_rows(oci) == []


def test_exec_on_created_container_is_125(oci: OciEnv) -> None:
    res = oci.cli("create", "--name", "c", "busybox", "sleep", "1000")
    try:
        assert res.returncode == 0, res.stderr
        res = oci.cli("exec", "c", "true")
        assert res.returncode == 125
        assert "running" in res.stderr
        assert exec_rows(oci) == []
    finally:
        oci.cli("rm", "-f", "-t", "0", "c")


def test_exec_on_paused_container_is_125(oci: OciEnv) -> None:
    with running_container(oci):
        assert oci.cli("pause", "c").returncode == 0
        try:
            res = oci.cli("exec", "c", "true")
            assert res.returncode == 125
            assert "paused" in res.stderr, res.stderr
            assert "unpause" in res.stderr, res.stderr
            assert exec_rows(oci) == []
        finally:
            oci.cli("unpause", "c")
        assert oci.cli("exec", "c", "true").returncode == 0


def test_exec_on_unknown_container_is_125(oci: OciEnv) -> None:
    res = oci.cli("exec", "nosuch", "true")
    assert res.returncode == 125
    assert "nosuch" in res.stderr
    assert "no container" in res.stderr.lower()


def test_unknown_flag_is_125(oci: OciEnv) -> None:
    res = oci.cli("exec", "--no-such-flag", "c", "true")
    assert res.returncode == 125
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("ref", ["name", "id", "short-id"])
def test_exec_by_name_or_id(oci: OciEnv, ref: str) -> None:
    with running_container(oci) as cid:
        target = {"name": "c", "id": cid, "short-id": cid[:12]}[ref]
        res = oci.cli("exec", target, "hostname")
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == cid[:12]
