"""Spawning conmon and speaking its pipe protocol (sync, start and attach pipes).

conmon finds its pipes by fd number in ``_OCI_*PIPE`` environment variables; we
pass SOCK_SEQPACKET socketpairs so every JSON message is one packet.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CommandNotExecutable, CommandNotFound, RuntimeFailure
from ..userns.enter import prefix as userns_prefix


@dataclass
class ConmonProcess:
    """A conmon being started: the parent ends of its pipes."""

    sync: socket.socket
    start: socket.socket
    attach: socket.socket | None
    proc: subprocess.Popen[bytes]
    errlog: Path
    _closed: list[socket.socket] = field(default_factory=list)

    def send_start(self) -> None:
        self.start.send(b"\0")

    def read_message(self, what: str) -> dict[str, object]:
        """One JSON message from the sync pipe; EOF means conmon died."""
        data = self.sync.recv(65536)
        if not data:
            raise RuntimeFailure(
                f"conmon exited before reporting the {what}: {self.conmon_stderr()}"
            )
        msg: dict[str, object] = json.loads(data.decode("utf-8", "replace").strip())
        return msg

    def wait_attach_ready(self) -> None:
        assert self.attach is not None
        data = self.attach.recv(65536)
        if not data:
            raise RuntimeFailure(f"conmon exited before its attach socket was ready: "
                                 f"{self.conmon_stderr()}")
        msg = json.loads(data.decode("utf-8", "replace").strip())
        if int(msg.get("data", -1)) < 0:
            raise RuntimeFailure(f"conmon could not set up the attach socket: "
                                 f"{msg.get('message', '')}")

    def reap_launcher(self) -> None:
        """conmon double-forks; reap the first process so it does not linger as a zombie."""
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def conmon_stderr(self) -> str:
        try:
            text = self.errlog.read_text(errors="replace").strip()
        except OSError:
            text = ""
        return text or "no error output"

    def close(self) -> None:
        for s in (self.sync, self.start, self.attach):
            if s is not None:
                s.close()


def spawn_conmon(argv: list[str], errlog: Path, with_attach_pipe: bool,
                 extra_fds: tuple[int, ...] = (), inherit_stdio: bool = False) -> ConmonProcess:
    """Start conmon; ``extra_fds`` (e.g. --preserve-fds) keep their numbers;
    ``inherit_stdio`` hands it our stdin, stdout and stderr (the passthrough log
    driver: conmon passes them on to the container)."""
    sync_p, sync_c = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    start_p, start_c = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    child_fds = [*extra_fds, sync_c.fileno(), start_c.fileno()]
    env = dict(os.environ)
    env["_OCI_SYNCPIPE"] = str(sync_c.fileno())
    env["_OCI_STARTPIPE"] = str(start_c.fileno())
    attach_p = attach_c = None
    if with_attach_pipe:
        attach_p, attach_c = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env["_OCI_ATTACHPIPE"] = str(attach_c.fileno())
        child_fds.append(attach_c.fileno())
    try:
        with open(errlog, "wb") as err:
            # cwd = the bundle: conmon drops files such as "oom" relative to its cwd.
            stdio: dict[str, object] = {} if inherit_stdio else {
                "stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": err}
            proc = subprocess.Popen(
                [*userns_prefix(str(errlog.parent)), *argv], **stdio,  # type: ignore[call-overload]
                pass_fds=child_fds, env=env, start_new_session=True, cwd=errlog.parent,
            )
    except FileNotFoundError as exc:
        for s in (sync_p, sync_c, start_p, start_c, attach_p, attach_c):
            if s is not None:
                s.close()
        raise RuntimeFailure(f"cannot run conmon ({argv[0]}): {exc}") from exc
    for s in (sync_c, start_c, attach_c):
        if s is not None:
            s.close()
    return ConmonProcess(sync=sync_p, start=start_p, attach=attach_p, proc=proc, errlog=errlog)


_LOGFMT_MSG = re.compile(r'msg="((?:[^"\\]|\\.)*)"')


def _runtime_message(message: str) -> str:
    """The human part of runc's stderr (logfmt ``msg="..."`` or JSON ``{"msg": ...}``)."""
    text = message.strip()
    for line in reversed(text.splitlines()):
        m = _LOGFMT_MSG.search(line)
        if m:
            return m.group(1).replace('\\"', '"')
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("msg"):
            return str(entry["msg"])
    return text


# What runc and crun say when the command itself is missing or cannot be run; other
# "no such file" errors (a missing state file, a bad mount) stay engine errors.
_NOT_FOUND = (
    re.compile(r"executable file .*not found"),
    re.compile(r'exec: "[^"]*": stat [^:]*: no such file or directory'),
    re.compile(r"exec(vp?e?)? [`'\"][^`'\"]*[`'\"]:? no such file or directory"),
)
_NOT_EXECUTABLE = (
    re.compile(r'exec: "[^"]*": permission denied'),
    re.compile(r"exec(vp?e?)? [`'\"][^`'\"]*[`'\"]:? (permission denied|is a directory)"),
    re.compile(r"exec format error"),
)


def classify_runtime_error(message: str, what: str) -> Exception:
    """Map the runtime's stderr to podman's exit codes (127 not found, 126 not executable)."""
    text = _runtime_message(message)
    low = text.lower()
    if any(p.search(low) for p in _NOT_FOUND):
        return CommandNotFound(f"{what}: executable file not found in the container "
                               f"(check the command and $PATH): {text}")
    if any(p.search(low) for p in _NOT_EXECUTABLE):
        return CommandNotExecutable(f"{what}: permission denied, the path is not an "
                                    f"executable file: {text}")
    return RuntimeFailure(f"{what}: {text}")
