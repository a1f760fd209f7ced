"""What ``volume ls`` and ``volume inspect`` print, the same for ``ipy-oci`` and
``%oci``: podman's table (DRIVER, VOLUME NAME), a user's template, or podman's JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..engine import volumes as vols
from .output import render_listing

if TYPE_CHECKING:
    from ..engine.runtime import Runtime

LS_TABLE = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Name": "VOLUME NAME"}


def volume_ls_text(rt: Runtime, found: Sequence[Any], fmt: str | None,
                   noheading: bool = False) -> str:
    return render_listing([vols.volume_ls_row(rt, v) for v in found], LS_TABLE, fmt,
                          name="volume", headers=LS_HEADERS, noheading=noheading,
                          json_rows=lambda: [vols.volume_inspect(rt, v) for v in found])


def volume_inspect_text(rt: Runtime, found: Sequence[Any], fmt: str | None) -> str:
    """JSON (a list) by default, or the template once per volume."""
    return render_listing([vols.volume_ls_row(rt, v) for v in found], "", fmt or "json",
                          name="inspect",
                          json_rows=lambda: [vols.volume_inspect(rt, v) for v in found])
