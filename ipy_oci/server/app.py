"""The ``ipy_oci`` jupyter-server extension: REST, websocket attach, reaping.

Configure with traitlets, e.g. ``--IpyOciApp.root=/srv/oci`` or in
jupyter_server_config.py ``c.IpyOciApp.reaper_interval = 2``. Unset storage
settings fall back to the engine's own configuration (``IPY_OCI_*``
environment variables, the TOML file, the defaults).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, Unicode

from ..config import TUNABLES, Config
from .attach_hub import AttachHub
from .engine_pool import EnginePool
from .handlers_rest import rest_routes
from .handlers_ws import ws_routes
from .limits import KiB, Limits, MiB
from .reaper import KERNEL_ACTIONS, Reaper
from .stdin_writer import StdinBudget

API_PREFIX = "/ipy-oci/api"


class IpyOciApp(ExtensionApp):
    name = "ipy_oci"
    description = "Containers and exec terminals from ipy-oci"
    load_other_extensions = True

    root = Unicode("", help="Storage root (podman --root); default: the engine's "
                            "configuration (IPY_OCI_ROOT, the TOML file, /var/lib/ipy-oci "
                            "for root, ~/.local/share/ipy-oci for a normal user)."
                   ).tag(config=True)
    runroot = Unicode("", help="Runtime state dir (podman --runroot); default: the "
                               "engine's configuration (IPY_OCI_RUNROOT, /run/ipy-oci for "
                               "root; $XDG_RUNTIME_DIR/ipy-oci or /tmp/ipy-oci-run-UID for "
                               "a normal user).").tag(config=True)
    runtime = Unicode("", help="OCI runtime name or path (runc, crun); default: the "
                               "engine's configuration.").tag(config=True)
    reaper_interval = Float(5.0, help="Seconds between periodic reaping passes "
                                      "(0 disables the periodic pass).").tag(config=True)
    replay_bytes = Int(64 << 10, help="Output kept per attached stream, replayed to a "
                                      "viewer that (re)connects.").tag(config=True)
    engine_threads = Int(8, help="Threads for blocking engine calls.").tag(config=True)
    # The engine's timing knobs (config.TUNABLES); unset: the engine's configuration.
    exec_prune_age = Float(None, allow_none=True, help="Seconds a finished detached "
                           "exec session is kept before pruning.").tag(config=True)
    exec_stop_timeout = Float(None, allow_none=True, help="Seconds between SIGTERM and "
                              "SIGKILL when an exec session is stopped.").tag(config=True)
    exec_exit_delay = Int(None, allow_none=True, help="Seconds conmon waits before the "
                          "exit command of an attached exec session.").tag(config=True)
    attached_exit_delay = Int(None, allow_none=True, help="The same for an attached "
                              "run.").tag(config=True)
    attached_client_grace = Float(None, allow_none=True, help="Seconds 'rm -f' lets an "
                                  "attached client read the exit code.").tag(config=True)
    kernel_stop_timeout = Float(None, allow_none=True, help="Seconds a shutting-down "
                                "kernel's sessions get after SIGTERM.").tag(config=True)
    interrupt_grace = Float(None, allow_none=True, help="Seconds between an interrupt "
                            "(SIGINT) and SIGKILL.").tag(config=True)

    # What clients may send (limits.py); a refusal names the traitlet to raise.
    allow_privileged_exec = Bool(False, help="Allow exec sessions with \"Privileged\": "
                                 "true through the REST API (all capabilities, no "
                                 "seccomp or masked paths).").tag(config=True)
    exec_max_env = Int(1000, min=0, help="Most \"Env\" entries an exec session "
                       "created through the REST API may have.").tag(config=True)
    exec_max_env_bytes = Int(128 * KiB, min=0, help="Most bytes of \"Env\" text in "
                             "all, for an exec session created through the REST API."
                             ).tag(config=True)
    exec_max_args = Int(1000, min=1, help="Most \"Cmd\" arguments (the command "
                        "included) of an exec session created through the REST API."
                        ).tag(config=True)
    exec_max_cmd_bytes = Int(128 * KiB, min=1, help="Most bytes of \"Cmd\" text in "
                             "all, for an exec session created through the REST API."
                             ).tag(config=True)
    max_request_bytes = Int(1 * MiB, min=1, help="Largest REST request body; larger "
                            "ones get 413.").tag(config=True)
    max_message_bytes = Int(16 * MiB, min=1, help="Largest websocket attach message "
                            "(a paste arrives as one); larger ones get an error frame, "
                            "and ones over 4 times this close the connection."
                            ).tag(config=True)
    stdin_buffer_bytes = Int(64 * MiB, min=0, help="Stdin the server holds in memory "
                             "for processes that do not read it yet, all attached "
                             "streams together; input beyond it is refused with an "
                             "error frame.").tag(config=True)
    stdin_session_bytes = Int(16 * MiB, min=0, help="The same for one attached stream."
                              ).tag(config=True)

    _stopped = False

    @property
    def _events(self) -> Any:
        assert self.serverapp is not None
        return self.serverapp.event_logger

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        self.engine_config = Config.load(self.root or None, self.runroot or None,
                                         self.runtime or None)
        for name in TUNABLES:
            value = getattr(self, name)
            if value is not None:
                setattr(self.engine_config, name, value)
        self.pool = EnginePool(self.engine_config, workers=self.engine_threads)
        self.limits = Limits(**{f: getattr(self, f) for f in Limits.__dataclass_fields__})
        self.hub = AttachHub(self.pool, replay_limit=self.replay_bytes,
                             stdin_budget=StdinBudget(self.stdin_buffer_bytes,
                                                      self.stdin_session_bytes))
        self.reaper = Reaper(self.pool, self.reaper_interval, self._running_kernels, self.log)
        self._events.add_listener(schema_id=KERNEL_ACTIONS,
                                  listener=self.reaper.on_kernel_action)
        # start_app() alone (tests, embedders) never runs _start_jupyter_server_extension.
        self.serverapp.io_loop.add_callback(self.reaper.start)
        self.log.info("ipy-oci: storage root %s, runroot %s, runtime %s",
                      self.engine_config.root, self.engine_config.runroot,
                      self.engine_config.runtime)

    def initialize_handlers(self) -> None:
        kwargs = {"pool": self.pool, "hub": self.hub, "limits": self.limits}
        routes: list[tuple[str, Any]] = [*rest_routes(API_PREFIX), *ws_routes(API_PREFIX)]
        self.handlers.extend((pattern, handler, kwargs) for pattern, handler in routes)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self.reaper.start()

    def _running_kernels(self) -> set[str]:
        km = getattr(self.serverapp, "kernel_manager", None)
        return set(km.list_kernel_ids()) if km is not None else set()

    async def stop_extension(self) -> None:
        """Stop reaping, end every attached stream (their processes are stopped), then
        reap what this server process owns."""
        if self._stopped:
            return
        self._stopped = True
        self._events.remove_listener(schema_id=KERNEL_ACTIONS,
                                     listener=self.reaper.on_kernel_action)
        await self.reaper.stop()
        threads = self.hub.stop()
        # Attach threads stop their processes (should_stop), then return.
        await asyncio.to_thread(_join_all, threads, 30.0)
        try:
            await self.pool.run(lambda rt: rt.reap_kernel(pid=os.getpid()))
        except Exception:
            self.log.exception("ipy-oci: reaping the server's own exec sessions failed")
        await asyncio.to_thread(self.pool.shutdown)


def _join_all(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
