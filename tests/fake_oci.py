"""FakeOCIRuntime: the ``OCIRuntime`` protocol (ipy_oci/oci/runtime.py) played by host
processes, so the engine can be unit-tested with no runc or conmon installed.

Does: containers and exec sessions are host processes run from the bundle's config.json
or the exec's process spec (args, env, cwd), each in a session of its own, each with a
monitor of its own (this file run as ``fake-conmon``) playing conmon: it leads its
process group; writes ``pidfile``, ``conmon.pid``, ``conmon.start``; writes the exit
file (status, or 128+signal); serves the attach socket (SEQPACKET: stream byte 2|3 +
data out, raw stdin in, SHUT_WR closes stdin); logs a container's output (k8s-file);
may be SIGKILLed (the process runs on). create leaves the process blocked on an exec
fifo, start releases it. A container's "cgroup" is its and its execs' identities
(``procs``): kill --all, pause (SIGSTOP), unpause (SIGCONT), delete and the death of
its process reach them all. Foreground execs run under oci/foreground.py with this file
as ``runc exec`` (``fake-runc``). Every process it starts has ``MARK`` in its env.

Does not: namespaces, cgroups, mounts, users, capabilities (processes run on the host,
not in the rootfs the engine prepares); exit commands (ignored: nothing cleans up when
nobody watches; integration tests with real conmon cover rule 5); terminals (a tty
gets pipes, stderr merged; resize is a no-op); OOM; preserve_fds under a monitor.
"""

from __future__ import annotations

import json
import os
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from ipy_oci.errors import InvalidState, RuntimeFailure
from ipy_oci.oci.attach import pump
from ipy_oci.oci.conmon_pipes import classify_runtime_error
from ipy_oci.oci.foreground import ForegroundExecHandle, spawn_foreground
from ipy_oci.oci.fsutil import connect_seqpacket, read_int_file, wait_for_file
from ipy_oci.oci.runtime import CreateRequest, ExecRequest, Spawned
from ipy_oci.state.procs import is_alive, kill_process_group, signal_process, start_time

MARK = "IPY_OCI_FAKE_RUNROOT"  # in the env of every process it starts: "=<runroot>"
_KILL = signal.SIGKILL  # ``signal`` is a parameter name in the protocol's kill methods


def _wait(done: Callable[[], bool], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def _code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _ident(bundle: Path) -> tuple[int, int]:
    """The monitor's identity, as it wrote it into the bundle."""
    return read_int_file(bundle / "conmon.pid") or 0, read_int_file(bundle / "conmon.start") or 0


def _procs(state_dir: Path) -> list[tuple[int, int]]:
    """A container's "cgroup": its process first, then its execs' (pid, start time)."""
    try:
        lines = (state_dir / "procs").read_text().splitlines()
    except OSError:
        return []
    return [(int(p), int(s)) for p, s in (ln.split() for ln in lines)]


def _register(state_dir: Path, pid: int) -> int:
    start = start_time(pid)
    try:
        with open(state_dir / "procs", "a") as fh:
            fh.write(f"{pid} {start}\n")
    except OSError:
        pass  # the container was deleted meanwhile
    return start


def _prepare(proc: dict[str, Any], mark: str) -> tuple[dict[str, str], str]:
    """The process's environment, and the error runc would give for its command."""
    env = dict(e.split("=", 1) for e in proc.get("env") or [] if "=" in e)
    env[MARK] = mark
    arg0 = (proc.get("args") or [""])[0]
    if "/" in arg0 and os.path.isfile(arg0) and not os.access(arg0, os.X_OK):
        return env, f'exec: "{arg0}": permission denied'
    if not arg0 or shutil.which(arg0, path=env.get("PATH", "")) is None:
        return env, f'exec: "{arg0}": executable file not found in $PATH'
    return env, ""


def _fork(proc: dict[str, Any], env: dict[str, str], stdio: tuple[int, int, int],
          fifo: str = "", keep: int = 0) -> int:
    """Fork the spec's process in a session of its own; with ``fifo`` it first waits
    until ``start_container`` opens that fifo."""
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores them; exec keeps that
            signal.signal(sig, signal.SIG_DFL)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        os.closerange(3 + keep, 65536)
        if fifo:
            fd = os.open(fifo, os.O_WRONLY)
            os.write(fd, b"0")
            os.close(fd)
        try:
            os.chdir(proc.get("cwd") or "/")
        except OSError:
            pass
        os.execvpe(proc["args"][0], proc["args"], env)
    except BaseException as exc:
        os.write(2, f"fake runtime: {exc}\n".encode())
    os._exit(127)


def _send(ctl: socket.socket, msg: dict[str, Any]) -> None:
    try:
        ctl.send(json.dumps(msg).encode())
    except OSError:
        pass  # the client is gone


def _monitor(opts: dict[str, Any]) -> None:
    """The fake conmon of one process (``opts`` from ``FakeOCIRuntime._monitor``)."""
    ctl = socket.socket(fileno=opts["ctl"])
    if os.fork():
        os._exit(0)  # conmon double-forks: the launcher exits, the monitor goes on
    os.setsid()
    os.chdir(opts["bundle"])
    Path("conmon.pid").write_text(str(os.getpid()))
    Path("conmon.start").write_text(str(start_time(os.getpid())))
    spec = json.loads(Path(opts["spec"]).read_text())
    proc = spec.get("process", spec)  # a config.json, or an exec's process spec
    env, error = _prepare(proc, opts["runroot"])
    if error:
        return _send(ctl, {"data": -1, "message": error})
    sel = selectors.DefaultSelector()
    clients: list[socket.socket] = []
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) if opts["attach"] else None

    def accept() -> None:
        while listener is not None:
            try:
                client = listener.accept()[0]
            except BlockingIOError:
                return
            clients.append(client)
            sel.register(client, selectors.EVENT_READ, "client")

    if listener is not None:
        Path("attach").unlink(missing_ok=True)
        listener.bind("attach")
        listener.listen(16)
        listener.setblocking(False)
        sel.register(listener, selectors.EVENT_READ, "accept")
        if opts["exec"]:
            _send(ctl, {"ready": True})
            if not ctl.recv(1):  # the start byte, once the client has connected
                return
            accept()
    null = os.open(os.devnull, os.O_RDWR)
    in_r, in_w = os.pipe() if opts["stdin"] else (null, -1)
    out_r, out_w = os.pipe() if listener else (-1, null)
    err_r, err_w = os.pipe() if listener and not opts["terminal"] else (-1, out_w)
    pid = _fork(proc, env, (in_r, out_w, err_w), fifo=opts["fifo"])
    for fd in {in_r, out_w, err_w, null}:
        os.close(fd)
    start = _register(Path(opts["state"]), pid)
    Path("pidfile").write_text(str(pid))
    _send(ctl, {"data": pid, "start": start})
    sel.register(os.pidfd_open(pid), selectors.EVENT_READ, "exit")
    pipes = {fd: stream for fd, stream in ((out_r, 2), (err_r, 3)) if fd >= 0}
    for fd, stream in pipes.items():
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, stream)
    log = open(opts["log"], "ab") if opts["log"] else None  # noqa: SIM115

    def output(fd: int, stream: int) -> bool:
        try:
            data = os.read(fd, 8192)
        except BlockingIOError:
            return False
        if not data:
            sel.unregister(fd)
            return False
        for client in list(clients):
            try:
                client.send(bytes([stream]) + data)
            except OSError:
                clients.remove(client)
        if log is not None:  # k8s-file: one line per line, P for a partial one
            ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z ", time.gmtime()).encode()
            log.writelines(ts + [b"stdout", b"stderr"][stream - 2]
                           + (b" F " if ln.endswith(b"\n") else b" P ") + ln.rstrip(b"\n") + b"\n"
                           for ln in data.splitlines(keepends=True))
            log.flush()
        return True

    status = None
    while status is None:
        for key, _ev in sorted(sel.select(), key=lambda kv: kv[0].data != "accept"):
            if key.data == "accept":
                accept()
            elif key.data == "exit":
                status = os.waitpid(pid, 0)[1]
            elif key.data == "client":
                try:
                    data = cast(socket.socket, key.fileobj).recv(65536)
                    if data and in_w >= 0:
                        os.write(in_w, data)  # a packet of at most 8 KiB: written whole
                except OSError:
                    data = b""
                if not data:  # SHUT_WR (or gone): the process's stdin ends
                    sel.unregister(key.fileobj)
                    if in_w >= 0:
                        os.close(in_w)
                        in_w = -1
            elif key.fd in sel.get_map():
                output(key.fd, key.data)
    for fd, stream in pipes.items():  # what the process wrote before it exited
        while fd in sel.get_map() and output(fd, stream):
            pass
    if not opts["exec"]:  # the container's process died: its pid namespace goes too
        for p, s in _procs(Path(opts["state"]))[1:]:
            signal_process(p, s, _KILL, group=True)
    Path(opts["exit_file"]).write_text(str(_code(status)))
    if opts["exec"]:
        _send(ctl, {"exit": _code(status)})
    for client in clients:
        client.close()


def _fake_runc(argv: list[str]) -> int:
    """``STATE_DIR MARK exec --pid-file P --process SPEC [--preserve-fds=N] ID``: runc
    exec without -d (run the process, wait, exit with its status)."""
    state_dir, mark, args = Path(argv[0]), argv[1], argv[2:]
    proc = json.loads(Path(args[args.index("--process") + 1]).read_text())
    keep = next((int(a.split("=", 1)[1]) for a in args if a.startswith("--preserve-fds=")), 0)
    env, error = _prepare(proc, mark)
    if error:
        print(f"fake runc exec failed: {error}", file=sys.stderr)
        return 255
    pid = _fork(proc, env, (0, 1, 2), keep=keep)
    _register(state_dir, pid)  # in the container's "cgroup" before anyone knows it runs
    pidfile = Path(args[args.index("--pid-file") + 1])
    pidfile.with_name(".pid.tmp").write_text(str(pid))
    os.replace(pidfile.with_name(".pid.tmp"), pidfile)
    return _code(os.waitpid(pid, 0)[1])


class FakeExecHandle:
    """An exec session started under its fake monitor."""

    def __init__(self, rt: FakeOCIRuntime, req: ExecRequest, ctl: socket.socket) -> None:
        self.rt, self.req, self.ctl = rt, req, ctl
        self.sock: socket.socket | None = None

    def wait_started(self) -> Spawned:
        msg = self.rt._recv(self.ctl, "exec session pid", self.req.bundle)
        if msg.get("ready"):
            self.sock = connect_seqpacket(self.rt.exec_attach_socket_path(self.req.bundle))
            self.ctl.send(b"\0")
            msg = self.rt._recv(self.ctl, "exec session pid", self.req.bundle)
        if msg["data"] < 0:
            what = f"exec {' '.join(self.req.process.get('args', []))}".strip()
            raise classify_runtime_error(str(msg.get("message", "")), what)
        return Spawned(msg["data"], msg["start"], *_ident(self.req.bundle))

    def pump(self, on_output: Callable[[int, bytes], None], stdin_fd: int | None = None,
             detach_keys: bytes = b"", should_stop: Callable[[], bool] | None = None,
             poll_interval: float = 0.2) -> str:
        assert self.sock is not None, "pump needs an attached session"
        return pump(self.sock, on_output, stdin_fd=stdin_fd, detach_keys=detach_keys,
                    should_stop=should_stop, poll_interval=poll_interval)

    def wait_exit(self, timeout: float | None = None) -> int | None:
        try:
            self.ctl.settimeout(timeout)
            data = self.ctl.recv(65536)
        except OSError:
            data = b""
        if data:
            return int(json.loads(data)["exit"])
        # EOF: the monitor is dying (killed). Once it is gone: its exit file, if any.
        monitor = _ident(self.req.bundle)
        _wait(lambda: not is_alive(*monitor), 5.0)
        return self.rt.read_exec_exit_code(self.req.container_id, self.req.session_id)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.ctl.close()


class FakeOCIRuntime:
    """runc + conmon played by host processes (see the module docstring)."""

    def __init__(self, runroot: Path, runtime_name: str = "fake") -> None:
        self.runroot = runroot
        self.runtime_name = runtime_name
        self.state_root = runroot / "fake-oci"
        self.exit_dir = runroot / "exits"
        for d in (self.state_root, self.exit_dir):
            d.mkdir(parents=True, exist_ok=True)

    def name(self) -> str:
        return self.runtime_name

    def path(self) -> str:
        return __file__

    def runtime_info(self) -> dict[str, Any]:
        return {"name": self.runtime_name, "path": __file__, "version": "fake",
                "stateRoot": str(self.state_root),
                "conmon": {"path": __file__, "version": "fake"}}

    def _monitor(self, bundle: Path, **opts: Any) -> socket.socket:
        """Start a fake conmon for ``bundle``; returns our end of its control socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        opts.update(bundle=str(bundle), ctl=theirs.fileno(), runroot=str(self.runroot))
        # argv[0] ends in "conmon", as the engine's safety nets look for (kill_monitors):
        # a path with no Python next to it, so the interpreter keeps its own prefix.
        argv0, env = str(self.state_root / "conmon"), {**os.environ, MARK: opts["runroot"]}
        env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1]), *sys.path[1:]])
        with theirs, open(bundle / "conmon.err", "wb") as err:
            subprocess.run([argv0, __file__, "fake-conmon", json.dumps(opts)],
                           executable=sys.executable, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=err, pass_fds=(theirs.fileno(),),
                           env=env, check=False)  # returns once the launcher has forked
        return ours

    def _recv(self, ctl: socket.socket, what: str, bundle: Path) -> dict[str, Any]:
        data = ctl.recv(65536)
        if not data:
            err = (bundle / "conmon.err").read_text(errors="replace").strip()
            raise RuntimeFailure(f"the fake monitor exited before reporting the {what}: "
                                 f"{err or 'no error output'}")
        msg: dict[str, Any] = json.loads(data)
        return msg

    def _main(self, ctr_id: str, started: bool = False) -> tuple[int, int]:
        """The container's live process (``started``: and no longer waiting to start)."""
        sdir = self.state_root / ctr_id
        procs = _procs(sdir)
        if not procs or not is_alive(*procs[0]) or (started and (sdir / "exec.fifo").exists()):
            raise InvalidState(f"container {ctr_id[:12]} is not running")
        return procs[0]

    def _signal_all(self, ctr_id: str, sig: int) -> None:
        for pid, start in _procs(self.state_root / ctr_id):
            signal_process(pid, start, sig, group=True)

    def create_container(self, req: CreateRequest) -> Spawned:
        sdir = self.state_root / req.id
        shutil.rmtree(sdir, ignore_errors=True)
        sdir.mkdir(parents=True)
        os.mkfifo(sdir / "exec.fifo")
        (sdir / "bundle").write_text(str(req.bundle))
        with self._monitor(req.bundle, exec=False, spec=str(req.bundle / "config.json"),
                           state=str(sdir), exit_file=str(self.exit_file_path(req.id)),
                           attach=True, stdin=req.stdin, terminal=req.terminal,
                           fifo=str(sdir / "exec.fifo"), log=str(req.log_path)) as ctl:
            msg = self._recv(ctl, "container pid", req.bundle)
        if msg["data"] < 0:
            shutil.rmtree(sdir, ignore_errors=True)
            raise classify_runtime_error(str(msg.get("message", "")),
                                         f"creating container {req.name}")
        return Spawned(msg["data"], msg["start"], *_ident(req.bundle))

    def start_container(self, ctr_id: str) -> None:
        fifo = self.state_root / ctr_id / "exec.fifo"
        main = self._main(ctr_id)
        if not fifo.exists():
            raise RuntimeFailure(f"starting container {ctr_id[:12]}: it was started already")
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            _wait(lambda: bool(select.select([fd], [], [], 0.05)[0]) or not is_alive(*main), 60)
            try:
                data = os.read(fd, 1)
            except BlockingIOError:
                data = b""
        finally:
            os.close(fd)
        fifo.unlink()
        if not data:
            raise RuntimeFailure(f"starting container {ctr_id[:12]}: its process is gone")

    def kill_container(self, ctr_id: str, signal: int, all_procs: bool = False) -> None:
        pid, start = self._main(ctr_id)
        if all_procs:
            self._signal_all(ctr_id, signal)
        else:
            signal_process(pid, start, signal)

    def stop_container(self, ctr_id: str, signal: int, timeout: float,
                       on_timeout: Callable[[], None] | None = None) -> int | None:
        """Stop signal, wait up to ``timeout``, then SIGKILL every process
        (``on_timeout`` is called first when the stop signal did not do it)."""
        if timeout > 0:
            try:
                self.kill_container(ctr_id, signal)
            except InvalidState:
                return self.read_exit_code(ctr_id, wait=1.0)
            code = self.read_exit_code(ctr_id, wait=timeout)
            if code is not None:
                return code
            if on_timeout is not None:
                on_timeout()
        self._signal_all(ctr_id, _KILL)
        return self.read_exit_code(ctr_id, wait=10.0)

    def delete_container(self, ctr_id: str) -> None:
        """``runc delete --force``: every process killed, the runtime's state gone."""
        procs = _procs(self.state_root / ctr_id)
        self._signal_all(ctr_id, _KILL)
        _wait(lambda: not procs or not is_alive(*procs[0]), 5.0)
        shutil.rmtree(self.state_root / ctr_id, ignore_errors=True)

    def pause_container(self, ctr_id: str) -> None:
        pid, _start = self._main(ctr_id, started=True)
        self._signal_all(ctr_id, signal.SIGSTOP)
        (self.state_root / ctr_id / "paused").touch()

        def frozen() -> bool:  # runc returns once the cgroup is frozen
            try:
                stat = Path(f"/proc/{pid}/stat").read_bytes()
            except OSError:
                return True
            return stat[stat.rfind(b")") + 2:][:1] in (b"T", b"t", b"Z")

        _wait(frozen, 5.0)

    def unpause_container(self, ctr_id: str) -> None:
        self._main(ctr_id)
        self._signal_all(ctr_id, signal.SIGCONT)
        (self.state_root / ctr_id / "paused").unlink(missing_ok=True)

    def update_container_status(self, ctr_id: str) -> dict[str, Any] | None:
        """What ``runc state`` says; None when the id is unknown."""
        sdir = self.state_root / ctr_id
        procs = _procs(sdir)
        if not procs:
            return None
        status = ("stopped" if not is_alive(*procs[0]) else
                  "created" if (sdir / "exec.fifo").exists() else
                  "paused" if (sdir / "paused").exists() else "running")
        return {"id": ctr_id, "status": status, "bundle": (sdir / "bundle").read_text(),
                "pid": procs[0][0] if status != "stopped" else 0}

    def exit_file_path(self, ctr_id: str) -> Path:
        return self.exit_dir / ctr_id

    def kill_monitors(self, marker: str) -> int:
        """The fake's monitors and its ``runc exec`` stand-in carry the id too."""
        from ipy_oci.state.procs import kill_monitors

        return kill_monitors(marker, (b"conmon", Path(sys.executable).name.encode()))

    def read_exit_code(self, ctr_id: str, wait: float = 0.0) -> int | None:
        path = self.exit_file_path(ctr_id)
        if wait > 0 and not wait_for_file(path, wait):
            return None
        return _read_exit_file(path)

    def attach_socket_path(self, bundle: Path) -> Path:
        return bundle / "attach"

    def attach(self, bundle: Path) -> socket.socket:
        return connect_seqpacket(self.attach_socket_path(bundle))

    def resize(self, bundle: Path, rows: int, cols: int) -> None:
        pass  # no terminals here

    def exec_container(self, req: ExecRequest) -> FakeExecHandle | ForegroundExecHandle:
        sdir = self.state_root / req.container_id
        self._main(req.container_id, started=True)
        if (sdir / "paused").exists():
            raise RuntimeFailure(f"cannot exec in paused container {req.container_id[:12]}")
        if req.foreground:
            return spawn_foreground([sys.executable, __file__, "fake-runc", str(sdir),
                                     str(self.runroot)], req)
        (req.bundle / "exits").mkdir(parents=True, exist_ok=True)
        (req.bundle / "process.json").write_text(json.dumps(req.process))
        ctl = self._monitor(req.bundle, exec=True, spec=str(req.bundle / "process.json"),
                            state=str(sdir), fifo="", log="", attach=req.attach,
                            exit_file=str(self.exec_exit_file_path(req.container_id,
                                                                   req.session_id)),
                            stdin=req.stdin, terminal=req.terminal)
        return FakeExecHandle(self, req, ctl)

    def exec_stop_container(self, ctr_id: str, session_id: str, pid: int, pid_start: int,
                            timeout: float) -> None:
        """SIGTERM to the process group, wait ``timeout`` for the exit, then SIGKILL."""
        exit_file = self.exec_exit_file_path(ctr_id, session_id)

        def ended() -> bool:
            return exit_file.exists() or not is_alive(pid, pid_start)

        if timeout > 0 and signal_process(pid, pid_start, signal.SIGTERM, group=True) \
                and _wait(ended, timeout):
            return
        if signal_process(pid, pid_start, _KILL, group=True):
            _wait(ended, 5.0)

    def exec_update_status(self, ctr_id: str, session_id: str, pid: int,
                           pid_start: int) -> bool:
        """True while the process runs: the exit file first, then its identity."""
        if self.exec_exit_file_path(ctr_id, session_id).exists():
            return False
        return is_alive(pid, pid_start)

    def exec_container_cleanup(self, ctr_id: str, session_id: str, bundle: Path) -> None:
        """End the session's monitor (its whole group) and remove its bundle."""
        conmon_pid, conmon_start = _ident(bundle)
        if conmon_pid:
            kill_process_group(conmon_pid, conmon_start, session_id)
        shutil.rmtree(bundle, ignore_errors=True)

    exec_attach_socket_path = attach_socket_path
    exec_attach = attach

    def exec_bundle(self, session_id: str) -> Path:
        return self.runroot / "exec" / session_id

    def exec_exit_file_path(self, ctr_id: str, session_id: str) -> Path:
        return self.exec_bundle(session_id) / "exits" / ctr_id

    def read_exec_exit_code(self, ctr_id: str, session_id: str) -> int | None:
        return _read_exit_file(self.exec_exit_file_path(ctr_id, session_id))


def _read_exit_file(path: Path) -> int | None:
    code = read_int_file(path)  # the monitor creates, then writes: give it a moment
    if code is None and path.exists():
        _wait(lambda: read_int_file(path) is not None or not path.exists(), 0.1)
        code = read_int_file(path)
    return code


if __name__ == "__main__":
    if sys.argv[1] == "fake-conmon":
        _monitor(json.loads(sys.argv[2]))
        os._exit(0)
    sys.exit(_fake_runc(sys.argv[2:]))
