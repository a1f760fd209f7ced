"""Helpers shared by the server tests (a module of its own: every test dir has a
``conftest``, so importing from one by name is ambiguous)."""

from __future__ import annotations

from typing import Any

REAPER_INTERVAL = 1.0


def start_container(engine: Any, name: str, cmd: list[str] | None = None,
                    **config: Any) -> Any:
    from ipy_oci.engine.records import ContainerConfig

    cfg = ContainerConfig(image="busybox", command=[], cmd=cmd or ["sleep", "1000"], **config)
    return engine.run(cfg, name)


def remove_quietly(ctr: Any) -> None:
    """Remove a container unless a test (or the server) already did."""
    from ipy_oci.errors import NotFoundError

    try:
        ctr.runtime.lookup_container(ctr.id).remove(force=True, timeout=0)
    except NotFoundError:
        pass
