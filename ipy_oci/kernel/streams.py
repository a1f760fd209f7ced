"""Exec output -> the cell's stdout and stderr: live, in order, binary-safe.

Bytes are decoded incrementally per stream (a UTF-8 sequence split across two
packets still decodes; invalid bytes become U+FFFD). The other stream is
flushed before a stream switch, so the notebook shows the interleaving the
process produced. Digests of the raw bytes feed the provenance record.
"""

from __future__ import annotations

import codecs
import hashlib
import sys
from typing import TextIO

STDOUT = 2  # conmon's stream bytes
STDERR = 3


class CellOutput:
    """An ``on_output(stream, data)`` callback writing to ``sys.stdout``/``sys.stderr``."""

    def __init__(self) -> None:
        self._decoders = {s: codecs.getincrementaldecoder("utf-8")(errors="replace")
                          for s in (STDOUT, STDERR)}
        self._hashes = {s: hashlib.sha256() for s in (STDOUT, STDERR)}
        self.nbytes = {STDOUT: 0, STDERR: 0}
        self._last: int | None = None

    @staticmethod
    def _target(stream: int) -> TextIO:
        return sys.stderr if stream == STDERR else sys.stdout

    def __call__(self, stream: int, data: bytes) -> None:
        stream = STDERR if stream == STDERR else STDOUT
        self._hashes[stream].update(data)
        self.nbytes[stream] += len(data)
        if self._last is not None and self._last != stream:
            self._target(self._last).flush()
        self._last = stream
        text = self._decoders[stream].decode(data)
        if text:
            self._target(stream).write(text)

    def close(self) -> None:
        """Emit any trailing partial sequence and flush both streams."""
        for stream in (STDOUT, STDERR):
            tail = self._decoders[stream].decode(b"", final=True)
            if tail:
                self._target(stream).write(tail)
        for stream in (STDOUT, STDERR):
            try:
                self._target(stream).flush()
            except (OSError, ValueError):
                pass

    def digests(self) -> dict[str, dict[str, object]]:
        return {name: {"sha256": self._hashes[s].hexdigest(), "bytes": self.nbytes[s]}
                for name, s in (("stdout", STDOUT), ("stderr", STDERR))}
