"""Kernel shutdown and restart: nothing this kernel started outlives it.

On ``atexit`` (a clean shutdown or restart) and on SIGTERM (what jupyter_client
sends a kernel that did not exit in time, e.g. because a cell still ran):

1. widgets stop their threads;
2. exec sessions owned by this kernel are stopped (their process group gets
   SIGTERM, then SIGKILL after the timeout) and removed;
3. ``--rm`` containers this kernel started are removed.

A SIGKILLed kernel can do none of this: the server extension reaps by kernel id
(every session records it) and conmon's exit commands keep the state right.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..engine.exec_records import ExecState

if TYPE_CHECKING:
    from ..engine.exec_session import ExecSession
    from ..engine.runtime import Runtime
    from .context import KernelContext

# jupyter_client SIGKILLs a kernel 2.5 s (half its shutdown_wait_time) after SIGTERM.
SIGTERM_BUDGET = 2.0

_lock = threading.Lock()
_installed: dict[str, Any] = {}


def install(ctx: KernelContext, stop_timeout: float = 1.0) -> None:
    """Register the hooks once per process (loading the extension twice is harmless)."""
    _installed["ctx"] = ctx
    _installed["stop_timeout"] = stop_timeout
    if _installed.get("done"):
        return
    _installed["done"] = True
    atexit.register(_at_exit)
    if threading.current_thread() is threading.main_thread():
        _installed["previous"] = signal.signal(signal.SIGTERM, _on_sigterm)


def _at_exit() -> None:
    ctx = _installed.get("ctx")
    if ctx is not None:
        cleanup(ctx, float(_installed.get("stop_timeout", 1.0)))


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    ctx = _installed.get("ctx")
    if _lock.locked():
        return  # cleanup is already running (atexit): let it finish
    if ctx is not None:
        # A thread, so a lock the interrupted main thread holds cannot hang us forever.
        t = threading.Thread(target=cleanup, args=(ctx, 0.0), daemon=True,
                             name="ipy-oci-sigterm")
        t.start()
        t.join(SIGTERM_BUDGET)
    previous = _installed.get("previous")
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def cleanup(ctx: KernelContext, stop_timeout: float) -> list[str]:
    """Stop and remove what this kernel owns; returns the reaped session ids. Once."""
    if not _lock.acquire(blocking=False):
        return []
    try:
        for close in list(ctx.closers):
            _quietly(close)
        ctx.closers.clear()
        rt = ctx.new_runtime()
        reaped = _reap_sessions(ctx, rt, stop_timeout)
        _remove_containers(ctx, rt, stop_timeout)
        return reaped
    except Exception as exc:  # never turn a shutdown into a crash
        _warn(f"cleanup failed: {exc}")
        return []
    finally:
        _lock.release()


def _owned(ctx: KernelContext, sess: ExecSession) -> bool:
    rec = sess.record
    if ctx.kernel_id:
        return rec.owner_kernel == ctx.kernel_id
    return rec.owner_pid == ctx.pid


def _reap_sessions(ctx: KernelContext, rt: Runtime, stop_timeout: float) -> list[str]:
    from .interrupts import signal_group

    owned = [s for s in rt.exec_sessions(sync=False) if _owned(ctx, s)]
    running = [s for s in owned if s.state == ExecState.RUNNING]
    # Every group gets SIGTERM at once, then one shared wait, then SIGKILL.
    live = [s for s in running if stop_timeout > 0 and signal_group(s, signal.SIGTERM)]
    deadline = time.monotonic() + stop_timeout
    while live and time.monotonic() < deadline:
        time.sleep(0.05)
        live = [s for s in live if s.signal(0)]
    for s in running:
        signal_group(s, signal.SIGKILL)
    for s in owned:
        _quietly(lambda s=s: s.remove(force=True))
    if ctx.kernel_id:
        _quietly(lambda: rt.reap_owner(kernel_id=ctx.kernel_id))
    else:
        _quietly(lambda: rt.reap_owner(pid=ctx.pid))
    return [s.id for s in owned]


def _remove_containers(ctx: KernelContext, rt: Runtime, stop_timeout: float) -> None:
    if not ctx.kernel_id:
        return  # outside a kernel, containers record no owner to match
    for ctr in rt.containers(all=True, sync=False):
        rec = ctr.record
        if rec.owner_kernel == ctx.kernel_id and rec.config.auto_remove:
            _quietly(lambda ctr=ctr: ctr.remove(force=True, timeout=stop_timeout))


def _quietly(fn: Any) -> None:
    from ..errors import NoSuchContainer, NoSuchExecSession

    try:
        fn()
    except (NoSuchContainer, NoSuchExecSession):
        pass
    except Exception as exc:
        _warn(str(exc))


def _warn(text: str) -> None:
    try:
        sys.__stderr__.write(f"ipy-oci: kernel shutdown: {text}\n")  # type: ignore[union-attr]
    except Exception:
        pass
