"""Small HTML builders for the rich reprs (inline styles: notebooks drop <style>)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

STATE_COLORS = {
    "running": "#2e7d32", "paused": "#b26a00", "stopping": "#c75000",
    "created": "#1565c0", "configured": "#607d8b", "exited": "#616161",
    "stopped": "#616161", "removed": "#9e9e9e",
    "ok": "#2e7d32", "failed": "#c62828", "interrupted": "#b26a00",
}
_CELL = "padding:2px 8px;text-align:left;vertical-align:top;"
_MONO = "font-family:var(--jp-code-font-family,monospace);"


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def badge(state: str, label: str | None = None) -> str:
    color = STATE_COLORS.get(state, "#616161")
    return (f'<span style="background:{color};color:#fff;border-radius:8px;'
            f'padding:0 7px;font-size:90%;white-space:nowrap">{esc(label or state)}</span>')


def mono(text: str) -> str:
    return f'<code style="{_MONO}">{esc(text)}</code>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], raw: bool = True) -> str:
    """Cells are HTML when ``raw``; otherwise they are escaped."""
    head = "".join(f'<th style="{_CELL}">{esc(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{c if raw else esc(c)}</td>' for c in row)
        + "</tr>" for row in rows)
    return (f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def fields(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column key/value table; values are HTML."""
    rows = "".join(f'<tr><th style="{_CELL}font-weight:600">{esc(k)}</th>'
                   f'<td style="{_CELL}">{v}</td></tr>' for k, v in pairs)
    return f'<table style="border-collapse:collapse">{rows}</table>'


def json_tree(value: Any, depth: int = 0, open_depth: int = 1) -> str:
    """Nested <details> for dicts and lists; leaves as JSON."""
    if isinstance(value, Mapping) and value:
        items = "".join(f"<li><b>{esc(k)}</b>: {json_tree(v, depth + 1, open_depth)}</li>"
                        for k, v in value.items())
        return _details(f"{{{len(value)}}}", items, depth < open_depth)
    if isinstance(value, list | tuple) and value:
        items = "".join(f"<li>{json_tree(v, depth + 1, open_depth)}</li>" for v in value)
        return _details(f"[{len(value)}]", items, depth < open_depth)
    return f'<span style="{_MONO}">{esc(json.dumps(value, default=str))}</span>'


def _details(summary: str, items: str, is_open: bool) -> str:
    return (f'<details{" open" if is_open else ""} style="display:inline-block;'
            f'vertical-align:top"><summary style="cursor:pointer">{esc(summary)}</summary>'
            f'<ul style="margin:0;padding-left:1.2em;list-style:none">{items}</ul></details>')


def iso(ts: float) -> str:
    """RFC 3339 UTC with microseconds ("" when unset), as provenance records keep times
    (durations and podman's times: engine/views.py)."""
    if not ts:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"
