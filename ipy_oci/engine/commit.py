"""``commit``: a container's filesystem changes become a new image.

The new image is the container's image plus one layer: an overlay container's upper
directory as it is (whiteouts and opaque directories translated to their tar
markers), or for a copy-mode root the changes ``diff`` finds against the image. The
runtime's own files (/etc/hosts, /etc/resolv.conf, /run/.containerenv …) stay out.
The config is the parent's with ``--change`` applied, a history entry and the new
diff_id; manifest and blobs go into the image store like any imported image, so the
layer is extracted (and checked) the same way.

A running container is read as it is: without ``--pause`` (or where pausing needs a
cgroup this host cannot give) files it writes during the commit may be caught half
written, as with podman's ``--pause=false``.
"""

from __future__ import annotations

import copy
import json
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ImageError, OciError, StorageError, Unsupported, UsageError
from ..storage.atomic import is_no_space, no_space
from .changes import _RUNTIME_PATHS, View, tree_changes
from .events import container_event
from .images import image_store
from .records import State

if TYPE_CHECKING:
    from ..images.store import Image
    from ..state.records import ContainerConfig
    from .container import Container
    from .runtime import Runtime

FORMATS = ("oci", "docker")


@dataclass(frozen=True)
class CommitOptions:
    message: str = ""
    author: str = ""
    changes: Sequence[str] = ()
    pause: bool = False
    format: str = "oci"
    squash: bool = False


@dataclass
class CommitResult:
    image: Image
    notes: list[str] = field(default_factory=list)  # said on stderr, not errors


def _check(opts: CommitOptions) -> None:
    if opts.squash:
        raise Unsupported("commit --squash is not supported: ipy-oci adds one layer on top "
                          "of the container's image; drop --squash")
    if opts.format not in FORMATS:
        raise UsageError(f"invalid --format {opts.format!r}: use oci")
    if opts.format == "docker":
        raise Unsupported("commit --format docker is not supported: ipy-oci stores OCI "
                          "images only; commit without --format, then 'push --format v2s2' "
                          "writes a Docker manifest")


def _layer_media(parent_type: str) -> str:
    # The same gzip bytes under their OCI name: the new manifest is an OCI one.
    from ..images.mediatypes import DOCKER_LAYER_GZIP, MEDIA_LAYER_GZIP

    return MEDIA_LAYER_GZIP if parent_type == DOCKER_LAYER_GZIP else parent_type


def _write_layer(ctr: Container, layer_dirs: Sequence[Any],
                 out: str) -> tuple[str, str, int]:
    from ..storage.layertar import write_changes_layer, write_upper_layer

    copy_root = ctr.dir / "rootfs"
    if copy_root.is_dir() and not (ctr.dir / "upper").is_dir():
        found = tree_changes(View([copy_root]), View(list(layer_dirs)))
        changes = [(c.kind, c.path) for c in found if c.path not in _RUNTIME_PATHS]
        return write_changes_layer(str(copy_root), changes, out)
    return write_upper_layer(str(ctr.dir / "upper"), out, _RUNTIME_PATHS)


def _paused(ctr: Container, want: bool, notes: list[str]) -> bool:
    """Pause a running container for the commit if asked; True if it was paused."""
    if not want or ctr.refresh().state != State.RUNNING:
        return False
    try:
        ctr.pause()
    except OciError as exc:
        notes.append(f"not pausing {ctr.name} during the commit ({exc}); its files are "
                     "read while it runs")
        return False
    return True


def _carry_run_options(inner: dict[str, Any], cfg: ContainerConfig) -> None:
    """What the container was run with goes into the image, as podman's commit keeps
    it: entrypoint and command, environment, working dir, user, labels and exposed
    ports given at create (``--change`` is applied after, and wins)."""
    if cfg.entrypoint is not None:
        inner["Entrypoint"] = list(cfg.entrypoint)
    if cfg.cmd is not None:
        inner["Cmd"] = list(cfg.cmd)
    if cfg.env:
        env = {e.partition("=")[0]: e for e in inner.get("Env") or []}
        env.update((e.partition("=")[0], e) for e in cfg.env)
        inner["Env"] = list(env.values())
    if cfg.workdir:
        inner["WorkingDir"] = cfg.workdir
    if cfg.user:
        inner["User"] = cfg.user
    if cfg.labels:
        inner["Labels"] = {**(inner.get("Labels") or {}), **cfg.labels}
    if cfg.expose:
        inner["ExposedPorts"] = {**(inner.get("ExposedPorts") or {}),
                                 **{port: {} for port in cfg.expose}}


def commit_container(rt: Runtime, ref: str, name: str | None = None,
                     opts: CommitOptions | None = None) -> CommitResult:
    """``commit CONTAINER [IMAGE]``: the new image (named ``name`` if given; short
    names go to ``localhost/NAME:latest``)."""
    from ..images.builtin import canonical_json, sha256_digest
    from ..images.mediatypes import MEDIA_CONFIG, MEDIA_LAYER_GZIP, MEDIA_MANIFEST
    from ..images.workspace import Workspace

    opts = opts or CommitOptions()
    _check(opts)
    store = image_store(rt)
    names = store.qualify_names([name]) if name else []  # a bad name fails first
    ctr = rt.lookup_container(ref)
    parent = store.lookup(ctr.record.image_id)
    config = copy.deepcopy(parent.config)
    inner = dict(config.get("config") or {})
    from ..images.importer import apply_changes

    _carry_run_options(inner, ctr.record.config)
    apply_changes(inner, opts.changes)
    try:
        parent_manifest = json.loads(store.blob_path(parent.digest).read_bytes())
        layers = [dict(d) for d in parent_manifest.get("layers") or []]
    except (OSError, ValueError, TypeError) as exc:
        raise ImageError(f"cannot commit {ctr.name}: the manifest of its image "
                         f"{parent.id[:12]} cannot be read ({exc}): pull or load it again"
                         ) from None
    result = CommitResult(image=parent)
    with Workspace(store.tmp_dir) as ws:
        out = ws.path / "layer.tar.gz"
        paused = _paused(ctr, opts.pause, result.notes)
        try:
            diff_id, digest, size = _write_layer(ctr, parent.layer_dirs, str(out))
        except OSError as exc:
            if is_no_space(exc):
                raise no_space(exc, store.root, f"committing {ctr.name}") from None
            raise StorageError(f"cannot commit {ctr.name}: reading its files failed: {exc} "
                               "(was it removed meanwhile?)") from None
        finally:
            if paused:
                ctr.unpause()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        command = shlex.join(ctr.record.config.command or [])
        entry: dict[str, Any] = {"created": now,
                                 "created_by": command or f"ipy-oci commit {ctr.name}"}
        if opts.author:
            entry["author"] = config["author"] = opts.author
        if opts.message:
            entry["comment"] = opts.message
        config.update(created=now, config=inner)
        for stale in ("container", "container_config", "docker_version"):
            config.pop(stale, None)  # Docker's notes about the parent's build
        rootfs = dict(config.get("rootfs") or {"type": "layers"})
        rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), diff_id]
        config["rootfs"] = rootfs
        # One entry per layer at least, so `history` puts the new one on top.
        history = list(config.get("history") or []) or [
            {"created": parent.created} for _ in rootfs["diff_ids"][:-1]]
        config["history"] = [*history, entry]
        config_bytes = canonical_json(config)
        (ws.path / "config.json").write_bytes(config_bytes)
        config_digest = sha256_digest(config_bytes)
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest,
                       "size": len(config_bytes)},
            "layers": [*({**d, "mediaType": _layer_media(str(d.get("mediaType")))}
                         for d in layers),
                       {"mediaType": MEDIA_LAYER_GZIP, "digest": digest, "size": size}],
        })
        paths = {digest: out, config_digest: ws.path / "config.json"}
        what = f"the commit of {ctr.name}"
        try:
            result.image = store.import_manifest(
                manifest, lambda d: paths.get(d, ws.path / "missing"), names=names,
                move=True, scratch=ws.path, what=what)
        except ImageError as exc:
            raise type(exc)(f"cannot commit {ctr.name}: {exc}") from None
    container_event(ctr, "commit")
    return result
