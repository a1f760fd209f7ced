"""What ``info`` and ``version`` print, the same for ``ipy-oci`` and ``%oci``.

The data is podman's (engine/info.py); ``--format json`` prints its JSON, no format
prints YAML (info) or podman's aligned lines (version), and a template runs on the
Go-named view (grammar/gonames.py), so ``{{.Host.OCIRuntime.Name}}`` works.
"""

from __future__ import annotations

import json
from typing import Any

from .gonames import go_view


def info_text(data: dict[str, Any], fmt: str | None) -> str:
    from .gotemplate import is_json, render_rows
    from .yamltext import dump

    if not fmt:
        return dump(data)
    if is_json(fmt):
        return json.dumps(data, indent=2) + "\n"
    return render_rows(fmt, [go_view(data)], heading=False, name="info")


def version_text(version: dict[str, Any], fmt: str | None) -> str:
    """``version``: podman's lines, ``{"Client": ...}`` as JSON, or a template on
    ``{Client}`` (no Server: there is no service; as podman run locally, a template
    that fails there is run again on Client with ``.Server.`` read as ``.``)."""
    from ..engine.info import version_lines
    from .gotemplate import TemplateError, is_json, render_rows

    if not fmt:
        return version_lines(version)
    if is_json(fmt):
        return json.dumps({"Client": version}, separators=(",", ":")) + "\n"
    try:
        return render_rows(fmt, [{"Client": version}], heading=False, name="version")
    except TemplateError:
        fallback = fmt.replace(".Server.", ".")
        return render_rows(fallback, [version], heading=False, name="version")
