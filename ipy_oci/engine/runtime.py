"""Runtime: the public façade of the engine (containers, images, reaping passes).

Every front end (CLI, magics, server) talks to this class and nothing below it.
It is cheap to construct: the database opens lazily-fast, the OCI runtime and
image store are resolved on first use.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, find_binary, is_rootless
from ..errors import NameInUse, UsageError
from ..state.locks import FileLock
from ..state.records import ContainerConfig, ContainerRecord, ExecConfig, ExecRecord, State
from ..state.store import StateStore
from .container import Container
from .names import generate_name, new_id, valid_name

if TYPE_CHECKING:
    from ..images.progress import ProgressCallback
    from ..images.pull import PullOptions
    from ..images.store import ImageStore
    from ..network import NetworkDriver
    from ..oci.runtime import OCIRuntime
    from .attached import ProcessResult
    from .exec_session import ExecSession
    from .images import PullPolicy
    from .reaping import ReapReport

RUNTIME_CANDIDATES = {
    "runc": ("/usr/sbin/runc", "/usr/bin/runc"),
    "crun": ("/usr/bin/crun",),
}

# Makes the OCI runtime for a name ("runc", "crun" or a path); tests pass their own.
OCIFactory = Callable[[str], "OCIRuntime"]


class Runtime:
    def __init__(self, config: Config | None = None,
                 oci_factory: OCIFactory | None = None, *, enter_userns: bool = True) -> None:
        self.config = config or Config.load()
        self.root = self.config.root
        self.runroot = self.config.runroot
        self.containers_dir = self.root / "containers"
        self.locks_dir = self.runroot / "locks"
        # Private, as podman's: nobody else may traverse into layers or container
        # roots (setuid binaries, file capabilities, device nodes: CVE-2021-41091).
        # A normal user's containers live in a user namespace (engine/rootless.py);
        # what to tell them about it (no subordinate ids), or "".
        self.userns_warning = ""
        if is_rootless():
            from .rootless import enter, make_runroot

            make_runroot(self.runroot)  # checked, never chmod-ed through a symlink
            if enter_userns:
                self.userns_warning = enter(self.runroot)
        else:
            _private_dir(self.runroot)
        _private_dir(self.root)
        for d in (self.containers_dir, self.locks_dir):
            d.mkdir(mode=0o700, exist_ok=True)
        self.state = StateStore(self.root / "state.db")
        self.state.keep_reserve()
        self._oci_factory = oci_factory or self._make_oci
        self._ocis: dict[str, OCIRuntime] = {}

    def close(self) -> None:
        """Release this Runtime's database connection (the object is done)."""
        self.state.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- drivers --------------------------------------------------------------------
    @property
    def oci(self) -> OCIRuntime:
        """The configured default runtime."""
        return self.oci_named("")

    def oci_named(self, name: str) -> OCIRuntime:
        """The runtime a container was created with ("" = the default)."""
        name = name or self.config.runtime
        if name not in self._ocis:
            self._ocis[name] = self._oci_factory(name)
        return self._ocis[name]

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
                             log_level=self.config.log_level, runtime_name=runtime_name,
                             runtime_flags=[f"--{f}" for f in self.config.runtime_flags])

    @cached_property
    def images(self) -> ImageStore:
        from ..images.store import ImageStore

        return ImageStore(self.root, self.config.unqualified_registries,
                          limits=self.config.storage_limits())

    @cached_property
    def network(self) -> NetworkDriver:
        """The network driver (loaded on first use: the exec hot path never needs it)."""
        from ..network import NetworkDriver

        return NetworkDriver(self.state, self.runroot)

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
                         pull_options: PullOptions | None = None,
                         replace: bool = False) -> Container:
        """Record a container (state configured); ``init``/``start`` bring it up.

        The image is pulled first if ``pull`` says so (see engine/images.py).
        ``replace``: a container called ``name`` is removed first (--replace);
        ``config.cidfile`` gets the new id (engine/create_files.py).
        """
        if is_rootless():
            from .rootless import check_limits, limit_flags

            check_limits(limit_flags(config))
        from ..oci.spec import resolve_command
        from .images import ensure_image

        if not config.runtime:
            config.runtime = self.config.runtime
        if name is not None and not valid_name(name):
            raise UsageError(f"container name {name!r} is invalid: names must match "
                             "[a-zA-Z0-9][a-zA-Z0-9_.-]*")
        from . import create_files

        if config.cidfile:
            create_files.check_cidfile(config.cidfile)
        image = ensure_image(self, config.image, pull, progress, pull_options)
        if replace:
            create_files.replace_container(self, name)
        img_cfg = image.config.get("config") or {}
        if config.idle:
            config.command = ["/run/ipy-oci-init", "-P"]  # what spec_builder runs
        else:
            config.command = resolve_command(img_cfg, config.entrypoint, config.cmd)
        from ..storage.atomic import check_free_space

        # A full disk fails here, before there is a record to clean up.
        check_free_space(self.root, 0, self.config.min_free_space, "creating a container")
        if config.network != "none" or config.ports or config.networks:
            from .networks import prepare_create

            prepare_create(self, config, img_cfg)  # before anything is recorded
        made_volumes: list[str] = []
        if any(m.get("volume") or m.get("anonymous") for m in config.mounts):
            from .volumes import resolve_mounts

            made_volumes = resolve_mounts(self, config)  # sources set before the record
        rec = ContainerRecord(
            id=new_id(), name=name or "", image_id=image.id,
            image_name=self.images.matched_name(config.image, image),
            created_at=time.time(), state=State.CONFIGURED, config=config,
            owner_kernel=owner_kernel,
        )
        for _attempt in range(20):
            if name is None:
                rec.name = generate_name()
            try:
                if config.backend == "slurm":
                    from ..state.records import SlurmJobRecord

                    with self.state.transaction():
                        self.state.add_container(rec)
                        self.state.add_slurm_job(SlurmJobRecord(id=rec.id))
                    # Its directory holds this side's lock (engine/slurm.py).
                    (self.containers_dir / rec.id).mkdir(mode=0o700, exist_ok=True)
                else:
                    self.state.add_container(rec)
            except NameInUse:
                if name is not None:
                    if made_volumes:
                        from .volumes import discard

                        discard(self, made_volumes)
                    raise
                continue
            if config.network == "bridge":
                from .networks import connect_created

                try:
                    connect_created(self, rec.id, config)
                except BaseException:
                    self.state.delete_container(rec.id)
                    raise
            from .events import container_event

            ctr = self.container(rec)
            container_event(ctr, "create")
            if config.cidfile:
                create_files.write_cidfile(ctr)
            return ctr
        raise UsageError("could not generate a unique container name: pass --name")

    def container(self, record: ContainerRecord) -> Container:
        """The Container for a record just read from the state store (a Slurm
        container's login-side view, away from its node: engine/slurm.py)."""
        if record.config.backend:
            from .slurm import SlurmContainer
            from .slurm_placement import is_remote

            if is_remote(self, record):
                return SlurmContainer(self, record)
        return Container(self, record)

    def lookup_container(self, ref: str) -> Container:
        """By full ID, name, or unique ID prefix (as podman)."""
        return self.container(self.state.find_container(ref))

    def containers(self, all: bool = True, sync: bool = True) -> list[Container]:
        from ..errors import NoSuchContainer

        out = []
        ctrs = [self.container(rec) for rec in self.state.containers()]
        if sync and any(c.record.config.backend for c in ctrs):
            from .slurm import prefetch_job_states

            prefetch_job_states(self, ctrs)
        for ctr in ctrs:
            if sync:
                try:
                    ctr.refresh(reload=False)
                except NoSuchContainer:
                    continue  # removed meanwhile (e.g. by an --rm exit command)
            if all or ctr.state in State.LIVE:
                out.append(ctr)
        return out

    def run(self, config: ContainerConfig, name: str | None = None,
            owner_kernel: str = "", replace: bool = False) -> Container:
        """Create and start a detached container (``replace``: see create_container)."""
        ctr = self.create_container(config, name, owner_kernel, replace=replace)
        try:
            ctr.start()
        except BaseException:
            try:
                ctr.remove(force=True, timeout=0)
            except Exception:
                pass
            raise
        return ctr

    def touch(self, ctr: Container) -> Container:
        """Look up a container for a command: sync it and run its reaping pass."""
        from .reaping import touch_sessions

        ctr.refresh()
        touch_sessions(self, ctr.id)
        return ctr

    def touch_all(self) -> None:
        """The reaping pass of a command that looks at every container (``ps``)."""
        from .reaping import touch_sessions

        touch_sessions(self)

    # -- exec sessions (see exec_session.py, reaping.py) -------------------------------
    def exec_create(self, ctr: Container | str, config: ExecConfig,
                    owner_kernel: str = "") -> ExecSession:
        from .exec_session import ExecSession

        if isinstance(ctr, str):
            ctr = self.lookup_container(ctr)
        from .slurm import SlurmContainer
        from .slurm_exec import SlurmExec

        if isinstance(ctr, SlurmContainer):
            return SlurmExec.create(ctr, config, owner_kernel)
        return ExecSession.create(ctr, config, owner_kernel)

    def exec(self, ctr: Container | str, command: list[str],
             on_output: Callable[[int, bytes], None], owner_kernel: str = "",
             stdin_fd: int | None = None, **config: Any) -> ProcessResult:
        """One-shot: create, attach until exit, remove. The common case."""
        sess = self.exec_create(ctr, ExecConfig(command=command, **config), owner_kernel)
        return sess.start_and_attach(on_output, stdin_fd=stdin_fd, remove=True)

    def exec_counts(self) -> dict[str, int]:
        """Exec sessions per container id, in one query."""
        return self.state.exec_counts()

    def lookup_exec(self, ref: str) -> ExecSession:
        return self.exec_session(self.state.find_exec_session(ref))

    def exec_session(self, record: ExecRecord) -> ExecSession:
        """The ExecSession for a record (a Slurm container's, away from its node:
        engine/slurm.py's SlurmExec)."""
        from .exec_session import ExecSession
        from .slurm_exec import SlurmExec
        from .slurm_placement import remote_container_ids

        if record.container_id in remote_container_ids(self):
            return SlurmExec(self, record)
        return ExecSession(self, record)

    def exec_sessions(self, container_id: str | None = None,
                      sync: bool = True) -> list[ExecSession]:
        from .reaping import sync_session
        from .slurm_exec import SlurmExec

        sessions = [self.exec_session(r) for r in self.state.exec_sessions(container_id)]
        if sync:
            for s in sessions:
                if isinstance(s, SlurmExec):
                    s.sync()
                else:
                    sync_session(self, s)
        return sessions

    # -- reaping: one entry point per trigger (reaping.py) -----------------------------
    def reap(self, prune_age: float | None = None,
             running_kernels: set[str] | None = None) -> ReapReport:
        """``system reap``: sync everything, reap what lost its owner, prune."""
        from .reaping import system_reap

        return system_reap(self, prune_age, running_kernels)

    def reap_kernel(self, kernel_id: str = "", pid: int = 0, timeout: float | None = None,
                    restarted: bool = False, created_before: float | None = None
                    ) -> list[str]:
        """A kernel (or a process) went away: its sessions and ``--rm`` containers go."""
        from .reaping import reap_kernel

        return reap_kernel(self, kernel_id, pid, timeout, restarted, created_before)

    def reap_dead_clients(self, running_kernels: set[str] | None = None) -> list[str]:
        """Sessions whose client (or, given the running kernels, kernel) is gone."""
        from .reaping import reap_dead_clients

        return reap_dead_clients(self, running_kernels=running_kernels)

    # -- info ----------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """podman's ``info`` data (engine/info.py: host, store, registries, plugins,
        version; JSON keys as podman's)."""
        from .info import system_info

        return system_info(self)


def _private_dir(path: Path) -> None:
    """Create ``path`` 0700, or take group and other access away from ours."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.chmod(path, 0o700)
