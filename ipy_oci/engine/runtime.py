"""Runtime: the public façade of the engine (containers, images, reaping passes).

Every front end (CLI, magics, server) talks to this class and nothing below it.
It is cheap to construct: the database opens lazily-fast, the OCI runtime and
image store are resolved on first use.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, find_binary
from ..errors import AmbiguousRef, NameInUse, NoSuchContainer, NoSuchExecSession, UsageError
from ..state.db import StateDB
from ..state.locks import FileLock
from .container import Container
from .exec_records import ExecConfig
from .names import generate_name, new_id, valid_name
from .records import ContainerConfig, ContainerRecord, State

if TYPE_CHECKING:
    from ..images.progress import ProgressCallback
    from ..images.pull import PullOptions
    from ..images.store import ImageStore
    from ..oci.runtime import OCIRuntime
    from .exec_reaper import ReapReport
    from .exec_session import ExecResult, ExecSession
    from .images import PullPolicy

RUNTIME_CANDIDATES = {
    "runc": ("/usr/sbin/runc", "/usr/bin/runc"),
    "crun": ("/usr/bin/crun",),
}


class Runtime:
    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config.load()
        self.root = self.config.root
        self.runroot = self.config.runroot
        self.containers_dir = self.root / "containers"
        self.locks_dir = self.runroot / "locks"
        for d in (self.containers_dir, self.locks_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.db = StateDB(self.root / "state.db")
        self._other_ocis: dict[str, OCIRuntime] = {}

    # -- drivers --------------------------------------------------------------------
    @cached_property
    def oci(self) -> OCIRuntime:
        """The configured default runtime."""
        return self._make_oci(self.config.runtime)

    def oci_named(self, name: str) -> OCIRuntime:
        """The runtime a container was created with ("" = the default)."""
        if not name or name == self.config.runtime:
            return self.oci
        if name not in self._other_ocis:
            self._other_ocis[name] = self._make_oci(name)
        return self._other_ocis[name]

    def _make_oci(self, name: str) -> OCIRuntime:
        from ..oci.conmon import ConmonRuntime
        from ..oci.missing import MissingRuntime

        runtime_name = Path(name).name
        runtime_path = find_binary(name, RUNTIME_CANDIDATES.get(name, ()))
        if runtime_path is None:
            return MissingRuntime(name, runtime_name, role="OCI runtime")
        conmon_path = find_binary(self.config.conmon, ("/usr/bin/conmon",
                                                       "/usr/libexec/podman/conmon"))
        if conmon_path is None:
            return MissingRuntime(self.config.conmon, runtime_name, role="conmon")
        return ConmonRuntime(runtime_path, conmon_path, self.runroot,
                             log_level=self.config.log_level, runtime_name=runtime_name)

    @cached_property
    def images(self) -> ImageStore:
        from ..images.store import ImageStore

        return ImageStore(self.root, self.config.unqualified_registries)

    def container_lock(self, ctr_id: str) -> FileLock:
        return FileLock(self.locks_dir / f"{ctr_id}.lock")

    def exit_command(self, ctr_id: str, rm: bool = False,
                     exec_id: str | None = None) -> list[str]:
        """What conmon runs when a process exits, so state is right with nobody watching."""
        argv = [sys.executable, "-m", "ipy_oci", *self.config.cli_args(),
                "--log-level", "error", "container", "cleanup"]
        if rm:
            argv.append("--rm")
        if exec_id:
            argv += ["--exec", exec_id]
        return [*argv, ctr_id]

    # -- containers ------------------------------------------------------------------
    def create_container(self, config: ContainerConfig, name: str | None = None,
                         owner_kernel: str = "", pull: PullPolicy = "missing",
                         progress: ProgressCallback | None = None,
                         pull_options: PullOptions | None = None) -> Container:
        """Record a container (state configured); ``init``/``start`` bring it up.

        The image is pulled first if ``pull`` says so (see engine/images.py).
        """
        from ..oci.spec import resolve_command
        from .images import ensure_image

        if not config.runtime:
            config.runtime = self.config.runtime
        image = ensure_image(self, config.image, pull, progress, pull_options)
        img_cfg = image.config.get("config") or {}
        if config.idle:
            config.command = ["/run/ipy-oci-init", "-P"]  # what spec_builder runs
        else:
            config.command = resolve_command(img_cfg, config.entrypoint, config.cmd)
        if name is not None and not valid_name(name):
            raise UsageError(f"container name {name!r} is invalid: names must match "
                             "[a-zA-Z0-9][a-zA-Z0-9_.-]*")
        rec = ContainerRecord(
            id=new_id(), name=name or "", image_id=image.id,
            image_name=image.names[0] if image.names else image.id[:12],
            created_at=time.time(), state=State.CONFIGURED, config=config,
            owner_kernel=owner_kernel,
        )
        for _attempt in range(20):
            if name is None:
                rec.name = generate_name()
            cols = rec.columns()
            try:
                with self.db.write() as cur:
                    cur.execute(
                        f"INSERT INTO containers ({', '.join(cols)}) "
                        f"VALUES ({', '.join('?' * len(cols))})",
                        tuple(cols.values()),
                    )
                return Container(self, rec)
            except sqlite3.IntegrityError:
                if name is not None:
                    owner = self.db.query_one("SELECT id FROM containers WHERE name = ?",
                                              (name,))
                    raise NameInUse(name, owner["id"] if owner else "?") from None
        raise UsageError("could not generate a unique container name: pass --name")

    def lookup_container(self, ref: str) -> Container:
        """By full ID, name, or unique ID prefix (as podman)."""
        db = self.db
        row = db.query_one("SELECT * FROM containers WHERE id = ? OR name = ?", (ref, ref))
        if row is None and ref and all(c in "0123456789abcdef" for c in ref):
            rows = db.query("SELECT * FROM containers WHERE id LIKE ? LIMIT 2", (ref + "%",))
            if len(rows) > 1:
                n = db.query_one("SELECT COUNT(*) AS n FROM containers WHERE id LIKE ?",
                                 (ref + "%",))
                raise AmbiguousRef("container", ref, int(n["n"]) if n else 2)
            row = rows[0] if rows else None
        if row is None:
            raise NoSuchContainer(ref)
        return Container(self, ContainerRecord.from_row(row))

    def containers(self, all: bool = True, sync: bool = True) -> list[Container]:
        rows = self.db.query("SELECT * FROM containers ORDER BY created_at")
        out = []
        for row in rows:
            ctr = Container(self, ContainerRecord.from_row(row))
            if sync:
                try:
                    ctr.refresh(reload=False)
                except NoSuchContainer:
                    continue  # removed meanwhile (e.g. by an --rm exit command)
            if all or ctr.state in (State.RUNNING, State.PAUSED, State.STOPPING):
                out.append(ctr)
        return out

    def run(self, config: ContainerConfig, name: str | None = None,
            owner_kernel: str = "") -> Container:
        """Create and start a detached container."""
        ctr = self.create_container(config, name, owner_kernel)
        try:
            ctr.start()
        except BaseException:
            _remove_quietly(ctr)
            raise
        return ctr

    # -- exec sessions (see exec_session.py, exec_reaper.py) ---------------------------
    def reap_container_sessions(self, ctr: Container, remove: bool) -> None:
        """Rules 2 and 3: a container that stops or is removed takes its sessions along."""
        from .exec_reaper import reap_container_sessions

        reap_container_sessions(self, ctr, remove)

    def exec_create(self, ctr: Container | str, config: ExecConfig,
                    owner_kernel: str = "") -> ExecSession:
        from .exec_session import ExecSession

        if isinstance(ctr, str):
            ctr = self.lookup_container(ctr)
        return ExecSession.create(ctr, config, owner_kernel)

    def exec(self, ctr: Container | str, command: list[str],
             on_output: Callable[[int, bytes], None], owner_kernel: str = "",
             stdin_fd: int | None = None, **config: Any) -> ExecResult:
        """One-shot: create, attach until exit, remove. The common case."""
        sess = self.exec_create(ctr, ExecConfig(command=command, **config), owner_kernel)
        return sess.start_and_attach(on_output, stdin_fd=stdin_fd, remove=True)

    def exec_counts(self) -> dict[str, int]:
        """Exec sessions per container id, in one query."""
        rows = self.db.query("SELECT container_id, COUNT(*) AS n FROM exec_sessions "
                             "GROUP BY container_id")
        return {r["container_id"]: int(r["n"]) for r in rows}

    def touch_all(self) -> None:
        """The reaping pass of a command that looks at every container (``ps``)."""
        from .exec_reaper import touch_all

        touch_all(self)

    def touch(self, ctr: Container) -> Container:
        """Look up a container for a command: sync it and run its reaping pass."""
        from .exec_reaper import touch_container

        ctr.refresh()
        touch_container(self, ctr.id)
        return ctr

    def lookup_exec(self, ref: str) -> ExecSession:
        from .exec_records import ExecRecord
        from .exec_session import ExecSession

        rows = self.db.query("SELECT * FROM exec_sessions WHERE id LIKE ? LIMIT 2",
                             (ref + "%",)) if ref else []
        if len(rows) > 1:
            raise AmbiguousRef("exec session", ref, len(rows))
        if not rows:
            raise NoSuchExecSession(ref)
        return ExecSession(self, ExecRecord.from_row(rows[0]))

    def exec_sessions(self, container_id: str | None = None,
                      sync: bool = True) -> list[ExecSession]:
        from .exec_reaper import list_sessions, sync_session

        sessions = list_sessions(self, container_id)
        if sync:
            for s in sessions:
                sync_session(self, s)
        return sessions

    def reap(self, prune_age: float | None = None) -> ReapReport:
        from .exec_reaper import system_reap

        report = system_reap(self, prune_age)
        # --rm containers whose attached client died before removing them.
        for ctr in self.containers(all=True, sync=False):
            if ctr.state == State.EXITED and ctr.record.config.auto_remove:
                try:
                    ctr.cleanup(rm=True)
                except NoSuchContainer:
                    pass
        return report

    def reap_owner(self, kernel_id: str = "", pid: int = 0,
                   timeout: float | None = None) -> list[str]:
        """Reap what a departing kernel or process owns (see exec_reaper.reap_owner)."""
        from .exec_reaper import reap_owner

        return reap_owner(self, kernel_id=kernel_id, pid=pid, timeout=timeout)

    # -- info ----------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        from .. import __version__

        return {
            "version": __version__,
            "root": str(self.root),
            "runroot": str(self.runroot),
            "database": str(self.db.path),
            "runtime": self.oci.runtime_info(),
            "containers": len(self.db.query("SELECT id FROM containers")),
            "checkpoint": self.oci.supports_checkpoint(),
        }


def _remove_quietly(ctr: Container) -> None:
    try:
        ctr.remove(force=True, timeout=0)
    except Exception:
        pass
