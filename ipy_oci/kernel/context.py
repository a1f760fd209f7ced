"""What the magics remember for the life of one kernel.

One ``KernelContext`` per process: the engine ``Runtime`` (opened lazily, used on
the main thread only), this kernel's id (the owner recorded on every exec session
and container it makes), the last cell result and the provenance records.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config
    from ..engine.attached import ProcessResult
    from ..engine.runtime import Runtime

PROVENANCE_KEEP = 200


def kernel_id_from_connection_file(path: str) -> str:
    """``.../kernel-<id>.json`` -> ``<id>`` (jupyter_client's naming); else the file stem."""
    base = os.path.basename(path)
    m = re.fullmatch(r"kernel-(.+)\.json", base)
    if m:
        return m.group(1)
    return os.path.splitext(base)[0]


def current_kernel_id() -> str:
    """This kernel's id from its connection file; "" outside a Jupyter kernel."""
    if "ipykernel" not in sys.modules:
        return ""  # not a kernel; importing ipykernel would swap the comm manager
    try:
        from ipykernel import get_connection_file

        return kernel_id_from_connection_file(get_connection_file())
    except Exception:
        return ""


class KernelContext:
    def __init__(self, config: Config | None = None) -> None:
        self._config = config
        self._runtime: Runtime | None = None
        self.kernel_id = current_kernel_id()
        self.pid = os.getpid()
        self.last: ProcessResult | None = None
        # IPython's OciMagics.shutdown_timeout; None: the engine config's value.
        self.shutdown_timeout: float | None = None
        self.provenance: list[dict[str, Any]] = []
        self._runtime_info: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        # Called (once) when the kernel shuts down, before sessions are reaped.
        self.closers: list[Callable[[], None]] = []

    @property
    def config(self) -> Config:
        if self._config is None:
            from ..config import Config

            self._config = Config.load()
        return self._config

    @property
    def runtime(self) -> Runtime:
        """The main thread's engine façade (a SQLite connection is not shared)."""
        if self._runtime is None:
            self._runtime = self.new_runtime()
        return self._runtime

    def new_runtime(self) -> Runtime:
        """A separate Runtime (its own DB connection) for another thread."""
        from ..engine.runtime import Runtime

        return Runtime(self.config)

    def runtime_info(self, rt: Runtime, name: str = "") -> dict[str, Any]:
        """``runc --version`` and friends, asked once per kernel (it spawns processes)."""
        key = name or rt.config.runtime
        with self._lock:
            if key not in self._runtime_info:
                self._runtime_info[key] = rt.oci_named(name).runtime_info()
            return self._runtime_info[key]

    def remember(self, record: dict[str, Any]) -> None:
        self.provenance.append(record)
        del self.provenance[:-PROVENANCE_KEEP]


_context: KernelContext | None = None


def get_context() -> KernelContext:
    global _context
    if _context is None:
        _context = KernelContext()
    return _context


def reset_context() -> None:
    """Forget the context (the extension was unloaded)."""
    global _context
    _context = None
