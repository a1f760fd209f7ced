"""Test images built from scratch as OCI layouts, and pushed with skopeo.

Nothing here comes from outside: layers are tarballs made in memory (the
runnable ones carry the host's static busybox), configs and manifests are
written by hand, and ``skopeo copy`` pushes them to the test registry.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import Entry, dir_, reg, sym, tar_bytes

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
BUSYBOX = Path("/bin/busybox")

def busybox_entries() -> list[Entry]:
    """Enough of a userland to run shell checks in a container."""
    out = [dir_("bin"), reg("bin/busybox", BUSYBOX.read_bytes(), 0o755)]
    out += [sym(f"bin/{n}", "busybox") for n in ("sh", "ls", "cat", "test", "echo", "find")]
    return out


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Layer:
    tar: bytes
    compression: str = "gzip"  # gzip | zstd | none
    blob_override: bytes | None = None  # a blob that is not what it claims

    @property
    def blob(self) -> bytes:
        if self.blob_override is not None:
            return self.blob_override
        if self.compression == "gzip":
            return gzip.compress(self.tar, mtime=0)
        if self.compression == "zstd":
            import zstandard

            return zstandard.ZstdCompressor().compress(self.tar)
        return self.tar

    @property
    def media_type(self) -> str:
        suffix = {"gzip": "+gzip", "zstd": "+zstd", "none": ""}[self.compression]
        return "application/vnd.oci.image.layer.v1.tar" + suffix

    @property
    def diff_id(self) -> str:
        return sha(self.tar)


def layer(entries: Sequence[Entry], compression: str = "gzip") -> Layer:
    return Layer(tar_bytes(entries), compression)


@dataclass
class Image:
    manifest: bytes
    config: bytes
    blobs: list[bytes]  # config and layers

    @property
    def digest(self) -> str:
        return sha(self.manifest)

    @property
    def config_digest(self) -> str:
        return sha(self.config)


def image(layers: Sequence[Layer], *, arch: str = "amd64", variant: str | None = None,
          cmd: Sequence[str] = ("/bin/sh",), label: str = "",
          diff_ids: Sequence[str] | None = None) -> Image:
    config: dict[str, Any] = {
        "created": "2024-05-06T07:08:09Z", "architecture": arch, "os": "linux",
        "config": {"Cmd": list(cmd), "Env": ["PATH=/bin"], "Labels": {"test": label}},
        "rootfs": {"type": "layers",
                   "diff_ids": list(diff_ids) if diff_ids else [ly.diff_id for ly in layers]},
        "history": [{"created_by": f"regimages {label}"}],
    }
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha(config_bytes),
                   "size": len(config_bytes)},
        "layers": [{"mediaType": ly.media_type, "digest": sha(ly.blob), "size": len(ly.blob)}
                   for ly in layers],
    }
    return Image(json.dumps(manifest, sort_keys=True).encode(), config_bytes,
                 [config_bytes, *(ly.blob for ly in layers)])


def _write_blobs(layout: Path, blobs: Sequence[bytes]) -> None:
    d = layout / "blobs" / "sha256"
    d.mkdir(parents=True, exist_ok=True)
    for b in blobs:
        (d / hashlib.sha256(b).hexdigest()).write_bytes(b)


def write_layout(layout: Path, tag: str, img: Image) -> Path:
    _write_blobs(layout, [*img.blobs, img.manifest])
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": img.digest, "size": len(img.manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    (layout / "index.json").write_text(json.dumps(index))
    return layout


def write_index_layout(layout: Path, tag: str,
                       images: Sequence[tuple[Image, dict[str, str]]]) -> bytes:
    """A layout whose ``tag`` is an image index of ``images`` (each with its platform)."""
    for img, _plat in images:
        _write_blobs(layout, [*img.blobs, img.manifest])
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": img.digest, "size": len(img.manifest),
         "platform": plat} for img, plat in images]}, sort_keys=True).encode()
    _write_blobs(layout, [index])
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_INDEX, "digest": sha(index), "size": len(index),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return index


def push(layout: Path, tag: str, dest: str, *, creds: str | None = None,
         all_images: bool = False, fmt: str | None = None) -> None:
    """``skopeo copy oci:LAYOUT:TAG docker://DEST`` over plain HTTP."""
    argv = ["skopeo", "copy", "-q", "--dest-tls-verify=false", "--preserve-digests"]
    if creds:
        argv.append(f"--dest-creds={creds}")
    if all_images:
        argv.append("--all")
    if fmt:
        argv = [a for a in argv if a != "--preserve-digests"] + [f"--format={fmt}"]
    subprocess.run([*argv, f"oci:{layout}:{tag}", f"docker://{dest}"], check=True,
                   capture_output=True, timeout=120)
