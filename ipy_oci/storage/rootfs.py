"""A container's root filesystem: an overlay mount, or a flattened copy.

Layout under a container dir::

    upper/   overlay upperdir (the container's own changes)
    work/    overlay workdir
    merged/  the mount point handed to the OCI runtime
    rootfs/  only in copy mode: all layers flattened (used instead of merged/)
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ipy_oci.config import is_rootless
from ipy_oci.errors import ImageError, OciError, RemoveError
from ipy_oci.storage import mount as _mnt
from ipy_oci.storage.atomic import (
    check_free_space,
    is_no_space,
    no_space,
    rename_noreplace,
    translate_no_space,
)
from ipy_oci.storage.fsops import remove_tree
from ipy_oci.storage.layercopy import copy_layers
from ipy_oci.userns.enter import in_userns

# Errors meaning "overlay cannot work here" (no overlay module, overlay-on-overlay,
# no privilege, too many layers), as opposed to a bug in our arguments.
_FALLBACK_ERRNOS = frozenset(
    {errno.EINVAL, errno.ENODEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.E2BIG}
)
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Characters overlay's option parser treats specially.
_UNSAFE_OPT_CHARS = (":", ",", "\\", "=")

_SUBDIRS = ("merged", "upper", "work", "rootfs", "lower-empty")


@in_userns
def is_mounted(path: Path) -> bool:
    """True when something is mounted exactly at ``path`` (per /proc/self/mountinfo)."""
    return _mnt.is_mounted(path)


def _top_first_unique(layer_dirs: Sequence[Path]) -> list[Path]:
    # overlay refuses a lowerdir listed twice (ELOOP). Keeping only the topmost
    # copy changes nothing visible: every path of the lower copy is also in it.
    seen: set[str] = set()
    out: list[Path] = []
    for layer in reversed(layer_dirs):
        key = os.path.realpath(layer)
        if key not in seen:
            seen.add(key)
            out.append(Path(key))
    return out


@contextlib.contextmanager
def _fd_paths(paths: Sequence[Path]) -> Iterator[list[str]]:
    """``/proc/self/fd/N`` aliases for ``paths``: short, and free of ``:`` and ``,``.

    The kernel copies at most one page of mount options, so a long lowerdir list
    must be shortened; overlay resolves each alias when mounting and then keeps
    its own references, so the fds are closed right after.
    """
    fds: list[int] = []
    try:
        for p in paths:
            fds.append(os.open(p, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        yield [f"/proc/self/fd/{fd}" for fd in fds]
    finally:
        for fd in fds:
            os.close(fd)


def _overlay_options(lowers: Sequence[str], upper: str, work: str) -> str:
    # In a user namespace overlay keeps its metadata in user.overlay.* (userxattr):
    # trusted.* needs real root.
    user = "userxattr," if is_rootless() else ""
    return f"{user}lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"


def _mount_overlay(layers: list[Path], ctr_dir: Path, driver: str = "overlay") -> Path:
    upper, work, merged = ctr_dir / "upper", ctr_dir / "work", ctr_dir / "merged"
    with translate_no_space(ctr_dir, "preparing the container's root filesystem"):
        for d, mode in ((upper, 0o755), (work, 0o700), (merged, 0o755)):
            with contextlib.suppress(FileExistsError):
                d.mkdir()
                os.chmod(d, mode)
        if not layers:
            # overlay needs at least one lower dir; an image with no layers gets an
            # empty one.
            empty = ctr_dir / "lower-empty"
            empty.mkdir(exist_ok=True)
            layers = [empty]
    dirs = [*layers, upper, work]
    plain = [str(p) for p in dirs]
    if driver == "fuse-overlayfs":
        from ipy_oci.storage.rootless_driver import mount_fuse

        mount_fuse(plain[:-2], plain[-2], plain[-1], merged)
        return merged
    data = _overlay_options(plain[:-2], plain[-2], plain[-1])
    needs_alias = len(data.encode()) >= _PAGE_SIZE or any(
        c in s for s in plain for c in _UNSAFE_OPT_CHARS
    )
    if not needs_alias:
        _mnt.mount("overlay", merged, "overlay", 0, data)
    else:
        with _fd_paths(dirs) as aliases:
            data = _overlay_options(aliases[:-2], aliases[-2], aliases[-1])
            if len(data.encode()) >= _PAGE_SIZE:
                raise OSError(errno.E2BIG, f"{len(layers)} layers are too many for overlay")
            _mnt.mount("overlay", merged, "overlay", 0, data)
    try:
        # A private mount: nothing mounted inside it (by the runtime, say) propagates
        # back to the host's peers, and host mount events do not leak in.
        _mnt.mount("none", merged, None, _mnt.MS_PRIVATE, None)
    except BaseException:
        _mnt.unmount_all(merged)
        raise
    return merged


def _drop_empty_overlay_dirs(ctr_dir: Path) -> None:
    for name in ("merged", "upper", "lower-empty"):
        with contextlib.suppress(OSError):
            (ctr_dir / name).rmdir()
    remove_tree(ctr_dir / "work", ignore_errors=True)


def _copy_rootfs(layer_dirs: Sequence[Path], ctr_dir: Path) -> Path:
    rootfs = ctr_dir / "rootfs"
    # Build beside the final name and rename, so a crash never leaves a partial
    # rootfs that a restart would take for a finished one.
    with translate_no_space(ctr_dir, "copying the container's root filesystem"):
        tmp = Path(tempfile.mkdtemp(prefix=".rootfs.", suffix=".tmp", dir=ctr_dir))
    try:
        os.chmod(tmp, 0o755)
        try:
            copy_layers(list(layer_dirs), tmp)
        except RecursionError:
            raise ImageError(
                f"cannot build a copied rootfs in {ctr_dir}: the image nests directories "
                "too deep to copy; run it where overlayfs can be mounted") from None
        if not rename_noreplace(tmp, rootfs):
            remove_tree(tmp)
    except OSError as exc:
        remove_tree(tmp, ignore_errors=True)
        if is_no_space(exc):
            raise no_space(exc, ctr_dir, "copying the container's root filesystem") from None
        raise ImageError(f"cannot build a copied rootfs in {ctr_dir}: {exc}") from exc
    except BaseException:
        remove_tree(tmp, ignore_errors=True)
        raise
    return rootfs


@in_userns
def mount_rootfs(layer_dirs: Sequence[Path], ctr_dir: Path, *, force_copy: bool = False,
                 min_free: int | None = None) -> Path:
    """Give a container its rootfs and return the directory to use as root.

    ``layer_dirs`` are extracted layers, bottom first. Normally an overlay is
    mounted at ``ctr_dir/merged``; where overlay cannot be used (or with
    ``force_copy``) the layers are flattened into ``ctr_dir/rootfs``.
    Idempotent: an existing mount or copied rootfs is returned as is, so a
    restarted container keeps its changes.

    A new rootfs needs ``min_free`` bytes free on the filesystem (default: the
    ``min_free_space`` setting), else StorageFull: a container that starts on a
    full disk fails writing its first file, and then its state cannot even be
    cleaned up (SQLite needs room to delete a row).
    """
    with translate_no_space(ctr_dir.parent, "preparing a container's root filesystem"):
        ctr_dir.mkdir(parents=True, exist_ok=True)
    rootfs, merged = ctr_dir / "rootfs", ctr_dir / "merged"
    if rootfs.is_dir():
        return rootfs
    if is_mounted(merged):
        return merged
    if min_free is None:
        from ipy_oci.config import Config

        min_free = Config.load().min_free_space
    check_free_space(ctr_dir, 0, min_free, f"the root filesystem of container {ctr_dir.name[:12]}")
    driver = "overlay"
    if is_rootless():
        from ipy_oci.storage.rootless_driver import choose

        # <root>/containers/<id>: the store's choice (storage/rootless_driver.py).
        driver = choose(ctr_dir.parent.parent)
        force_copy = force_copy or driver == "copy"
    if not force_copy:
        try:
            return _mount_overlay(_top_first_unique(layer_dirs), ctr_dir, driver)
        except OSError as exc:
            upper = ctr_dir / "upper"
            has_changes = upper.is_dir() and any(upper.iterdir())
            if exc.errno not in _FALLBACK_ERRNOS or has_changes:
                # Falling back with changes in upper/ would silently lose them.
                raise OciError(
                    f"cannot mount the overlay rootfs at {merged}: {exc.strerror} "
                    "(check that every image layer exists and the kernel has overlayfs)"
                ) from exc
            _drop_empty_overlay_dirs(ctr_dir)
    return _copy_rootfs(layer_dirs, ctr_dir)


@in_userns
def unmount_rootfs(ctr_dir: Path) -> None:
    """Unmount ``ctr_dir/merged``; no error if it is not mounted. Idempotent."""
    merged = ctr_dir / "merged"
    try:
        _mnt.unmount_all(merged)
    except OSError as exc:
        raise OciError(f"cannot unmount the rootfs at {merged}: {exc.strerror}") from exc


@in_userns
def remove_rootfs(ctr_dir: Path) -> None:
    """Unmount, then delete upper/work/merged/rootfs (the container's changes)."""
    unmount_rootfs(ctr_dir)
    if is_mounted(ctr_dir / "merged"):
        # Never delete through a live mount: that would reach into the layers' view.
        raise OciError(f"the rootfs at {ctr_dir / 'merged'} is still mounted; not removing it")
    # upper/ and rootfs/ hold whatever the container wrote (trees thousands of levels
    # deep, read-only dirs): the iterative remover takes them, symlinks never followed.
    problems: list[str] = []
    for name in _SUBDIRS:
        problems += remove_tree(ctr_dir / name, ignore_errors=True)
    # Leftovers of a copy interrupted by a crash.
    with contextlib.suppress(FileNotFoundError):
        for leftover in ctr_dir.glob(".rootfs.*.tmp"):
            problems += remove_tree(leftover, ignore_errors=True)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RemoveError(f"cannot remove the root filesystem of {ctr_dir} completely: "
                          f"{problems[0]}{more}")
