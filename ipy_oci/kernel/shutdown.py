"""Kernel shutdown and restart: nothing this kernel started outlives it.

On ``atexit`` (a clean shutdown or restart) and on SIGTERM (what jupyter_client
sends a kernel that did not exit in time, e.g. because a cell still ran):

1. widgets stop their threads;
2. the engine's "a kernel goes away" entry point (``Runtime.reap_kernel``) stops
   this kernel's exec sessions (their process groups get SIGTERM, one shared
   timeout, then SIGKILL), removes them, and removes its ``--rm`` containers.

A SIGKILLed kernel can do none of this: the server extension reaps by kernel id
(every session records it) and conmon's exit commands keep the state right.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .context import KernelContext

# jupyter_client SIGKILLs a kernel 2.5 s (half its shutdown_wait_time) after SIGTERM.
SIGTERM_BUDGET = 2.0

_lock = threading.Lock()
_installed: dict[str, Any] = {}


def install(ctx: KernelContext) -> None:
    """Register the hooks once per process (loading the extension twice is harmless)."""
    _installed["ctx"] = ctx
    if _installed.get("done"):
        return
    _installed["done"] = True
    atexit.register(_at_exit)
    if threading.current_thread() is threading.main_thread():
        _installed["previous"] = signal.signal(signal.SIGTERM, _on_sigterm)


def _at_exit() -> None:
    ctx = _installed.get("ctx")
    if ctx is not None:
        timeout = ctx.shutdown_timeout
        cleanup(ctx, ctx.config.kernel_stop_timeout if timeout is None else timeout)


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
        with ctx.new_runtime() as rt:
            # Outside a Jupyter kernel there is no kernel id: this process owns them.
            return rt.reap_kernel(kernel_id=ctx.kernel_id, pid=ctx.pid, timeout=stop_timeout)
    except Exception as exc:  # never turn a shutdown into a crash
        _warn(f"cleanup failed: {exc}")
        return []
    finally:
        _lock.release()


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
