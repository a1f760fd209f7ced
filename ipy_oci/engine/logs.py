"""Reading conmon's k8s-file log: ``RFC3339NANO stdout|stderr F|P DATA`` per line.

P marks a partial line (no newline was written); F ends a line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path


def parse_line(line: bytes) -> tuple[str, str, bytes] | None:
    """-> (timestamp, stream, data with its newline restored for full lines)."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0], parts[1], parts[2]
    data = parts[3] if len(parts) == 4 else b""
    if tag == b"F":
        data += b"\n"
    return ts.decode(), stream.decode(), data


def read_log(path: Path) -> Iterator[tuple[str, bytes]]:
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break  # a line conmon is still writing
            parsed = parse_line(line)
            if parsed:
                yield parsed[1], parsed[2]


def follow_log(path: Path, still_running: Callable[[], bool],
               poll: float = 0.1) -> Iterator[tuple[str, bytes]]:
    """Yield entries as they are written until the container stops and the log drains."""
    while not path.exists():
        if not still_running():
            return
        time.sleep(poll)
    with open(path, "rb") as fh:
        buf = b""
        while True:
            chunk = fh.read(65536)
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    parsed = parse_line(line + b"\n")
                    if parsed:
                        yield parsed[1], parsed[2]
                continue
            if not still_running():
                rest = fh.read()
                if not rest and not buf:
                    return
                buf += rest
                for line in buf.split(b"\n"):
                    parsed = parse_line(line + b"\n") if line else None
                    if parsed:
                        yield parsed[1], parsed[2]
                return
            time.sleep(poll)
