"""Pulling an image from a registry into the store.

1. ``skopeo inspect --raw`` fetches the manifest as served; a manifest list or
   image index is resolved to one platform here, so the error names what exists.
2. ``skopeo copy`` fetches the blobs (verifying each digest) into a scratch OCI
   layout whose blob dir is pre-seeded with hard links to the blobs the store
   already has, so shared layers are not downloaded again.
3. The store imports the *original* manifest (its digest is what the registry
   calls it) from those blobs: every layer is verified and extracted once,
   hostile ones refused, and only then is the image named in index.json.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipy_oci.errors import ImageError, OciError, StorageFull
from ipy_oci.images import platforms, refs
from ipy_oci.images.errors import (
    DigestMismatch,
    ManifestUnknown,
    RegistryAuthError,
    RegistryError,
    RegistryUnreachable,
)
from ipy_oci.images.mediatypes import DOCKER_SCHEMA1_TYPES, INDEX_TYPES, MANIFEST_TYPES
from ipy_oci.images.progress import LayerInfo, ProgressCallback, PullEvent, emit
from ipy_oci.images.skopeo import CANNOT_REACH, Access, Skopeo
from ipy_oci.images.store import Image, ImageStore
from ipy_oci.images.workspace import Workspace
from ipy_oci.storage.atomic import check_free_space, translate_no_space

# Failures that mean "this registry does not have it for us": try the next one.
_NEXT_REGISTRY = (ManifestUnknown, RegistryAuthError, RegistryUnreachable)


@dataclass(frozen=True)
class PullOptions:
    platform: str | None = None  # "os/arch[/variant]"; default: the host's
    tls_verify: bool | None = None  # None: verify, except for loopback registries
    authfile: Path | None = None  # default: default_authfile(store root)
    creds: str | None = None  # "USER[:PASSWORD]" for this pull only


def default_authfile(root: Path) -> Path:
    """``$REGISTRY_AUTH_FILE`` (as podman and skopeo honour it), else ``<root>/auth.json``."""
    env = os.environ.get("REGISTRY_AUTH_FILE")
    return Path(env) if env else Path(root) / "auth.json"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ImageError(f"{what} is not a JSON object")
    return obj


def _media_type(doc: dict[str, Any]) -> str:
    mt = doc.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    # OCI allows leaving it out: the shape tells.
    if "manifests" in doc:
        return INDEX_TYPES[0]
    if doc.get("schemaVersion") == 1:
        return DOCKER_SCHEMA1_TYPES[0]
    return MANIFEST_TYPES[0]


def _write_authfile(path: Path, registry: str, creds: str) -> Path:
    user, sep, password = creds.partition(":")
    if not user:
        raise ImageError("--creds needs USER[:PASSWORD]")
    if not sep:
        import getpass

        password = getpass.getpass(f"Password for {user}@{registry}: ")
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"auths": {registry: {"auth": auth}}}, fh)
    return path


class _Pull:
    """One attempt: one fully qualified reference, one scratch workspace."""

    def __init__(self, store: ImageStore, ref: refs.Reference, opts: PullOptions,
                 progress: ProgressCallback | None, skopeo: Skopeo, ws: Path) -> None:
        self.store, self.ref, self.opts, self.progress = store, ref, opts, progress
        self.skopeo, self.ws = skopeo, ws
        self.label = str(ref)
        self.blob_dir = ws / "blobs"
        self.layers: list[LayerInfo] = []
        authfile = opts.authfile or default_authfile(store.root)
        if opts.creds:
            authfile = _write_authfile(ws / "auth.json", ref.registry, opts.creds)
        tls = opts.tls_verify
        if tls is None:
            tls = not refs.is_loopback_registry(ref.registry)
        self.access = Access(tls_verify=tls, authfile=authfile)

    def _event(self, **kw: Any) -> None:
        emit(self.progress, PullEvent(ref=self.label, **kw))

    def _fetch(self, ref: str, *, config: bool = False, digest: str | None = None) -> bytes:
        data = self.skopeo.inspect_raw(ref, self.access, self.ref.registry, config=config)
        if digest is not None and _sha256(data) != digest:
            raise DigestMismatch(
                f"pulling {self.label}: the registry served {'config' if config else 'manifest'} "
                f"{_sha256(data)} for {digest}; the registry is corrupt or tampered with"
            )
        return data

    def run(self) -> Image:
        top = self._fetch(str(self.ref), digest=self.ref.digest)
        top_digest = _sha256(top)
        doc = _json(top, f"the manifest of {self.label}")
        mt = _media_type(doc)
        want = platforms.parse_platform(self.opts.platform) if self.opts.platform else None
        manifest_bytes, manifest_digest = top, top_digest
        if mt in INDEX_TYPES:
            desc = platforms.select_manifest(doc, want or platforms.host_platform(),
                                             f"the manifest list of {self.label}")
            manifest_digest = str(desc.get("digest", ""))
            manifest_bytes = self._fetch(f"{self.ref.name}@{manifest_digest}",
                                         digest=manifest_digest)
            doc = _json(manifest_bytes, f"manifest {manifest_digest}")
            mt = str(desc.get("mediaType") or _media_type(doc))
        if mt in DOCKER_SCHEMA1_TYPES:
            raise ImageError(f"{self.label} has a Docker schema 1 manifest, which is not "
                             "supported: push it again with a current client")
        if mt not in MANIFEST_TYPES:
            raise ImageError(f"{self.label}: unsupported manifest media type {mt!r}")
        try:
            config_desc = dict(doc["config"])
            self.layers = [LayerInfo(str(d["digest"]), int(d.get("size", 0)),
                                     str(d.get("mediaType", ""))) for d in doc.get("layers") or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"malformed manifest {manifest_digest} of {self.label}: {exc}"
                             ) from None
        self._event(kind="resolved", digest=manifest_digest, layers=tuple(self.layers))
        pinned = f"{self.ref.name}@{manifest_digest}"
        self._download(pinned, str(config_desc.get("digest", "")))
        config_path = self.blob_dir / "sha256" / str(config_desc["digest"]).partition(":")[2]
        if want is not None:
            self._check_platform(config_path, want)
        self._event(kind="writing")
        names = [str(self.ref)] if self.ref.tag and not self.ref.digest else []
        repo_digests = [f"{self.ref.name}@{top_digest}", f"{self.ref.name}@{manifest_digest}"]
        try:
            img = self.store.import_manifest(
                manifest_bytes,
                lambda d: self.blob_dir / "sha256" / d.partition(":")[2],
                names=names, repo_digests=repo_digests, media_type=mt, move=True,
                scratch=self.ws, on_layer=self._on_extract, what=self.label,
            )
        except (ImageError, StorageFull) as exc:
            raise type(exc)(f"pulling {self.label}: {exc}") from None
        self._event(kind="done", digest="sha256:" + img.id)
        return img

    def _download(self, pinned: str, config_digest: str) -> None:
        shared = self.blob_dir / "sha256"
        shared.mkdir(parents=True)
        missing = []
        for digest in [config_digest, *(li.digest for li in self.layers)]:
            hex_ = digest.partition(":")[2]
            if self.store.has_blob(digest):
                # A hard link keeps the blob even if garbage collection drops it
                # from the store meanwhile; skopeo skips it as "already exists".
                try:
                    os.link(self.store.blob_path(digest), shared / hex_)
                except FileExistsError:
                    pass
                except OSError:
                    missing.append(digest)
            else:
                missing.append(digest)
        for li in self.layers:
            if li.digest not in missing:
                self._event(kind="layer", digest=li.digest, status="exists",
                            current=li.size, total=li.size)
        if missing:
            # Before downloading: the blobs must fit (extraction checks again as it goes).
            sizes = {li.digest: li.size for li in self.layers}
            check_free_space(self.store.root, sum(sizes.get(d, 0) for d in missing),
                             self.store.limits.min_free_space,
                             f"downloading the {len(missing)} missing blobs of {self.label}")
            by_prefix = {li.digest.partition(":")[2][:12]: li for li in self.layers}
            last: dict[str, tuple[str, int]] = {}

            def on_blob(prefix: str, status: str, done: int) -> None:
                li = by_prefix.get(prefix)
                if li is None:
                    return
                current = li.size if status in ("downloaded", "exists") else done
                if last.get(li.digest) == (status, current):
                    return  # skopeo redraws lines; report changes only
                last[li.digest] = (status, current)
                self._event(kind="layer", digest=li.digest, status=status,
                            current=current, total=li.size)

            self.skopeo.copy_to_layout(pinned, self.ws / "layout", self.blob_dir, self.access,
                                       self.ref.registry, on_blob if self.progress else None)
            for li in self.layers:
                if li.digest in missing and last.get(li.digest, ("", 0))[0] != "downloaded":
                    self._event(kind="layer", digest=li.digest, status="downloaded",
                                current=li.size, total=li.size)
        config_path = shared / config_digest.partition(":")[2]
        if not config_path.exists():
            # Converting a Docker manifest for its OCI layout, skopeo rewrote the
            # config; the original (whose digest is the image ID) is fetched as is.
            data = self._fetch(pinned, config=True, digest=config_digest)
            config_path.write_bytes(data)

    def _check_platform(self, config_path: Path, want: platforms.Platform) -> None:
        try:
            have = platforms.of_config(json.loads(config_path.read_bytes()))
        except (OSError, ValueError):
            return  # the import reports a broken config
        if not platforms.matches(have, want):
            self._event(kind="warning", text=f"{self.label} is a single-platform image for "
                        f"{have}, not {want}; pulled it anyway")

    def _on_extract(self, digest: str, status: str) -> None:
        size = next((li.size for li in self.layers if li.digest == digest), 0)
        self._event(kind="layer", digest=digest,
                    status="extracting" if status == "extracting" else "extracted",
                    current=size, total=size)


def pull(store: ImageStore, ref: str, options: PullOptions | None = None,
         progress: ProgressCallback | None = None, skopeo: Skopeo | None = None) -> Image:
    """Pull ``ref`` into ``store`` and return the image.

    A short name is tried on each of ``store.search_registries`` in turn; an
    image that is missing, refused or unreachable there moves on to the next.
    Raises ImageError subclasses (see images/errors.py) with what to do next.
    """
    opts = options or PullOptions()
    if opts.platform:
        platforms.parse_platform(opts.platform)  # a bad flag fails before any network
    candidates = refs.pull_candidates(ref, store.search_registries)
    skopeo = skopeo or Skopeo()
    errors: list[OciError] = []
    for cand in candidates:
        emit(progress, PullEvent(kind="trying", ref=str(cand),
                                 text=f"Trying to pull {cand}..."))
        try:
            with Workspace(store.tmp_dir) as ws, \
                    translate_no_space(store.root, f"pulling {cand}"):
                return _Pull(store, cand, opts, progress, skopeo, ws.path).run()
        except _NEXT_REGISTRY as exc:
            if len(candidates) == 1:
                raise _offline_hint(exc) from None
            errors.append(exc)
            emit(progress, PullEvent(kind="warning", ref=str(cand), text=str(exc)))
    raise _offline_hint(_combined(ref, candidates, errors))


def _offline_hint(exc: OciError) -> OciError:
    """No registry could be reached (offline, or a wrong name): say what works without."""
    if isinstance(exc, RegistryUnreachable) and CANNOT_REACH in str(exc):
        return RegistryUnreachable(f"{exc}; the built-in image 'busybox' works offline")
    return exc


def _combined(ref: str, candidates: Sequence[refs.Reference],
              errors: Sequence[OciError]) -> OciError:
    detail = "; ".join(str(e) for e in errors)
    tried = ", ".join(str(c) for c in candidates)
    cls: type[RegistryError] = RegistryError
    if all(isinstance(e, ManifestUnknown) for e in errors):
        cls = ManifestUnknown
    elif all(isinstance(e, RegistryUnreachable) for e in errors):
        cls = RegistryUnreachable
    return cls(f"cannot pull {ref!r} from any search registry (tried {tried}): {detail}")
