"""The local image store: an OCI image layout plus a shared cache of extracted layers.

On disk, under the storage root::

    images/oci-layout              {"imageLayoutVersion": "1.0.0"}
    images/index.json              one manifest descriptor per image name (the name in
                                   the org.opencontainers.image.ref.name annotation,
                                   the image ID in io.ipy-oci.image.id); an image with
                                   no name keeps one descriptor without a ref name
    images/blobs/sha256/<hex>      manifests, configs, compressed layers (by digest)
    images/.lock                   flock held by writers of index.json
    images/tmp/                    scratch space for imports
    layers/<diffid-hex>/           each layer extracted once (overlay format), shared
                                   by every image and container that uses it

Readers never lock: index.json and every blob and layer dir appear by ``rename``,
so a reader sees either the old or the new state. Writers of index.json serialise
on ``images/.lock``.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ipy_oci.errors import AmbiguousRef, ImageError, NoSuchImage
from ipy_oci.images import refs
from ipy_oci.images.mediatypes import (
    BUILTIN_NAME,
    ID_ANNOTATION,
    INDEX_TYPES,
    MANIFEST_TYPES,
    REF_NAME_ANNOTATION,
)
from ipy_oci.storage.atomic import FileLock, atomic_write

_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_HEX_PREFIX = re.compile(r"[0-9a-f]{3,64}")
_STALE_TMP_SECONDS = 24 * 3600
_CHUNK = 1 << 20

# One lock object per lock file per process, so nested use by two ImageStore
# instances on the same root re-enters instead of deadlocking on flock.
_LOCKS: dict[str, FileLock] = {}


@dataclass(frozen=True)
class Image:
    id: str  # 64-hex sha256 of the config blob
    digest: str  # "sha256:<hex>" of the manifest
    names: tuple[str, ...]  # fully qualified, e.g. ("localhost/busybox:latest",)
    config: dict[str, Any]  # the whole OCI image config JSON
    layer_dirs: tuple[Path, ...]  # extracted layer dirs, bottom layer first
    created: str  # RFC3339
    size: int  # bytes (sum of the compressed layer sizes)


@dataclass
class _Entry:
    """One image as index.json records it (descriptors grouped by manifest digest)."""

    digest: str
    media_type: str
    size: int
    image_id: str | None
    names: list[str]


def _hex_of(digest: str, what: str) -> str:
    m = _DIGEST.fullmatch(digest)
    if not m:
        raise ImageError(f"unsupported or malformed {what} digest {digest!r}")
    return m.group(1)


def _descriptors(entries: Sequence[_Entry]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in entries:
        names: list[str | None] = [*e.names] if e.names else [None]
        for name in names:
            annotations: dict[str, str] = {}
            if name is not None:
                annotations[REF_NAME_ANNOTATION] = name
            if e.image_id:
                annotations[ID_ANNOTATION] = e.image_id
            out.append(
                {
                    "mediaType": e.media_type,
                    "digest": e.digest,
                    "size": e.size,
                    "annotations": annotations,
                }
            )
    return out


def _parse_index(data: bytes) -> list[_Entry]:
    try:
        index = json.loads(data)
        manifests = index.get("manifests") or []
    except (ValueError, AttributeError) as exc:
        raise ImageError(f"corrupt image index: {exc}") from None
    by_digest: dict[str, _Entry] = {}
    for desc in manifests:
        digest = desc.get("digest", "")
        ann = desc.get("annotations") or {}
        entry = by_digest.get(digest)
        if entry is None:
            entry = by_digest[digest] = _Entry(
                digest=digest,
                media_type=desc.get("mediaType", MANIFEST_TYPES[0]),
                size=int(desc.get("size", 0)),
                image_id=ann.get(ID_ANNOTATION),
                names=[],
            )
        name = ann.get(REF_NAME_ANNOTATION)
        if name and name not in entry.names:
            entry.names.append(name)
    return list(by_digest.values())


class ImageStore:
    """Images under ``<root>/images`` and their extracted layers under ``<root>/layers``."""

    def __init__(self, root: Path, search_registries: Sequence[str] = (refs.DOCKER_HUB,)) -> None:
        self.root = Path(root)
        self.dir = self.root / "images"
        self.blobs_dir = self.dir / "blobs" / "sha256"
        self.layers_dir = self.root / "layers"
        self.tmp_dir = self.dir / "tmp"
        self.search_registries = tuple(search_registries)
        lock_path = self.dir / ".lock"
        self._lock = _LOCKS.setdefault(str(lock_path.absolute()), FileLock(lock_path))
        self._index_key: tuple[int, int, int] | None = None
        self._index_entries: list[_Entry] = []
        # Blobs are immutable, so parsed manifests/configs can be cached forever.
        self._blob_cache: dict[str, bytes] = {}

    # ----- reading ---------------------------------------------------------

    def _entries(self) -> list[_Entry]:
        """index.json, re-parsed only when the file was replaced."""
        path = self.dir / "index.json"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._index_key:
            self._index_entries = _parse_index(path.read_bytes())
            self._index_key = key
        return self._index_entries

    def _blob_path(self, digest: str) -> Path:
        return self.blobs_dir / _hex_of(digest, "blob")

    def _read_blob(self, digest: str) -> bytes:
        data = self._blob_cache.get(digest)
        if data is None:
            try:
                data = self._blob_path(digest).read_bytes()
            except FileNotFoundError:
                raise ImageError(
                    f"the image store at {self.dir} is missing blob {digest}: "
                    "remove the image and pull or load it again"
                ) from None
            self._blob_cache[digest] = data
        return data

    def _read_json(self, digest: str) -> dict[str, Any]:
        try:
            obj = json.loads(self._read_blob(digest))
        except ValueError as exc:
            raise ImageError(f"blob {digest} is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ImageError(f"blob {digest} is not a JSON object")
        return obj

    def _image(self, entry: _Entry) -> Image:
        manifest = self._read_json(entry.digest)
        try:
            config_digest = str(manifest["config"]["digest"])
            config = self._read_json(config_digest)
            layers = [dict(d) for d in manifest.get("layers") or []]
            diff_ids = [str(d) for d in (config.get("rootfs") or {}).get("diff_ids") or []]
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ImageError(
                f"image {entry.digest} has a malformed manifest or config ({exc}): "
                "remove it and pull it again"
            ) from None
        if len(layers) != len(diff_ids):
            raise ImageError(
                f"image {entry.digest} is corrupt: {len(layers)} layers but "
                f"{len(diff_ids)} diff_ids; remove it and pull it again"
            )
        layer_dirs = []
        for desc, diff_id in zip(layers, diff_ids, strict=True):
            layer_dir = self.layers_dir / _hex_of(diff_id, "layer diff_id")
            if not layer_dir.is_dir():
                # Only when the cache lost it (or an import died between blob and
                # extraction): rebuilt once from the blob.
                self._ensure_layer(desc, diff_id)
            layer_dirs.append(layer_dir)
        return Image(
            id=_hex_of(config_digest, "config"),
            digest=entry.digest,
            names=tuple(entry.names),
            config=config,
            layer_dirs=tuple(layer_dirs),
            created=str(config.get("created", "")),
            size=sum(int(d.get("size", 0)) for d in layers),
        )

    def _entry_id(self, entry: _Entry) -> str:
        if entry.image_id is None:
            manifest = self._read_json(entry.digest)
            entry.image_id = _hex_of(manifest.get("config", {}).get("digest", ""), "config")
        return entry.image_id

    def list(self) -> builtins.list[Image]:
        """Every image in index order."""
        return [self._image(e) for e in self._entries()]

    def _match_name(self, entries: Sequence[_Entry], ref: refs.Reference) -> _Entry | None:
        if ref.digest:
            prefix = ref.name + ":"
            for e in entries:
                if e.digest == ref.digest and any(
                    n == ref.name or n.startswith(prefix) for n in e.names
                ):
                    return e
            return None
        wanted = f"{ref.name}:{ref.tag}"
        for e in entries:
            if wanted in e.names:
                return e
        return None

    def _candidates(self, ref: refs.Reference) -> builtins.list[refs.Reference]:
        if not ref.is_short:
            return [ref]
        # Like podman: a short name means localhost/ first, then the search registries.
        out: builtins.list[refs.Reference] = []
        for registry in (refs.LOCALHOST, *self.search_registries):
            cand = ref.qualified(registry)
            if cand not in out:
                out.append(cand)
        return out

    def lookup(self, ref: str) -> Image:
        """Find an image by name, short name, full ID, unique ID prefix or digest.

        ``busybox`` (or ``localhost/busybox[:latest]``) builds the built-in image
        on first use. Raises NoSuchImage, AmbiguousRef, or ImageError for a
        malformed reference.
        """
        text = ref.strip()
        entries = self._entries()
        if text.startswith("sha256:"):
            hex_part = text[len("sha256:") :]
            for e in entries:
                if e.digest == text or self._entry_id(e) == hex_part:
                    return self._image(e)
            raise NoSuchImage(ref)
        if refs.HEX64.fullmatch(text):
            for e in entries:
                if self._entry_id(e) == text:
                    return self._image(e)
            raise NoSuchImage(ref)

        parsed: refs.Reference | None
        try:
            parsed = refs.parse(text)
        except ImageError:
            if not _HEX_PREFIX.fullmatch(text):
                raise
            parsed = None
        candidates = self._candidates(parsed) if parsed else []
        for cand in candidates:
            found = self._match_name(entries, cand)
            if found is not None:
                return self._image(found)
        if _HEX_PREFIX.fullmatch(text):
            hits = {self._entry_id(e): e for e in entries if self._entry_id(e).startswith(text)}
            if len(hits) == 1:
                return self._image(next(iter(hits.values())))
            if len(hits) > 1:
                raise AmbiguousRef("image", text, len(hits))
        if any(str(c) == BUILTIN_NAME for c in candidates):
            return self.ensure_builtin()
        raise NoSuchImage(ref)

    # ----- writing ---------------------------------------------------------

    def _ensure_dirs(self) -> None:
        for d in (self.blobs_dir, self.layers_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        layout = self.dir / "oci-layout"
        if not layout.exists():
            atomic_write(layout, b'{"imageLayoutVersion":"1.0.0"}')

    def _write_index(self, entries: Sequence[_Entry]) -> None:
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPES[0],
            "manifests": _descriptors(entries),
        }
        atomic_write(self.dir / "index.json", json.dumps(index, indent=1).encode())

    def put_blob(self, src: Path, digest: str, size: int | None = None) -> Path:
        """Copy the file ``src`` into the store as ``digest``, verifying it.

        A blob already present is trusted (it was verified when written).
        """
        dest = self._blob_path(digest)
        if dest.exists():
            return dest
        self._ensure_dirs()
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[:16]}.", suffix=".tmp", dir=self.blobs_dir)
        try:
            h = hashlib.sha256()
            n = 0
            with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
                while chunk := inp.read(_CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fchmod(out.fileno(), 0o644)
                os.fsync(out.fileno())
            if "sha256:" + h.hexdigest() != digest or (size is not None and n != size):
                raise ImageError(
                    f"blob {src} does not match its descriptor {digest} (size {size}): "
                    "the image is corrupt or was tampered with"
                )
            os.rename(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return dest

    def _ensure_layer(self, desc: dict[str, Any], diff_id: str) -> Path:
        dest = self.layers_dir / _hex_of(diff_id, "layer diff_id")
        if dest.is_dir():
            return dest
        self.layers_dir.mkdir(parents=True, exist_ok=True)
        blob = self._blob_path(str(desc.get("digest", "")))
        if not blob.exists():
            raise ImageError(
                f"layer {diff_id} is not extracted and its blob {desc.get('digest')} "
                "is missing: remove the image and pull or load it again"
            )
        # Imported here: tarfile/gzip stay off the lookup hot path.
        from ipy_oci.storage.extract import extract_layer

        extract_layer(blob, dest, expected_diff_id=diff_id)
        return dest

    def _select_manifest(self, layout: Path, ref: str | None) -> dict[str, Any]:
        try:
            index = json.loads((layout / "index.json").read_bytes())
        except (OSError, ValueError) as exc:
            raise ImageError(f"{layout} is not an OCI image layout: {exc}") from None
        descs = [d for d in index.get("manifests") or [] if isinstance(d, dict)]
        if ref is not None:
            descs = [
                d for d in descs if (d.get("annotations") or {}).get(REF_NAME_ANNOTATION) == ref
            ]
        if len(descs) != 1:
            what = f"named {ref!r}" if ref is not None else "in all"
            raise ImageError(
                f"{layout} holds {len(descs)} images {what}: name exactly one to import"
            )
        desc = descs[0]
        if desc.get("mediaType") in INDEX_TYPES:
            desc = self._pick_platform(layout, desc)
        return desc

    def _pick_platform(self, layout: Path, desc: dict[str, Any]) -> dict[str, Any]:
        from ipy_oci.images.builtin import host_platform

        data = _read_layout_blob(layout, desc)
        arch, variant = host_platform()
        manifests = json.loads(data).get("manifests") or []
        fallback = None
        for m in manifests:
            plat = m.get("platform") or {}
            if plat.get("os") != "linux" or plat.get("architecture") != arch:
                continue
            if variant is None or plat.get("variant") in (None, variant):
                return dict(m)
            fallback = fallback or m
        if fallback is not None:
            return dict(fallback)
        raise ImageError(f"the image in {layout} has no linux/{arch} variant")

    def add_image_from_layout(
        self, layout: Path, *, ref: str | None = None, names: Sequence[str] = ()
    ) -> Image:
        """Import one image from an OCI layout directory (as skopeo writes them).

        ``ref`` picks the manifest by its ref.name annotation (needed when the
        layout holds several). Blobs are copied and verified, layers extracted
        into the shared cache, then ``names`` (short ones are placed on
        ``localhost/``) are moved onto this image; an image losing its last name
        stays listed without one.
        """
        # Names are checked first, so a bad one costs no copying or extraction.
        qualified = []
        for n in names:
            parsed = refs.normalize(n, refs.LOCALHOST)
            if parsed.digest:
                raise ImageError(f"cannot name an image {n!r}: a name takes a tag, not a digest")
            qualified.append(str(parsed))
        self._ensure_dirs()
        self._sweep_tmp()
        desc = self._select_manifest(layout, ref)
        if desc.get("mediaType", MANIFEST_TYPES[0]) not in MANIFEST_TYPES:
            raise ImageError(f"unsupported manifest media type {desc.get('mediaType')!r}")
        manifest_bytes = _read_layout_blob(layout, desc)
        try:
            manifest = json.loads(manifest_bytes)
            config_desc = dict(manifest["config"])
            layers = [dict(d) for d in manifest.get("layers") or []]
            blob_descs = [(str(d["digest"]), d.get("size")) for d in (config_desc, *layers)]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ImageError(f"malformed manifest {desc['digest']} in {layout}: {exc}") from None
        for digest, size in blob_descs:
            src = layout / "blobs" / "sha256" / _hex_of(digest, "blob")
            if not src.exists():
                raise ImageError(f"{layout} lacks blob {digest} that its manifest lists")
            self.put_blob(src, digest, None if size is None else int(size))
        config = self._read_json(config_desc["digest"])
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(layers):
            raise ImageError(
                f"image in {layout} is corrupt: {len(layers)} layers, {len(diff_ids)} diff_ids"
            )
        for d, diff_id in zip(layers, diff_ids, strict=True):
            self._ensure_layer(d, diff_id)
        # The manifest goes in last: once index.json names it, all it needs exists.
        self.put_blob(
            layout / "blobs" / "sha256" / _hex_of(desc["digest"], "manifest"),
            desc["digest"],
            len(manifest_bytes),
        )
        entry = _Entry(
            digest=desc["digest"],
            media_type=desc.get("mediaType", MANIFEST_TYPES[0]),
            size=len(manifest_bytes),
            image_id=_hex_of(config_desc["digest"], "config"),
            names=[],
        )
        with self._lock.held():
            self._index_key = None  # re-read under the lock, never from cache
            # Copies: the cached entries must not change if the write fails.
            entries = [replace(e, names=list(e.names)) for e in self._entries()]
            self._assign_names(entries, entry, qualified)
            self._write_index(entries)
            self._index_key = None
            current = next(e for e in self._entries() if e.digest == entry.digest)
        return self._image(current)

    @staticmethod
    def _assign_names(entries: builtins.list[_Entry], new: _Entry, names: Sequence[str]) -> None:
        """Move ``names`` onto ``new`` (a name belongs to one image only)."""
        wanted = list(dict.fromkeys(names))
        for e in entries:
            if e.digest != new.digest:
                e.names = [n for n in e.names if n not in wanted]
        mine = next((e for e in entries if e.digest == new.digest), None)
        if mine is None:
            entries.append(new)
            mine = new
        for n in wanted:
            if n not in mine.names:
                mine.names.append(n)
        mine.image_id = mine.image_id or new.image_id

    def _sweep_tmp(self) -> None:
        """Remove scratch dirs that a crashed import left behind long ago."""
        cutoff = time.time() - _STALE_TMP_SECONDS
        for parent, pattern in (
            (self.tmp_dir, "*"),
            (self.layers_dir, ".*.tmp"),
            (self.blobs_dir, ".*.tmp"),
        ):
            for p in parent.glob(pattern):
                with contextlib.suppress(OSError):
                    if p.lstat().st_mtime < cutoff:
                        if p.is_dir() and not p.is_symlink():
                            shutil.rmtree(p, ignore_errors=True)
                        else:
                            p.unlink()

    def ensure_builtin(self) -> Image:
        """The built-in busybox image, built from the host's busybox-static on first use.

        Safe when many processes call it at once: the build runs under the store
        lock, and every later caller finds the image already there.
        """
        found = self._match_name(self._entries(), refs.parse(BUILTIN_NAME))
        if found is not None:
            return self._image(found)
        from ipy_oci.images import builtin

        self._ensure_dirs()
        with self._lock.held():
            self._index_key = None
            found = self._match_name(self._entries(), refs.parse(BUILTIN_NAME))
            if found is not None:
                return self._image(found)
            tmp = Path(tempfile.mkdtemp(prefix="builtin.", dir=self.tmp_dir))
            try:
                builtin.write_layout(tmp)
                return self.add_image_from_layout(tmp, names=[BUILTIN_NAME])
            finally:
                shutil.rmtree(tmp, ignore_errors=True)


def _read_layout_blob(layout: Path, desc: dict[str, Any]) -> bytes:
    """A small blob (manifest/index) from a foreign layout, verified against ``desc``."""
    digest = str(desc.get("digest", ""))
    path = layout / "blobs" / "sha256" / _hex_of(digest, "manifest")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {digest} from {layout}: {exc}") from None
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ImageError(f"blob {digest} in {layout} does not match its digest")
    return data
