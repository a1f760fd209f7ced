"""How ``events`` prints one event, the same for ``ipy-oci`` and ``%oci``: podman's
line, ``--format json`` (the log's JSON line) or a Go template run on the event."""

from __future__ import annotations

from typing import Any

from ..engine.events import Event
from .gotemplate import GoMap, is_json, render_rows


def template_data(ev: Event) -> dict[str, Any]:
    """What ``--format`` templates see: podman's Event struct (``{{.Time}}`` is Go's
    ``Time.String()``, ``{{.Attributes}}`` a map)."""
    from ..engine.timeparse import go_time

    attrs = GoMap(ev.attributes or {})
    return {
        "ContainerExitCode": ev.exit_code, "ID": ev.id, "Image": ev.image,
        "Name": ev.name, "Network": ev.network, "Status": ev.status,
        "Time": go_time(ev.time), "Type": ev.type, "HealthStatus": ev.health_status,
        "PodID": ev.pod_id, "Attributes": attrs,
        "Details": {"ID": ev.id, "PodID": ev.pod_id, "Attributes": attrs},
    }


def check_format(fmt: str | None) -> None:
    """Parse a template before any event is read: a bad one fails at once (125)."""
    if fmt and not is_json(fmt):
        render_rows(fmt, [], heading=False, name="events")


def format_event(ev: Event, fmt: str | None = None, truncate: bool = False) -> str:
    """One event's text, without a trailing newline."""
    if not fmt:
        return ev.human(truncate)
    if is_json(fmt):
        return ev.to_json()
    return render_rows(fmt, [template_data(ev)], heading=False, name="events").rstrip("\n")
