"""``cp``: copy files between a container and the host (or another container), and
the container side of ``export``.

The container side always runs in a child process (storage/copier.py) that enters
the container's root first: a container with a process joins that process's mount
namespace, one without gets its root filesystem (and bind mounts) mounted in a
private mount namespace of the child alone, under the container's lock, so nothing
stays mounted and nobody starts the container meanwhile. The child is chrooted, so
the container's symlinks resolve inside the container, never on the host. Data
crosses as a tar stream on a pipe; the host side reads and writes with
storage/copytar.py, which never follows a link inside the tree it writes.

Path rules are podman's (podman-cp(1)): a file onto a missing path creates it (its
parent must exist), onto a file overwrites it, into a directory keeps its name; a
directory onto a missing path creates it with the contents, into a directory is
copied inside it, and with a trailing ``/.`` its contents are copied instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from ..errors import NotFoundError, OciError, UsageError
from ..state.procs import is_alive
from ..state.records import State
from ..storage.copytar import UnpackOptions, is_tar_file, pack, unpack
from ..userns.enter import prefix as userns_prefix

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime

_CHUNK = 1 << 20


class CopyNotFound(NotFoundError):
    """A source or destination path that does not exist (podman exits 125)."""


# -- the child ------------------------------------------------------------------------------


class ContainerRoot:
    """A child process working inside one container's root (see the module doc)."""

    def __init__(self, ctr: Container, request: dict[str, Any]) -> None:
        self.ctr = ctr
        self.proc = subprocess.Popen(
            [*userns_prefix(), sys.executable, "-I", "-m", "ipy_oci.storage.copier",
             json.dumps(request)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            close_fds=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def _died(self) -> OciError:
        self.proc.wait()
        err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(errors="replace")
        lines = err.strip().splitlines()
        last = lines[-1] if lines else f"exit status {self.proc.returncode}"
        return OciError(f"copying in container {self.ctr.name} failed: {last}")

    def reply(self) -> dict[str, Any]:
        line = self.stdout.readline()
        if not line:
            raise self._died()
        out: dict[str, Any] = json.loads(line)
        return out

    def ask(self, **request: Any) -> dict[str, Any]:
        """One request and its answer; an answer that is an error is raised."""
        try:
            self.stdin.write(json.dumps(request).encode() + b"\n")
            self.stdin.flush()
        except BrokenPipeError:
            pass  # it failed entering the root: its answer says why
        out = self.reply()
        if "error" in out:
            raise OciError(f"container {self.ctr.name}: {out['error']}")
        return out

    def close(self) -> None:
        for f in (self.stdin, self.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                if f is not None:
                    f.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _binds(ctr: Container) -> list[dict[str, Any]]:
    """The bind and volume mounts a stopped container's copy must see."""
    out = []
    for m in ctr.record.config.mounts:
        src = str(m.get("source") or "")
        if m.get("type", "bind") in ("bind", "volume") and src.startswith("/") \
                and os.path.exists(src):
            out.append({"source": src, "destination": m["destination"],
                        "readonly": bool(m.get("readonly"))})
    return out


def _has_process(ctr: Container) -> bool:
    rec = ctr.record
    return rec.state in (State.CREATED, *State.LIVE) and bool(rec.pid) and \
        is_alive(rec.pid, rec.pid_start)


@contextlib.contextmanager
def container_root(ctr: Container, *, rootfs_only: bool = False) -> Iterator[ContainerRoot]:
    """A child inside ``ctr``'s root; ``rootfs_only``: its root filesystem alone,
    without volumes or the kernel filesystems of a running container (``export``)."""
    rt = ctr.runtime
    rt.touch(ctr)
    if _has_process(ctr):
        req: dict[str, Any] = (
            {"mode": "root", "path": ctr.record.rootfs} if rootfs_only else
            {"mode": "pid", "pid": ctr.record.pid, "pid_start": ctr.record.pid_start})
        child = ContainerRoot(ctr, req)
        try:
            yield child
        finally:
            child.close()
        return
    with ctr.lock.held():  # nobody starts (or removes) it while its root is in use
        ctr.refresh()
        if ctr.record.state in State.ACTIVE:
            raise OciError(f"container {ctr.name} started while the copy was prepared: "
                           "try again")
        image = rt.images.lookup(ctr.record.image_id)
        req = {"mode": "mount", "layers": [str(p) for p in image.layer_dirs],
               "ctr_dir": str(ctr.dir), "min_free": rt.config.min_free_space,
               "binds": [] if rootfs_only else _binds(ctr)}
        child = ContainerRoot(ctr, req)
        try:
            yield child
        finally:
            child.close()


# -- arguments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """One side of ``cp``: ``container`` is None for the host (``-`` is a stream)."""

    container: str | None
    path: str

    @property
    def is_stream(self) -> bool:
        return self.container is None and self.path == "-"


def parse_location(arg: str) -> Location:
    """podman's ``[CONTAINER:]PATH``: a path starting with ``.`` or ``/`` is always on
    the host (so ``./a:b`` is a host file named ``a:b``)."""
    if not arg or arg[0] in "./" or ":" not in arg:
        return Location(None, arg)
    name, _, path = arg.partition(":")
    return Location(name, path)


def _workdir(ctr: Container) -> str:
    cfg = ctr.record.config
    if cfg.workdir:
        return cfg.workdir
    try:
        img = ctr.runtime.images.lookup(ctr.record.image_id)
        return str((img.config.get("config") or {}).get("WorkingDir") or "/")
    except OciError:
        return "/"


def _in_container(ctr: Container, path: str) -> str:
    """A container path made absolute against its working directory, keeping a
    trailing ``/`` or ``/.`` (they change what is copied)."""
    if path.startswith("/"):
        return path
    base = posixpath.join("/", _workdir(ctr))
    return base.rstrip("/") + "/" + path


# -- one side's facts --------------------------------------------------------------------------


@dataclass
class _Source:
    path: str  # resolved
    is_dir: bool
    contents: bool  # a directory given as ".../." : its contents

    @property
    def base(self) -> str:
        return posixpath.basename(self.path.rstrip("/")) or "/"


@dataclass
class _Dest:
    dir: str  # the existing directory entries land in
    name: str | None  # the new name of the copied thing; None: keep its own
    is_dir: bool  # the given path is an existing directory
    exists: bool


def _source(info: dict[str, Any], given: str, where: str) -> _Source:
    if not info.get("exists"):
        reason = str(info.get("reason") or "no such file or directory").lower()
        raise CopyNotFound(f'"{given}" could not be found on {where}: {reason}')
    contents = bool(info.get("is_dir")) and (given.endswith("/.") or given == ".")
    return _Source(str(info["resolved"]), bool(info.get("is_dir")), contents)


def _dest(info: dict[str, Any], given: str, where: str, stat_parent: Any,
          from_stream: bool) -> _Dest:
    if info.get("exists"):
        resolved = str(info["resolved"])
        if info.get("is_dir"):
            return _Dest(resolved, None, True, True)
        return _Dest(posixpath.dirname(resolved), posixpath.basename(resolved), False, True)
    if given.endswith("/"):
        raise CopyNotFound(f'"{given}" could not be found on {where}: no such file or '
                           "directory")
    if from_stream:
        raise UsageError("destination must be a directory when copying from stdin")
    # A missing path (or a link to one: it is created where the link points).
    target = str(info["resolved"])
    parent = stat_parent(posixpath.dirname(target) or "/")
    if not parent.get("exists") or not parent.get("is_dir"):
        raise CopyNotFound(f'"{given}" could not be found on {where}: no such file or '
                           "directory")
    return _Dest(str(parent["resolved"]), posixpath.basename(target), False, False)


def _plan(src: _Source, dest: _Dest) -> tuple[str, bool]:
    """(name of the copy in ``dest.dir``, pack only the directory's contents)."""
    if dest.is_dir:
        return (src.base, src.contents or src.base == "/")
    if dest.exists and src.is_dir:
        raise UsageError("destination must be a directory when copying a directory")
    assert dest.name is not None
    return (dest.name, False)


def _host_stat(path: str) -> dict[str, Any]:
    resolved = os.path.realpath(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return {"exists": False, "resolved": resolved, "reason": exc.strerror}
    return {"exists": True, "resolved": resolved, "is_dir": stat.S_ISDIR(st.st_mode),
            "is_reg": stat.S_ISREG(st.st_mode)}


def _primary_ids(ctr: Container, root: ContainerRoot) -> tuple[int, int]:
    """The uid and gid the container's process runs as (``--archive``'s owner)."""
    spec = ctr.spec()
    user = ((spec or {}).get("process") or {}).get("user") or {}
    if "uid" in user:
        return int(user["uid"]), int(user.get("gid", 0))
    want = ctr.record.config.user
    if not want:
        try:
            img = ctr.runtime.images.lookup(ctr.record.image_id)
            want = str((img.config.get("config") or {}).get("User") or "")
        except OciError:
            want = ""
    if not want:
        return 0, 0
    from ..oci.spec_user import resolve_user

    # Never started: resolve against its own passwd and group files, read from inside.
    with tempfile.TemporaryDirectory(prefix="ipy-oci-cp-") as tmp:
        os.mkdir(os.path.join(tmp, "etc"))
        for name in ("passwd", "group"):
            got = root.ask(op="read", path=f"/etc/{name}")
            if "text" in got:
                with open(os.path.join(tmp, "etc", name), "w", encoding="utf-8") as fh:
                    fh.write(str(got["text"]))
        uid, gid, _groups, _home = resolve_user(tmp, want)
    return uid, gid


# -- the copies -------------------------------------------------------------------------------


def pump(src: IO[bytes], dst: IO[bytes] | BinaryIO) -> None:
    while chunk := src.read(_CHUNK):
        dst.write(chunk)
    dst.flush()


def _finish_unpack(root: ContainerRoot) -> None:
    with contextlib.suppress(OSError):
        root.stdin.close()
    out = root.reply()
    if "error" in out:
        raise OciError(str(out["error"]))


def copy(rt: Runtime, src_arg: str, dest_arg: str, *, archive: bool = True,
         overwrite: bool = False, stdin: BinaryIO | None = None,
         stdout: BinaryIO | None = None) -> None:
    """``cp SRC DEST``; ``-`` reads a tar from ``stdin`` or writes one to ``stdout``."""
    src, dest = parse_location(src_arg), parse_location(dest_arg)
    if not src.path or not dest.path:
        raise UsageError(f'invalid arguments "{src_arg}", "{dest_arg}": you must specify '
                         "paths")
    if src.container is None and dest.container is None:
        raise UsageError(f'invalid arguments "{src_arg}", "{dest_arg}": one of them must '
                         "be CONTAINER:PATH (copying between two host paths is not cp's job)")
    if src.container is not None and dest.is_stream:
        if stdout is None:
            raise UsageError("cp to '-' needs an output stream for the tar archive")
        _to_stream(rt, src.container, src.path, stdout)
    elif src.container is not None and dest.container is None:
        try:
            _to_host(rt, src.container, src.path, dest.path, overwrite)
        except PermissionError as exc:
            raise OciError(f"cannot copy into {dest.path} on the host: {exc.strerror} "
                           f"({exc.filename}): pick a destination you can write") from None
    elif src.container is None:
        assert dest.container is not None
        if src.is_stream:
            if stdin is None:
                raise UsageError("cp from '-' needs an input stream with a tar archive")
            _from_stream(rt, stdin, dest.container, dest.path, archive, overwrite)
        else:
            _from_host(rt, src.path, dest.container, dest.path, archive, overwrite)
    else:
        assert src.container is not None and dest.container is not None
        _between(rt, src.container, src.path, dest.container, dest.path, archive, overwrite)


def _to_stream(rt: Runtime, ref: str, path: str, out: BinaryIO) -> None:
    ctr = rt.lookup_container(ref)
    given = _in_container(ctr, path)
    with container_root(ctr) as root:
        s = _source(root.ask(op="stat", path=given), path, f"container {ctr.name}")
        contents = s.contents or s.base == "/"
        root.ask(op="pack", path=s.path, arcname=s.base, contents=contents)
        pump(root.stdout, out)


def _to_host(rt: Runtime, ref: str, path: str, host: str, overwrite: bool) -> None:
    ctr = rt.lookup_container(ref)
    given = _in_container(ctr, path)
    with container_root(ctr) as root:
        s = _source(root.ask(op="stat", path=given), path, f"container {ctr.name}")
        d = _dest(_host_stat(host), host, "the host", _host_stat, False)
        if d.exists and not d.is_dir and \
                not _host_stat(os.path.join(d.dir, d.name or "")).get("is_reg"):
            raise UsageError(f'invalid destination: "{host}" must be a directory or a '
                             "regular file")
        name, contents = _plan(s, d)
        root.ask(op="pack", path=s.path, arcname=name, contents=contents)
        unpack(root.stdout, d.dir, UnpackOptions(
            chown=(os.getuid(), os.getgid()), overwrite=overwrite, ignore_devices=True,
            strip_setid=True, display=d.dir))


def _container_dest(root: ContainerRoot, ctr: Container, path: str,
                    from_stream: bool) -> _Dest:
    given = _in_container(ctr, path)
    return _dest(root.ask(op="stat", path=given), path, f"container {ctr.name}",
                 lambda p: root.ask(op="stat", path=p), from_stream)


def _unpack_request(root: ContainerRoot, ctr: Container, d: _Dest, archive: bool,
                    overwrite: bool) -> dict[str, Any]:
    chown = list(_primary_ids(ctr, root)) if archive else None
    return {"op": "unpack", "dir": d.dir, "chown": chown, "overwrite": overwrite,
            "display": d.dir}


def _send(root: ContainerRoot, request: dict[str, Any]) -> None:
    root.stdin.write(json.dumps(request).encode() + b"\n")


def _from_host(rt: Runtime, host: str, ref: str, path: str, archive: bool,
               overwrite: bool) -> None:
    info = _host_stat(host)
    if not info.get("exists"):
        raise CopyNotFound(f'"{host}" could not be found on the host: '
                           f'{str(info.get("reason") or "no such file or directory").lower()}')
    s = _Source(str(info["resolved"]), bool(info.get("is_dir")),
                bool(info.get("is_dir")) and (host.endswith("/.") or host == "."))
    ctr = rt.lookup_container(ref)
    with container_root(ctr) as root:
        d = _container_dest(root, ctr, path, False)
        name, contents = _plan(s, d)
        _send(root, _unpack_request(root, ctr, d, archive, overwrite))
        try:
            pack(s.path, root.stdin, name, contents)
        except BrokenPipeError:
            pass  # the child stopped reading: its answer says why
        _finish_unpack(root)


def _from_stream(rt: Runtime, stream: BinaryIO, ref: str, path: str, archive: bool,
                 overwrite: bool) -> None:
    ctr = rt.lookup_container(ref)
    # Spooled first, as podman does: a bad archive is refused before anything is written.
    with tempfile.TemporaryFile(prefix="ipy-oci-cp-") as spool:
        shutil.copyfileobj(stream, spool, _CHUNK)
        spool.flush()
        if not is_tar_file(f"/proc/self/fd/{spool.fileno()}"):
            raise UsageError("source must be a (compressed) tar archive when copying "
                             "from stdin")
        with container_root(ctr) as root:
            d = _container_dest(root, ctr, path, True)
            if not d.is_dir:
                raise UsageError("destination must be a directory when copying from stdin")
            _send(root, _unpack_request(root, ctr, d, archive, overwrite))
            spool.seek(0)
            try:
                pump(spool, root.stdin)
            except BrokenPipeError:
                pass
            _finish_unpack(root)


def _between(rt: Runtime, src_ref: str, src_path: str, dest_ref: str, dest_path: str,
             archive: bool, overwrite: bool) -> None:
    sctr, dctr = rt.lookup_container(src_ref), rt.lookup_container(dest_ref)
    if sctr.id == dctr.id:
        dctr = sctr  # one lock object: the second hold re-enters
    with container_root(sctr) as sroot, container_root(dctr) as droot:
        s = _source(sroot.ask(op="stat", path=_in_container(sctr, src_path)), src_path,
                    f"container {sctr.name}")
        d = _container_dest(droot, dctr, dest_path, False)
        name, contents = _plan(s, d)
        sroot.ask(op="pack", path=s.path, arcname=name, contents=contents)
        _send(droot, _unpack_request(droot, dctr, d, archive, overwrite))
        try:
            pump(sroot.stdout, droot.stdin)
        except BrokenPipeError:
            pass
        _finish_unpack(droot)

