"""``%oci rerun [REF]``: a ``%%oci run`` cell again from its record, compared.

The run and the comparison are the engine's (engine/rerun.py, shared with ``ipy-oci
rerun FILE``); this module shows them: ``RerunComparison`` (HTML and text), and the
Re-run button under each ``%%oci run`` cell (ipywidgets, loaded when shown).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..engine.rerun import Comparison, rerun
from . import html as h
from .failures import ExecInterrupted
from .interrupts import StopControl

if TYPE_CHECKING:
    from .context import KernelContext

_PRE = ("margin:4px 0;padding:4px 8px;background:var(--jp-layout-color2,#f5f5f5);"
        "overflow:auto;max-height:30em;font-family:var(--jp-code-font-family,monospace)")
_BANNER = "padding:4px 10px;border-radius:4px;color:#fff;font-weight:600;background:"


class RerunComparison:
    """An original ``%%oci run`` next to its re-run in a fresh container.

    ``identical``: same exit code and the same sha256 of stdout and of stderr.
    ``original`` / ``rerun``: exit code and per-stream digests of each side;
    ``stdout_diff`` / ``stderr_diff``: unified diffs ("" when equal or not kept).
    """

    def __init__(self, comparison: Comparison) -> None:
        self.comparison = comparison

    @property
    def identical(self) -> bool:
        return self.comparison.identical

    def _side(self, which: str) -> dict[str, Any]:
        c = self.comparison
        out: dict[str, Any] = {"exit_code": c.original_exit if which == "original"
                               else c.rerun_exit}
        for s in c.streams:
            out[s.name] = {"sha256": getattr(s, f"{which}_sha256"),
                           "bytes": getattr(s, f"{which}_bytes")}
        return out

    @property
    def original(self) -> dict[str, Any]:
        return self._side("original")

    @property
    def rerun(self) -> dict[str, Any]:
        return self._side("rerun")

    @property
    def stdout_diff(self) -> str:
        return self.comparison.stream("stdout").diff

    @property
    def stderr_diff(self) -> str:
        return self.comparison.stream("stderr").diff

    def to_json(self) -> dict[str, Any]:
        return self.comparison.to_json()

    def __repr__(self) -> str:
        c = self.comparison
        parts = [f"exit {c.original_exit}->{c.rerun_exit}"]
        for s in c.streams:
            parts.append(f"{s.name} " + ("same" if s.same else
                                         f"{s.original_sha256[:12]}!={s.rerun_sha256[:12]}"))
        return (f"<RerunComparison {c.label}: "
                f"{'identical' if c.identical else 'different'}; {', '.join(parts)}>")

    def _repr_html_(self) -> str:
        c = self.comparison
        color = "#2e7d32" if c.identical else "#c62828"
        word = ("identical: the re-run gave the same exit code and the same bytes"
                if c.identical else "interrupted" if c.interrupted else
                "different: the re-run did not give the same result")
        banner = f'<div style="{_BANNER}{color}">{h.esc(word)}</div>'
        info = h.fields([
            ("record", h.esc(c.label)),
            ("image", h.mono(c.image)),
            ("command", h.mono(_short(" ".join(c.command), 160))),
            ("re-run in", h.esc(f"{c.container} ({c.duration_s:.3f} s, removed)")),
        ])
        same = h.badge("ok", "same")
        differs = h.badge("failed", "differs")
        rows = [["exit code", h.esc(_code(c.original_exit)), h.esc(_code(c.rerun_exit)),
                 same if c.original_exit == c.rerun_exit else differs]]
        for s in c.streams:
            rows.append([h.esc(f"{s.name} sha256"),
                         h.mono(s.original_sha256) + h.esc(f" ({s.original_bytes} bytes)"),
                         h.mono(s.rerun_sha256) + h.esc(f" ({s.rerun_bytes} bytes)"),
                         same if s.same else differs])
        table = h.table(["", "original", "re-run", ""], rows)
        diffs = ""
        for s in c.streams:
            if s.note:
                diffs += f"<div><b>{h.esc(s.name)}</b>: {h.esc(s.note)}</div>"
            if s.diff:
                diffs += (f"<div><b>{h.esc(s.name)} diff</b></div>"
                          f'<pre style="{_PRE}">{h.esc(s.diff)}</pre>')
        return f"<div>{banner}{info}{table}{diffs}</div>"


def _code(code: int | None) -> str:
    return "none" if code is None else str(code)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def rerun_record(ctx: KernelContext, record: dict[str, Any], label: str,
                 grace: float | None = None) -> RerunComparison:
    """Run ``record`` again (Ctrl-C stops it as in a cell); its output is not shown,
    the comparison is."""
    main = threading.current_thread() is threading.main_thread()
    rt = ctx.runtime if main else ctx.new_runtime()  # a DB connection per thread
    try:
        with StopControl(rt.config.interrupt_grace if grace is None else grace) as ctl:
            comp = rerun(rt, record, label, owner_kernel=ctx.kernel_id,
                         should_stop=ctl.should_stop, on_started=ctl.bind,
                         interrupt_grace=0.0)
    finally:
        if not main:
            rt.close()
    if ctl.interrupted:
        raise ExecInterrupted(f"the re-run of {label} was stopped by the interrupt; its "
                              f"container {comp.container} was removed",
                              comp.rerun_exit if comp.rerun_exit is not None else -1)
    return RerunComparison(comp)


def label_of(records: list[dict[str, Any]], record: dict[str, Any]) -> str:
    """How ``%oci provenance`` numbers it: its index, and its exec session."""
    i = next(i for i, r in enumerate(records) if r is record)
    return f"record {i} (exec session {str(record.get('exec_session', ''))[:12]})"


def cmd_rerun(ctx: KernelContext, argv: list[str]) -> RerunComparison:
    """``%oci rerun [REF]``: REF as ``%oci provenance`` takes it (default: the last)."""
    from .grammar import _MagicParser
    from .provenance import find

    p = _MagicParser(prog="%oci rerun", add_help=False)
    p.add_argument("ref", nargs="?", default="")
    ns = p.parse_args(argv)
    record = find(ctx.provenance, ns.ref)
    return rerun_record(ctx, record, label_of(ctx.provenance, record))


def actions(ctx: KernelContext, record: dict[str, Any]) -> Any:
    """The Re-run button under a ``%%oci run`` cell (None without ipywidgets): a click
    runs the record again and shows the comparison below it."""
    try:
        import ipywidgets as w
    except ImportError:
        return None
    button = w.Button(description="Re-run", icon="refresh",
                      tooltip="run this cell's record again in a fresh container (the "
                              "image by digest) and compare the output",
                      layout=w.Layout(width="auto"))
    result = w.HTML()
    session = str(record.get("exec_session", ""))

    def click(_b: Any) -> None:
        button.disabled = True
        result.value = "<i>re-running…</i>"
        try:
            label = (label_of(ctx.provenance, record)
                     if any(r is record for r in ctx.provenance)
                     else f"exec session {session[:12]}")  # no longer kept: by itself
            result.value = rerun_record(ctx, record, label)._repr_html_()
        except Exception as exc:  # shown in the widget: a click has no cell to fail
            result.value = (f'<div style="color:#c62828">re-run failed: '
                            f"{h.esc(exc)}</div>")
        finally:
            button.disabled = False

    button.on_click(click)
    return w.VBox([button, result])
