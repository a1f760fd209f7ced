"""Images in the engine: pull policies, reference counts, and every image command.

The CLI (``pull``, ``images``, ``rmi`` …), the magics and the server call these;
they add what the image store cannot know by itself: which containers use an
image (the ``containers`` table), and the configured search registries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from ..errors import ImageError, InvalidState, NoSuchImage, UsageError
from ..images import refs
from .events import emit

if TYPE_CHECKING:
    from ..images.archive import ArchiveFormat
    from ..images.platforms import Platform, host_platform
    from ..images.progress import LayerState, ProgressCallback, PullEvent, PullTracker
    from ..images.pull import PullOptions
    from ..images.store import Image, ImageStore
    from .runtime import Runtime

__all__ = [
    "PULL_POLICIES", "ArchiveFormat", "Image", "ImageInUse", "ImageStore", "ImageSummary",
    "LayerState", "Platform", "ProgressCallback", "PruneReport", "PullEvent", "PullOptions",
    "PullPolicy", "PullTracker", "RemoveReport", "authfile_for", "ensure_image",
    "filter_images", "host_platform", "image_store", "image_users", "import_image",
    "list_images", "load_images", "login", "logout", "prune_images", "pull_image",
    "IMAGE_FILTERS", "SORT_KEYS", "image_history", "push_image",
    "registry_host", "remove_images", "save_images", "save_images_to", "stored_login",
    "tag_image", "untag_image",
]

# The image types front ends and the grammar use, offered here so they import the
# engine only. Loaded on first use (images.store is heavy; most commands never need it).
_DRIVER_TYPES = {
    "Image": "store", "ImageStore": "store", "PullOptions": "pull",
    "LayerState": "progress", "ProgressCallback": "progress", "PullEvent": "progress",
    "PullTracker": "progress", "Platform": "platforms", "host_platform": "platforms",
    "ArchiveFormat": "archive",
}


def __getattr__(name: str) -> Any:
    module = _DRIVER_TYPES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"ipy_oci.images.{module}"), name)

PullPolicy = Literal["missing", "always", "never"]
PULL_POLICIES: tuple[PullPolicy, ...] = ("missing", "always", "never")


def image_store(rt: Runtime) -> ImageStore:
    """``rt.images``, searching the registries the configuration names."""
    store = rt.images
    store.search_registries = tuple(rt.config.unqualified_registries)
    return store


def pull_image(rt: Runtime, ref: str, options: PullOptions | None = None,
               progress: ProgressCallback | None = None) -> Image:
    """Pull ``ref`` from its registry (short names: each search registry in turn)."""
    return _pulled(rt, ref, image_store(rt).pull(ref, options, progress))


def _pulled(rt: Runtime, ref: str, img: Image) -> Image:
    emit(rt, "image", "pull", id=img.id, name=ref)
    return img


def _is_local_only(ref: str) -> bool:
    """IDs, digests without a name, and localhost/ names: nothing to pull."""
    text = ref.strip()
    if refs.HEX64.fullmatch(text) or (text.startswith("sha256:") and "@" not in text):
        return True
    try:
        return refs.parse(text).registry == refs.LOCALHOST
    except ImageError:
        return True  # an ID prefix: lookup says what is wrong


def ensure_image(rt: Runtime, ref: str, policy: PullPolicy = "missing",
                 progress: ProgressCallback | None = None,
                 options: PullOptions | None = None) -> Image:
    """The image ``ref`` for a new container, pulled as ``policy`` says.

    ``missing`` pulls only when no local image matches, ``always`` pulls every
    time (a local-only reference such as an ID or a localhost/ name is used as
    is), ``never`` only looks locally.
    """
    if policy not in PULL_POLICIES:
        raise UsageError(f"invalid pull policy {policy!r}: use missing, always or never")
    store = image_store(rt)
    if policy == "always" and not _is_local_only(ref):
        return _pulled(rt, ref, store.pull(ref, options, progress))
    try:
        return store.lookup(ref)
    except NoSuchImage:
        if policy == "never" or _is_local_only(ref):
            raise
    return _pulled(rt, ref, store.pull(ref, options, progress))


# ----- reference counts ---------------------------------------------------------


def image_users(rt: Runtime, image_id: str) -> list[tuple[str, str]]:
    """(container id, name) of every container made from ``image_id``."""
    return [(r.id, r.name) for r in rt.state.containers(image_id=image_id)]


def _use_counts(rt: Runtime) -> dict[str, int]:
    return rt.state.image_use_counts()


class ImageInUse(InvalidState):
    def __init__(self, img: Image, users: Sequence[tuple[str, str]]) -> None:
        names = ", ".join(f"{cid[:12]} ({name})" for cid, name in users)
        super().__init__(
            f"image {img.id[:12]} is in use by container(s) {names}: remove them first, "
            "or use 'rmi -f' to remove them with the image"
        )


@dataclass(frozen=True)
class ImageSummary:
    image: Image
    containers: int


def list_images(rt: Runtime) -> list[ImageSummary]:
    counts = _use_counts(rt)
    return [ImageSummary(img, counts.get(img.id, 0)) for img in image_store(rt).list()]


IMAGE_FILTERS = ("reference", "dangling", "label", "label!", "before", "since", "after",
                 "id", "until", "readonly")
SORT_KEYS = ("created", "id", "repository", "size", "tag")


def _reference_match(pattern: str, names: Sequence[str]) -> bool:
    """podman's reference filter, leniently: a glob on a name with or without its
    tag, registry or path (``busybox`` matches ``localhost/busybox:latest``)."""
    import fnmatch

    for n in names:
        repo = n.rpartition(":")[0] if ":" in n.rpartition("/")[2] else n
        forms = {n, repo, n.split("/", 1)[-1], repo.split("/", 1)[-1],
                 n.rpartition("/")[2], repo.rpartition("/")[2]}
        if any(fnmatch.fnmatchcase(f, pattern) for f in forms):
            return True
    return False


def filter_images(summaries: list[ImageSummary], filters: Sequence[str],
                  store: ImageStore | None = None) -> list[ImageSummary]:
    """``images --filter`` (podman's keys): reference=PATTERN (globs), dangling=BOOL,
    label=KEY[=VALUE], label!=..., before=IMAGE, since=IMAGE (or after), id=PREFIX,
    until=TIME,
    readonly=BOOL. Values of one key are alternatives, keys must all match."""
    from .timeparse import filter_timestamp as timestamp
    from .views import image_created

    by_key: dict[str, list[str]] = {}
    for f in filters:
        key, eq, value = f.partition("=")
        if not eq or key not in IMAGE_FILTERS:
            raise UsageError(f"invalid image filter {f!r}: use one of "
                             f"{', '.join(k + '=' for k in IMAGE_FILTERS)}")
        by_key.setdefault(key, []).append(value)
    out = summaries

    def boolean(key: str, value: str) -> bool:
        low = value.lower()
        if low not in ("true", "false", "1", "0"):
            raise UsageError(f"invalid {key} filter {value!r}: use true or false")
        return low in ("true", "1")

    def labels(s: ImageSummary) -> dict[str, str]:
        return (s.image.config.get("config") or {}).get("Labels") or {}

    def has_label(s: ImageSummary, want: str) -> bool:
        key, eq, value = want.partition("=")
        lab = labels(s)
        return key in lab and (not eq or lab[key] == value)

    def anchor(ref: str) -> float:
        if store is None:
            raise UsageError("before/since filters need the image store")
        return image_created(store.lookup(ref))

    for key, values in by_key.items():
        if key == "reference":
            out = [s for s in out if any(_reference_match(v, s.image.names) for v in values)]
        elif key == "dangling":
            wants = {boolean(key, v) for v in values}
            out = [s for s in out if (not s.image.names) in wants]
        elif key == "readonly":
            wants = {boolean(key, v) for v in values}
            out = [s for s in out if False in wants]  # no read-only image stores here
        elif key == "label":
            out = [s for s in out if all(has_label(s, v) for v in values)]
        elif key == "label!":
            out = [s for s in out if not any(has_label(s, v) for v in values)]
        elif key == "id":
            out = [s for s in out if any(s.image.id.startswith(v.removeprefix("sha256:"))
                                         for v in values)]
        elif key == "before":
            t = min(anchor(v) for v in values)
            out = [s for s in out if image_created(s.image) < t]
        elif key in ("since", "after"):
            t = max(anchor(v) for v in values)
            out = [s for s in out if image_created(s.image) > t]
        elif key == "until":
            t = min(timestamp(v) for v in values)
            out = [s for s in out if image_created(s.image) < t]
    return out


def image_history(rt: Runtime, ref: str) -> list[dict[str, Any]]:
    """podman's ImageHistoryLayer list, newest first: ``id`` (the image's for the top
    entry, ``<missing>`` below), ``created`` (a timestamp), ``CreatedBy``, ``tags``,
    ``size`` (the layer's expanded size; 0 for an entry without a layer),
    ``comment``."""
    from .views import image_created

    store = image_store(rt)
    img = store.lookup(ref)
    cfg = img.config or {}
    diff_ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
    history = list(cfg.get("history") or []) or [{} for _ in diff_ids]
    layer = len(diff_ids)
    out: list[dict[str, Any]] = []
    for i, h in enumerate(reversed(history)):
        size = 0
        if not h.get("empty_layer") and layer > 0:
            layer -= 1
            size = store.layer_size(str(diff_ids[layer]))
        created = h.get("created") or img.created
        try:
            from datetime import datetime

            ts = datetime.fromisoformat(str(created).replace("Z", "+00:00")).timestamp()
        except ValueError:
            ts = image_created(img)
        out.append({"id": img.id if i == 0 else "<missing>", "created": ts,
                    "CreatedBy": str(h.get("created_by") or ""),
                    "tags": list(img.names) if i == 0 else [],
                    "size": size, "comment": str(h.get("comment") or "")})
    return out


_PUSH_FORMATS = {"oci": "oci", "v2s2": "v2s2", "v2s1": "v2s1", "docker": "v2s2"}
_OTHER_TRANSPORTS = ("oci:", "oci-archive:", "docker-archive:", "dir:")


def push_image(rt: Runtime, ref: str, destination: str | None = None, *,
               tls_verify: bool | None = None, authfile: str | Path | None = None,
               creds: str | None = None, fmt: str | None = None,
               digestfile: str | None = None, compression: str | None = None) -> str:
    """``push IMAGE [DESTINATION]`` through skopeo; returns skopeo's progress lines.

    The destination is a registry reference (``host[:port]/repo[:tag]``, optionally
    ``docker://``), or one of skopeo's local transports (``oci:DIR``,
    ``oci-archive:FILE``, ``docker-archive:FILE``, ``dir:DIR``); without one, the
    image's own name is the destination.
    """
    import json
    import os

    from ..images.mediatypes import REF_NAME_ANNOTATION
    from ..images.pull import _write_authfile
    from ..images.skopeo import Access, Skopeo
    from ..images.workspace import Workspace, gc_shared

    store = image_store(rt)
    img = store.lookup(ref)
    target = (destination or "").strip()
    if not target:
        target = _named_by(store, img, ref) or (img.names[0] if img.names else "")
        if not target:
            raise UsageError(f"image {img.id[:12]} has no name: give a destination "
                             "(push IMAGE REGISTRY/NAME[:TAG])")
    extra: list[str] = []
    if fmt:
        if fmt not in _PUSH_FORMATS:
            raise UsageError(f"invalid --format {fmt!r}: use oci, v2s2 or v2s1")
        extra.append(f"--format={_PUSH_FORMATS[fmt]}")
    if compression:
        if compression not in ("gzip", "zstd"):
            raise UsageError(f"invalid --compression-format {compression!r}: use gzip or "
                             "zstd")
        extra += ["--dest-compress", f"--dest-compress-format={compression}"]
    if digestfile:
        extra.append(f"--digestfile={os.path.abspath(digestfile)}")
    docker = not target.startswith(_OTHER_TRANSPORTS)
    registry = ""
    if docker:
        name = target.removeprefix("docker://")
        try:
            parsed = refs.parse(name)
        except ImageError as exc:
            raise UsageError(f"invalid destination {target!r}: {exc}") from None
        if parsed.is_short or parsed.registry == refs.LOCALHOST:
            raise UsageError(
                f"invalid destination {target!r}: name the registry to push to, e.g. "
                f"'push {ref} registry.example:5000/{parsed.repository}' (localhost/ "
                "names are local only)")
        registry = parsed.registry
        target = f"docker://{parsed}"
    with Workspace(store.tmp_dir) as ws, gc_shared(store.dir):
        layout = ws.path / "layout"
        layout.mkdir()
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": img.media_type, "digest": img.digest, "size": img.manifest_size
            or store.blob_path(img.digest).stat().st_size,
            "annotations": {REF_NAME_ANNOTATION: "push"}}]}
        (layout / "index.json").write_text(json.dumps(index))
        os.symlink(store.dir / "blobs", layout / "blobs")  # the store's blobs, not copied
        access: Access | None = None
        if docker:
            auth = Path(authfile) if authfile else authfile_for(rt)
            if creds:
                auth = _write_authfile(ws.path / "auth.json", registry, creds)
            tls = not refs.is_loopback_registry(registry) if tls_verify is None \
                else tls_verify
            access = Access(tls_verify=tls, authfile=auth if auth.exists() else None)
        out = Skopeo().push(layout, "push", target, access, registry or target, extra)
    return out


# ----- removal --------------------------------------------------------------------


@dataclass
class RemoveReport:
    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # image IDs
    removed_containers: list[str] = field(default_factory=list)
    bytes_freed: int = 0


def _named_by(store: ImageStore, img: Image, ref: str) -> str | None:
    """The name of ``img`` that ``ref`` spells, if ``ref`` is a name (not an ID)."""
    try:
        parsed = refs.parse(ref)
    except ImageError:
        return None
    if parsed.digest:
        return None
    cands = [parsed] if not parsed.is_short else [
        parsed.qualified(r) for r in (refs.LOCALHOST, *store.search_registries)]
    return next((str(c) for c in cands if str(c) in img.names), None)


def remove_images(rt: Runtime, image_refs: Sequence[str], force: bool = False,
                  all: bool = False) -> RemoveReport:
    """``rmi``: untag by name while other names remain, else delete the image.

    An image used by a container is refused unless ``force``, which removes those
    containers first (as podman does). Space is freed by garbage collection.
    """
    from ..images import gc

    store = image_store(rt)
    report = RemoveReport()
    targets = [i.id for i in store.list()] if all else list(image_refs)
    if not targets and not all:
        raise UsageError("rmi needs at least one image (or --all)")
    doomed: list[str] = []
    for ref in targets:
        try:
            img = store.lookup(ref)
        except NoSuchImage:
            raise
        except ImageError:
            # An image too broken to read can still be dropped by its digest.
            if force and ref in store.digests():
                store.delete([ref])
                report.deleted.append(ref)
                continue
            raise
        name = None if all else _named_by(store, img, ref)
        if name is not None and len(img.names) > 1:
            gone = store.untag(img, [name])
            report.untagged += gone
            for n in gone:
                emit(rt, "image", "untag", id=img.id, name=n)
            continue
        if name is None and len(img.names) > 1 and not force:
            raise InvalidState(
                f"image {img.id[:12]} has several names ({', '.join(img.names)}): remove "
                "them by name, or use 'rmi -f' to remove the image with all of them"
            )
        users = image_users(rt, img.id)
        if users and not force:
            raise ImageInUse(img, users)
        for cid, _name in users:
            rt.lookup_container(cid).remove(force=True, timeout=0)
            report.removed_containers.append(cid)
        report.untagged += list(img.names)
        for n in img.names:
            emit(rt, "image", "untag", id=img.id, name=n)
        doomed.append(img.digest)
        report.deleted.append(img.id)
    if doomed:
        store.delete(doomed)
        for image_id in report.deleted:
            emit(rt, "image", "remove", id=image_id, name=image_id)
    report.bytes_freed = gc.collect(store).bytes_freed
    return report


@dataclass
class PruneReport:
    deleted: list[str] = field(default_factory=list)  # image IDs
    bytes_freed: int = 0


def prune_images(rt: Runtime, all: bool = False) -> PruneReport:
    """Delete dangling images (no name), or with ``all`` every image no container
    uses; then free unreferenced blobs and layers and dead scratch dirs."""
    from ..images import gc

    store = image_store(rt)
    used = set(_use_counts(rt))
    doomed = [img for img in store.list()
              if img.id not in used and (all or not img.names)]
    if doomed:
        store.delete([img.digest for img in doomed])
        for img in doomed:
            emit(rt, "image", "remove", id=img.id, name=img.id)
    store.sweep_scratch()
    freed = gc.collect(store).bytes_freed
    return PruneReport(deleted=list(dict.fromkeys(i.id for i in doomed)), bytes_freed=freed)


# ----- names, import, archives ------------------------------------------------------


def tag_image(rt: Runtime, ref: str, names: Sequence[str]) -> Image:
    if not names:
        raise UsageError("tag needs at least one new name")
    store = image_store(rt)
    img = store.tag(store.lookup(ref), names)
    for n in names:
        emit(rt, "image", "tag", id=img.id, name=n)
    return img


def untag_image(rt: Runtime, ref: str, names: Sequence[str] | None = None) -> list[str]:
    store = image_store(rt)
    img = store.lookup(ref)
    gone = store.untag(img, list(names) if names else None)
    for n in gone:
        emit(rt, "image", "untag", id=img.id, name=n)
    return gone


def import_image(rt: Runtime, src: BinaryIO, name: str | None = None,
                 changes: Sequence[str] = (), message: str = "", source: str = "-") -> Image:
    from ..images.importer import import_rootfs

    return import_rootfs(image_store(rt), src, name=name, changes=changes, message=message,
                         source=source)


def save_images(rt: Runtime, image_refs: Sequence[str], out: BinaryIO,
                fmt: ArchiveFormat = "oci-archive") -> None:
    from ..images.archive import SaveItem, save

    if not image_refs:
        raise UsageError("save needs at least one image")
    store = image_store(rt)
    items = []
    for ref in image_refs:
        img = store.lookup(ref)
        name = _named_by(store, img, ref)
        items.append(SaveItem(img, (name,) if name else img.names))
    save(store, items, out, fmt)


def save_images_to(rt: Runtime, image_refs: Sequence[str], path: str | Path,
                   fmt: ArchiveFormat = "oci-archive") -> Path:
    """``save -o PATH``: written beside the target and renamed, so a failed save
    leaves no half-written file."""
    import os
    import tempfile

    target = Path(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".save-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            save_images(rt, image_refs, out, fmt)
        os.rename(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return target


def load_images(rt: Runtime, src: BinaryIO) -> list[Image]:
    from ..images.archive import load

    return load(image_store(rt), src)


# ----- registries -------------------------------------------------------------------


def registry_host(text: str) -> str:
    """``https://127.0.0.1:5000/v2/`` or ``docker.io/library`` -> the registry part."""
    host = text.strip().split("://", 1)[-1].split("/", 1)[0]
    if not host:
        raise UsageError(f"invalid registry {text!r}: give a host[:port], e.g. docker.io")
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def authfile_for(rt: Runtime, authfile: str | Path | None = None) -> Path:
    from ..images.pull import default_authfile

    return Path(authfile) if authfile else default_authfile(rt.root)


def login(rt: Runtime, registry: str, username: str, password: str,
          authfile: str | Path | None = None, tls_verify: bool | None = None) -> Path:
    """Check the credentials against ``registry`` and store them; returns the auth file."""
    from ..images.skopeo import Access, Skopeo

    host = registry_host(registry)
    if not username:
        raise UsageError("login needs a user name (-u)")
    path = authfile_for(rt, authfile)
    path.parent.mkdir(parents=True, exist_ok=True)
    tls = not refs.is_loopback_registry(host) if tls_verify is None else tls_verify
    Skopeo().login(host, username, password, Access(tls_verify=tls, authfile=path))
    return path


def stored_login(rt: Runtime, registry: str, authfile: str | Path | None = None) -> str | None:
    """The user name stored for ``registry`` in the auth file, if any."""
    import base64
    import binascii
    import json

    path = authfile_for(rt, authfile)
    try:
        auths = json.loads(path.read_bytes()).get("auths") or {}
        auth = str((auths.get(registry_host(registry)) or {}).get("auth", ""))
        user = base64.b64decode(auth).decode().partition(":")[0] if auth else ""
    except (OSError, ValueError, AttributeError, binascii.Error):
        return None
    return user or None


def logout(rt: Runtime, registry: str | None = None,
           authfile: str | Path | None = None) -> Path:
    """Forget the credentials for ``registry`` (every registry if None)."""
    from ..images.skopeo import Skopeo

    path = authfile_for(rt, authfile)
    Skopeo().logout(registry_host(registry) if registry else None, path)
    return path
