"""The record vocabulary front ends use: states, configs and records.

They live in the state layer (``ipy_oci/state/records.py``), which stores
them; front ends import them from here, never from a driver.
"""

from ..state.records import (
    DEFAULT_DETACH_KEYS,
    ContainerConfig,
    ContainerRecord,
    ExecConfig,
    ExecRecord,
    ExecState,
    State,
)

__all__ = ["DEFAULT_DETACH_KEYS", "ContainerConfig", "ContainerRecord", "ExecConfig",
           "ExecRecord", "ExecState", "State"]
