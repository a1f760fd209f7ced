"""OCI media types, annotation keys and well-known names (import-light constants)."""

from __future__ import annotations

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

MANIFEST_TYPES = (MEDIA_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (MEDIA_INDEX, DOCKER_MANIFEST_LIST)

# The image's name in index.json (OCI image layout).
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
# Our own: the image ID (config digest hex), so ID lookups need not open manifests.
ID_ANNOTATION = "io.ipy-oci.image.id"

# The image built from the host's busybox-static (see images/builtin.py).
BUILTIN_NAME = "localhost/busybox:latest"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)

# Ours: the names under which a registry knows this image (repo@digest),
# space-separated, as podman's RepoDigests.
REPO_DIGESTS_ANNOTATION = "io.ipy-oci.image.repo-digests"
