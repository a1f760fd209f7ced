"""Pull progress as plain events, for any front end.

The engine calls a :data:`ProgressCallback` with :class:`PullEvent` values; a
:class:`PullTracker` folds them into per-layer state that a terminal renderer,
a plain-line logger or a notebook widget can draw. Callbacks run in the pulling
thread and should return quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal["trying", "resolved", "layer", "writing", "done", "warning"]
LayerStatus = Literal[
    "waiting", "downloading", "downloaded", "exists", "extracting", "extracted"
]


@dataclass(frozen=True)
class LayerInfo:
    digest: str  # of the compressed blob, as in the manifest
    size: int  # bytes, as the manifest says
    media_type: str


@dataclass(frozen=True)
class PullEvent:
    """One step of a pull.

    - ``trying``: ``ref`` is the fully qualified name being tried.
    - ``resolved``: ``digest`` is the image manifest's, ``layers`` the plan.
    - ``layer``: ``digest`` names a layer; ``status`` with ``current``/``total`` bytes.
    - ``writing``: the image is being recorded in the store.
    - ``done``: ``digest`` is the image ID (``sha256:`` of its config).
    - ``warning``: ``text`` says what went wrong but did not stop the pull.
    """

    kind: EventKind
    ref: str
    digest: str = ""
    status: LayerStatus | None = None
    current: int = 0
    total: int = 0
    text: str = ""
    layers: tuple[LayerInfo, ...] = ()


ProgressCallback = Callable[[PullEvent], None]


@dataclass
class LayerState:
    digest: str
    total: int
    status: LayerStatus = "waiting"
    current: int = 0

    @property
    def short(self) -> str:
        return self.digest.partition(":")[2][:12]

    @property
    def fraction(self) -> float:
        if self.status in ("downloaded", "exists", "extracting", "extracted"):
            return 1.0
        return min(1.0, self.current / self.total) if self.total else 0.0


@dataclass
class PullTracker:
    """The state of one pull, updated event by event (widget-friendly)."""

    ref: str = ""
    digest: str = ""
    image_id: str = ""
    layers: dict[str, LayerState] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    phase: EventKind | None = None

    def update(self, ev: PullEvent) -> LayerState | None:
        """Apply ``ev``; returns the layer it changed, if any."""
        self.phase = ev.kind
        if ev.kind == "trying":
            self.ref, self.digest, self.layers = ev.ref, "", {}
        elif ev.kind == "resolved":
            self.ref, self.digest = ev.ref, ev.digest
            self.layers = {li.digest: LayerState(li.digest, li.size) for li in ev.layers}
        elif ev.kind == "layer":
            st = self.layers.setdefault(ev.digest, LayerState(ev.digest, ev.total))
            if ev.status is not None:
                st.status = ev.status
            st.current = ev.current
            st.total = ev.total or st.total
            return st
        elif ev.kind == "done":
            self.image_id = ev.digest
        elif ev.kind == "warning":
            self.warnings.append(ev.text)
        return None

    @property
    def total_bytes(self) -> int:
        return sum(s.total for s in self.layers.values())

    @property
    def done_bytes(self) -> int:
        return sum(int(s.total * s.fraction) for s in self.layers.values())


def emit(cb: ProgressCallback | None, ev: PullEvent) -> None:
    if cb is not None:
        cb(ev)
