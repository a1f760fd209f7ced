"""Pull progress for the command line: bars per layer on a terminal, plain
lines otherwise. Both are :data:`~ipy_oci.images.progress.ProgressCallback`s."""

from __future__ import annotations

import time
from typing import TextIO

from ..images.progress import LayerState, ProgressCallback, PullEvent, PullTracker
from .format import human_size

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


class LinePrinter:
    """One line per change of a layer's state (no byte counts): for logs and pipes."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tracker = PullTracker()
        self._said: dict[str, str] = {}

    def __call__(self, ev: PullEvent) -> None:
        st = self.tracker.update(ev)
        line = None
        if ev.kind == "trying":
            line = ev.text or f"Trying to pull {ev.ref}..."
        elif ev.kind == "resolved":
            line = f"Resolved {ev.ref} to {ev.digest}"
        elif ev.kind == "writing":
            line = "Writing manifest to image destination"
        elif ev.kind == "warning":
            line = f"Warning: {ev.text}"
        elif st is not None and self._said.get(st.digest) != st.status:
            self._said[st.digest] = st.status
            line = _layer_words(st)
        if line:
            self.out.write(line + "\n")
            self.out.flush()


def _layer_words(st: LayerState) -> str:
    if st.status == "downloading":
        return f"Copying blob {st.short} ({human_size(st.total)})"
    if st.status == "downloaded":
        return f"Copying blob {st.short} done"
    if st.status == "exists":
        return f"Copying blob {st.short} skipped: already exists"
    if st.status == "extracting":
        return f"Extracting layer {st.short}"
    if st.status == "extracted":
        return f"Extracting layer {st.short} done"
    return f"Waiting for blob {st.short}"


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
