"""Getting work into the user namespace of the runroot's holder.

A single-threaded process (the CLI, an exit command) joins for good with
``join()``: setns into the holder's user, then mount namespace; it is then uid 0
with full capabilities over the namespace, and everything in-process just works.

``setns(CLONE_NEWUSER)`` is refused to a multithreaded process, and a kernel or
Jupyter server has threads before any cell runs. Those stay outside
(``activate_outside``) and send the work in:

- ``prefix()`` goes before the argv of runc, conmon and other helpers: nsenter
  execs in place, so pids, fds and environment pass through;
- functions marked ``@in_userns`` (mounts, extraction with chown, removal of
  subordinate-owned trees, netns binds) run in a forked child that joins, and
  their result or exception comes back pickled. Such a function touches only the
  filesystem: the child of a threaded process must not take locks or use the
  database of its parent.

Root (no user namespace) never goes through any of this.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from .holder import UsernsError, ns_inode

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNS = 0x00020000

P = ParamSpec("P")
R = TypeVar("R")

# The holder pid while this process works from outside the namespace, else None.
_outside_holder: int | None = None


def _setns(fd: int, kind: int) -> None:
    import ctypes  # only rootless processes pay for it

    libc = ctypes.CDLL(None, use_errno=True)
    libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    if libc.setns(fd, kind) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _join(pid: int) -> None:
    cwd = _cwd()
    user = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        mnt = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            # User first: it grants the capabilities the mount namespace asks for.
            _setns(user, _CLONE_NEWUSER)
            _setns(mnt, _CLONE_NEWNS)
        finally:
            os.close(mnt)
    finally:
        os.close(user)
    # Joining a mount namespace moves the cwd to its root.
    try:
        os.chdir(cwd)
    except OSError:
        os.chdir("/")


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:
        return "/"


def single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def is_inside(pid: int) -> bool:
    return ns_inode("self") == ns_inode(pid) and ns_inode("self", "mnt") == ns_inode(pid, "mnt")


def join(pid: int) -> None:
    """Join the holder's namespaces for good (single-threaded callers only)."""
    global _outside_holder
    if is_inside(pid):
        _outside_holder = None
        return
    try:
        _join(pid)
    except OSError as exc:
        raise UsernsError(f"cannot join the user namespace of process {pid}: "
                          f"{exc.strerror}") from None
    _outside_holder = None


def activate_outside(pid: int) -> None:
    """Work from outside: prefix subprocesses, fork for ``@in_userns`` calls."""
    global _outside_holder
    _outside_holder = None if is_inside(pid) else pid


def outside_holder() -> int | None:
    return _outside_holder


def prefix(cwd: str | None = None) -> list[str]:
    """What goes before a command so it runs in the namespace ([] when already there)."""
    pid = _outside_holder
    if pid is None:
        return []
    nsenter = shutil.which("nsenter", path="/usr/bin:/bin:/usr/sbin:/sbin") or "nsenter"
    # --preserve-credentials: setgroups() is denied under a single-id map; --wd:
    # nsenter would otherwise start in the namespace's root.
    return [nsenter, "-U", "-m", "--preserve-credentials", "-t", str(pid),
            f"--wd={cwd or _cwd()}", "--"]


def call(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(*args, **kwargs)`` inside the namespace."""
    global _outside_holder
    pid = _outside_holder
    if pid is None:
        return fn(*args, **kwargs)
    import pickle

    r, w = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(r)
        code = 0
        try:
            _outside_holder = None
            _join(pid)
            payload = pickle.dumps((True, fn(*args, **kwargs)))
        except BaseException as exc:  # noqa: BLE001 - every outcome goes back
            code = 1
            payload = pickle.dumps((False, _portable(exc)))
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(w, view):]
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    try:
        while True:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(r)
        os.waitpid(child, 0)
    if not chunks:
        raise UsernsError(f"a helper process in the user namespace of process {pid} died "
                          f"while running {getattr(fn, '__name__', fn)}")
    ok, value = pickle.loads(b"".join(chunks))
    if ok:
        return value
    raise value


def _portable(exc: BaseException) -> BaseException:
    """``exc``, or a stand-in of a base class when it cannot be unpickled (errors
    whose constructors take other arguments than their message)."""
    import pickle

    try:
        # Some constructors take a name and build the message: unpickling calls them
        # with the message, so the round trip must give the same text back.
        if str(pickle.loads(pickle.dumps(exc))) == str(exc):
            return exc
    except Exception:  # noqa: BLE001
        pass
    for base in type(exc).__mro__[1:]:
        if base is BaseException:
            break
        try:
            stand_in = base(str(exc))
            if isinstance(exc, OSError) and base is OSError:
                stand_in = OSError(exc.errno, exc.strerror, exc.filename)
            code = getattr(exc, "exit_code", None)
            if code is not None:
                stand_in.exit_code = code
            pickle.loads(pickle.dumps(stand_in))
            return stand_in
        except Exception:  # noqa: BLE001
            continue
    return UsernsError(f"{type(exc).__name__}: {exc}")


def in_userns(fn: Callable[P, R]) -> Callable[P, R]:
    """Mark a filesystem function that must run inside the namespace (see module doc)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if _outside_holder is None:
            return fn(*args, **kwargs)
        return call(fn, *args, **kwargs)

    return wrapper
