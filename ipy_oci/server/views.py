"""JSON shapes of the REST API: the same dicts as ``ipy-oci ps/images --format json``,
built by the engine (engine/views.py) so every front end shows the same fields."""

from __future__ import annotations

from typing import Any

from ..engine.container import Container
from ..engine.runtime import Runtime
from ..engine.views import container_summary as _summary
from ..engine.views import image_json

__all__ = ["container_summary", "image_json"]


def container_summary(rt: Runtime, ctr: Container) -> dict[str, Any]:
    return _summary(ctr, len(rt.exec_sessions(ctr.id, sync=False)))
