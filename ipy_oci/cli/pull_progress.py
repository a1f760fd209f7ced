"""Pull progress for the command line: bars per layer on a terminal, plain
lines otherwise (engine/views.py's LinePrinter, which the magics print too). Both
are :data:`~ipy_oci.engine.images.ProgressCallback`s."""

from __future__ import annotations

import time
from typing import TextIO

from ..engine.images import LayerState, ProgressCallback, PullEvent, PullTracker
from ..engine.views import LinePrinter, human_size

_BAR_WIDTH = 30
_REDRAW_SECONDS = 0.1
_WORDS = {
    "waiting": "Waiting",
    "downloading": "Copying",
    "downloaded": "Copied",
    "exists": "Already exists",
    "extracting": "Extracting",
    "extracted": "Extracted",
}


class TerminalProgress:
    """A bar per layer, redrawn in place (ANSI cursor moves) on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tracker = PullTracker()
        self._drawn = 0  # lines of the layer block on screen
        self._last = 0.0

    def __call__(self, ev: PullEvent) -> None:
        changed = self.tracker.update(ev)
        if ev.kind in ("trying", "warning", "writing"):
            self._above((ev.text or f"Trying to pull {ev.ref}...") if ev.kind == "trying" else
                        f"Warning: {ev.text}" if ev.kind == "warning" else
                        "Writing manifest to image destination")
            return
        if ev.kind == "resolved":
            self._drawn = 0
        now = time.monotonic()
        # Byte counts arrive many times a second: redraw those at most 10 times a
        # second, every change of state at once.
        if changed is not None and changed.status == "downloading" and \
                now - self._last < _REDRAW_SECONDS:
            return
        self._last = now
        self._draw()

    def _above(self, text: str) -> None:
        """Print a line above the layer block, then redraw the block under it."""
        self._erase()
        self.out.write(text + "\n")
        self._draw()

    def _erase(self) -> None:
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}A\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        self._erase()
        lines = [_bar_line(st) for st in self.tracker.layers.values()]
        for line in lines:
            self.out.write(line + "\x1b[K\n")
        self._drawn = len(lines)
        self.out.flush()


def _bar_line(st: LayerState) -> str:
    filled = int(st.fraction * _BAR_WIDTH)
    bar = "=" * filled + (">" if filled < _BAR_WIDTH else "") + " " * (_BAR_WIDTH - filled - 1)
    done = st.total if st.fraction >= 1 else st.current
    word = _WORDS.get(st.status, st.status)
    return f"{st.short} {word:<14} [{bar[:_BAR_WIDTH]}] {human_size(done)} / {human_size(st.total)}"


def cli_progress(out: TextIO, quiet: bool = False) -> ProgressCallback | None:
    """The progress display for ``out``: None when quiet, bars on a terminal."""
    if quiet:
        return None
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    return TerminalProgress(out) if tty else LinePrinter(out)
