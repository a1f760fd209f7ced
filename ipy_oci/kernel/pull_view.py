"""``%oci pull`` in a notebook: a progress bar per layer, then a one-line summary, and
an ``Image`` handle with a compact repr (instead of progress lines on stderr and a
dict tree).

The engine calls ``PullProgress`` on the pulling thread (the kernel's main thread
here); it only sets widget traits, at most ``_MIN_GAP`` seconds apart per layer, so a
fast local pull does not flood the front end with comm messages.
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as w

from ..engine.images import PullEvent, PullTracker
from ..engine.views import human_size
from . import html as h
from .handles import InspectData

_MIN_GAP = 0.2  # seconds between two updates of one layer's bar


def _rate(done: int, since: float) -> str:
    seconds = time.monotonic() - since
    return f"{human_size(int(done / seconds))}/s" if seconds > 0.05 and done else ""


class PullProgress(w.VBox):
    """One bar per layer (bytes and rate), collapsing into a summary line when done."""

    def __init__(self, ref: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tracker = PullTracker()
        self._title = w.HTML(f"pulling <code>{h.esc(ref)}</code>")
        self._bars: dict[str, tuple[w.IntProgress, w.HTML]] = {}
        self._rows = w.VBox()
        self._started = time.monotonic()
        self._shown: dict[str, float] = {}
        self.children = [self._title, self._rows]
        self.add_class("ipy-oci-pull")

    def __call__(self, ev: PullEvent) -> None:
        st = self.tracker.update(ev)
        if ev.kind == "trying":
            self._title.value = f"pulling <code>{h.esc(ev.ref)}</code>"
        elif ev.kind == "resolved":
            n = len(self.tracker.layers)
            self._title.value = (f"pulling <code>{h.esc(ev.ref)}</code>: "
                                 f"{n} layer{'' if n == 1 else 's'}, "
                                 f"{h.esc(human_size(self.tracker.total_bytes))}")
            for layer in self.tracker.layers.values():
                self._bar(layer.digest)
        elif ev.kind == "warning":
            self._title.value += f'<br><span style="color:var(--jp-warn-color0)">' \
                                 f"{h.esc(ev.text)}</span>"
        if st is None:
            return
        now = time.monotonic()
        final = st.status in ("downloaded", "exists", "extracted")
        if not final and now - self._shown.get(st.digest, 0.0) < _MIN_GAP:
            return
        self._shown[st.digest] = now
        bar, label = self._bar(st.digest)
        bar.max = max(st.total, 1)
        bar.value = min(bar.max, int(st.total * st.fraction) if final else st.current)
        bar.bar_style = "success" if final else ""
        rate = "" if final else _rate(st.current, self._started)
        label.value = (f"<code>{h.esc(st.short)}</code> {h.esc(st.status)} "
                       f"{h.esc(human_size(bar.value))} / {h.esc(human_size(st.total))}"
                       + (f" ({h.esc(rate)})" if rate else ""))

    def _bar(self, digest: str) -> tuple[w.IntProgress, w.HTML]:
        if digest not in self._bars:
            bar = w.IntProgress(value=0, min=0, max=1, layout=w.Layout(width="14em"))
            label = w.HTML()
            self._bars[digest] = (bar, label)
            self._rows.children = [*self._rows.children, w.HBox([bar, label])]
        return self._bars[digest]

    def finish(self, image: ImageHandle | None, error: str = "") -> None:
        """Collapse the bars into one line."""
        took = time.monotonic() - self._started
        t = self.tracker
        if image is None:
            self._title.value = (f'<span style="color:var(--jp-error-color1)">pull of '
                                 f"<code>{h.esc(t.ref)}</code> failed</span>"
                                 + (f": {h.esc(error)}" if error else ""))
        else:
            fetched = sum(1 for s in t.layers.values() if s.status != "exists")
            n = len(t.layers)
            self._title.value = (f"pulled <code>{h.esc(image.name)}</code> "
                                 f"<code>{h.esc(image.short_id)}</code>: {n} "
                                 f"layer{'' if n == 1 else 's'} ({fetched} fetched), "
                                 f"{h.esc(human_size(t.total_bytes))} in {took:.1f} s")
        self.children = [self._title]
        for bar, label in self._bars.values():
            bar.close()
            label.close()
        for row in self._rows.children:
            row.close()
        self._rows.close()


class ImageHandle(InspectData):
    """A pulled image: its inspect data (a dict, as before), shown as one line under
    the name it was asked for (an image has as many names as tags)."""

    def __init__(self, data: dict[str, Any], ref: str = "") -> None:
        super().__init__(data)
        self.ref = ref

    @property
    def id(self) -> str:
        return str(self.get("Id", ""))

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    @property
    def name(self) -> str:
        tags = [str(t) for t in self.get("RepoTags") or []]
        asked = [t for t in tags if self.ref and (t == self.ref or t.endswith("/" + self.ref)
                                                  or t == f"{self.ref}:latest")]
        return (asked or tags or [self.short_id])[0]

    @property
    def size(self) -> int:
        return int(self.get("Size") or 0)

    def __repr__(self) -> str:
        return f"<Image {self.name} {self.short_id} {human_size(self.size)}>"

    def _repr_html_(self) -> str:
        digest = str(self.get("Digest") or "")
        return (f"<b>image</b> <code>{h.esc(self.name)}</code> "
                f"<code>{h.esc(self.short_id)}</code> {h.esc(human_size(self.size))}"
                + (f' <span title="{h.esc(digest)}">{h.esc(digest[:19])}…</span>'
                   if digest else "")
                + " <i>(the full data: <code>dict(image)</code>)</i>")
