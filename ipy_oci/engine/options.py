"""Option values a front end hands to the engine, and how they are read.

What parsing flags such as ``--detach-keys`` and ``-v`` needs from the layers
below the engine, offered here so front ends and the grammar import the engine
only: the default detach keys, their parser, and bind mounts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..oci.attach import parse_detach_keys
from ..state.records import DEFAULT_DETACH_KEYS

if TYPE_CHECKING:
    from ..oci.spec import BindMount

__all__ = ["DEFAULT_DETACH_KEYS", "BindMount", "bind_mount", "parse_detach_keys"]


def bind_mount(spec: str) -> dict[str, Any]:
    """``-v HOST:CTR[:ro]`` as ContainerConfig.mounts stores it (UsageError if invalid)."""
    from dataclasses import asdict

    from ..oci.spec import BindMount

    return asdict(BindMount.parse(spec))


def __getattr__(name: str) -> Any:
    # BindMount lives in oci/spec.py, which the hot path (exec) never needs: load on use.
    if name == "BindMount":
        from ..oci.spec import BindMount

        return BindMount
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
