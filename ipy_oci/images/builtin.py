"""The built-in image, made from the host's busybox-static, so everything works offline.

It is a real OCI image (one gzip layer, a config, a manifest) written as an OCI
layout and imported like any pulled image. The build is deterministic: fixed
mtimes, sorted entries, fixed gzip header and canonical JSON, so one host busybox
always gives the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import re
import subprocess
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ipy_oci.errors import ImageError
from ipy_oci.images.mediatypes import (
    BUILTIN_NAME,
    MEDIA_CONFIG,
    MEDIA_LAYER_GZIP,
    MEDIA_MANIFEST,
    REF_NAME_ANNOTATION,
)

__all__ = ["BUILTIN_NAME", "build_blobs", "build_layer", "host_platform", "write_layout"]

BUSYBOX_PATH = Path("/bin/busybox")
# Fixed file timestamps keep the digest a function of the busybox binary alone.
EPOCH = 0
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_APPLET = re.compile(r"[A-Za-z0-9_.+\[\]-]+")

_DIRS: tuple[tuple[str, int, int], ...] = (
    # (path, mode, uid/gid)
    ("bin", 0o755, 0),
    ("dev", 0o755, 0),
    ("etc", 0o755, 0),
    ("home", 0o755, 0),
    ("home/user", 0o755, 1000),
    ("proc", 0o555, 0),
    ("root", 0o700, 0),
    ("run", 0o755, 0),
    ("sbin", 0o755, 0),
    ("sys", 0o555, 0),
    ("tmp", 0o1777, 0),
    ("usr", 0o755, 0),
    ("usr/bin", 0o755, 0),
    ("usr/sbin", 0o755, 0),
    ("var", 0o755, 0),
    ("var/tmp", 0o1777, 0),
)

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "user:x:1000:1000:user:/home/user:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n"

_ARCH = {
    "x86_64": ("amd64", None),
    "amd64": ("amd64", None),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", None),
    "i686": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}


def host_platform() -> tuple[str, str | None]:
    """The host's OCI (architecture, variant)."""
    machine = platform.machine()
    return _ARCH.get(machine, (machine, None))


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _require_busybox(busybox: Path) -> None:
    if not busybox.is_file() or not os.access(busybox, os.X_OK):
        raise ImageError(
            f"the built-in image needs a static busybox at {busybox}, which is missing: "
            "install it with 'apt-get install busybox-static'"
        )


def _busybox_output(busybox: Path, *args: str) -> str:
    try:
        proc = subprocess.run(
            [str(busybox), *args], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as exc:
        raise ImageError(f"cannot run {busybox}: {exc}") from exc
    return proc.stdout


def _applet_paths(busybox: Path) -> tuple[list[str], list[str]]:
    """(applet names, their conventional full paths such as ``usr/bin/env``)."""
    names = [n for n in _busybox_output(busybox, "--list").split() if _APPLET.fullmatch(n)]
    if not names:
        raise ImageError(
            f"{busybox} --list printed no applets: it is not a usable busybox; "
            "reinstall it with 'apt-get install --reinstall busybox-static'"
        )
    full = []
    for line in _busybox_output(busybox, "--list-full").split():
        parts = line.split("/")
        if len(parts) >= 2 and all(_APPLET.fullmatch(p) and p not in (".", "..") for p in parts):
            full.append(line)
    return sorted(set(names) - {"busybox", "linuxrc", ".", ".."}), full


def _version(busybox: Path) -> str:
    first = _busybox_output(busybox).splitlines()[:1]
    m = re.match(r"BusyBox (v\S+)", first[0]) if first else None
    return m.group(1) if m else "unknown"


def created_at(busybox: Path = BUSYBOX_PATH) -> str:
    """The image's creation time: the busybox binary's mtime (its package's build
    time), so ``images`` shows a real date and one binary still gives one digest."""
    mtime = int(busybox.stat().st_mtime)
    return datetime.fromtimestamp(max(mtime, 0), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tar_entry(name: str, kind: bytes, mode: int, uid: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = info.gid = uid
    info.uname = info.gname = ""
    info.mtime = EPOCH
    return info


def build_layer(busybox: Path = BUSYBOX_PATH) -> bytes:
    """The uncompressed layer tar (deterministic for a given busybox binary)."""
    _require_busybox(busybox)
    applets, full_paths = _applet_paths(busybox)
    entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    for path, mode, owner in _DIRS:
        entries[path] = (_tar_entry(path, tarfile.DIRTYPE, mode, owner), None)
    entries["bin/busybox"] = (
        _tar_entry("bin/busybox", tarfile.REGTYPE, 0o755),
        busybox.read_bytes(),
    )
    for fname, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
        entries[fname] = (_tar_entry(fname, tarfile.REGTYPE, 0o644), text.encode())
    for applet in applets:
        link = _tar_entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777)
        link.linkname = "busybox"
        entries[link.name] = (link, None)
    # Scripts hard-code paths such as #!/usr/bin/env: add each applet's
    # conventional location too, pointing at the one binary.
    wanted = set(full_paths) | {"usr/bin/env"}
    for path in wanted:
        if path.startswith("bin/") or path in entries:
            continue
        parent = path.rsplit("/", 1)[0]
        if parent not in entries:
            continue  # only directories the image already has
        link = _tar_entry(path, tarfile.SYMTYPE, 0o777)
        link.linkname = "../" * path.count("/") + "bin/busybox"
        entries[path] = (link, None)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(entries):
            info, data = entries[name]
            if data is None:
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass(frozen=True)
class BuiltinBlobs:
    manifest: bytes
    config: bytes
    layer: bytes  # gzip-compressed

    @property
    def manifest_digest(self) -> str:
        return sha256_digest(self.manifest)


def build_blobs(busybox: Path = BUSYBOX_PATH) -> BuiltinBlobs:
    """Manifest, config and layer of the built-in image."""
    tar = build_layer(busybox)
    # mtime=0 and no file name make the gzip header, hence the digest, reproducible.
    layer = gzip.compress(tar, compresslevel=6, mtime=0)
    arch, variant = host_platform()
    version = _version(busybox)
    created = created_at(busybox)
    config: dict[str, Any] = {
        "created": created,
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": [DEFAULT_PATH],
            "Cmd": ["sh"],
            "WorkingDir": "/",
            "Labels": {"io.ipy-oci.builtin": "busybox", "io.ipy-oci.busybox.version": version},
        },
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        "history": [
            {
                "created": created,
                "created_by": f"ipy-oci builtin: host busybox-static {version} from {busybox}",
            }
        ],
    }
    if variant:
        config["variant"] = variant
    config_bytes = canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {
            "mediaType": MEDIA_CONFIG,
            "digest": sha256_digest(config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {"mediaType": MEDIA_LAYER_GZIP, "digest": sha256_digest(layer), "size": len(layer)}
        ],
    }
    return BuiltinBlobs(manifest=canonical_json(manifest), config=config_bytes, layer=layer)


def write_layout(dest: Path, busybox: Path = BUSYBOX_PATH, ref_name: str = BUILTIN_NAME) -> str:
    """Write the built-in image as an OCI image layout in the existing dir ``dest``.

    Returns the manifest digest.
    """
    blobs = build_blobs(busybox)
    blob_dir = dest / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    for data in (blobs.manifest, blobs.config, blobs.layer):
        (blob_dir / sha256_digest(data).split(":", 1)[1]).write_bytes(data)
    (dest / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": MEDIA_MANIFEST,
                "digest": blobs.manifest_digest,
                "size": len(blobs.manifest),
                "annotations": {REF_NAME_ANNOTATION: ref_name},
            }
        ],
    }
    (dest / "index.json").write_bytes(canonical_json(index))
    return blobs.manifest_digest
