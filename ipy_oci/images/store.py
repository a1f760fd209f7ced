"""The local image store: an OCI image layout plus a shared cache of extracted layers.

On disk, under the storage root::

    images/oci-layout              {"imageLayoutVersion": "1.0.0"}
    images/index.json              one manifest descriptor per image name (the name in
                                   the org.opencontainers.image.ref.name annotation,
                                   the image ID in io.ipy-oci.image.id); an image with
                                   no name keeps one descriptor without a ref name
    images/blobs/sha256/<hex>      manifests, configs, compressed layers (by digest)
    images/.lock                   flock held by writers of index.json
    images/tmp/work-*/             scratch space of pulls and imports (see workspace.py)
    images/.gc.lock                imports hold it shared, garbage collection exclusive
    images/sizes/<diffid-hex>      the expanded (uncompressed tar) size of a layer, in
                                   bytes: what ``images`` shows, and the image cap sums
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
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipy_oci.config import StorageLimits
from ipy_oci.errors import AmbiguousRef, ImageError, NoSuchImage, SizeLimitExceeded, StorageFull
from ipy_oci.images import refs
from ipy_oci.images.errors import DigestMismatch
from ipy_oci.images.index import (
    BlobSource,
    Entry,
    LayerCallback,
    descriptors,
    hex_of,
    parse_index,
    read_layout_blob,
    verify_file,
)
from ipy_oci.images.mediatypes import (
    BUILTIN_NAME,
    DOCKER_SCHEMA1_TYPES,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MEDIA_MANIFEST,
    REF_NAME_ANNOTATION,
)
from ipy_oci.images.workspace import gc_exclusive_nowait, gc_shared, sweep
from ipy_oci.state.locks import FileLock
from ipy_oci.storage.atomic import (
    atomic_write,
    check_free_space,
    human_bytes,
    remove_tree,
    translate_no_space,
)

if TYPE_CHECKING:
    from ipy_oci.images.platforms import Platform
    from ipy_oci.images.progress import ProgressCallback
    from ipy_oci.images.pull import PullOptions

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
    size: int  # bytes: the layers expanded (their uncompressed tars), as podman counts
    repo_digests: tuple[str, ...] = ()  # "registry/repo@sha256:..." it was pulled as
    media_type: str = MEDIA_MANIFEST  # of the manifest
    manifest_size: int = 0


class ImageStore:
    """Images under ``<root>/images`` and their extracted layers under ``<root>/layers``."""

    def __init__(self, root: Path, search_registries: Sequence[str] = (refs.DOCKER_HUB,),
                 *, limits: StorageLimits | None = None) -> None:
        self.root = Path(root)
        self.dir = self.root / "images"
        self.blobs_dir = self.dir / "blobs" / "sha256"
        self.sizes_dir = self.dir / "sizes"
        self.layers_dir = self.root / "layers"
        self.tmp_dir = self.dir / "tmp"
        self.search_registries = tuple(search_registries)
        self._limits = limits
        # diff_id hex -> expanded size; a diff_id names one tar, so this never goes stale.
        self._sizes: dict[str, int] = {}
        lock_path = self.dir / ".lock"
        self._lock = _LOCKS.setdefault(str(lock_path.absolute()), FileLock(lock_path))
        self._index_key: tuple[int, int, int] | None = None
        self._index_entries: list[Entry] = []
        # Blobs are immutable, so parsed manifests/configs can be cached forever.
        self._blob_cache: dict[str, bytes] = {}

    @property
    def limits(self) -> StorageLimits:
        """The size caps and free-space margin (the engine passes its Config's; else
        they come from the configuration file)."""
        if self._limits is None:
            from ipy_oci.config import Config

            self._limits = Config.load().storage_limits()
        return self._limits

    @limits.setter
    def limits(self, value: StorageLimits) -> None:
        self._limits = value

    # ----- reading ---------------------------------------------------------

    def _entries(self) -> list[Entry]:
        """index.json, re-parsed only when the file was replaced."""
        path = self.dir / "index.json"
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._index_key:
            self._index_entries = parse_index(path.read_bytes())
            self._index_key = key
        return self._index_entries

    def _blob_path(self, digest: str) -> Path:
        return self.blobs_dir / hex_of(digest, "blob")

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

    def _image(self, entry: Entry) -> Image:
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
        size = 0
        for desc, diff_id in zip(layers, diff_ids, strict=True):
            layer_dir = self.layers_dir / hex_of(diff_id, "layer diff_id")
            if not layer_dir.is_dir():
                # Only when the cache lost it (or an import died between blob and
                # extraction): rebuilt once from the blob.
                self._ensure_layer(desc, diff_id)
            layer_dirs.append(layer_dir)
            size += self.layer_size(diff_id, desc)
        return Image(
            id=hex_of(config_digest, "config"),
            digest=entry.digest,
            names=tuple(entry.names),
            config=config,
            layer_dirs=tuple(layer_dirs),
            created=str(config.get("created", "")),
            size=size,
            repo_digests=tuple(entry.repo_digests),
            media_type=entry.media_type,
            manifest_size=entry.size,
        )

    def _entry_id(self, entry: Entry) -> str:
        if entry.image_id is None:
            manifest = self._read_json(entry.digest)
            entry.image_id = hex_of(manifest.get("config", {}).get("digest", ""), "config")
        return entry.image_id

    def digests(self) -> builtins.list[str]:
        """The manifest digests index.json lists (cheap: opens no blob)."""
        return [e.digest for e in self._entries()]

    def list(self) -> builtins.list[Image]:
        """Every image in index order."""
        return [self._image(e) for e in self._entries()]

    def _match_name(self, entries: Sequence[Entry], ref: refs.Reference) -> Entry | None:
        if ref.digest:
            prefix = ref.name + ":"
            by_repo = f"{ref.name}@{ref.digest}"
            for e in entries:
                if by_repo in e.repo_digests:
                    return e
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

    def matched_name(self, ref: str, image: Image) -> str:
        """The full name by which ``ref`` found ``image`` (podman's ImageName of a
        container: ``aa/bb`` -> ``localhost/aa/bb:latest``); else its first name."""
        try:
            parsed: refs.Reference | None = refs.parse(ref.strip())
        except ImageError:
            parsed = None
        if parsed is not None and not parsed.digest:
            for cand in self._candidates(parsed):
                if f"{cand.name}:{cand.tag}" in image.names:
                    return f"{cand.name}:{cand.tag}"
        return image.names[0] if image.names else image.id[:12]

    # ----- writing ---------------------------------------------------------

    def _ensure_dirs(self) -> None:
        for d in (self.blobs_dir, self.layers_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)
        layout = self.dir / "oci-layout"
        if not layout.exists():
            atomic_write(layout, b'{"imageLayoutVersion":"1.0.0"}')

    def _write_index(self, entries: Sequence[Entry]) -> None:
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPES[0],
            "manifests": descriptors(entries),
        }
        atomic_write(self.dir / "index.json", json.dumps(index, indent=1).encode())

    def blob_path(self, digest: str) -> Path:
        """Where the blob ``digest`` lives in the store (it may not exist)."""
        return self._blob_path(digest)

    def has_blob(self, digest: str) -> bool:
        return self._blob_path(digest).is_file()

    def put_blob(
        self, src: Path, digest: str, size: int | None = None, *, move: bool = False
    ) -> Path:
        """Put the file ``src`` into the store as ``digest``.

        A copy is verified while it is written. ``move`` renames ``src`` instead
        (same filesystem only), for a file the caller has already verified.
        A blob already present is trusted (it was verified when written).
        """
        dest = self._blob_path(digest)
        if dest.exists():
            return dest
        self._ensure_dirs()
        if move:
            os.chmod(src, 0o644)
            os.rename(src, dest)
            return dest
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
                raise DigestMismatch(
                    f"blob {src} does not match its descriptor {digest} (size {size}): "
                    "the image is corrupt or was tampered with"
                )
            os.rename(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return dest

    def put_bytes(self, data: bytes, digest: str) -> Path:
        """Store a small blob (a manifest) held in memory, checking its digest."""
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise DigestMismatch(f"content does not match its digest {digest}")
        dest = self._blob_path(digest)
        if not dest.exists():
            self._ensure_dirs()
            atomic_write(dest, data)
        return dest

    # ----- layer sizes -------------------------------------------------------

    def layer_size(self, diff_id: str, desc: dict[str, Any] | None = None,
                   blob: Path | None = None) -> int:
        """The expanded size of the layer ``diff_id`` (its uncompressed tar).

        Recorded when the layer is extracted; for a layer extracted before sizes
        were recorded it is measured once from its blob, and without a blob the
        compressed size from ``desc`` stands in.
        """
        hex_ = hex_of(diff_id, "layer diff_id")
        known = self._sizes.get(hex_)
        if known is not None:
            return known
        try:
            known = int((self.sizes_dir / hex_).read_text())
        except (OSError, ValueError):
            known = None
        if known is None and desc is not None:
            if blob is None or not blob.is_file():
                blob = self._blob_path(str(desc.get("digest", "")))
            if blob.is_file():
                from ipy_oci.storage.extract import layer_size

                try:
                    known = layer_size(blob, self.limits.max_layer_size)
                except (OSError, EOFError, ValueError, ImageError):
                    known = None
                if known is not None:
                    self._record_size(hex_, known)
            if known is None:
                return int(desc.get("size", 0) or 0)
        if known is None:
            return 0
        self._sizes[hex_] = known
        return known

    def _record_size(self, hex_: str, size: int) -> None:
        self._sizes[hex_] = size
        with contextlib.suppress(OSError):  # a read-only or full store: measured again later
            self.sizes_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.sizes_dir / hex_, str(size).encode())

    def _cap_hint(self, name: str) -> str:
        from ipy_oci.config import config_file

        bigger = human_bytes(2 * max(getattr(self.limits, name), 1 << 30))
        return (f"if you trust the image, raise {name} in {config_file()} (for example "
                f'{name} = "{bigger}"; 0 removes the cap)')

    def _ensure_layer(
        self, desc: dict[str, Any], diff_id: str, *, blob: Path | None = None,
        scratch: Path | None = None, image_budget: int | None = None,
    ) -> bool:
        """Extract a layer into the shared cache unless it is there; True if it was.

        ``image_budget``: what the image's earlier layers left of ``max_image_size``.
        """
        dest = self.layers_dir / hex_of(diff_id, "layer diff_id")
        if dest.is_dir():
            return False
        self.layers_dir.mkdir(parents=True, exist_ok=True)
        blob = blob or self._blob_path(str(desc.get("digest", "")))
        if not blob.exists():
            raise ImageError(
                f"layer {diff_id} is not extracted and its blob {desc.get('digest')} "
                "is missing: remove the image and pull or load it again"
            )
        # Imported here: tarfile/gzip stay off the lookup hot path.
        from ipy_oci.storage.extract import Limits, extract_layer_checked

        limits = self.limits
        cap, cap_name = limits.max_layer_size, "max_layer_size"
        if image_budget is not None and limits.max_image_size and (
                not cap or image_budget < cap):
            cap, cap_name = max(image_budget, 0), "max_image_size"
            if cap == 0:
                raise SizeLimitExceeded(
                    f"layer {desc.get('digest')} (diff_id {diff_id}): the image's other "
                    f"layers already reach {human_bytes(limits.max_image_size)}, the "
                    f"max_image_size cap: {self._cap_hint('max_image_size')}")
        try:
            got = extract_layer_checked(
                blob, dest, expected_diff_id=diff_id, tmp_parent=scratch,
                limits=Limits(max_size=cap, cap_name=cap_name,
                              min_free=limits.min_free_space))
        except SizeLimitExceeded as exc:
            what = (f"with it the image expands to more than "
                    f"{human_bytes(limits.max_image_size)}, the max_image_size cap"
                    if cap_name == "max_image_size" else str(exc))
            raise SizeLimitExceeded(
                f"layer {desc.get('digest')} (diff_id {diff_id}): {what}; nothing of it "
                f"was kept: {self._cap_hint(cap_name)}") from None
        except StorageFull as exc:
            raise StorageFull(f"layer {desc.get('digest')}: {exc}") from None
        except ImageError as exc:
            raise type(exc)(f"layer {desc.get('digest')}: {exc}") from None
        self._record_size(hex_of(diff_id, "layer diff_id"), got.size)
        return True

    def _select_manifest(
        self, layout: Path, ref: str | None, platform: Platform | None = None
    ) -> dict[str, Any]:
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
            from ipy_oci.images import platforms

            try:
                inner = json.loads(read_layout_blob(layout, desc))
            except ValueError as exc:
                raise ImageError(f"corrupt image index in {layout}: {exc}") from None
            want = platform or platforms.host_platform()
            desc = platforms.select_manifest(inner, want, f"the image in {layout}")
        return desc

    def add_image_from_layout(
        self, layout: Path, *, ref: str | None = None, names: Sequence[str] = (),
        platform: Platform | None = None,
    ) -> Image:
        """Import one image from an OCI layout directory (as skopeo writes them).

        ``ref`` picks the manifest by its ref.name annotation (needed when the
        layout holds several); from an index, ``platform`` (default: the host's)
        picks the image. Blobs are verified, layers extracted into the shared
        cache, then ``names`` (short ones are placed on ``localhost/``) are moved
        onto this image; an image losing its last name stays listed without one.
        """
        qualified = self.qualify_names(names)
        desc = self._select_manifest(layout, ref, platform)
        manifest_bytes = read_layout_blob(layout, desc)
        return self.import_manifest(
            manifest_bytes,
            lambda d: layout / "blobs" / "sha256" / hex_of(d, "blob"),
            names=qualified,
            media_type=desc.get("mediaType"),
            what=str(layout),
        )

    @staticmethod
    def qualify_names(names: Iterable[str]) -> builtins.list[str]:
        out = []
        for n in names:
            parsed = refs.normalize(n, refs.LOCALHOST)
            if parsed.digest:
                raise ImageError(f"cannot name an image {n!r}: a name takes a tag, not a digest")
            out.append(str(parsed))
        return out

    def import_manifest(
        self,
        manifest_bytes: bytes,
        blob_source: BlobSource,
        *,
        names: Sequence[str] = (),
        repo_digests: Sequence[str] = (),
        media_type: str | None = None,
        move: bool = False,
        scratch: Path | None = None,
        on_layer: LayerCallback | None = None,
        what: str = "the image",
    ) -> Image:
        """Add the image whose manifest is ``manifest_bytes``; ``blob_source(digest)``
        says where each blob not yet in the store is.

        Every new blob is verified and every new layer extracted (refusing hostile
        ones) before anything enters the store; index.json names the image last,
        so a crash at any point leaves no partial image listed. ``move`` renames
        blobs out of a scratch dir on the store's filesystem instead of copying.
        """
        qualified = self.qualify_names(names)
        digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        try:
            manifest = json.loads(manifest_bytes)
            media_type = media_type or manifest.get("mediaType") or MEDIA_MANIFEST
            config_desc = dict(manifest["config"])
            layers = [dict(d) for d in manifest.get("layers") or []]
            blob_descs = [(str(d["digest"]), d.get("size")) for d in (config_desc, *layers)]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if media_type in DOCKER_SCHEMA1_TYPES:
                raise ImageError(
                    f"{what} has a Docker schema 1 manifest, which is not supported: "
                    "push the image again with a current client"
                ) from None
            raise ImageError(f"malformed manifest {digest} in {what}: {exc}") from None
        if media_type not in MANIFEST_TYPES:
            raise ImageError(f"{what}: unsupported manifest media type {media_type!r}")
        with translate_no_space(self.root, f"importing {what}"):
            self._ensure_dirs()
        self.sweep_scratch()
        added_layers: builtins.list[str] = []  # diff_id hexes this import extracted
        added_blobs: builtins.list[str] = []  # blob hexes this import put in the store
        try:
            with translate_no_space(self.root, f"importing {what}"), gc_shared(self.dir):
                current = self._import_locked(
                    manifest_bytes, blob_source, digest, media_type, config_desc, layers,
                    blob_descs, qualified, repo_digests, move, scratch, on_layer, what,
                    added_layers, added_blobs)
        except BaseException:
            self._drop_unreferenced(added_layers, added_blobs)
            raise
        assert current is not None
        return self._image(current)

    def _import_locked(
        self, manifest_bytes: bytes, blob_source: BlobSource, digest: str, media_type: str,
        config_desc: dict[str, Any], layers: builtins.list[dict[str, Any]],
        blob_descs: builtins.list[tuple[str, Any]], qualified: Sequence[str],
        repo_digests: Sequence[str], move: bool, scratch: Path | None,
        on_layer: LayerCallback | None, what: str,
        added_layers: builtins.list[str], added_blobs: builtins.list[str],
    ) -> Entry:
        """The part of ``import_manifest`` that runs under the shared GC lock."""
        sources: dict[str, Path] = {}
        for dg, size in blob_descs:
            hex_ = hex_of(dg, "blob")
            if self.has_blob(dg):
                sources[dg] = self.blobs_dir / hex_
                continue
            src = blob_source(dg)
            if not src.is_file():
                raise ImageError(f"{what} lacks blob {dg} that its manifest lists")
            verify_file(src, dg, None if size is None else int(size))
            sources[dg] = src
        config = self._parse_config(sources[config_desc["digest"]], what)
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(layers):
            raise ImageError(
                f"image in {what} is corrupt: {len(layers)} layers, {len(diff_ids)} diff_ids"
            )
        max_image = self.limits.max_image_size
        total = 0  # the image expanded so far
        for d, diff_id in zip(layers, diff_ids, strict=True):
            dg = str(d["digest"])
            hex_ = hex_of(str(diff_id), "layer diff_id")
            if not (self.layers_dir / hex_).is_dir():
                if on_layer is not None:
                    on_layer(dg, "extracting")
                if self._ensure_layer(d, str(diff_id), blob=sources[dg], scratch=scratch,
                                      image_budget=max_image - total if max_image else None):
                    added_layers.append(hex_)
                if on_layer is not None:
                    on_layer(dg, "extracted")
            # (A layer already extracted is shared from now on; it counts all the same.)
            total += self.layer_size(str(diff_id), d, sources[dg])
            if max_image and total > max_image:
                raise SizeLimitExceeded(
                    f"layer {dg} (diff_id {diff_id}): with it the image expands to more "
                    f"than {human_bytes(max_image)}, the max_image_size cap: "
                    f"{self._cap_hint('max_image_size')}")
        copies = [(dg, size) for dg, size in blob_descs if sources[dg].parent != self.blobs_dir]
        if copies and not move:
            check_free_space(self.blobs_dir, sum(sources[dg].stat().st_size for dg, _ in copies),
                             self.limits.min_free_space, f"storing the blobs of {what}")
        for dg, size in copies:
            self.put_blob(sources[dg], dg, None if size is None else int(size), move=move)
            added_blobs.append(hex_of(dg, "blob"))
        # The manifest goes in last: once index.json names it, all it needs exists.
        if not self.has_blob(digest):
            self.put_bytes(manifest_bytes, digest)
            added_blobs.append(hex_of(digest, "manifest"))
        entry = Entry(
            digest=digest,
            media_type=media_type,
            size=len(manifest_bytes),
            image_id=hex_of(config_desc["digest"], "config"),
            names=[],
            repo_digests=list(dict.fromkeys(repo_digests)),
        )
        current = self._update_index(lambda es: self._assign_names(es, entry, qualified),
                                     entry.digest)
        assert current is not None
        return current

    def _drop_unreferenced(self, layers: Sequence[str], blobs: Sequence[str]) -> None:
        """After a failed import: remove the layers and blobs it added that no image
        uses, so it leaves nothing behind. Only when no other import runs (one may
        be about to use them); otherwise garbage collection frees them later."""
        if not layers and not blobs:
            return
        with gc_exclusive_nowait(self.dir) as locked:
            if not locked:
                return
            try:
                used_blobs, used_layers = self.referenced()
            except ImageError:
                return  # an unreadable image: delete nothing
            for hex_ in layers:
                if hex_ not in used_layers:
                    remove_tree(self.layers_dir / hex_, ignore_errors=True)
                    with contextlib.suppress(OSError):
                        (self.sizes_dir / hex_).unlink()
                    self._sizes.pop(hex_, None)
            for hex_ in blobs:
                if hex_ not in used_blobs:
                    with contextlib.suppress(OSError):
                        (self.blobs_dir / hex_).unlink()
                    self._blob_cache.pop("sha256:" + hex_, None)

    def _parse_config(self, path: Path, what: str) -> dict[str, Any]:
        try:
            config = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ImageError(f"the image config in {what} is not valid JSON: {exc}") from None
        if not isinstance(config, dict):
            raise ImageError(f"the image config in {what} is not a JSON object")
        return config

    def _update_index(
        self, change: Callable[[builtins.list[Entry]], None], digest: str | None = None
    ) -> Entry | None:
        """Apply ``change`` to a fresh copy of the entries and write them, under the
        lock; returns the entry for ``digest`` afterwards."""
        with self._lock.held():
            self._index_key = None  # re-read under the lock, never from cache
            # Copies: the cached entries must not change if the write fails.
            entries = [
                replace(e, names=list(e.names), repo_digests=list(e.repo_digests))
                for e in self._entries()
            ]
            change(entries)
            self._write_index(entries)
            self._index_key = None
            return next((e for e in self._entries() if e.digest == digest), None)

    @staticmethod
    def _assign_names(entries: builtins.list[Entry], new: Entry, names: Sequence[str]) -> None:
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
        for rd in new.repo_digests:
            if rd not in mine.repo_digests:
                mine.repo_digests.append(rd)
        mine.image_id = mine.image_id or new.image_id

    def tag(self, image: Image, names: Sequence[str]) -> Image:
        """Add ``names`` to ``image`` (taking them from any image that had them)."""
        qualified = self.qualify_names(names)
        entry = Entry(image.digest, image.media_type, image.manifest_size, image.id, [])

        def change(entries: builtins.list[Entry]) -> None:
            if not any(e.digest == image.digest for e in entries):
                raise NoSuchImage(image.id)
            self._assign_names(entries, entry, qualified)

        current = self._update_index(change, image.digest)
        assert current is not None
        return self._image(current)

    def untag(self, image: Image, names: Sequence[str] | None = None) -> builtins.list[str]:
        """Remove ``names`` (all of them if None) from ``image``; returns those removed.

        The image stays listed without a name; ``delete`` removes it.
        """
        wanted = None if names is None else set(self.qualify_names(names))
        removed: builtins.list[str] = []

        def change(entries: builtins.list[Entry]) -> None:
            for e in entries:
                if e.digest != image.digest:
                    continue
                drop = [n for n in e.names if wanted is None or n in wanted]
                e.names = [n for n in e.names if n not in drop]
                removed.extend(drop)
            missing = (wanted or set()) - set(removed)
            if missing:
                raise ImageError(
                    f"image {image.id[:12]} is not tagged {', '.join(sorted(missing))}: "
                    f"its names are {', '.join(image.names) or 'none'}"
                )

        self._update_index(change)
        return removed

    def delete(self, digests: Iterable[str]) -> None:
        """Drop the images with these manifest digests from the index.

        Their blobs and layers stay until :func:`ipy_oci.images.gc.collect`.
        """
        gone = set(digests)
        self._update_index(lambda es: es.__setitem__(
            slice(None), [e for e in es if e.digest not in gone]))

    def referenced(self) -> tuple[set[str], set[str]]:
        """(blob hexes, layer diff_id hexes) that the listed images need.

        Raises ImageError when an image cannot be read: without knowing what it
        needs, garbage collection must delete nothing.
        """
        self._index_key = None
        blobs: set[str] = set()
        layers: set[str] = set()
        for entry in self._entries():
            blobs.add(hex_of(entry.digest, "manifest"))
            try:
                manifest = json.loads(self._blob_path(entry.digest).read_bytes())
                config_digest = str(manifest["config"]["digest"])
                blobs.add(hex_of(config_digest, "config"))
                blobs.update(hex_of(str(d["digest"]), "layer") for d in manifest["layers"] or [])
                config = json.loads(self._blob_path(config_digest).read_bytes())
                diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
                layers.update(hex_of(str(d), "diff_id") for d in diff_ids)
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ImageError(
                    f"image {entry.digest} cannot be read ({exc}): remove it with "
                    f"'ipy-oci rmi -f {entry.digest}' and pull it again"
                ) from None
        return blobs, layers

    def sweep_scratch(self) -> None:
        """Remove scratch dirs of dead pulls, and temp files crashes left long ago."""
        sweep(self.tmp_dir)
        cutoff = time.time() - _STALE_TMP_SECONDS
        for parent in (self.layers_dir, self.blobs_dir, self.sizes_dir):
            for p in parent.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    if p.lstat().st_mtime < cutoff:
                        remove_tree(p, ignore_errors=True)

    def pull(
        self, ref: str, options: PullOptions | None = None,
        progress: ProgressCallback | None = None,
    ) -> Image:
        """Pull ``ref`` from its registry (short names: each search registry in
        turn) into the store; see :func:`ipy_oci.images.pull.pull`."""
        from ipy_oci.images.pull import pull

        return pull(self, ref, options, progress)

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
            with translate_no_space(self.tmp_dir, "building the built-in busybox image"):
                tmp = Path(tempfile.mkdtemp(prefix="builtin.", dir=self.tmp_dir))
            try:
                with translate_no_space(tmp, "building the built-in busybox image"):
                    builtin.write_layout(tmp)
                return self.add_image_from_layout(tmp, names=[BUILTIN_NAME])
            finally:
                remove_tree(tmp, ignore_errors=True)
