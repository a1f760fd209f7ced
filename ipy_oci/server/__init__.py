"""The Jupyter server extension: REST, websocket attach and reaping (see app.py).

Enabled by ``jupyter-config/jupyter_server_config.d/ipy_oci.json``, which names
this module; importing it stays cheap (the app is imported on demand by
jupyter_server, never by a kernel).
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import IpyOciApp

    return [{"module": "ipy_oci.server", "app": IpyOciApp}]
