"""``build``: a Containerfile made into an image, through buildah.

The base images come from the ipy-oci store (the built-in busybox, images pulled
or built before; missing ones are pulled into the store as ``--pull`` says, so
they show in ``images`` afterwards, as with podman), are copied into buildah's own
storage, and buildah builds offline. The result is exported as an OCI layout and
imported into the store with the ``-t`` names. buildah's storage
(``<root>/buildah``) is a cache: base images and, with ``--layers``, one image per
step; removing that directory when no build runs only costs cache hits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ..errors import ImageError, NoSuchImage, NotFoundError, UsageError
from ..images import refs
from .events import emit
from .images import PULL_POLICIES, PullPolicy, ensure_image, image_store

if TYPE_CHECKING:
    from ..images.buildah import BuildahStorage
    from ..images.store import Image, ImageStore
    from .runtime import Runtime

__all__ = ["NETWORKS", "OutputFn", "build_image", "buildah_storage", "default_containerfile"]

OutputFn = Callable[[int, bytes], None]  # (1 stdout / 2 stderr, bytes)
NETWORKS = ("host", "none")


def buildah_storage(rt: Runtime) -> BuildahStorage:
    from ..images.buildah import BuildahStorage

    return BuildahStorage(rt.root / "buildah", rt.runroot / "buildah")


def default_containerfile(context: Path) -> Path:
    """CONTEXT/Containerfile, else CONTEXT/Dockerfile."""
    for name in ("Containerfile", "Dockerfile"):
        if (context / name).is_file():
            return context / name
    raise UsageError(f"no Containerfile or Dockerfile in {context}: add one, or name it "
                     "with -f FILE")


def _check(context: Path, tags: Sequence[str], build_args: Mapping[str, str],
           pull: str, network: str | None) -> tuple[str, PullPolicy]:
    from ..images.store import ImageStore

    if not context.exists():
        raise UsageError(f"build context {context} does not exist: give a directory")
    if not context.is_dir():
        raise UsageError(f"build context {context} is not a directory (URLs and archives "
                         "are not supported): give a directory")
    if pull not in PULL_POLICIES:
        raise UsageError(f"invalid --pull {pull!r}: use missing, always or never")
    net = network or "host"
    if net not in NETWORKS:
        raise UsageError(f"invalid --network {network!r} for a build: use host (the "
                         "default: RUN steps share the host's network) or none")
    for key in build_args:
        if not key or "=" in key:
            raise UsageError(f"invalid --build-arg {key!r}: use KEY=VALUE")
    try:
        ImageStore.qualify_names(tags)
    except ImageError as exc:
        raise UsageError(f"invalid -t/--tag: {exc}") from None
    return net, cast(PullPolicy, pull)


class _Lines:
    """A text stream for the pull progress printer, written to ``on_output``."""

    def __init__(self, on_output: OutputFn | None) -> None:
        self.on_output = on_output

    def write(self, text: str) -> int:
        if self.on_output is not None:
            self.on_output(2, text.encode())
        return len(text)

    def flush(self) -> None:
        return None


def _store_dir(store: ImageStore, img: Image, dest: Path) -> None:
    """One store image in skopeo's ``dir:`` format (any manifest type, where an OCI
    layout takes OCI manifests only), its blobs linked to the store's own."""
    manifest = store.blob_path(img.digest).read_bytes()
    try:
        parsed = json.loads(manifest)
        descs = [parsed["config"], *(parsed.get("layers") or [])]
        digests = [str(d["digest"]) for d in descs]
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageError(f"image {img.id[:12]} has a malformed manifest ({exc}): remove "
                         "it and pull it again") from None
    dest.mkdir()
    (dest / "manifest.json").write_bytes(manifest)
    (dest / "version").write_text("Directory Transport Version: 1.1\n")
    for digest in digests:
        blob = store.blob_path(digest)
        with contextlib.suppress(FileExistsError):  # a blob listed twice
            os.symlink(blob, dest / blob.name)


def _seed_name(ref: str, img: Image) -> str:
    """The name buildah finds ``FROM ref`` by: short names on localhost/ (looked up
    first), IDs under a name of their own (buildah also finds the image by its ID)."""
    text = ref.strip()
    if refs.HEX64.fullmatch(text) or text.startswith("sha256:") or "@" in text:
        return f"localhost/ipy-oci-base:{img.id[:12]}"
    try:
        parsed = refs.parse(text)
    except ImageError:
        return f"localhost/ipy-oci-base:{img.id[:12]}"  # an ID prefix
    return str(parsed.qualified(refs.LOCALHOST) if parsed.is_short else parsed)


def _seed(rt: Runtime, storage: BuildahStorage, bases: Sequence[str], policy: PullPolicy,
          scratch: Path, tmp: Path, on_output: OutputFn | None) -> None:
    from ..images.workspace import gc_shared
    from .views import LinePrinter

    store = image_store(rt)
    printer = LinePrinter(_Lines(on_output))  # type: ignore[arg-type]
    for i, ref in enumerate(bases):
        try:
            img = ensure_image(rt, ref, policy, progress=printer)
        except NoSuchImage as exc:
            if policy != "never":
                raise
            raise NotFoundError(f"{exc}; the build has --pull=never: pull it first "
                                f"('ipy-oci pull {ref}') or build with --pull=missing"
                                ) from None
        source = scratch / f"base{i}"
        with gc_shared(store.dir):
            _store_dir(store, img, source)
            storage.seed(source, _seed_name(ref, img), f"FROM {ref}", tmp)


@contextlib.contextmanager
def _no_sigint() -> Iterator[None]:
    """Cleanup that a second Ctrl-C must not cut short (main thread only)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def build_image(rt: Runtime, context: Path, *, containerfile: Path | None = None,
                containerfile_text: str | None = None, tags: Sequence[str] = (),
                build_args: Mapping[str, str] | None = None, target: str | None = None,
                no_cache: bool = False, layers: bool = True, pull: str = "missing",
                network: str | None = None, on_output: OutputFn | None = None) -> str:
    """Build the image and return its ID (64 hex). ``on_output(stream, bytes)`` gets
    buildah's output (1: stdout, 2: stderr) live; ``containerfile_text`` (a notebook
    cell) stands for the file. Nothing of the build is left: buildah's working
    containers, its temp dirs and the exported layout go, also when interrupted."""
    from ..config import is_rootless
    from ..images.buildah import BuildahBuild, base_images, parse_stages, run_build
    from ..images.workspace import Workspace

    if is_rootless():
        # buildah would make a user namespace of its own, apart from the one the
        # store's layers live in: not wired up yet.
        from ..errors import ConfigError

        raise ConfigError("ipy-oci build does not run rootless yet: build as root, or "
                          "with 'buildah bud' as this user and bring the image in with "
                          "'buildah push IMAGE oci-archive:FILE' then 'ipy-oci load -i FILE'")
    args = dict(build_args or {})
    context = Path(os.path.abspath(context))
    net, policy = _check(context, tags, args, pull, network)
    if containerfile_text is None:
        cf = Path(os.path.abspath(containerfile)) if containerfile \
            else default_containerfile(context)
        try:
            text = cf.read_text()
        except OSError as exc:
            raise UsageError(f"cannot read the Containerfile {cf}: {exc.strerror}") from None
    else:
        text = containerfile_text
    bases = base_images(parse_stages(text, args), target)
    storage = buildah_storage(rt)
    store = image_store(rt)

    def waiting() -> None:
        if on_output is not None:
            on_output(2, b"waiting for another build on this storage root to finish\n")

    with storage.locked(waiting), Workspace(store.tmp_dir) as ws:
        tmp = ws.path / "tmp"
        tmp.mkdir()
        try:
            storage.prepare()
            if containerfile_text is not None:
                cf = ws.path / "Containerfile"
                cf.write_text(containerfile_text)
            _seed(rt, storage, bases, policy, ws.path, tmp, on_output)
            job = BuildahBuild(containerfile=cf, context=context, build_args=args,
                               target=target, no_cache=no_cache, layers=layers,
                               network=net)
            built = run_build(job.argv(storage), storage.env(tmp), on_output)
            layout = ws.path / "out"
            storage.push_layout(built, layout, "build", tmp)
            img = store.add_image_from_layout(layout, ref="build", names=list(tags))
            if not layers:  # nothing to reuse: keep only the base images
                storage.remove_image(built, tmp)
        finally:
            with _no_sigint():
                storage.remove_containers(tmp)
    emit(rt, "image", "build", id=img.id, name=img.names[0] if img.names else img.id)
    if on_output is not None:
        for name in img.names:
            if name in store.qualify_names(tags):
                on_output(1, f"Successfully tagged {name}\n".encode())
    return img.id

