"""Engine calls off the event loop: a thread pool with one Runtime per thread.

Engine calls block (subprocesses, flock, SQLite busy waits), so handlers never
make them on the event loop. A Runtime holds one SQLite connection, which must
not run two transactions at once, so each worker thread gets its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from ..config import Config
from ..engine.runtime import Runtime

T = TypeVar("T")


class EnginePool:
    def __init__(self, config: Config, workers: int = 8) -> None:
        self.config = config
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="ipy-oci-engine")

    def runtime(self) -> Runtime:
        """This thread's Runtime (created on first use)."""
        rt: Runtime | None = getattr(self._local, "rt", None)
        if rt is None:
            rt = self._local.rt = Runtime(self.config)
        return rt

    def new_runtime(self) -> Runtime:
        """A Runtime for a long-lived thread of its own (an attach stream)."""
        return Runtime(self.config)

    async def run(self, fn: Callable[[Runtime], T]) -> T:
        """Run ``fn(runtime)`` in the pool and await its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, fn)

    def _call(self, fn: Callable[[Runtime], T]) -> T:
        return fn(self.runtime())

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
