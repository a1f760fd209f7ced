"""A local ``srun`` running one ipy-oci command on a Slurm node: its output relayed
(pipes, or a pty of ours for ``srun --pty``), or our own terminal handed over."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING

from .attached import OutputCallback

if TYPE_CHECKING:
    pass

class Step:
    """A local ``srun`` running one node command, with our stdin, and its output
    relayed (or, with a terminal, written straight to ours by srun --pty)."""

    def __init__(self, argv: list[str], stdin_fd: int | None, terminal: bool,
                 pty: bool = False) -> None:
        self.terminal = terminal
        self.master: int | None = None
        if pty:
            # srun --pty needs a terminal: ours is a pty whose other end we relay
            # (a Jupyter terminal pane); its size reaches the node through srun.
            self.master, slave = os.openpty()
            import tty

            tty.setraw(slave)  # the node's pty does the line discipline, not ours
            try:
                self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                             start_new_session=True,
                                             preexec_fn=take_controlling_tty)
            finally:
                os.close(slave)
            self.stdin_fd = stdin_fd
            return
        self.proc = subprocess.Popen(
            argv, stdin=stdin_fd if stdin_fd is not None else subprocess.DEVNULL,
            stdout=None if terminal else subprocess.PIPE,
            stderr=None if terminal else subprocess.PIPE)

    def pump(self, on_output: OutputCallback, stdin_fd: int | None = None,
             detach_keys: bytes = b"", should_stop: Callable[[], bool] | None = None,
             poll_interval: float = 0.2) -> str:
        from ..oci.attach import pump_pipes

        if self.master is not None:
            return self._pump_pty(on_output, should_stop, poll_interval)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        # conmon's stream numbers, as every OutputCallback gets them: 2 out, 3 err.
        return pump_pipes({self.proc.stdout.fileno(): 2, self.proc.stderr.fileno(): 3},
                          without_srun_noise(on_output), should_stop=should_stop,
                          poll_interval=poll_interval)

    def _pump_pty(self, on_output: OutputCallback, should_stop: Callable[[], bool] | None,
                  poll_interval: float) -> str:
        """Relay the pty: its output to ``on_output``, our stdin fd (a pipe) into it."""
        import selectors

        from ..oci.attach import AttachResult

        assert self.master is not None
        relay = without_srun_noise(on_output)
        sel = selectors.DefaultSelector()
        sel.register(self.master, selectors.EVENT_READ, "out")
        # Keystrokes wait (in their pipe) for the node's first output: srun flushes
        # its terminal's input when it connects, which would drop them.
        waiting_input = self.stdin_fd
        try:
            while True:
                if should_stop is not None and should_stop():
                    return AttachResult.STOPPED
                for key, _ev in sel.select(poll_interval):
                    try:
                        data = os.read(key.fd, 65536)
                    except OSError:  # EIO: srun closed its side
                        data = b""
                    if key.data == "in":
                        if data:
                            self.write_pty(data)
                        else:
                            sel.unregister(key.fd)
                    elif data:
                        relay(2, data)
                        if waiting_input is not None:
                            sel.register(waiting_input, selectors.EVENT_READ, "in")
                            waiting_input = None
                    else:
                        return AttachResult.EOF
        finally:
            sel.close()

    def write_pty(self, data: bytes) -> None:
        if self.master is None:
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view):]

    def resize(self, rows: int, cols: int) -> None:
        if self.master is not None:
            import fcntl
            import struct
            import termios

            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def wait_terminal(self) -> int:
        # Ctrl-C is a byte on the node's pty (raw mode); a SIGINT that still reaches
        # us must not end the wait with srun half-way.
        while True:
            try:
                return self.wait()
            except KeyboardInterrupt:
                continue

    def wait(self) -> int:
        rc = self.proc.wait()
        return 128 - rc if rc < 0 else rc

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
        if self.master is not None:
            os.close(self.master)
            self.master = None


def take_controlling_tty() -> None:
    """In the child, after setsid: make its stdin (our pty) its controlling terminal."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def without_srun_noise(on_output: OutputCallback) -> OutputCallback:
    """srun's own lines about a task's exit code repeat what the result says."""
    def relay(stream: int, data: bytes) -> None:
        if data.startswith(b"srun: error: ") and b"Exited with exit code" in data \
                and data.count(b"\n") <= 1:
            return
        on_output(stream, data)
    return relay

