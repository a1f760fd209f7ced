"""The local terminal during an attached ``-t`` session: raw mode and resizes."""

from __future__ import annotations

import os
import signal
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def terminal_size(fd: int) -> tuple[int, int]:
    size = os.get_terminal_size(fd)
    return size.lines, size.columns


@contextmanager
def raw_terminal(fd: int | None, on_resize: Callable[[int, int], None]) -> Iterator[None]:
    """Raw mode plus SIGWINCH forwarding, restored on exit; a no-op off a terminal."""
    if fd is None or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)

    def winch(_sig: int, _frame: object) -> None:
        try:
            on_resize(*terminal_size(fd))
        except OSError:
            pass

    old_handler = signal.signal(signal.SIGWINCH, winch)
    try:
        winch(0, None)
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, old_handler)


class RawWhenStarted:
    """Raw mode and resize forwarding that begin once the process runs (so the first
    resize has a target) and always end with the block."""

    def __init__(self, fd: int | None, on_resize: Callable[[int, int], None]) -> None:
        self._ctx = raw_terminal(fd, on_resize)
        self._entered = False

    def started(self, _process: object) -> None:
        self._ctx.__enter__()
        self._entered = True

    def __enter__(self) -> RawWhenStarted:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._entered:
            self._ctx.__exit__(None, None, None)


def write_stream(stream: int, data: bytes) -> None:
    """Attach output to our stdout (stream 2) or stderr (3), unbuffered and binary."""
    fd = 2 if stream == 3 else 1
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
