"""What a listing command prints, the same for ``ipy-oci`` and ``%oci``.

Every listing (ps, images, network ls, volume ls, stats, history, top ...) is a list
of rows (dicts with podman's field names) and a default ``table`` template; a user's
``--format`` replaces the template, ``--format json`` prints the rows as JSON,
``--noheading`` drops the header line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def render_listing(rows: Sequence[Any], default: str, fmt: str | None = None, *,
                   name: str = "", headers: Mapping[str, str] | None = None,
                   noheading: bool = False,
                   json_rows: Sequence[Any] | Callable[[], Sequence[Any]] | None = None
                   ) -> str:
    """The text of a listing (ends with a newline unless empty).

    ``default`` is the table template used without ``--format`` (e.g. "table {{.ID}}
    {{.Name}}"); ``json_rows`` is what ``--format json`` prints when it differs from
    what templates see (``rows``): a list, or a function made to build it only then.
    """
    from .gotemplate import is_json, render_rows

    if fmt and is_json(fmt):
        data = list(rows if json_rows is None else
                    json_rows() if callable(json_rows) else json_rows)
        return json.dumps(data, indent=4, default=_plain) + "\n"
    return render_rows(fmt or default, rows, heading=not noheading, name=name,
                       headers=headers)


def render_object(obj: Any, fmt: str | None = None, *, name: str = "") -> str:
    """One object (info, version, an inspect): JSON, or a template run on the object."""
    from .gotemplate import is_json, render_rows

    if not fmt or is_json(fmt):
        return json.dumps(obj, indent=4, default=_plain) + "\n"
    return render_rows(fmt, [obj], heading=False, name=name)


def go_inspect_rows(found: Sequence[Any]) -> list[Any]:
    """Inspect objects as templates see them: podman's Go field for the json key
    ``Id`` is ``ID`` (and podman rewrites ``{{.Id}}`` to it), so both names work."""
    return [{**o, "ID": o["Id"]} if isinstance(o, dict) and "Id" in o and "ID" not in o
            else o for o in found]


def _plain(value: Any) -> Any:
    """JSON for the template helper types (GoMap and friends are mappings)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
