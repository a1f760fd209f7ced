"""``import``: a root filesystem tarball becomes a one-layer image.

The tarball (plain, gzip, zstd, xz or bzip2) is read once: hashed uncompressed
for the diff_id and gzip-compressed into the layer blob at the same time. The
store then extracts it like any pulled layer, so a hostile or corrupt tarball
is refused the same way.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import re
import shlex
import time
from collections.abc import Sequence
from typing import IO, Any, BinaryIO, cast

from ipy_oci.config import config_file
from ipy_oci.errors import ImageError, SizeLimitExceeded, UsageError
from ipy_oci.images import platforms
from ipy_oci.images.builtin import DEFAULT_PATH, canonical_json, sha256_digest
from ipy_oci.images.mediatypes import MEDIA_CONFIG, MEDIA_LAYER_GZIP, MEDIA_MANIFEST
from ipy_oci.images.store import Image, ImageStore
from ipy_oci.images.workspace import Workspace
from ipy_oci.storage.atomic import human_bytes, is_no_space, no_space, translate_no_space
from ipy_oci.storage.copytar import HashingWriter
from ipy_oci.storage.extract import Prefixed, Readable, decompressed

_CHUNK = 1 << 20
_CHANGE_KEYS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER",
                "VOLUME", "WORKDIR")


def _open_any(src: BinaryIO) -> Readable:
    magic = src.read(6)
    rest = Prefixed(magic, src)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(cast(IO[bytes], rest))
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(cast(IO[bytes], rest))
    return decompressed(rest)


def _command(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            cmd = json.loads(value)
        except ValueError as exc:
            raise UsageError(f"invalid JSON in change {value!r}: {exc}") from None
        if not isinstance(cmd, list) or not all(isinstance(c, str) for c in cmd):
            raise UsageError(f"invalid change {value!r}: expected a JSON list of strings")
        return cmd
    return ["/bin/sh", "-c", value]


def apply_changes(config: dict[str, Any], changes: Sequence[str]) -> None:
    """Dockerfile-style ``--change`` instructions (``CMD ["sh"]``, ``ENV A=b`` …)."""
    for change in changes:
        m = re.fullmatch(r"\s*([A-Za-z]+)(?:\s+|=)(.+)", change, re.S)
        key, value = (m.group(1).upper(), m.group(2)) if m else ("", "")
        if key not in _CHANGE_KEYS or not value.strip():
            raise UsageError(
                f"invalid change {change!r}: use one of {', '.join(_CHANGE_KEYS)} with a value"
            )
        value = value.strip()
        if key in ("CMD", "ENTRYPOINT"):
            config["Cmd" if key == "CMD" else "Entrypoint"] = _command(value)
        elif key in ("ENV", "LABEL"):
            pairs = shlex.split(value)
            if len(pairs) == 2 and "=" not in pairs[0]:
                pairs = [f"{pairs[0]}={pairs[1]}"]
            for pair in pairs:
                k, eq, v = pair.partition("=")
                if not k or not eq:
                    raise UsageError(f"invalid change {change!r}: use {key} KEY=VALUE")
                if key == "ENV":
                    env = [e for e in config.get("Env", []) if not e.startswith(k + "=")]
                    config["Env"] = [*env, f"{k}={v}"]
                else:
                    config.setdefault("Labels", {})[k] = v
        elif key == "EXPOSE":
            for port in value.split():
                config.setdefault("ExposedPorts", {})[
                    port if "/" in port else f"{port}/tcp"] = {}
        elif key == "VOLUME":
            vols = _command(value) if value.startswith("[") else value.split()
            for v in vols:
                config.setdefault("Volumes", {})[v] = {}
        else:
            config[{"STOPSIGNAL": "StopSignal", "USER": "User", "WORKDIR": "WorkingDir"}[key]] = (
                value)


def import_rootfs(store: ImageStore, src: BinaryIO, *, name: str | None = None,
                  changes: Sequence[str] = (), message: str = "", source: str = "-") -> Image:
    """Make an image of the rootfs tarball read from ``src``; ``name`` (short
    names go to ``localhost/``) is optional."""
    container_config: dict[str, Any] = {"Env": [DEFAULT_PATH]}
    apply_changes(container_config, changes)
    names = [name] if name else []
    store.qualify_names(names)  # a bad name fails before anything is read
    limits = store.limits
    cap = limits.max_layer_size
    if limits.max_image_size and (not cap or limits.max_image_size < cap):
        cap = limits.max_image_size
    with Workspace(store.tmp_dir) as ws:
        layer_path = ws.path / "layer.tar.gz"
        diff = hashlib.sha256()
        expanded = 0
        try:
            reader = _open_any(src)
            with open(layer_path, "wb") as raw:
                counter = HashingWriter(raw)
                with gzip.GzipFile(fileobj=cast(IO[bytes], counter), mode="wb", mtime=0) as gz:
                    while chunk := reader.read(_CHUNK):
                        expanded += len(chunk)
                        if cap and expanded > cap:
                            # A bomb stops here, before it is read to the end.
                            name = ("max_layer_size" if cap == limits.max_layer_size
                                    else "max_image_size")
                            raise SizeLimitExceeded(
                                f"cannot import {source}: the tarball expands to more than "
                                f"{human_bytes(cap)}, the {name} cap; nothing was kept: if "
                                f"you trust it, raise {name} in {config_file()} (0 removes "
                                "the cap)")
                        diff.update(chunk)
                        gz.write(chunk)
        except OSError as exc:
            if is_no_space(exc):
                raise no_space(exc, store.root, f"importing {source}") from None
            raise ImageError(f"cannot import {source}: corrupt tarball: {exc}") from None
        except (EOFError, lzma.LZMAError, ValueError) as exc:
            raise ImageError(f"cannot import {source}: corrupt tarball: {exc}") from None
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        host = platforms.host_platform()
        config: dict[str, Any] = {
            "created": now, "architecture": host.architecture, "os": "linux",
            "config": container_config,
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff.hexdigest()]},
            "history": [{"created": now, "created_by": f"ipy-oci import {source}",
                         **({"comment": message} if message else {})}],
        }
        if host.variant:
            config["variant"] = host.variant
        config_bytes = canonical_json(config)
        with translate_no_space(store.root, f"importing {source}"):
            (ws.path / "config.json").write_bytes(config_bytes)
        layer_digest = "sha256:" + counter.hash.hexdigest()
        manifest = canonical_json({
            "schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": sha256_digest(config_bytes),
                       "size": len(config_bytes)},
            "layers": [{"mediaType": MEDIA_LAYER_GZIP, "digest": layer_digest,
                        "size": counter.size}],
        })
        paths = {layer_digest: layer_path, sha256_digest(config_bytes): ws.path / "config.json"}
        try:
            return store.import_manifest(manifest, paths.__getitem__, names=names, move=True,
                                         scratch=ws.path, what=source)
        except ImageError as exc:
            raise type(exc)(f"cannot import {source}: {exc}") from None
