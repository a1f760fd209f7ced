"""``diff``: what changed in a container's (or an image's) filesystem, as podman's
``A``/``C``/``D`` lines.

An overlay container's own changes are its upper directory: a whiteout (a 0/0
character device) is a deletion, an opaque directory hides everything below it in
the image, and anything else is added (the image has no such path) or changed
(it differs from the image's). A container in copy mode (storage/rootfs.py) has
no upper directory: its flattened root is compared with its image, both ways.
``diff IMAGE`` shows the image's top layer against the layers below it; ``diff A
B`` compares two whole trees. Nothing is ever followed: entries are read with
``lstat`` relative to directories opened ``O_NOFOLLOW``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipy_oci.userns.enter import in_userns

from ..errors import NoSuchContainer, NoSuchImage, NotFoundError, UsageError
from ..oci.spec_mounts import INIT_PATH
from ..storage.fsops import O_DIR, has_opaque_xattr, is_whiteout, lstat_at, walk_tree

if TYPE_CHECKING:
    from .runtime import Runtime

# Files the runtime itself makes in every container (podman's list, and our init).
_RUNTIME_PATHS = frozenset({"/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf",
                            "/proc", "/run", "/run/notify", "/run/.containerenv",
                            "/run/secrets", "/sys", "/etc/mtab", INIT_PATH})


@dataclass(frozen=True)
class Change:
    kind: str  # "A", "C" or "D"
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def _opaque(dir_fd: int) -> bool:
    return has_opaque_xattr(dir_fd, ".")


def _open_dir(base: Path, parts: Sequence[str]) -> tuple[int | None, bool]:
    """(fd of ``base/parts`` opened without following links, or None; whether a
    directory on the way was opaque, hiding lower layers from there on)."""
    try:
        fd = os.open(base, O_DIR)
    except OSError:
        return None, False
    opaque = False
    for comp in parts:
        try:
            nfd = os.open(comp, O_DIR, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None, opaque
        os.close(fd)
        fd = nfd
        opaque = opaque or _opaque(fd)
    return fd, opaque


class View:
    """The merged tree of layer directories (bottom first), overlay's rules."""

    def __init__(self, layers: Sequence[Path]) -> None:
        self.layers = list(layers)

    def lookup(self, parts: Sequence[str]) -> tuple[os.stat_result, str] | None:
        """(lstat, link target or "") of ``parts``, or None if the tree has no such path."""
        if not parts:
            return None
        for layer in reversed(self.layers):
            fd, opaque = _open_dir(layer, parts[:-1])
            if fd is None:
                # Missing here (or a non-directory on the way: that hides the rest).
                blocked = _blocked(layer, parts[:-1])
                if blocked or opaque:
                    return None
                continue
            try:
                st = lstat_at(fd, parts[-1])
                if st is not None:
                    if is_whiteout(st):
                        return None
                    link = os.readlink(parts[-1], dir_fd=fd) if stat.S_ISLNK(st.st_mode) \
                        else ""
                    return st, link
                if opaque:
                    return None
            finally:
                os.close(fd)
        return None

    def listdir(self, parts: Sequence[str]) -> dict[str, os.stat_result]:
        """The visible entries of directory ``parts``."""
        seen: dict[str, os.stat_result | None] = {}
        for layer in reversed(self.layers):
            fd, opaque = _open_dir(layer, parts)
            if fd is None:
                if _blocked(layer, parts) or opaque:
                    break
                continue
            try:
                for name in os.listdir(fd):
                    if name in seen:
                        continue
                    st = lstat_at(fd, name)
                    seen[name] = None if st is None or is_whiteout(st) else st
                opaque = opaque or _opaque(fd)
            finally:
                os.close(fd)
            if opaque:
                break
        return {k: v for k, v in seen.items() if v is not None}


def _blocked(layer: Path, parts: Sequence[str]) -> bool:
    """True if ``layer`` has a non-directory (or a whiteout) on the way to ``parts``:
    the path below it is gone, whatever lower layers have."""
    try:
        fd = os.open(layer, O_DIR)
    except OSError:
        return False
    try:
        for comp in parts:
            st = lstat_at(fd, comp)
            if st is None:
                return False
            if not stat.S_ISDIR(st.st_mode):
                return True
            nfd = os.open(comp, O_DIR, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return False
    finally:
        os.close(fd)


def _differs(new: os.stat_result, new_link: str, old: tuple[os.stat_result, str]) -> bool:
    o, old_link = old
    if stat.S_IFMT(new.st_mode) != stat.S_IFMT(o.st_mode):
        return True
    if (new.st_mode, new.st_uid, new.st_gid, new.st_rdev) != \
            (o.st_mode, o.st_uid, o.st_gid, o.st_rdev):
        return True
    if stat.S_ISLNK(new.st_mode):
        return new_link != old_link
    if not stat.S_ISDIR(new.st_mode) and new.st_size != o.st_size:
        return True
    return new.st_mtime_ns != o.st_mtime_ns


def _walk(top: Path) -> Iterator[tuple[tuple[str, ...], int, str, os.stat_result]]:
    """``walk_tree`` of the directory ``top`` (nothing if it cannot be opened)."""
    try:
        root = os.open(top, O_DIR)
    except OSError:
        return
    try:
        yield from walk_tree(root)
    finally:
        os.close(root)


@in_userns
def upper_changes(upper: Path, lower: View) -> list[Change]:
    """Changes recorded in an overlay upper directory over ``lower``."""
    out: list[Change] = []
    for parts, fd, name, st in _walk(upper):
        path_parts = [*parts, name]
        path = "/" + "/".join(path_parts)
        old = lower.lookup(path_parts)
        if is_whiteout(st):
            if old is not None:
                out.append(Change("D", path))
            continue
        if old is None:
            out.append(Change("A", path))
            continue
        link = os.readlink(name, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else ""
        opaque = False
        if stat.S_ISDIR(st.st_mode):
            try:
                sub = os.open(name, O_DIR, dir_fd=fd)
                try:
                    opaque = _opaque(sub)
                    mine = set(os.listdir(sub))
                finally:
                    os.close(sub)
            except OSError:
                mine = set()
        if opaque or _differs(st, link, old):
            out.append(Change("C", path))
        if opaque and stat.S_ISDIR(old[0].st_mode):
            for child in sorted(lower.listdir(path_parts)):
                if child not in mine:
                    out.append(Change("D", f"{path}/{child}"))
    return out


@in_userns
def tree_changes(new: View, old: View) -> list[Change]:
    """Every difference between two whole trees (copy mode, two-argument diff)."""
    out: list[Change] = []
    stack: list[tuple[list[str], Iterator[tuple[str, os.stat_result]]]] = [
        ([], iter(new.listdir([]).items()))]
    while stack:
        parts, items = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            old_names = old.listdir(parts)
            new_names = new.listdir(parts)
            for name in old_names:
                if name not in new_names:
                    out.append(Change("D", "/" + "/".join([*parts, name])))
            continue
        name, st = item
        path_parts = [*parts, name]
        path = "/" + "/".join(path_parts)
        before = old.lookup(path_parts)
        if before is None:
            out.append(Change("A", path))
        else:
            now = new.lookup(path_parts)
            if now is not None and _differs(now[0], now[1], before):
                out.append(Change("C", path))
        if stat.S_ISDIR(st.st_mode):
            stack.append((path_parts, iter(new.listdir(path_parts).items())))
    return out


# -- what to compare ---------------------------------------------------------------------------


def _container_view(rt: Runtime, ref: str) -> tuple[View, View, Path | None] | None:
    """(the container's whole tree, its image's, its upper dir if overlay) or None."""
    try:
        ctr = rt.lookup_container(ref)
    except NoSuchContainer:
        return None
    layers = list(rt.images.lookup(ctr.record.image_id).layer_dirs)
    image = View(layers)
    copy_root = ctr.dir / "rootfs"
    if copy_root.is_dir():
        return View([copy_root]), image, None
    upper = ctr.dir / "upper"
    return View([*layers, upper]), image, upper


def _image_view(rt: Runtime, ref: str) -> tuple[View, View, Path | None] | None:
    try:
        img = rt.images.lookup(ref)
    except NoSuchImage:
        return None
    layers = list(img.layer_dirs)
    if not layers:
        return View([]), View([]), None
    return View(layers), View(layers[:-1]), layers[-1]


def _resolve(rt: Runtime, ref: str) -> tuple[View, View, Path | None]:
    found = _container_view(rt, ref) or _image_view(rt, ref)
    if found is None:
        raise NotFoundError(f"{ref} not found: no container or image with that name or ID "
                            "(see 'ipy-oci ps -a' and 'ipy-oci images')")
    return found


def diff(rt: Runtime, ref: str, other: str | None = None) -> list[Change]:
    """``diff REF [OTHER]``: REF's changes against its parent (its image, or for an
    image the layers below its top one), or against OTHER's tree."""
    whole, parent, upper = _resolve(rt, ref)
    if other is not None:
        changes = tree_changes(whole, _resolve(rt, other)[0])
    elif upper is not None:
        changes = upper_changes(upper, parent)
    else:
        changes = tree_changes(whole, parent)
    return [c for c in changes if c.path not in _RUNTIME_PATHS]


def changes_json(changes: Sequence[Change]) -> dict[str, Any]:
    """``--format json``: podman's object (empty kinds left out)."""
    out: dict[str, Any] = {}
    for key, kind in (("changed", "C"), ("added", "A"), ("deleted", "D")):
        paths = [c.path for c in changes if c.kind == kind]
        if paths:
            out[key] = paths
    return out


def check_format(fmt: str | None) -> None:
    if fmt not in (None, "", "json"):
        raise UsageError("only supported value for '--format' is 'json'")


def diff_refs(rt: Runtime, refs: Sequence[str], latest: bool) -> list[str]:
    """podman's argument rules for ``diff``: one or two refs, ``--latest`` the first."""
    out = list(refs)
    if latest:
        from .selection import latest_container

        out.insert(0, latest_container(rt).id)
    if not out:
        raise UsageError("diff requires at least one argument: a container or image "
                         "(or --latest)")
    if len(out) > 2:
        raise UsageError("diff takes at most two arguments: what to compare and what to "
                         "compare it with")
    return out
