"""Errors of image transport, all ``ImageError`` (exit 125 from the CLI).

The classes let callers tell "try the next search registry" (unknown image,
access refused) apart from "stop now" (a digest mismatch, a hostile layer).
"""

from __future__ import annotations

from ipy_oci.errors import ImageError


class RegistryError(ImageError):
    """A registry (or skopeo talking to it) failed a request."""


class RegistryUnreachable(RegistryError):
    """No connection, no DNS name, or a TLS mismatch."""


class RegistryAuthError(RegistryError):
    """The registry refused our credentials (or wants some)."""


class ManifestUnknown(RegistryError):
    """The registry has no such repository or tag."""


class NoMatchingPlatform(ImageError):
    """A manifest list has no image for the wanted platform."""


class DigestMismatch(ImageError):
    """Content did not match the digest that names it."""
