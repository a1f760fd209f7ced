"""The text ``top``, ``stats``, ``diff`` and ``system df`` print, the same for
``ipy-oci`` and ``%oci``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .gotemplate import tabwrite
from .output import render_listing

if TYPE_CHECKING:
    from ..engine.changes import Change
    from ..engine.disk_usage import DiskUsage


def top_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned as podman's tabwriter aligns them."""
    return tabwrite("".join("\t".join(r) + "\n" for r in [headers, *rows]))


def stats_text(rows: Sequence[dict[str, Any]], fmt: str | None) -> str:
    from ..engine.stats import DEFAULT_TEMPLATE, HEADERS, json_row

    return render_listing(rows, DEFAULT_TEMPLATE, fmt, name="stats", headers=HEADERS,
                          json_rows=lambda: [json_row(r) for r in rows])


def diff_text(changes: Sequence[Change], fmt: str | None) -> str:
    from ..engine.changes import changes_json

    if fmt == "json":
        return json.dumps(changes_json(changes), indent=4) + "\n"
    return "".join(f"{c}\n" for c in changes)


def df_text(usage: DiskUsage, verbose: bool, fmt: str | None) -> str:
    from ..engine import disk_usage as du

    if not verbose:
        return render_listing(usage.summary, du.SUMMARY_TEMPLATE, fmt, name="df")
    if fmt == "json":
        return json.dumps({"Images": usage.images, "Containers": usage.containers,
                           "Volumes": usage.volumes}, indent=4) + "\n"
    if fmt:
        raise UsageError("system df --verbose takes no template (only --format json)")
    parts = [("Images space usage:", usage.images, du.IMAGES_TEMPLATE),
             ("Containers space usage:", usage.containers, du.CONTAINERS_TEMPLATE),
             ("Local Volumes space usage:", usage.volumes, du.VOLUMES_TEMPLATE)]
    return "\n".join(f"{title}\n\n" + render_listing(rows, template, headers=du.HEADERS)
                     for title, rows, template in parts)
