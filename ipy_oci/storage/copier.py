"""The child process of ``cp`` and ``export``: it works from inside a container's root.

Run as ``python -m ipy_oci.storage.copier ROOT_JSON``. It first enters the root:

- ``{"mode": "pid", "pid": P, "pid_start": S}``: a container with a process (running,
  paused, or created by the runtime): join that process's mount namespace with
  setns(2), which also makes the namespace's root (the container's /) our root, so
  volumes and bind mounts are seen as the container sees them;
- ``{"mode": "mount", "layers": [...], "ctr_dir": D, "min_free": N, "binds": [...]}``:
  a container without a process: in a private mount namespace of this process only,
  mount its root filesystem (storage/rootfs.py) and its bind mounts, then chroot
  there. Everything mounted goes away with the process, whatever happens to it;
- ``{"mode": "root", "path": P}``: chroot into a directory (``export`` of a running
  container's own rootfs mount, without its volumes).

Then every path is resolved by the kernel inside the container's root: absolute
symlinks and ``..`` cannot reach the host. Nothing is imported after the chroot
(``sys.path`` is emptied), so no file of the container is ever run.

Requests are JSON lines on stdin, each answered by one JSON line on stdout:
``stat``, ``read``, ``pack`` (its answer is followed by the tar stream on stdout, then
the process exits) and ``unpack`` (the tar stream follows the request on stdin; the
answer comes once it is extracted). A failed request answers ``{"error": ...}``.
"""

from __future__ import annotations

import bz2  # noqa: F401 - loaded before the chroot: tarfile imports them lazily
import ctypes
import errno
import gzip  # noqa: F401
import json
import lzma  # noqa: F401
import os
import stat
import sys
import zlib  # noqa: F401
from typing import IO, Any

from ipy_oci.errors import OciError
from ipy_oci.storage import mount as _mnt
from ipy_oci.storage.copytar import UnpackOptions, pack, unpack

CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REMOUNT = 0x20
_SYS_OPENAT2 = 437  # the same number on every architecture
_RESOLVE_IN_ROOT = 0x10
_READ_LIMIT = 4 << 20

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _start_time(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as fh:
        data = fh.read()
    return int(data[data.rindex(b")") + 2:].split()[19])


def _enter_pid(pid: int, pid_start: int) -> None:
    try:
        fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OciError("the container's process is gone (it stopped meanwhile): "
                       "try again") from None
    try:
        # The fd is what we join: checked after opening it, a reused pid cannot slip in.
        if _start_time(pid) != pid_start:
            raise OciError("the container's process is gone (it stopped meanwhile): "
                           "try again")
        _check(_libc.setns(fd, CLONE_NEWNS), "setns")
    finally:
        os.close(fd)
    os.chdir("/")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


def _open_in_root(root_fd: int, path: str, flags: int) -> int:
    """openat2(RESOLVE_IN_ROOT): ``path`` resolved as if ``root_fd`` were /."""
    how = _OpenHow(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT)
    fd = _libc.syscall(_SYS_OPENAT2, root_fd, os.fsencode(path), ctypes.byref(how),
                       ctypes.sizeof(how))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def _mount_target(root_fd: int, dest: str, is_dir: bool) -> int:
    """An O_PATH fd of ``dest`` inside the root, made (as runc would) if missing."""
    parts = [p for p in dest.split("/") if p and p != "."]
    for i in range(len(parts)):
        sub = "/".join(parts[: i + 1])
        last = i == len(parts) - 1
        try:
            os.close(_open_in_root(root_fd, sub, os.O_PATH))
            continue
        except FileNotFoundError:
            pass
        parent = _open_in_root(root_fd, "/".join(parts[:i]) or "/", os.O_PATH | os.O_DIRECTORY)
        try:
            if is_dir or not last:
                os.mkdir(parts[i], 0o755, dir_fd=parent)
            else:
                os.close(os.open(parts[i], os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                                 os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=parent))
        except FileExistsError:
            pass
        finally:
            os.close(parent)
    return _open_in_root(root_fd, "/".join(parts) or "/", os.O_PATH)


def _enter_mount(req: dict[str, Any]) -> None:
    from pathlib import Path

    from ipy_oci.storage.rootfs import mount_rootfs

    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    # Private: nothing mounted here reaches the host's mount table.
    _mnt.mount("none", Path("/"), None, _mnt.MS_REC | _mnt.MS_PRIVATE, None)
    root = mount_rootfs([Path(p) for p in req["layers"]], Path(req["ctr_dir"]),
                        min_free=int(req["min_free"]))
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for b in req.get("binds", []):
            src_fd = os.open(b["source"], os.O_PATH | os.O_CLOEXEC)
            try:
                is_dir = stat.S_ISDIR(os.fstat(src_fd).st_mode)
                dst_fd = _mount_target(root_fd, b["destination"], is_dir)
                try:
                    target = Path(f"/proc/self/fd/{dst_fd}")
                    _mnt.mount(f"/proc/self/fd/{src_fd}", target, None,
                               MS_BIND | _mnt.MS_REC, None)
                    if b.get("readonly"):
                        _mnt.mount("none", target, None, MS_BIND | MS_REMOUNT |
                                   _mnt.MS_RDONLY, None)
                finally:
                    os.close(dst_fd)
            finally:
                os.close(src_fd)
    finally:
        os.close(root_fd)
    _chroot(str(root))


def _chroot(path: str) -> None:
    os.chdir(path)
    os.chroot(".")
    os.chdir("/")


def _special_devs() -> frozenset[int]:
    """Devices of the kernel filesystems a running container has mounted."""
    root_dev = os.lstat("/").st_dev
    out = set()
    for p in ("/proc", "/sys", "/dev/pts", "/dev/mqueue"):
        try:
            dev = os.lstat(p).st_dev
        except OSError:
            continue
        if dev != root_dev:
            out.add(dev)
    return frozenset(out)


# -- requests ---------------------------------------------------------------------------------


def _stat(path: str) -> dict[str, Any]:
    resolved = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return {"exists": False, "resolved": resolved, "errno": exc.errno,
                "reason": exc.strerror}
    return {"exists": True, "resolved": resolved, "is_dir": stat.S_ISDIR(st.st_mode),
            "is_reg": stat.S_ISREG(st.st_mode)}


def _read(path: str) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return {"missing": True}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {"missing": True}
        data = os.read(fd, _READ_LIMIT)
    finally:
        os.close(fd)
    return {"text": data.decode("utf-8", "replace")}


def _reply(out: IO[bytes], obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj).encode() + b"\n")
    out.flush()


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return {"error": f"{exc.strerror or exc}{where}", "errno": exc.errno or 0}
    return {"error": str(exc), "errno": 0}


def serve(inp: IO[bytes], out: IO[bytes], skip_devs: frozenset[int]) -> int:
    while True:
        line = inp.readline()
        if not line:
            return 0
        req = json.loads(line)
        op = req.get("op")
        try:
            if op == "stat":
                _reply(out, _stat(req["path"]))
            elif op == "read":
                _reply(out, _read(req["path"]))
            elif op == "pack":
                st = os.stat(req["path"])  # before the answer: a clear error if it went
                del st
                _reply(out, {"ok": True})
                pack(req["path"], out, req["arcname"], bool(req.get("contents")),
                     skip_devs=skip_devs)
                out.flush()
                return 0
            elif op == "unpack":
                chown = req.get("chown")
                unpack(inp, req["dir"], UnpackOptions(
                    rename=tuple(req["rename"]) if req.get("rename") else None,
                    chown=(int(chown[0]), int(chown[1])) if chown else None,
                    overwrite=bool(req.get("overwrite")), follow_dirs=True,
                    display=req.get("display", req["dir"])))
                _reply(out, {"ok": True})
                return 0
            else:
                _reply(out, {"error": f"unknown request {op!r}", "errno": 0})
                return 2
        except (OSError, OciError) as exc:
            try:
                _reply(out, _error(exc))
            except BrokenPipeError:
                pass
            return 1


def main(argv: list[str]) -> int:
    req = json.loads(argv[0])
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    try:
        mode = req["mode"]
        if mode == "pid":
            _enter_pid(int(req["pid"]), int(req["pid_start"]))
        elif mode == "mount":
            _enter_mount(req)
        elif mode == "root":
            _chroot(req["path"])
        else:
            raise OciError(f"unknown copier mode {mode!r}")
        skip_devs = _special_devs() if mode == "pid" else frozenset()
    except (OSError, OciError) as exc:
        _reply(out, _error(exc))
        return 1
    # From here on the container's files are all we see: never import from them.
    sys.path[:] = []
    sys.path_importer_cache.clear()
    for codec in ("utf-8", "latin-1", "ascii"):
        "".encode(codec)
    try:
        return serve(inp, out, skip_devs)
    except BrokenPipeError:
        return 1
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
