"""Reading conmon's k8s-file log: ``RFC3339NANO stdout|stderr F|P DATA`` per line.

P marks a partial line (conmon's buffer filled, or the process wrote no newline
yet); F ends a line. Partial pieces are joined back into one line per stream, with
the time of its first piece, so ``--tail``, ``--since``/``--until``, timestamps and
name prefixes see whole lines as the process wrote them.

``read_lines`` reads a log (``--tail`` from its end, not its start);
``follow_logs`` follows one or many containers (``logs -f c1 c2``), interleaving
lines as they arrive, until each has exited and its log is drained.
``format_line`` makes podman's output line (``ID|NAME TIMESTAMP DATA``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..errors import InvalidState, NoSuchContainer

if TYPE_CHECKING:
    from .container import Container

STREAMS = {b"stdout": "stdout", b"stderr": "stderr"}


@dataclass
class LogLine:
    """One line of output (or, while following, a piece of a line still being written)."""

    time: int  # ns since the epoch, of its first piece
    stamp: str  # podman's form of that time (2006-01-02T15:04:05.000000000Z07:00)
    stream: str  # "stdout" or "stderr"
    data: bytes  # without its newline
    complete: bool = True  # ended by a newline
    continued: bool = False  # continues a piece already handed out (follow mode)
    container_id: str = ""
    container_name: str = ""
    color_id: int = 0  # the container's place on the command line (--color)


@dataclass
class LogOptions:
    follow: bool = False
    since: int | None = None  # ns: lines strictly after
    until: int | None = None  # ns: lines strictly before
    tail: int | None = None  # the last N lines (None: all)
    timestamps: bool = False
    names: bool = False  # prefix several containers' lines with names, not IDs
    colors: bool = False  # a color per container (podman's --color)

    def wanted(self, line: LogLine) -> bool:
        return (self.since is None or line.time > self.since) and \
            (self.until is None or line.time < self.until)


def check_readable(ctr: Container) -> None:
    """podman's errors for the log drivers that keep no log."""
    driver = ctr.record.config.log_driver or "k8s-file"
    if driver in ("none", "passthrough"):
        raise InvalidState(f"this container is using the '{driver}' log driver, cannot "
                           "read logs: this container is not logging output (recreate it "
                           "with --log-driver k8s-file to keep its output)")


# -- parsing --------------------------------------------------------------------------
def _stamp(raw: str) -> str:
    """conmon writes ``+00:00``; podman prints Go's ``Z07:00`` form (``Z`` for UTC)."""
    return raw[:-6] + "Z" if raw.endswith("+00:00") else raw


def parse_line(line: bytes) -> tuple[str, str, bool, bytes] | None:
    """-> (timestamp, stream, is-full, data without the newline); None if malformed."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in STREAMS or parts[2] not in (b"F", b"P"):
        return None
    return (parts[0].decode("ascii", "replace"), STREAMS[parts[1]], parts[2] == b"F",
            parts[3] if len(parts) == 4 else b"")


class _Joiner:
    """Joins P pieces to their F line, per stream."""

    def __init__(self) -> None:
        self.pending: dict[str, LogLine] = {}

    def feed(self, raw: bytes) -> LogLine | None:
        from .timeparse import parse_rfc3339

        parsed = parse_line(raw)
        if parsed is None:
            return None
        stamp, stream, full, data = parsed
        held = self.pending.pop(stream, None)
        if held is not None:
            held.data += data
            line = held
        else:
            ns = parse_rfc3339(stamp)
            line = LogLine(time=ns or 0, stamp=_stamp(stamp), stream=stream, data=data)
        if full:
            line.complete = True
            return line
        self.pending[stream] = line
        return None

    def flush(self) -> list[LogLine]:
        """Pieces still waiting for their newline (a line the process has not ended):
        handed out as they are; what follows continues them."""
        out = []
        for stream, line in list(self.pending.items()):
            if line.data or not line.continued:
                out.append(LogLine(line.time, line.stamp, stream, line.data, complete=False,
                                   continued=line.continued))
            self.pending[stream] = LogLine(line.time, line.stamp, stream, b"",
                                           continued=True)
        return out

    def finish(self) -> list[LogLine]:
        out = [x for x in self.flush() if x.data]
        self.pending.clear()
        return out


def _lines(raw_lines: Iterable[bytes]) -> Iterator[LogLine]:
    j = _Joiner()
    for raw in raw_lines:
        line = j.feed(raw)
        if line is not None:
            yield line
    yield from j.finish()


# -- reading -----------------------------------------------------------------------------
def read_lines(path: Path, opts: LogOptions | None = None) -> list[LogLine]:
    """The log's whole lines (``tail``, ``since``, ``until`` applied)."""
    opts = opts or LogOptions()
    if opts.tail is not None:
        lines = _tail(path, opts.tail)
    else:
        try:
            with open(path, "rb") as fh:
                lines = list(_lines(r for r in fh if r.endswith(b"\n")))
        except FileNotFoundError:
            return []
    return [x for x in lines if opts.wanted(x)]


def _tail(path: Path, n: int) -> list[LogLine]:
    """The last ``n`` lines, reading the file backwards in blocks (logs can be large)."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return []
    with fh:
        return _tail_of(fh, _whole_end(fh), n)


def _whole_end(fh: BinaryIO) -> int:
    """The offset after the file's last newline (a line conmon is still writing is
    not whole yet)."""
    pos = fh.seek(0, os.SEEK_END)
    while pos > 0:
        step = min(4096, pos)
        fh.seek(pos - step)
        i = fh.read(step).rfind(b"\n")
        if i >= 0:
            return pos - step + i + 1
        pos -= step
    return 0


def _tail_of(fh: BinaryIO, end: int, n: int) -> list[LogLine]:
    if n <= 0:
        return []
    pos, buf = end, b""
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf
        # Enough once the raw lines after the first (maybe cut) one hold more than n
        # whole lines: earlier pieces could only belong to lines before those.
        if sum(1 for r in buf.split(b"\n")[1:] if b" F " in r[:64]) > n:
            break
    raws = buf.split(b"\n")
    if pos > 0:
        raws = raws[1:]  # cut in the middle
    return list(_lines(r + b"\n" for r in raws if r))[-n:]


def read_log(path: Path) -> Iterator[tuple[str, bytes]]:
    """(stream, data) of every whole line, newline restored (``Container.logs``)."""
    for line in read_lines(path):
        yield line.stream, line.data + (b"\n" if line.complete else b"")


# -- following ------------------------------------------------------------------------------
class _Followed:
    """One container's log being followed: new raw lines each poll."""

    def __init__(self, ctr: Container, opts: LogOptions, index: int = 0,
                 poll: float = 0.1) -> None:
        self.ctr = ctr
        self.index = index
        self.path = ctr.log_path
        self.poll_interval = poll
        self.fh: BinaryIO | None = None
        self.buf = b""
        self.joiner = _Joiner()
        self.last_data = time.monotonic()
        self.flushed = False
        self.checked = 0.0
        self.first: list[LogLine] = []
        self._open(tail=opts.tail)

    def _open(self, tail: int | None = None) -> None:
        try:
            self.fh = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            self.fh = None
            return
        if tail is not None:
            # The last lines up to here, then on from the same point: nothing written
            # in between is missed (a line still being written is read in full next).
            end = _whole_end(self.fh)
            self.first = _tail_of(self.fh, end, tail)
            self.fh.seek(end)

    def poll(self) -> list[LogLine]:
        out, self.first = self.first, []
        if self.fh is None:
            self._open()
            if self.fh is None:
                return out
        chunk = self.fh.read(1 << 20)
        if chunk:
            self.last_data, self.flushed = time.monotonic(), False
            self.buf += chunk
            *raws, self.buf = self.buf.split(b"\n")
            for raw in raws:
                line = self.joiner.feed(raw + b"\n")
                if line is not None:
                    out.append(line)
            return out
        if not self.flushed and time.monotonic() - self.last_data > 2 * self.poll_interval:
            # A line left unfinished for a while (a prompt): show what there is.
            out += self.joiner.flush()
            self.flushed = True
        self._check_rotated()
        return out

    def _check_rotated(self) -> None:
        """conmon's --log-opt max-size rotation replaces the file: go on in the new one."""
        if self.fh is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self.fh.fileno()).st_ino:
                return
        except FileNotFoundError:
            return  # removed with its container: what is open is read to its end
        self.fh.close()
        self._open()
        self.buf = b""

    def running(self) -> bool:
        """Whether it may still write (asked at most once per poll interval: while
        another container's output keeps the loop busy, the database is spared)."""
        from ..state.records import State

        now = time.monotonic()
        if now - self.checked < self.poll_interval:
            return True
        self.checked = now
        try:
            return self.ctr.refresh().state in State.ACTIVE
        except NoSuchContainer:
            return False  # removed (run --rm): its log is read to the end

    def close(self) -> list[LogLine]:
        out = []
        if self.fh is not None:
            rest = self.buf + self.fh.read()
            for raw in rest.split(b"\n"):
                if raw:
                    line = self.joiner.feed(raw + b"\n")
                    if line is not None:
                        out.append(line)
            self.fh.close()
            self.fh = None
        return out + self.joiner.finish()


def follow_logs(ctrs: Sequence[Container], opts: LogOptions,
                should_stop: Callable[[], bool] | None = None,
                poll: float = 0.1) -> Iterator[LogLine]:
    """Lines of every container as they are written, until all have exited (and their
    logs are drained) or ``should_stop()``; a container that is not running is read
    to the end of its log. Each line carries its container's id and name."""
    followed = [_Followed(c, opts, i, poll) for i, c in enumerate(ctrs)]
    live = list(followed)
    try:
        while live:
            got = False
            for f in list(live):
                lines = f.poll()
                if not lines and not f.running():
                    lines = f.close()
                    live.remove(f)
                got = got or bool(lines)
                for line in lines:
                    line.container_id, line.container_name = f.ctr.id, f.ctr.name
                    line.color_id = f.index
                    if opts.wanted(line):
                        yield line
            if should_stop is not None and should_stop():
                return
            if not got:
                time.sleep(poll)
    finally:
        for f in followed:
            if f.fh is not None:
                f.fh.close()


def container_lines(ctrs: Sequence[Container], opts: LogOptions) -> Iterator[LogLine]:
    """Without ``follow``: each container's lines in turn (podman's order)."""
    for i, ctr in enumerate(ctrs):
        for line in read_lines(ctr.log_path, opts):
            line.container_id, line.container_name, line.color_id = ctr.id, ctr.name, i
            yield line


def format_line(line: LogLine, opts: LogOptions, multi: bool) -> bytes:
    """podman's line: ``ID `` (or ``NAME `` with --names) when several containers are
    shown, the timestamp with -t, the data, a newline if the line ended."""
    prefix = ""
    if not line.continued:
        if multi:
            prefix = (line.container_name if opts.names else line.container_id[:12]) + " "
        if opts.timestamps:
            prefix += line.stamp + " "
    end = b"\n" if line.complete else b""
    if opts.colors:
        color = _COLORS[line.color_id % len(_COLORS)]
        return color + prefix.encode() + line.data + b"\x1b[0m" + end
    return prefix.encode() + line.data + end


# podman's --color sequence: light gray, red, yellow, blue, magenta, cyan, green.
_COLORS = (b"\x1b[37m", b"\x1b[31m", b"\x1b[33m", b"\x1b[34m", b"\x1b[35m", b"\x1b[36m",
           b"\x1b[32m")
