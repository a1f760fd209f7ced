"""Platforms (``os/arch[/variant]``) and picking one image out of a manifest list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ipy_oci.errors import UsageError
from ipy_oci.images.errors import NoMatchingPlatform

# Spellings people type (and uname prints) -> OCI's GOARCH names.
_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm",
                 "armel": "arm", "i386": "386", "i686": "386"}
# Where a variant is implied when none is given (as in the OCI image-index spec).
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        return f"{out}/{self.variant}" if self.variant else out

    def normalized(self) -> Platform:
        arch = _ARCH_ALIASES.get(self.architecture, self.architecture)
        return Platform(self.os, arch, self.variant or _DEFAULT_VARIANT.get(arch))


def parse_platform(text: str) -> Platform:
    """``linux/arm64``, ``linux/arm/v7`` or just ``arm64`` (linux implied)."""
    parts = text.strip().split("/")
    if len(parts) == 1 and parts[0]:
        parts = ["linux", parts[0]]
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"invalid platform {text!r}: use OS/ARCH[/VARIANT], e.g. linux/arm64")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def host_platform() -> Platform:
    from ipy_oci.images.builtin import host_platform as arch_variant

    arch, variant = arch_variant()
    return Platform("linux", arch, variant)


def of_descriptor(desc: Mapping[str, Any]) -> Platform | None:
    plat = desc.get("platform")
    if not isinstance(plat, Mapping) or not plat.get("os") or not plat.get("architecture"):
        return None
    return Platform(str(plat["os"]), str(plat["architecture"]), plat.get("variant") or None)


def of_config(config: Mapping[str, Any]) -> Platform:
    return Platform(str(config.get("os", "")), str(config.get("architecture", "")),
                    config.get("variant") or None)


def matches(have: Platform, want: Platform) -> bool:
    h, w = have.normalized(), want.normalized()
    if (h.os, h.architecture) != (w.os, w.architecture):
        return False
    # amd64 variants (v2, v3) only narrow the CPU: a plain amd64 request takes any.
    return h.variant == w.variant or want.variant is None


def select_manifest(index: Mapping[str, Any], want: Platform, what: str) -> dict[str, Any]:
    """The descriptor in ``index`` for ``want``: an exact variant match first,
    then one without a variant. Raises NoMatchingPlatform naming what there is."""
    descs = [d for d in index.get("manifests") or [] if isinstance(d, Mapping)]
    best: dict[str, Any] | None = None
    for d in descs:
        plat = of_descriptor(d)
        if plat is None or not matches(plat, want):
            continue
        if plat.normalized().variant == want.normalized().variant:
            return dict(d)
        best = best or dict(d)
    if best is not None:
        return best
    offered = sorted({str(p) for p in map(of_descriptor, descs) if p and p.os != "unknown"})
    raise NoMatchingPlatform(
        f"{what} has no image for {want}: it offers {', '.join(offered) or 'no platforms'}; "
        "choose one with --platform"
    )
