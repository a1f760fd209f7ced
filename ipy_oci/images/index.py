"""index.json of the image store: one entry per image, written as OCI descriptors.

Each name of an image is its own descriptor (the OCI layout way: the name is the
descriptor's ref.name annotation); entries group them back by manifest digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipy_oci.errors import ImageError
from ipy_oci.images.errors import DigestMismatch
from ipy_oci.images.mediatypes import (
    ID_ANNOTATION,
    MANIFEST_TYPES,
    REF_NAME_ANNOTATION,
    REPO_DIGESTS_ANNOTATION,
)

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_CHUNK = 1 << 20


@dataclass
class Entry:
    """One image as index.json records it (descriptors grouped by manifest digest)."""

    digest: str
    media_type: str
    size: int
    image_id: str | None
    names: list[str]
    repo_digests: list[str] = field(default_factory=list)


def hex_of(digest: str, what: str) -> str:
    m = _DIGEST.fullmatch(digest)
    if not m:
        raise ImageError(f"unsupported or malformed {what} digest {digest!r}")
    return m.group(1)


def descriptors(entries: Sequence[Entry]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in entries:
        names: list[str | None] = [*e.names] if e.names else [None]
        for name in names:
            annotations: dict[str, str] = {}
            if name is not None:
                annotations[REF_NAME_ANNOTATION] = name
            if e.image_id:
                annotations[ID_ANNOTATION] = e.image_id
            if e.repo_digests:
                annotations[REPO_DIGESTS_ANNOTATION] = " ".join(e.repo_digests)
            out.append(
                {
                    "mediaType": e.media_type,
                    "digest": e.digest,
                    "size": e.size,
                    "annotations": annotations,
                }
            )
    return out


def parse_index(data: bytes) -> list[Entry]:
    try:
        index = json.loads(data)
        manifests = index.get("manifests") or []
    except (ValueError, AttributeError) as exc:
        raise ImageError(f"corrupt image index: {exc}") from None
    by_digest: dict[str, Entry] = {}
    for desc in manifests:
        digest = desc.get("digest", "")
        ann = desc.get("annotations") or {}
        entry = by_digest.get(digest)
        if entry is None:
            entry = by_digest[digest] = Entry(
                digest=digest,
                media_type=desc.get("mediaType", MANIFEST_TYPES[0]),
                size=int(desc.get("size", 0)),
                image_id=ann.get(ID_ANNOTATION),
                names=[],
            )
        name = ann.get(REF_NAME_ANNOTATION)
        if name and name not in entry.names:
            entry.names.append(name)
        for rd in str(ann.get(REPO_DIGESTS_ANNOTATION, "")).split():
            if rd not in entry.repo_digests:
                entry.repo_digests.append(rd)
    return list(by_digest.values())


BlobSource = Callable[[str], Path]
LayerCallback = Callable[[str, str], None]  # (layer digest, "extracting" | "extracted")


def verify_file(path: Path, digest: str, size: int | None = None) -> None:
    """Raise DigestMismatch unless the file at ``path`` hashes to ``digest``."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
    if "sha256:" + h.hexdigest() != digest or (size is not None and n != size):
        raise DigestMismatch(
            f"blob {digest} (size {size}) has sha256:{h.hexdigest()} and {n} bytes: "
            "the image is corrupt or was tampered with"
        )


def read_layout_blob(layout: Path, desc: dict[str, Any]) -> bytes:
    """A small blob (manifest/index) from a foreign layout, verified against ``desc``."""
    digest = str(desc.get("digest", ""))
    path = layout / "blobs" / "sha256" / hex_of(digest, "manifest")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {digest} from {layout}: {exc}") from None
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise DigestMismatch(f"blob {digest} in {layout} does not match its digest")
    return data
