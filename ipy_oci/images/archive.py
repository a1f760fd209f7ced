"""``save`` and ``load``: images as oci-archive or docker-archive tarballs.

Both formats are written as one tar: an OCI image layout (``oci-layout``,
``index.json``, ``blobs/sha256/…``); a docker-archive adds Docker's
``manifest.json`` pointing at the same blobs (as Docker 25 writes them), so
either tool can read it. Loading reads either kind, compressed or not, and
treats the archive as hostile: only the names these formats use are read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, cast

from ipy_oci.errors import ImageError
from ipy_oci.images import refs
from ipy_oci.images.builtin import canonical_json
from ipy_oci.images.index import BlobSource
from ipy_oci.images.mediatypes import (
    INDEX_TYPES,
    MEDIA_CONFIG,
    MEDIA_INDEX,
    MEDIA_LAYER,
    MEDIA_LAYER_GZIP,
    MEDIA_LAYER_ZSTD,
    MEDIA_MANIFEST,
    REF_NAME_ANNOTATION,
)
from ipy_oci.images.store import Image, ImageStore
from ipy_oci.images.workspace import Workspace
from ipy_oci.storage.atomic import check_free_space, is_no_space, no_space, translate_no_space

ArchiveFormat = Literal["oci-archive", "docker-archive"]
FORMATS: tuple[ArchiveFormat, ...] = ("oci-archive", "docker-archive")
# containerd/Docker put the full name here and only the tag in ref.name.
_CONTAINERD_NAME = "io.containerd.image.name"
_MEMBER = re.compile(
    r"(oci-layout|index\.json|manifest\.json|repositories|blobs/sha256/[0-9a-f]{64}"
    r"|[0-9a-f]{64}\.json|[0-9a-f]{64}/(?:layer\.tar|json|VERSION))"
)


@dataclass(frozen=True)
class SaveItem:
    image: Image
    names: tuple[str, ...]  # the names to record for it in the archive


def _blob_member(tf: tarfile.TarFile, name: str, path: Path) -> None:
    st = path.stat()
    info = tarfile.TarInfo(name)
    info.size = st.st_size
    info.mode = 0o644
    info.mtime = int(st.st_mtime)
    with open(path, "rb") as fh:
        tf.addfile(info, fh)


def _bytes_member(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))


def _docker_name(name: str) -> str:
    """Docker's short spelling (``alpine:latest``) of a docker.io name."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def save(store: ImageStore, items: Sequence[SaveItem], out: BinaryIO,
         fmt: ArchiveFormat = "oci-archive") -> None:
    """Write ``items`` to the binary stream ``out`` as one archive."""
    if fmt not in FORMATS:
        raise ImageError(f"unknown archive format {fmt!r}: use oci-archive or docker-archive")
    descriptors: list[dict[str, Any]] = []
    docker_manifest: list[dict[str, Any]] = []
    blobs: dict[str, None] = {}
    for item in items:
        img = item.image
        manifest = json.loads(store.blob_path(img.digest).read_bytes())
        config_digest = str(manifest["config"]["digest"])
        layer_digests = [str(d["digest"]) for d in manifest.get("layers") or []]
        for d in (img.digest, config_digest, *layer_digests):
            blobs[d] = None
        base = {"mediaType": img.media_type, "digest": img.digest, "size": img.manifest_size}
        for name in item.names or (None,):
            ann = {REF_NAME_ANNOTATION: name, _CONTAINERD_NAME: name} if name else {}
            descriptors.append({**base, "annotations": ann} if ann else dict(base))
        docker_manifest.append({
            "Config": f"blobs/sha256/{config_digest.partition(':')[2]}",
            "RepoTags": [_docker_name(n) for n in item.names],
            "Layers": [f"blobs/sha256/{d.partition(':')[2]}" for d in layer_digests],
        })
    with tarfile.open(fileobj=cast(IO[bytes], out), mode="w|", format=tarfile.PAX_FORMAT) as tf:
        _bytes_member(tf, "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
        index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": descriptors}
        _bytes_member(tf, "index.json", canonical_json(index))
        if fmt == "docker-archive":
            _bytes_member(tf, "manifest.json", json.dumps(docker_manifest).encode())
        for digest in blobs:
            _blob_member(tf, f"blobs/sha256/{digest.partition(':')[2]}", store.blob_path(digest))


def _extract_archive(src: BinaryIO, dest: Path, keep_free: int = 0) -> None:
    """Unpack the members an image archive may have into ``dest``; refuse the rest.

    Each member name may appear once (a second copy would silently replace what
    the first one was checked as). Before each member is written, its size must
    fit on the filesystem with ``keep_free`` bytes left over.
    """
    from ipy_oci.storage.extract import decompressed

    links: dict[str, str] = {}
    seen: set[str] = set()
    stream = cast(IO[bytes], decompressed(src))
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for m in tf:
                name = m.name.removeprefix("./").rstrip("/")
                if m.isdir() or name in ("", "."):
                    continue
                if not _MEMBER.fullmatch(name):
                    if ".." in name.split("/") or name.startswith("/"):
                        raise ImageError(f"the archive has an unsafe entry {m.name!r}")
                    continue  # something neither format uses: not read
                if name in seen:
                    raise ImageError(
                        f"the archive holds {name!r} twice: it is corrupt or was tampered "
                        "with; save the image again")
                seen.add(name)
                if m.issym():
                    links[name] = os.path.normpath(os.path.join(os.path.dirname(name), m.linkname))
                    continue
                if not m.isreg():
                    raise ImageError(f"the archive entry {m.name!r} is not a regular file")
                check_free_space(dest, m.size, keep_free, f"the archive entry {name!r}")
                path = dest / name
                path.parent.mkdir(parents=True, exist_ok=True)
                fh = tf.extractfile(m)
                assert fh is not None
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while chunk := fh.read(1 << 20):
                        out.write(chunk)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if is_no_space(exc):
            raise no_space(cast(OSError, exc), dest, "reading the image archive") from None
        raise ImageError(f"corrupt image archive: {exc}") from None
    for name, target in links.items():
        # Old docker archives link repeated layers; only to a member already read.
        if not _MEMBER.fullmatch(target) or not (dest / target).is_file():
            raise ImageError(f"the archive entry {name!r} links outside the image data")
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(dest / target, dest / name)


def _member_path(root: Path, value: object, what: str) -> Path:
    """The archive member a manifest.json entry names, refusing anything else
    (absolute paths, ``..``, names neither format uses)."""
    text = str(value)
    rel = text.removeprefix("./")
    if not isinstance(value, str) or not _MEMBER.fullmatch(rel):
        raise ImageError(
            f"the archive's manifest.json names {text!r} as {what}, which is not a member "
            "an image archive has (a relative path such as blobs/sha256/<hex>): the "
            "archive is corrupt or was tampered with"
        )
    return root / rel


def load(store: ImageStore, src: BinaryIO) -> list[Image]:
    """Import every image in an oci-archive or docker-archive read from ``src``."""
    with Workspace(store.tmp_dir) as ws, translate_no_space(store.root, "loading images"):
        root = ws.path / "archive"
        root.mkdir()
        _extract_archive(src, root, store.limits.min_free_space)
        if (root / "index.json").is_file():
            return _load_layout(store, root, ws.path)
        if (root / "manifest.json").is_file():
            return _load_docker(store, root, ws.path)
    raise ImageError("not an image archive: it has neither index.json nor manifest.json")


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ImageError(f"corrupt image archive: {path.name}: {exc}") from None


def _load_layout(store: ImageStore, root: Path, scratch: Path) -> list[Image]:
    from ipy_oci.images import platforms

    index = _json_file(root / "index.json")
    grouped: dict[str, tuple[dict[str, Any], list[str]]] = {}
    manifests = index.get("manifests") or [] if isinstance(index, dict) else []
    if not isinstance(manifests, list) or not all(isinstance(d, dict) for d in manifests):
        raise ImageError("corrupt image archive: index.json: 'manifests' is not a list of "
                         "descriptors")
    for desc in manifests:
        ann = desc.get("annotations") or {}
        if not isinstance(ann, dict):
            raise ImageError("corrupt image archive: index.json: a descriptor's "
                             "annotations are not an object")
        name = ann.get(_CONTAINERD_NAME) or ann.get(REF_NAME_ANNOTATION)
        entry = grouped.setdefault(str(desc.get("digest")), (desc, []))
        if name:
            entry[1].append(str(name))
    if not grouped:
        raise ImageError("the archive's index.json lists no images")
    out = []
    blob = _blob_source(root)
    for desc, names in grouped.values():
        data = _read_verified(blob(str(desc.get("digest"))), str(desc.get("digest")))
        mt = desc.get("mediaType")
        if mt in INDEX_TYPES:
            try:
                inner = json.loads(data)
            except ValueError as exc:
                raise ImageError(f"corrupt image index {desc.get('digest')} in the archive: "
                                 f"{exc}") from None
            if not isinstance(inner, dict):
                raise ImageError(f"corrupt image index {desc.get('digest')} in the archive: "
                                 "not a JSON object")
            desc = platforms.select_manifest(inner, platforms.host_platform(),
                                             "the image index in the archive")
            data = _read_verified(blob(str(desc.get("digest"))), str(desc.get("digest")))
            mt = desc.get("mediaType")
        out.append(store.import_manifest(data, blob, names=names, media_type=mt, move=True,
                                         scratch=scratch, what="the archive"))
    return out


def _blob_source(root: Path) -> BlobSource:
    def source(digest: str) -> Path:
        hex_ = digest.partition(":")[2]
        if not re.fullmatch(r"[0-9a-f]{64}", hex_):
            raise ImageError(f"the archive names a malformed digest {digest!r}")
        return root / "blobs" / "sha256" / hex_
    return source


def _read_verified(path: Path, digest: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError:
        raise ImageError(f"the archive lacks blob {digest}") from None
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ImageError(f"blob {digest} in the archive does not match its digest")
    return data


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _layer_type(path: Path) -> str:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(b"\x1f\x8b"):
        return MEDIA_LAYER_GZIP
    if magic == b"\x28\xb5\x2f\xfd":
        return MEDIA_LAYER_ZSTD
    return MEDIA_LAYER


def _load_docker(store: ImageStore, root: Path, scratch: Path) -> list[Image]:
    entries = _json_file(root / "manifest.json")
    if not isinstance(entries, list) or not entries:
        raise ImageError("corrupt image archive: manifest.json lists no images")
    out = []
    for e in entries:
        try:
            config_path = _member_path(root, e["Config"], "the Config of an image")
            layer_paths = [_member_path(root, p, "a layer") for p in e.get("Layers") or []]
            tags = [str(t) for t in e.get("RepoTags") or []]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ImageError(f"corrupt image archive: manifest.json: {exc}") from None
        paths: dict[str, Path] = {}
        descs = []
        for p in [config_path, *layer_paths]:
            rel = p.relative_to(root).as_posix()
            if not p.is_file():
                raise ImageError(f"the archive lacks {rel}, which its manifest.json lists")
            digest = _file_digest(p)
            paths[digest] = p
            descs.append({"mediaType": _layer_type(p), "digest": digest,
                          "size": p.stat().st_size})
        descs[0]["mediaType"] = MEDIA_CONFIG
        manifest = canonical_json({"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                                   "config": descs[0], "layers": descs[1:]})
        # Docker writes short names that mean docker.io ("alpine:latest").
        names = [refs.normalize_name(t, refs.DOCKER_HUB) for t in tags]
        out.append(store.import_manifest(manifest, paths.__getitem__, names=names,
                                         move=True, scratch=scratch, what="the archive"))
    return out
