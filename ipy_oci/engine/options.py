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

__all__ = ["DEFAULT_DETACH_KEYS", "BindMount", "bind_mount", "cgroup_rule_flag",
           "check_timezone", "device_flag",
           "mount_flag", "parse_detach_keys", "swap_limit_supported", "sysctl_flag",
           "tmpfs_flag"]


def bind_mount(spec: str) -> dict[str, Any]:
    """``-v HOST:CTR[:ro]`` as ContainerConfig.mounts stores it (UsageError if invalid)."""
    from dataclasses import asdict

    from ..oci.spec import BindMount

    return asdict(BindMount.parse(spec))


def mount_flag(text: str) -> dict[str, Any]:
    """``--mount type=...`` as ContainerConfig.mounts stores it (UsageError if invalid)."""
    from dataclasses import asdict

    from ..oci.spec_mountflags import parse_mount

    return asdict(parse_mount(text))


def tmpfs_flag(text: str) -> dict[str, Any]:
    """``--tmpfs PATH[:OPTS]`` as ContainerConfig.mounts stores it."""
    from dataclasses import asdict

    from ..oci.spec_mountflags import parse_tmpfs

    return asdict(parse_tmpfs(text))


def cgroup_rule_flag(text: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'TYPE MAJOR:MINOR ACCESS'`` as a device cgroup rule."""
    from ..oci.spec_devices import parse_cgroup_rule

    return parse_cgroup_rule(text)


def device_flag(text: str) -> list[dict[str, str]]:
    """``--device HOST[:CTR][:PERMS]`` as ContainerConfig.devices stores it."""
    from ..oci.spec_devices import parse_device

    return parse_device(text)


def check_timezone(tz: str) -> None:
    """``--tz``: a zone the host has (or ``local``), else a UsageError naming it."""
    from ..oci.spec_tz import zone_file

    zone_file(tz)


def sysctl_flag(text: str, network: str) -> tuple[str, str]:
    """``--sysctl NAME=VALUE``: only sysctls of the container's own namespaces."""
    from ..oci.spec_limits import parse_sysctl

    return parse_sysctl(text, network)


def swap_limit_supported() -> bool:
    """Whether a memory+swap limit can be set here (podman's default is 2x --memory)."""
    from ..oci.spec_limits import swap_limit_supported as supported

    return supported()


def __getattr__(name: str) -> Any:
    # BindMount lives in oci/spec.py, which the hot path (exec) never needs: load on use.
    if name == "BindMount":
        from ..oci.spec import BindMount

        return BindMount
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
