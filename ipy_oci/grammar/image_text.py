"""What ``images``, ``image history`` and ``image inspect --format`` print, the same
for ``ipy-oci`` and ``%oci``: podman's tables, JSON, or templates on podman's fields
(``images``: its imageReporter, where ``{{.Size}}`` and ``{{.Created}}`` are words
for humans and ``--format json`` keeps the numbers)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from ..engine.views import ago, human_duration, human_size, image_created, image_summary
from .gotemplate import GoMap
from .output import go_inspect_rows, render_listing

IMAGES_HEADERS = {"ID": "IMAGE ID", "ReadOnly": "R/O"}
HISTORY_HEADERS = {"CreatedBy": "CREATED BY"}


def go_time(ts: float) -> str:
    """Go's time.Time String() in UTC (podman's CreatedAt in templates)."""
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(ts))


def _repo_tag(name: str) -> tuple[str, str]:
    if "@" in name:
        return name.partition("@")[0], "<none>"
    repo, sep, tag = name.rpartition(":")
    if not sep or "/" in tag:
        return name, "<none>"
    return repo, tag


def image_rows(summaries: Sequence[Any], no_trunc: bool = False,
               sort: str = "created") -> list[dict[str, Any]]:
    """One row per name of each image (one ``<none>`` row for an unnamed image),
    sorted as ``--sort`` says, with podman's template fields."""
    rows: list[tuple[dict[str, Any], int, float]] = []
    for s in summaries:
        img = s.image
        created = image_created(img)
        # The epoch is a real creation time (reproducible builds use it).
        since = f"{human_duration(time.time() - created)} ago" if img.created else ""
        base = image_summary(img, s.containers)
        base.update({
            "ID": ("sha256:" + img.id) if no_trunc else img.id[:12],
            "ParentId": "", "SharedSize": 0, "VirtualSize": img.size, "ReadOnly": False,
            "Labels": GoMap(base["Labels"]),
            "Created": since, "CreatedSince": since,
            "CreatedAt": go_time(created), "CreatedTime": go_time(created),
            "Size": human_size(img.size),
            "History": ", ".join(img.names),
        })
        pairs = [_repo_tag(n) for n in img.names] or [("<none>", "<none>")]
        for repo, tag in pairs:
            rows.append(({**base, "Repository": repo, "Tag": tag}, img.size, created))
    key = {
        "id": lambda r: r[0]["ID"], "repository": lambda r: r[0]["Repository"],
        "tag": lambda r: r[0]["Tag"], "size": lambda r: r[1], "created": lambda r: -r[2],
    }[sort]
    rows.sort(key=key)  # stable: names keep their order within an image
    return [r[0] for r in rows]


def images_text(summaries: Sequence[Any], fmt: str | None, *, quiet: bool = False,
                no_trunc: bool = False, digests: bool = False, history: bool = False,
                noheading: bool = False, sort: str = "created") -> str:
    rows = image_rows(summaries, no_trunc, sort)
    if quiet:
        ids = list(dict.fromkeys(r["ID"] for r in rows))
        return "".join(i + "\n" for i in ids)
    cols = ["{{.Repository}}", "{{.Tag}}", *(["{{.Digest}}"] if digests else []),
            "{{.ID}}", "{{.Created}}", "{{.Size}}", *(["{{.History}}"] if history else [])]
    return render_listing(rows, "table " + "\t".join(cols), fmt, name="images",
                          headers=IMAGES_HEADERS, noheading=noheading,
                          json_rows=lambda: [image_summary(s.image, s.containers)
                                             for s in summaries])


def history_rows(layers: Sequence[dict[str, Any]], human: bool = True,
                 no_trunc: bool = False) -> list[dict[str, Any]]:
    """podman's historyReporter fields."""
    out = []
    for h in layers:
        by = h["CreatedBy"]
        when = h["created"]
        created = ago(when) if human else _rfc3339(when)
        out.append({
            "ID": h["id"] if no_trunc or len(h["id"]) < 12 else h["id"][:12],
            "Created": created, "CreatedSince": created, "CreatedAt": go_time(when),
            "CreatedBy": by if no_trunc or len(by) <= 45 else by[:42] + "...",
            "Size": human_size(h["size"]), "Comment": h["comment"], "Tags": h["tags"],
        })
    return out


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def history_json(layers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``history --format json``: podman's ImageHistoryLayer JSON."""
    out = []
    for h in layers:
        item: dict[str, Any] = {"id": h["id"], "created": _rfc3339(h["created"])}
        if h["CreatedBy"]:
            item["CreatedBy"] = h["CreatedBy"]
        if h["tags"]:
            item["tags"] = h["tags"]
        item["size"] = h["size"]
        if h["comment"]:
            item["comment"] = h["comment"]
        out.append(item)
    return out


def history_text(layers: Sequence[dict[str, Any]], fmt: str | None, *, human: bool = True,
                 no_trunc: bool = False, quiet: bool = False) -> str:
    from .gotemplate import is_json

    if fmt and is_json(fmt):
        return json.dumps(history_json(layers)) + "\n"
    rows = history_rows(layers, human, no_trunc)
    if quiet:
        return "".join(r["ID"] + "\n" for r in rows)
    default = "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    return render_listing(rows, default, fmt, name="history", headers=HISTORY_HEADERS)


def inspect_text(found: Sequence[dict[str, Any]], fmt: str | None) -> str:
    """``image inspect``: JSON (a list), or the template once per image."""
    return render_listing(go_inspect_rows(found), "", fmt or "json", name="inspect",
                          json_rows=list(found))
