"""fd-relative filesystem primitives that never follow a symlink.

Layer extraction and the rootfs copy fallback write attacker-chosen paths. Every
path is walked one component at a time with ``openat(O_NOFOLLOW)`` from a directory
fd we opened ourselves, so a symlink planted by a layer can never redirect a write
outside the tree, whatever its target says.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import shlex
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial

from ipy_oci.config import is_rootless
from ipy_oci.errors import RemoveError
from ipy_oci.userns.enter import in_userns

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

# Overlay's own metadata; a layer must never smuggle these in (redirect/metacopy
# xattrs would make overlay read files from other paths).
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
OPAQUE_XATTR = "trusted.overlay.opaque"
# In a user namespace trusted.* cannot be set: overlay mounted with ``userxattr``
# reads user.overlay.* instead (rootless stores).
USER_OPAQUE_XATTR = "user.overlay.opaque"
FUSE_OPAQUE_XATTR = "user.fuseoverlayfs.opaque"


def opaque_xattr() -> str:
    """The opaque-directory marker this process's stores use."""
    return USER_OPAQUE_XATTR if is_rootless() else OPAQUE_XATTR


@functools.cache
def single_id_namespace() -> bool:
    """True inside a user namespace that maps one uid (no subordinate ranges)."""
    try:
        with open("/proc/self/uid_map", "rb") as fh:
            lines = [ln.split() for ln in fh if ln.strip()]
    except OSError:
        return False
    return len(lines) == 1 and lines[0][2] != b"4294967295"


def _unmapped(exc: OSError) -> bool:
    # A single-id namespace cannot give files other owners: like podman's
    # ignore_chown_errors, they stay root's (the user was warned when it was made).
    return exc.errno == errno.EINVAL and single_id_namespace()


def fchown(fd: int, uid: int, gid: int) -> None:
    """os.fchown, tolerating ids a single-id user namespace cannot map."""
    try:
        os.fchown(fd, uid, gid)
    except OSError as exc:
        if not _unmapped(exc):
            raise


def lchown_at(name: str, uid: int, gid: int, dir_fd: int | None) -> None:
    """os.chown without following links, tolerating unmappable ids (see fchown)."""
    try:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if not _unmapped(exc):
            raise


def mknod_device(name: str, mode: int, dev: int, dir_fd: int) -> None:
    """mknod; in a user namespace device nodes are refused, and skipped (as podman
    does): runc binds the standard ones into every container."""
    try:
        os.mknod(name, mode, dev, dir_fd=dir_fd)
    except PermissionError:
        if not is_rootless():
            raise


class UnsafePath(Exception):
    """A path that would leave the tree or pass through a symlink."""


def split_rel(path: str) -> list[str]:
    """Split a tar-style path into components, rejecting ``..``.

    A leading ``/`` and ``.`` components are dropped (as docker does): the result
    is always relative to the tree root.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath("path has a '..' component")
    return parts


def open_dir_at(root_fd: int, parts: Sequence[str], *, create: bool) -> int | None:
    """Open the directory ``parts`` below ``root_fd`` without following symlinks.

    Missing components are created (mode 0755) when ``create`` is set, otherwise
    None is returned. The caller closes the returned fd.
    """
    fd = os.dup(root_fd)
    try:
        for comp in parts:
            nfd = open_child_dir(fd, comp, create=create)
            if nfd is None:
                os.close(fd)
                return None
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_child_dir(fd: int, comp: str, *, create: bool) -> int | None:
    """Open (or with ``create`` make) the directory ``comp`` in ``fd``, never
    following a symlink; None if it is missing and not to be created."""
    try:
        return os.open(comp, O_DIR, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            return None
        made = True
        try:
            os.mkdir(comp, 0o755, dir_fd=fd)
        except FileExistsError:
            made = False
        nfd = _open_checked(fd, comp)
        if made:
            os.fchmod(nfd, 0o755)  # independent of the umask
        return nfd
    except OSError as exc:
        raise _unsafe(fd, comp, exc) from None


def _open_checked(fd: int, comp: str) -> int:
    try:
        return os.open(comp, O_DIR, dir_fd=fd)
    except OSError as exc:
        raise _unsafe(fd, comp, exc) from None


def _unsafe(fd: int, comp: str, exc: OSError) -> BaseException:
    if exc.errno == errno.ELOOP:
        return UnsafePath(f"parent component {comp!r} is a symlink")
    if exc.errno == errno.ENOTDIR:
        if _is_symlink_at(fd, comp):
            return UnsafePath(f"parent component {comp!r} is a symlink")
        return UnsafePath(f"parent component {comp!r} is not a directory")
    return exc


def _common_prefix(a: list[str], b: list[str]) -> int:
    """How many leading components ``a`` and ``b`` share (slices compare in C: a
    binary search keeps this fast for paths thousands of components long)."""
    limit = min(len(a), len(b))
    if a[:limit] == b[:limit]:
        return limit
    lo, hi = 0, limit  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo


class DirCursor:
    """Opens directories below a tree's root, reusing what the previous call opened.

    Tar entries come in tree order, so each one's parent mostly shares a long
    prefix with the last one's: only the differing components are opened, and a
    layer thousands of levels deep extracts in linear time, not quadratic. At
    most ``max_fds`` directory fds are kept (the deepest ones); :meth:`reset`
    after anything below the root was removed or replaced.
    """

    def __init__(self, root_fd: int, max_fds: int = 64) -> None:
        self.root_fd = root_fd
        self.max_fds = max_fds
        self._names: list[str] = []
        self._fds: list[int | None] = []

    def open(self, parts: Sequence[str], *, create: bool) -> int | None:
        """A new fd of the directory ``parts`` (the caller closes it), as
        :func:`open_dir_at` would return."""
        self._truncate(_common_prefix(self._names, list(parts)))
        while self._fds and self._fds[-1] is None:
            self._truncate(len(self._fds) - 1)  # its fd was dropped: opened again below
        base = self._fds[-1] if self._fds else self.root_fd
        assert base is not None
        for comp in parts[len(self._names):]:
            nfd = open_child_dir(base, comp, create=create)
            if nfd is None:
                return None
            self._names.append(comp)
            self._fds.append(nfd)
            if len(self._fds) > self.max_fds:
                old = self._fds[-self.max_fds - 1]
                if old is not None:
                    os.close(old)
                    self._fds[-self.max_fds - 1] = None
            base = nfd
        return os.dup(base)

    def _truncate(self, n: int) -> None:
        while len(self._names) > n:
            self._names.pop()
            fd = self._fds.pop()
            if fd is not None:
                os.close(fd)

    def reset(self) -> None:
        self._truncate(0)


def _is_symlink_at(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove_at(dir_fd: int, name: str) -> None:
    """Remove ``name`` (a whole tree if it is a directory); no error if missing."""
    st = lstat_at(dir_fd, name)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        remove_tree(name, dir_fd=dir_fd)
    else:
        os.unlink(name, dir_fd=dir_fd)


# -- removing trees we do not control ----------------------------------------------------------
#
# Container upper dirs, layers and scratch dirs hold whatever an image or a container
# put there: trees thousands of levels deep (shutil.rmtree recurses once per level and
# hits RecursionError near 1,000), read-only directories, immutable files, symlinks
# meant to redirect the walk. ``remove_tree`` walks iteratively with one directory fd
# open at a time (a deep tree cannot exhaust fds either), goes back up through ``..``
# checked against the inode it came from, never follows a symlink, never crosses into
# another filesystem, and says which path stayed and why.

_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC

_HINTS = {
    errno.EPERM: " (is it immutable or append-only? check with 'lsattr -d {path}', "
                 "clear with 'chattr -i -a {path}', then remove it again)",
    errno.EROFS: " (the filesystem is mounted read-only)",
    errno.EBUSY: " (it is in use, probably as a mount point: unmount it first)",
    errno.EACCES: " (permission denied even after making its directory writable)",
}


# A path for messages: spelled out, or a function that spells it out when needed.
Where = str | Callable[[], str]


@dataclass
class _Frame:
    name: str
    dev: int
    ino: int
    names: list[str]
    failed: bool = False


class _TreeRemover:
    def __init__(self, top_path: str) -> None:
        self.top_path = top_path  # for messages only: never used to reach a file
        self.problems: list[str] = []

    def path(self, stack: Sequence[_Frame], name: str | None = None) -> str:
        parts = [f.name for f in stack[1:]]
        if name is not None:
            parts.append(name)
        return "/".join([self.top_path, *parts])

    def fail(self, where: Where, exc: OSError | str) -> None:
        # Paths are spelled out only for a message: building each one on the way
        # would cost O(depth) per entry.
        path = where if isinstance(where, str) else where()
        if isinstance(exc, OSError):
            reason = (exc.strerror or str(exc)) + _HINTS.get(exc.errno or 0, "").format(
                path=shlex.quote(path))
        else:
            reason = exc
        self.problems.append(f"{path}: {reason}")

    def run(self, parent_fd: int, name: str) -> None:
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.fail(self.top_path, exc)
            return
        if not stat.S_ISDIR(st.st_mode):
            self._unlink(parent_fd, name, self.top_path)
            return
        mounted = _mounts_below(parent_fd, name)
        if mounted:
            self.fail(mounted[0], "a filesystem is mounted there: unmount it first "
                                  "(nothing was removed)")
            return
        cur = self._open_dir(parent_fd, name, st, self.top_path)
        if cur is None:
            return
        try:
            names = os.listdir(cur)
        except OSError as exc:
            os.close(cur)
            self.fail(self.top_path, exc)
            return
        stack = [_Frame(name, st.st_dev, st.st_ino, names)]
        while stack:
            frame = stack[-1]
            if frame.names:
                child = frame.names.pop()
                nfd = self._step(cur, frame, child, stack)
                if nfd is not None:
                    try:
                        names = os.listdir(nfd)
                    except OSError as exc:
                        os.close(nfd)
                        self.fail(partial(self.path, stack, child), exc)
                        frame.failed = True
                        continue
                    cst = os.fstat(nfd)
                    os.close(cur)
                    cur = nfd
                    stack.append(_Frame(child, cst.st_dev, cst.st_ino, names))
                continue
            # Every entry is handled: go back up, then remove the directory itself.
            stack.pop()
            if stack:
                try:
                    up = os.open("..", O_DIR, dir_fd=cur)
                except OSError as exc:
                    os.close(cur)
                    self.fail(partial(self.path, stack), exc)
                    return
                ust = os.fstat(up)
                if (ust.st_dev, ust.st_ino) != (stack[-1].dev, stack[-1].ino):
                    os.close(up)
                    os.close(cur)
                    self.fail(partial(self.path, stack), "it was moved while being removed")
                    return
            else:
                up = parent_fd
            os.close(cur)
            cur = up
            if frame.failed:
                # What stayed inside was reported already; the dir cannot go.
                if stack:
                    stack[-1].failed = True
                continue
            where: Where = (partial(self.path, stack, frame.name) if stack
                            else self.top_path)
            if not self._rmdir(cur, frame.name, where) and stack:
                stack[-1].failed = True

    def _step(self, cur: int, frame: _Frame, child: str, stack: list[_Frame]) -> int | None:
        """Remove a non-directory ``child`` of ``cur``, or open it if it is a directory."""
        try:
            st = os.stat(child, dir_fd=cur, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.fail(partial(self.path, stack, child), exc)
            frame.failed = True
            return None
        if not stat.S_ISDIR(st.st_mode):
            if not self._unlink(cur, child, partial(self.path, stack, child)):
                frame.failed = True
            return None
        if st.st_dev != frame.dev:
            self.fail(partial(self.path, stack, child), "another filesystem is mounted there: "
                                               "unmount it first")
            frame.failed = True
            return None
        before = len(self.problems)
        nfd = self._open_dir(cur, child, st, partial(self.path, stack, child))
        if len(self.problems) > before:
            frame.failed = True
        return nfd

    def _open_dir(self, parent: int, name: str, st: os.stat_result, path: Where) -> int | None:
        for attempt in range(2):
            try:
                fd = os.open(name, O_DIR, dir_fd=parent)
            except PermissionError as exc:
                # A directory we may not read or search (not root): make it ours.
                if attempt or not _chmod_dir_at(parent, name, st):
                    self.fail(path, exc)
                    return None
                continue
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    # Replaced by a symlink or a file meanwhile: remove that, never follow.
                    self._unlink(parent, name, path)
                    return None
                if exc.errno == errno.ENOENT:
                    return None
                self.fail(path, exc)
                return None
            fst = os.fstat(fd)
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                os.close(fd)
                self.fail(path, "it was replaced while being removed")
                return None
            return fd
        return None

    def _unlink(self, dir_fd: int, name: str, path: Where) -> bool:
        return self._remove(os.unlink, dir_fd, name, path)

    def _rmdir(self, dir_fd: int, name: str, path: Where) -> bool:
        return self._remove(os.rmdir, dir_fd, name, path)

    def _remove(self, op: Callable[..., None], dir_fd: int, name: str, path: Where) -> bool:
        try:
            op(name, dir_fd=dir_fd)
            return True
        except FileNotFoundError:
            return True
        except PermissionError as exc:
            if exc.errno != errno.EACCES:
                self.fail(path, exc)  # EPERM: immutable or append-only
                return False
        except OSError as exc:
            self.fail(path, exc)
            return False
        # EACCES: the directory holding it is read-only to us: make it writable, retry.
        try:
            os.fchmod(dir_fd, stat.S_IMODE(os.fstat(dir_fd).st_mode) | 0o700)
            op(name, dir_fd=dir_fd)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            self.fail(path, exc)
            return False


def _chmod_dir_at(parent: int, name: str, st: os.stat_result) -> bool:
    """Give the owner rwx on the directory ``name`` without following a symlink."""
    try:
        fd = os.open(name, _O_PATH, dir_fd=parent)
    except OSError:
        return False
    try:
        fst = os.fstat(fd)
        if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISDIR(fst.st_mode):
            return False
        # The magic link names the inode we hold, whatever happens to the name.
        os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(fst.st_mode) | 0o700)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _mounts_below(parent_fd: int, name: str) -> list[str]:
    """Mount points at or under ``name`` in ``parent_fd`` (bind mounts of the same
    filesystem included, which a device check would miss)."""
    try:
        base = os.path.join(os.readlink(f"/proc/self/fd/{parent_fd}"), name)
        with open("/proc/self/mountinfo", "rb") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    found = []
    prefix = base.rstrip("/") + "/"
    for line in lines:
        fields = line.split(b" ", 5)
        if len(fields) < 5:
            continue
        mp = _unescape_mount(os.fsdecode(fields[4]))
        if mp == base or mp.startswith(prefix):
            found.append(mp)
    return found


def _unescape_mount(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


@in_userns
def remove_tree(path: str | os.PathLike[str], *, dir_fd: int | None = None,
                ignore_errors: bool = False) -> list[str]:
    """Remove ``path`` and everything below it; no error if it does not exist.

    ``path`` is relative to ``dir_fd`` when one is given. A symlink or file at
    ``path`` is removed itself; nothing is ever followed. Read-only directories
    are made writable first; what cannot be removed (an immutable file, a mount
    point) is skipped and the rest removed. Then a :class:`RemoveError` names the
    first path that stayed and why, unless ``ignore_errors``: then the problems
    are returned (one "path: reason" each) for the caller to log.
    """
    text = os.fspath(path)
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"refusing to remove {text!r}")
    if dir_fd is None:
        start = "/" if text.startswith("/") else "."
        base_fd = os.open(start, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        shown = text
    else:
        base_fd = os.dup(dir_fd)
        shown = proc_path_name(dir_fd, text)
    try:
        # Given a path, its parents are ours (the storage root) and may be reached
        # through symlinks (/tmp -> ...); below a dir_fd (a tree we do not control)
        # no component is ever followed. Nothing below the last parent ever is.
        if dir_fd is None:
            try:
                parent_fd = _open_parents(base_fd, parts[:-1])
            except (FileNotFoundError, NotADirectoryError):
                return []  # nothing there to remove
        else:
            opened = open_dir_at(base_fd, parts[:-1], create=False)
            if opened is None:
                return []
            parent_fd = opened
        try:
            remover = _TreeRemover(shown)
            remover.run(parent_fd, parts[-1])
        finally:
            os.close(parent_fd)
    finally:
        os.close(base_fd)
    if remover.problems and not ignore_errors:
        more = len(remover.problems) - 1
        raise RemoveError(f"cannot remove {shown} completely: {remover.problems[0]}"
                          + (f" (and {more} more)" if more else ""))
    return remover.problems


def _open_parents(base_fd: int, parts: Sequence[str]) -> int:
    fd = os.dup(base_fd)
    for comp in parts:
        try:
            nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
        fd = nfd
    return fd


def proc_path_name(dir_fd: int, name: str) -> str:
    """A readable path for ``name`` in ``dir_fd`` (for messages)."""
    try:
        return os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name)
    except OSError:
        return name


def clear_dir(dir_fd: int, keep: Iterable[str] = ()) -> None:
    """Remove every entry of the directory except the names in ``keep``."""
    kept = set(keep)
    for name in os.listdir(dir_fd):
        if name not in kept:
            remove_at(dir_fd, name)


def proc_path(dir_fd: int, name: str) -> str:
    """A path naming ``name`` inside ``dir_fd``, for calls that have no dir_fd form.

    The directory part is the magic link to an fd we hold, so only the final
    component is resolved by name.
    """
    return f"/proc/self/fd/{dir_fd}/{name}"


def set_xattrs(dir_fd: int, name: str, xattrs: dict[str, bytes], *, is_link: bool) -> None:
    """Set xattrs on ``name`` without following it; skips ones the fs cannot hold."""
    for key, value in sorted(xattrs.items()):
        try:
            os.setxattr(proc_path(dir_fd, name), key, value, follow_symlinks=False)
        except OSError as exc:
            # Filesystems without xattr support, and user.* on symlinks (the kernel
            # forbids it), are skipped rather than failing the whole layer.
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) or (
                is_link and exc.errno == errno.EPERM
            ):
                continue
            raise


def get_xattrs(dir_fd: int, name: str) -> dict[str, bytes]:
    """All xattrs of ``name`` (not followed), minus overlay's private ones."""
    path = proc_path(dir_fd, name)
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out: dict[str, bytes] = {}
    for key in keys:
        if key.startswith(OVERLAY_XATTR_PREFIXES):
            continue
        try:
            out[key] = os.getxattr(path, key, follow_symlinks=False)
        except OSError as exc:
            if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                continue
            raise
    return out


def has_opaque_xattr(dir_fd: int, name: str) -> bool:
    # fuse-overlayfs marks the opaque dirs of its upper dirs with a name of its own.
    keys = (USER_OPAQUE_XATTR, FUSE_OPAQUE_XATTR) if is_rootless() else (OPAQUE_XATTR,)
    for key in keys:
        try:
            if os.getxattr(proc_path(dir_fd, name), key, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def is_whiteout(st: os.stat_result) -> bool:
    """Overlay's whiteout: a character device with device number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def make_whiteout(dir_fd: int, name: str) -> None:
    os.mknod(name, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=dir_fd)


def apply_owner_mode_times(
    dir_fd: int,
    name: str,
    *,
    uid: int,
    gid: int,
    mode: int | None,
    mtime_ns: int | None,
    atime_ns: int | None = None,
) -> None:
    """lchown, then chmod (chown clears set-id bits), then times; never follows."""
    lchown_at(name, uid, gid, dir_fd)
    if mode is not None:
        # Not called for symlinks (they have no mode of their own), so fchmodat
        # following the final component is safe here: it is not a link.
        os.chmod(name, mode & 0o7777, dir_fd=dir_fd)
    if mtime_ns is not None:
        set_times(dir_fd, name, mtime_ns, atime_ns)


def set_times(dir_fd: int, name: str, mtime_ns: int, atime_ns: int | None = None) -> None:
    os.utime(
        name,
        ns=(mtime_ns if atime_ns is None else atime_ns, mtime_ns),
        dir_fd=dir_fd,
        follow_symlinks=False,
    )


def walk_tree(dir_fd: int, descend: Callable[[os.stat_result], bool] = lambda st: True
              ) -> Iterator[tuple[tuple[str, ...], int, str, os.stat_result]]:
    """Every entry below the open directory ``dir_fd`` (which stays the caller's) as
    (the parent's path parts, the parent's fd, name, lstat): depth first in name order,
    without recursion (trees may nest thousands deep) and without following a link.
    A directory's fd is valid while its entries come; a directory is entered if
    ``descend(st)`` says so. Entries that vanish during the walk are skipped."""
    stack: list[tuple[int, tuple[str, ...], Iterator[str]]] = [
        (os.dup(dir_fd), (), iter(sorted(os.listdir(dir_fd))))]
    try:
        while stack:
            fd, parts, names = stack[-1]
            name = next(names, None)
            if name is None:
                os.close(fd)
                stack.pop()
                continue
            st = lstat_at(fd, name)
            if st is None:
                continue
            yield parts, fd, name, st
            if stat.S_ISDIR(st.st_mode) and descend(st):
                try:
                    sub = os.open(name, O_DIR, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                        continue  # swapped while we walked
                    raise
                stack.append((sub, (*parts, name), iter(sorted(os.listdir(sub)))))
    finally:
        for fd, _, _ in stack:
            os.close(fd)
