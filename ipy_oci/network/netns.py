"""Network namespaces the engine owns, bind-mounted under ``<runroot>/netns/<name>``.

As podman (and ``ip netns add``) does it: a short-lived thread unshares into a new
network namespace (only that thread moves: net namespaces are per task) and the
namespace file ``/proc/thread-self/ns/net`` is bind-mounted onto an empty file. The
mount keeps the namespace alive after the thread ends; runc joins it by path
(``linux.namespaces: [{"type": "network", "path": ...}]``). Removal is umount (lazy)
then unlink, and finding either already done is not an error.

No process is forked and the calling threads never change namespace.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import subprocess
import threading
from pathlib import Path

from ipy_oci.userns.enter import in_userns

from .errors import NetworkSetupError

_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def netns_dir(runroot: Path) -> Path:
    return runroot / "netns"


def netns_path(runroot: Path, name: str) -> Path:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"bad network namespace name {name!r}")
    return netns_dir(runroot) / name


@in_userns
def is_netns(path: Path) -> bool:
    """Whether ``path`` is a bound network namespace (a file on nsfs), not just a file."""
    try:
        return os.stat(path).st_dev == os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return False


@in_userns
def create_netns(runroot: Path, name: str) -> Path:
    """A new network namespace bound at ``<runroot>/netns/<name>``; its path.

    Raises NetworkSetupError if the name is taken (remove the old one first) or the
    kernel refuses (not root, no CAP_SYS_ADMIN).
    """
    path = netns_path(runroot, name)
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    except FileExistsError:
        raise NetworkSetupError(f"network namespace {path} already exists: remove it first "
                                "(the container's network teardown does)") from None
    os.close(fd)
    failure: list[str] = []

    def unshare_and_bind() -> None:
        if _libc.unshare(_CLONE_NEWNET) != 0:
            failure.append(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
            return
        src = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        if _libc.mount(src, str(path).encode(), b"none", _MS_BIND, None) != 0:
            failure.append(f"bind mount onto {path}: {os.strerror(ctypes.get_errno())}")

    thread = threading.Thread(target=unshare_and_bind, name="ipy-oci-netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        try:
            path.unlink()
        except OSError:
            pass
        raise NetworkSetupError(f"cannot create the network namespace {path}: {failure[0]} "
                                "(network namespaces need root)")
    return path


@in_userns
def remove_netns(path: Path) -> None:
    """Unmount and delete a namespace file; nothing to do is fine. The namespace itself
    ends when nothing else holds it (a process inside, another mount)."""
    for _ in range(8):  # stacked mounts (a bind done twice) come off one at a time
        if _libc.umount2(str(path).encode(), _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                break
            raise NetworkSetupError(f"cannot unmount the network namespace {path}: "
                                    f"{os.strerror(err)}")
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def list_netns(runroot: Path) -> list[Path]:
    """The namespace files under ``<runroot>/netns`` (mounted or left half-made)."""
    d = netns_dir(runroot)
    try:
        return sorted(d / n for n in os.listdir(d))
    except FileNotFoundError:
        return []


@in_userns
def links(path: Path) -> list[str]:
    """The names of the network interfaces in a namespace. A short-lived thread enters
    it (setns) to ask; the calling thread stays where it is."""
    result: list[str] = []
    failure: list[str] = []

    def look() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            failure.append(str(exc))
            return
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                failure.append(f"setns: {os.strerror(ctypes.get_errno())}")
                return
        finally:
            os.close(fd)
        result.extend(name for _, name in socket.if_nameindex())

    thread = threading.Thread(target=look, name="ipy-oci-netns-links", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise NetworkSetupError(f"cannot list the interfaces in {path}: {failure[0]}")
    return result


def add_placeholder_links(path: Path, names: list[str]) -> None:
    """Create a veth pair per name inside the namespace (``NAME`` and a peer), so that a
    teardown which deletes ``NAME`` finds it (netavark stops at a missing interface
    before it removes the bridge and the network's firewall rules)."""
    for i, name in enumerate(names):
        res = subprocess.run(["nsenter", f"--net={path}", "ip", "link", "add", name, "type",
                              "veth", "peer", "name", f"ipyrm{i}"],
                             capture_output=True, timeout=30)
        if res.returncode != 0:
            raise NetworkSetupError(f"cannot add a placeholder interface {name} in {path}: "
                                    f"{res.stderr.decode(errors='replace').strip()}")
