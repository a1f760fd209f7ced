"""What ``network ls`` and ``network inspect`` print, the same for ``ipy-oci`` and
``%oci``: podman's table, JSON (json tags: ``network_interface``), or a template on
the Go-named view (``{{.NetworkInterface}}``, ``{{.DNSEnabled}}``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .gonames import go_view
from .gotemplate import GoMap
from .output import render_listing

LS_TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}"
LS_HEADERS = {"ID": "NETWORK ID"}
_EMPTY_MAPS = ("Labels", "Options", "IPAMOptions")


def _template_view(data: dict[str, Any]) -> dict[str, Any]:
    """The Go struct: every field (maps that JSON leaves out are empty)."""
    view: dict[str, Any] = go_view(data)
    for key in _EMPTY_MAPS:
        view.setdefault(key, GoMap())
    return view


def network_ls_row(net: Any, no_trunc: bool = False) -> dict[str, Any]:
    """podman's ListPrintReports: ID shortened unless --no-trunc, Labels as k=v,k=v."""
    row = _template_view(net.inspect())
    row["ID"] = net.id if no_trunc else net.id[:12]
    row["Labels"] = ",".join(f"{k}={v}" for k, v in sorted(net.labels.items()))
    return row


def network_ls_text(found: Sequence[Any], fmt: str | None, noheading: bool = False,
                    no_trunc: bool = False) -> str:
    return render_listing([network_ls_row(n, no_trunc) for n in found], LS_TABLE, fmt,
                          name="ls", headers=LS_HEADERS, noheading=noheading,
                          json_rows=lambda: [n.inspect() for n in found])


def network_inspect_text(found: Sequence[dict[str, Any]], fmt: str | None) -> str:
    """``network inspect``: JSON (a list), or the template once per network."""
    return render_listing([_template_view(d) for d in found], "", fmt or "json",
                          name="inspect", json_rows=list(found))
