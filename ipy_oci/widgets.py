"""Live notebook views of containers and exec sessions (ipywidgets 8)."""

from __future__ import annotations

from .kernel.widgets import ContainerTable, ExecSessionView

__all__ = ["ContainerTable", "ExecSessionView"]
