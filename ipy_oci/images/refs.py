"""Image reference parsing and normalisation.

``busybox`` -> registry ``docker.io``, repository ``library/busybox``, tag ``latest``
once qualified; ``quay.io/a/b@sha256:...`` keeps its digest and gets no tag.
A *short* name (no registry part) stays unqualified until a registry is chosen,
so local lookups can try ``localhost/`` and the search registries in turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ipy_oci.errors import ImageError

DEFAULT_TAG = "latest"
DOCKER_HUB = "docker.io"
LOCALHOST = "localhost"
_DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?"
)
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Reference:
    registry: str  # "" for a short name not yet qualified
    repository: str  # "library/busybox"
    tag: str | None
    digest: str | None  # "sha256:<hex>"

    @property
    def is_short(self) -> bool:
        return not self.registry

    @property
    def name(self) -> str:
        """``registry/repository`` (just the repository for a short name)."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def qualified(self, registry: str) -> Reference:
        """This short name placed on ``registry`` (docker.io adds ``library/``)."""
        if not self.is_short:
            return self
        return _normalized(registry, self.repository, self.tag, self.digest)

    def with_tag(self, tag: str) -> Reference:
        return replace(self, tag=tag, digest=None)


def _is_registry(first: str) -> bool:
    # Same rule as docker: a first component naming a host has a dot or a port,
    # is "localhost", or is not all lower-case (repositories must be).
    return "." in first or ":" in first or first == LOCALHOST or first != first.lower()


def _normalized(registry: str, repo: str, tag: str | None, digest: str | None) -> Reference:
    if registry in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repo:
        repo = f"library/{repo}"
    return Reference(registry, repo, tag, digest)


def parse(ref: str) -> Reference:
    """Parse ``ref``; short names keep ``registry == ""``. Raises ImageError.

    A missing tag becomes ``latest`` unless a digest is given.
    """
    text = ref.strip()
    if not text:
        raise ImageError("empty image reference")
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise ImageError(f"invalid image reference {ref!r}: bad digest {digest!r}")
    tag: str | None = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise ImageError(f"invalid image reference {ref!r}: bad tag {tag!r}")
    registry = ""
    first, sep, rest = text.partition("/")
    if sep and _is_registry(first):
        if not _HOST.fullmatch(first):
            raise ImageError(f"invalid image reference {ref!r}: bad registry {first!r}")
        registry, text = first, rest
    if not text or not all(_COMPONENT.fullmatch(c) for c in text.split("/")):
        raise ImageError(
            f"invalid image reference {ref!r}: repository names must be lower-case "
            "letters, digits and separators"
        )
    if not registry and HEX64.fullmatch(text):
        raise ImageError(f"invalid image reference {ref!r}: a 64-hex name is an image ID")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    if not registry:
        return Reference("", text, tag, digest)
    return _normalized(registry, text, tag, digest)


def normalize(ref: str, default_registry: str = DOCKER_HUB) -> Reference:
    """Parse and fully qualify ``ref`` (short names go to ``default_registry``)."""
    return parse(ref).qualified(default_registry)


def normalize_name(ref: str, default_registry: str = DOCKER_HUB) -> str:
    """The fully qualified string form, e.g. ``docker.io/library/busybox:latest``."""
    return str(normalize(ref, default_registry))


def pull_candidates(ref: str, search_registries: Sequence[str]) -> list[Reference]:
    """The fully qualified references to try when pulling ``ref``, in order.

    A qualified name is pulled as given; a short name is tried on each
    unqualified-search registry in turn (docker.io adds ``library/``), as podman
    does. Raises ImageError for an image ID, which no registry can serve.
    """
    text = ref.strip()
    if HEX64.fullmatch(text) or (text.startswith("sha256:") and "@" not in text):
        raise ImageError(
            f"cannot pull {ref!r}: it is an image ID, not a name; pull by name or "
            "by NAME@sha256:DIGEST"
        )
    parsed = parse(text)
    if not parsed.is_short:
        return [parsed]
    if not search_registries:
        raise ImageError(
            f"cannot pull the short name {ref!r}: no unqualified-search registries are "
            "configured; use a full name such as docker.io/library/NAME"
        )
    out: list[Reference] = []
    for registry in search_registries:
        cand = parsed.qualified(registry)
        if cand not in out:
            out.append(cand)
    return out


def is_loopback_registry(registry: str) -> bool:
    """localhost, 127.0.0.0/8 and ::1 (any port): plain HTTP is allowed there by
    default, as Docker does, since nothing leaves the machine."""
    host = registry
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    else:
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return host == LOCALHOST or host == "::1" or (
        host.startswith("127.") and all(p.isdigit() for p in host.split("."))
    )
