"""Container: the lifecycle state machine of one container.

Public methods take the container's file lock for short state transitions and
never hold it while streaming output or waiting for an exit. Methods named
``_..._locked`` expect the caller to hold the lock.
"""

from __future__ import annotations

import json
import signal as _signal
import socket
import time
from collections.abc import Callable, Iterator
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import is_rootless
from ..errors import InvalidState, NoSuchContainer
from ..oci.fsutil import wait_for_file
from ..oci.runtime import CreateRequest
from ..state.locks import AttachHold, FileLock
from ..state.procs import is_alive, kill_process_group, signal_process
from ..state.records import ContainerRecord, State
from . import restart
from .attached import OutputCallback, ProcessResult, attach_until_exit
from .events import container_event

if TYPE_CHECKING:
    from ..oci.runtime import OCIRuntime
    from .runtime import Runtime

# Files conmon and the runtime leave in a bundle; removed at cleanup.
_RUNTIME_FILES = ("attach", "ctl", "winsz", "pidfile", "conmon.pid", "conmon.err",
                  "oci-log")


class Container:
    def __init__(self, runtime: Runtime, record: ContainerRecord) -> None:
        self.runtime = runtime
        self.record = record

    # -- identity ---------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def dir(self) -> Path:
        """The bundle and userdata dir: config.json, log, etc files, overlay dirs."""
        return self.runtime.containers_dir / self.id

    @property
    def log_path(self) -> Path:
        """The k8s-file log: ``--log-opt path=`` if given, else in the bundle."""
        custom = self.record.config.log_path
        return Path(custom) if custom else self.dir / "ctr.log"

    @cached_property
    def lock(self) -> FileLock:
        # One object per Container, so nested ``held()`` in this process re-enters
        # instead of deadlocking on a second flock of the same file.
        return self.runtime.container_lock(self.id)

    @property
    def oci(self) -> OCIRuntime:
        """The OCI runtime this container was created with (runc or crun)."""
        return self.runtime.oci_named(self.record.config.runtime)

    @cached_property
    def attach_hold(self) -> AttachHold:
        return AttachHold(self.runtime.locks_dir / f"{self.id}.attach")

    @cached_property
    def stop_hold(self) -> AttachHold:
        """Held by a ``stop`` while it waits without the container lock: a STOPPING
        record nobody holds this for was left by a stopper that died."""
        return AttachHold(self.runtime.locks_dir / f"{self.id}.stop")

    def _stopper_gone(self) -> bool:
        return (self.record.state == State.STOPPING and not self.stop_hold.held_here
                and not self.stop_hold.is_held_elsewhere())

    def __repr__(self) -> str:
        return f"<Container {self.name} {self.id[:12]} {State.display(self.state)}>"

    # -- state sync ---------------------------------------------------------------
    def _reload(self) -> None:
        rec = self.runtime.state.container(self.id)
        if rec is None:
            if self.lock.is_held:
                # Taking the lock re-created the file of a removed container.
                self.lock.remove()
            raise NoSuchContainer(self.record.name)
        self.record = rec

    def _save(self, **changes: Any) -> None:
        self.runtime.state.update(self.record, **changes)

    def needs_sync(self) -> bool:
        """Cheap check without the lock: has a monitored process exited, or did an
        actor die half-way (an intent state, a STOPPING nobody holds)?"""
        st = self.record.state
        if st in (State.STOPPED, *State.INTENTS):
            return True
        if st not in State.ACTIVE:
            return False
        if self.oci.exit_file_path(self.id).exists():
            return True
        if not is_alive(self.record.conmon_pid, self.record.conmon_start):
            return True
        return self._stopper_gone()

    def _resolve_intent_locked(self) -> None:
        """Roll back or forward what an actor that died half-way left (lock held, so
        no live process is in the middle of it): from the runtime's truth."""
        rec = self.record
        if rec.state == State.INITIALIZING:
            self._undo_init()  # back to configured: no conmon, runtime state or mount
            return
        if rec.state == State.STARTING or self._stopper_gone():
            status = (self.oci.update_container_status(self.id) or {}).get("status")
            if status == "created":
                self._save(state=State.CREATED)
            elif status == "paused":
                self._save(state=State.PAUSED)
            elif rec.state == State.STARTING or status == "running":
                # Running (a STOPPING whose stopper died stays running, as if its
                # stop never happened), or gone: the exit sync below decides.
                self._save(state=State.RUNNING, started_at=rec.started_at or time.time())

    def _sync_locked(self) -> None:
        """Status comes from the runtime: the exit file, else conmon's liveness."""
        self._reload()
        self._resolve_intent_locked()
        rec = self.record
        if rec.state not in State.ACTIVE:
            return
        oci = self.oci
        was_running = rec.state in State.LIVE
        exit_file = oci.exit_file_path(self.id)
        if exit_file.exists():
            code = oci.read_exit_code(self.id)
            try:
                finished = exit_file.stat().st_mtime
            except FileNotFoundError:
                finished = time.time()
            oom = (self.dir / "persist" / "oom").exists()
            self._save(state=State.STOPPED, exit_code=code if code is not None else -1,
                       finished_at=finished, oom_killed=oom)
            container_event(self, "died", exit_code=self.record.exit_code or 0)
            restart.on_exit(self, was_running)
        elif not is_alive(rec.conmon_pid, rec.conmon_start):
            # conmon died without writing an exit file (e.g. it was SIGKILLed).
            status = oci.update_container_status(self.id)
            if status is None or status.get("status") == "stopped":
                self._save(state=State.STOPPED, exit_code=-1, finished_at=time.time())
                container_event(self, "died", exit_code=-1)
                restart.on_exit(self, was_running)

    def refresh(self, reload: bool = True) -> Container:
        """Bring the record up to date, cleaning up after an exit if one happened.
        ``reload=False`` trusts a record just read (listing many containers)."""
        if reload:
            self._reload()
        if self.needs_sync():
            with self.lock.held():
                self._refresh_locked()
        return self

    def _refresh_locked(self) -> None:
        self._sync_locked()
        if self.record.state == State.STOPPED:
            self._cleanup_locked()

    # -- lifecycle ------------------------------------------------------------------
    def init(self, exit_delay: int = 0, preserve_fds: int = 0) -> None:
        """Create the container in the runtime (conmon + ``runc create``).

        ``exit_delay``: an attached client that records the exit itself delays
        conmon's exit command, which is then only the safety net for a client that
        died (and is ended unneeded otherwise, sparing a process start).
        ``preserve_fds``: fds 3 .. 3+N-1 of this process go to the container (run
        --preserve-fds; only the first start has them).
        """
        with self.lock.held():
            self._refresh_locked()
            self._init_locked(exit_delay, preserve_fds)

    def _init_locked(self, exit_delay: int = 0, preserve_fds: int = 0) -> None:
        rec = self.record
        if rec.state not in (State.CONFIGURED, State.EXITED):
            raise InvalidState(
                f"container {rec.name} is {State.display(rec.state)}: only a created or "
                "exited container can be initialized"
            )
        from .spec_builder import prepare_bundle

        self.dir.mkdir(parents=True, exist_ok=True)
        oci = self.oci
        # The intent first: if we die from here on, whoever looks next rolls back.
        self._save(state=State.INITIALIZING)
        try:
            from .networks import setup_for_init

            # The network first (its ports checked): the spec names its netns.
            net_mode, etc_texts = setup_for_init(self, rec.config.hostname or self.id[:12])
            rootfs = prepare_bundle(self, network=net_mode, etc_texts=etc_texts)
            oci.exit_file_path(self.id).unlink(missing_ok=True)
            spawned = oci.create_container(CreateRequest(
                id=self.id, name=rec.name, bundle=self.dir, log_path=self.log_path,
                terminal=rec.config.tty, stdin=rec.config.stdin,
                exit_command=self.runtime.exit_command(self.id, rm=rec.config.auto_remove),
                exit_delay=exit_delay, timeout=rec.config.timeout,
                log_driver=rec.config.log_driver, log_size_max=rec.config.log_size_max,
                preserve_fds=preserve_fds,
            ))
            if rec.config.conmon_pidfile:
                _write_conmon_pidfile(rec.config.conmon_pidfile, spawned.conmon_pid)
            self._save(state=State.CREATED, pid=spawned.pid, pid_start=spawned.pid_start,
                       conmon_pid=spawned.conmon_pid, conmon_start=spawned.conmon_start,
                       rootfs=str(rootfs), exit_code=None, finished_at=0.0, oom_killed=False)
            container_event(self, "init")
        except BaseException:
            self._undo_init()
            raise

    def _undo_init(self) -> None:
        """A failed (or half-done) init leaves nothing: no runtime state, no conmon,
        no mount; the container is configured again."""
        oci = self.oci
        # A conmon or runc of ours that no record names yet (their command lines
        # carry the container id); then the runtime's own state. Each step on its
        # own: a runtime that is missing (or fails) must not keep the rest from
        # being undone, or the intent would stay for ever.
        oci.kill_monitors(self.id)
        try:
            oci.delete_container(self.id)
        except Exception:
            pass
        self._remove_runtime_files()
        try:
            oci.exit_file_path(self.id).unlink(missing_ok=True)
        except Exception:
            pass
        from ..storage.rootfs import unmount_rootfs
        from .networks import teardown

        unmount_rootfs(self.dir)
        teardown(self)  # after the runtime state: no process holds the netns any more
        self._save(state=State.CONFIGURED, pid=0, pid_start=0, conmon_pid=0, conmon_start=0)

    def start(self, preserve_fds: int = 0) -> None:
        with self.lock.held():
            self._refresh_locked()
            if self.record.state not in (State.RUNNING, State.PAUSED, State.STOPPING):
                restart.on_user_start(self)
            self._start_locked(preserve_fds)

    def _start_locked(self, preserve_fds: int = 0) -> None:
        rec = self.record
        if rec.state in (State.CONFIGURED, State.EXITED):
            self._init_locked(preserve_fds=preserve_fds)
        if self.record.state == State.RUNNING:
            return  # podman: starting a running container is a no-op
        if self.record.state != State.CREATED:
            raise InvalidState(
                f"container {rec.name} is {State.display(self.record.state)}: "
                "it cannot be started"
            )
        self._save(state=State.STARTING)  # the intent, in case we die in runc start
        try:
            self.oci.start_container(self.id)
        except BaseException:
            self._sync_locked()  # the runtime says where it really is
            raise
        self._save(state=State.RUNNING, started_at=time.time())
        container_event(self, "start")

    def attach_socket(self) -> socket.socket:
        """Connect to conmon's attach socket (valid between init and exit)."""
        return self.oci.attach(self.dir)

    def resize(self, rows: int, cols: int) -> None:
        self.oci.resize(self.dir, rows, cols)

    def kill(self, sig: int = _signal.SIGKILL) -> None:
        with self.lock.held():
            self._refresh_locked()
            if self.record.state not in (State.RUNNING, State.PAUSED, State.STOPPING):
                raise InvalidState(
                    f"can only kill running containers: {self.name} is in state "
                    f"{State.display(self.record.state)}"
                )
            restart.mark_stopped_by_user(self)  # podman: no restart after a kill
            self.oci.kill_container(self.id, sig)
            container_event(self, "kill")

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop signal, wait ``timeout`` seconds, then SIGKILL; returns the exit code."""
        with self.lock.held():
            self._refresh_locked()
            rec = self.record
            # A stopped container stays stopped: also cancels a restart not yet done.
            restart.mark_stopped_by_user(self)
            if rec.state == State.CREATED:
                # Never started: deleting the runtime container ends conmon's wait.
                self.oci.delete_container(self.id)
                self.oci.read_exit_code(self.id, wait=5.0)
                self._refresh_locked()
                return self.record.exit_code
            if rec.state not in State.LIVE:
                return rec.exit_code
            was_paused = rec.state == State.PAUSED
            # Held while we wait without the lock: if we die, the next look sees a
            # STOPPING nobody holds and puts the record back as the runtime has it.
            self.stop_hold.hold()
            self._save(state=State.STOPPING)
        try:
            self._stop_unlocked(rec, float(rec.config.stop_timeout if timeout is None
                                           else timeout), was_paused)
        finally:
            self.stop_hold.release()
        container_event(self, "stop")
        with self.lock.held():
            self._refresh_locked()
            return self.record.exit_code

    def _stop_unlocked(self, rec: ContainerRecord, timeout: float, was_paused: bool) -> None:
        oci = self.oci
        try:
            if was_paused:
                # A frozen process cannot act on the stop signal; thaw it right after
                # sending.
                if timeout > 0:
                    oci.kill_container(self.id, rec.config.stop_signal)
                oci.unpause_container(self.id)
            code = oci.stop_container(self.id, rec.config.stop_signal, timeout,
                                      on_timeout=partial(_warn_stop_timeout, self.name,
                                                         rec.config.stop_signal, timeout))
        except InvalidState:
            code = None
        if code is None and is_alive(rec.pid, rec.pid_start):
            # The runtime no longer knows the container (its state dir was deleted),
            # yet its process runs: end it by its identity, conmon records the exit.
            signal_process(rec.pid, rec.pid_start, _signal.SIGKILL)
            oci.read_exit_code(self.id, wait=5.0)

    def pause(self) -> None:
        if is_rootless():
            from .rootless import check_pause

            check_pause()
        with self.lock.held():
            self._refresh_locked()
            st = self.record.state
            if st != State.RUNNING:
                why = "already paused" if st == State.PAUSED else f"in state {State.display(st)}"
                raise InvalidState(f"container {self.name} is {why}: only a running "
                                   "container can be paused")
            self.oci.pause_container(self.id)
            self._save(state=State.PAUSED)
            container_event(self, "pause")

    def unpause(self) -> None:
        if is_rootless():
            from .rootless import check_pause

            check_pause()
        with self.lock.held():
            self._refresh_locked()
            st = self.record.state
            if st != State.PAUSED:
                raise InvalidState(f"container {self.name} is not paused (state "
                                   f"{State.display(st)}): only a paused container "
                                   "can be unpaused")
            self.oci.unpause_container(self.id)
            self._save(state=State.RUNNING)
            container_event(self, "unpause")

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the container has exited (as podman, a created container is
        waited for until it runs and exits); returns its exit code."""
        deadline = None if timeout is None else time.monotonic() + timeout
        exit_file = self.oci.exit_file_path(self.id)
        while True:
            self.refresh()
            if self.record.state in (State.EXITED, State.STOPPED):
                return self.record.exit_code
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if left <= 0:
                return None
            wait_for_file(exit_file, left)

    def cleanup(self, rm: bool = False) -> None:
        """What conmon's exit command runs: record the exit, release everything.

        With ``rm``, the container is removed unless an attached client still
        holds it (that client removes it after reading the exit code).
        """
        with self.lock.held():
            self._refresh_locked()
            if self._restart_pending_locked():
                return  # --restart: started again, so neither cleaned away nor removed
            if rm and self.record.state in (State.EXITED, State.CONFIGURED) \
                    and not self.attach_hold.is_held_elsewhere():
                self._remove_locked()

    def restart_if_pending(self) -> bool:
        """Start the container again if its last exit matched its --restart policy
        (engine/restart.py); what an attached ``run`` does after reading the exit."""
        with self.lock.held():
            self._refresh_locked()
            return self._restart_pending_locked()

    def _restart_pending_locked(self) -> bool:
        if self.record.state != State.EXITED or not restart.take_pending(self):
            return False
        container_event(self, "restart")
        self._start_locked()
        return True

    def run_attached(
        self,
        on_output: OutputCallback,
        stdin_fd: int | None = None,
        detach_keys: bytes = b"",
        should_stop: Callable[[], bool] | None = None,
        interrupt_grace: float = 2.0,
        on_started: Callable[[Container], None] | None = None,
        remove: bool | None = None,
        preserve_fds: int = 0,
        already_init: bool = False,
    ) -> ProcessResult:
        """Init, attach, start and stream until the container exits (``run`` without -d).

        ``already_init``: someone else made it (a Slurm job's holder: engine/slurm.py)
        with the attached exit delay; attach and start it.

        Ctrl-C and ``should_stop`` work as engine/attached.py says. With ``remove``
        (default: the container's --rm) the container is removed once its exit
        code is read, unless its --restart policy starts it again. With the
        passthrough log driver the container writes to our own stdout and stderr
        (conmon has them): there is nothing to relay, only the exit to wait for.
        """
        remove = self.record.config.auto_remove if remove is None else remove
        cfg = self.runtime.config
        passthrough = self.record.config.log_driver == "passthrough"
        self.attach_hold.hold()
        try:
            if not already_init:
                self.init(exit_delay=cfg.attached_exit_delay, preserve_fds=preserve_fds)
            sock = None if passthrough else self.attach_socket()
        except BaseException:
            self.attach_hold.release()
            _remove_quietly(self)
            raise

        def forward(sig: int) -> None:
            try:
                self.kill(sig)
            except InvalidState:
                pass  # it exited meanwhile

        try:
            self.start()
            container_event(self, "attach")
            monitor = (self.record.conmon_pid, self.record.conmon_start)
            if on_started is not None:
                on_started(self)
            from ..oci.attach import pump

            relay = partial(pump, sock) if sock is not None else partial(self._exit_pump,
                                                                          monitor)
            out = attach_until_exit(relay, on_output, signal=forward,
                                    stop=lambda grace: self.stop(timeout=grace),
                                    stdin_fd=stdin_fd, detach_keys=detach_keys,
                                    should_stop=should_stop,
                                    interrupt_grace=interrupt_grace)
            result = ProcessResult(kind="run", container_id=self.id, container_name=self.name,
                                   command=list(self.record.config.command),
                                   interrupted=out.interrupted, detached=out.detached,
                                   started_at=self.record.started_at)
            if out.detached:
                return result
            try:
                result.exit_code = self.wait()
            except NoSuchContainer:
                pass  # removed under us by something that did not wait for us
            result.finished_at = self.record.finished_at
            restarted = False
            if restart.has_policy(self.record.config):
                try:
                    restarted = self.restart_if_pending()
                except NoSuchContainer:
                    pass
            if remove and not restarted:
                try:
                    self.remove(force=True)
                except NoSuchContainer:
                    pass
            # Everything conmon's exit command would do is done: end it (and conmon)
            # rather than leave a process working on a root the caller may delete.
            kill_process_group(*monitor, self.id)
            return result
        except BaseException:
            if remove:
                _remove_quietly(self)
            raise
        finally:
            if sock is not None:
                sock.close()
            self.attach_hold.release()

    def _exit_pump(self, monitor: tuple[int, int], on_output: OutputCallback,
                   stdin_fd: int | None = None, detach_keys: bytes = b"",
                   should_stop: Callable[[], bool] | None = None,
                   poll_interval: float = 0.2) -> str:
        """A ``Pump`` with nothing to relay (passthrough): wait for the exit."""
        from ..oci.attach import AttachResult

        exit_file = self.oci.exit_file_path(self.id)
        while not wait_for_file(exit_file, poll_interval):
            if should_stop is not None and should_stop():
                return AttachResult.STOPPED
            if not is_alive(*monitor):
                break
        return AttachResult.EOF

    def _cleanup_locked(self) -> None:
        from ..storage.rootfs import unmount_rootfs
        from .networks import teardown
        from .reaping import on_container_exit

        on_container_exit(self.runtime, self)
        self.oci.delete_container(self.id)
        teardown(self)
        unmount_rootfs(self.dir)
        self._remove_runtime_files()
        self.oci.exit_file_path(self.id).unlink(missing_ok=True)
        self._save(state=State.EXITED, pid=0, conmon_pid=0)
        container_event(self, "cleanup")

    def _remove_runtime_files(self) -> None:
        from ..storage.fsops import remove_tree

        for name in _RUNTIME_FILES:
            try:
                (self.dir / name).unlink()
            except FileNotFoundError:
                pass
        remove_tree(self.dir / "persist", ignore_errors=True)

    def remove(self, force: bool = False, timeout: float | None = None,
               volumes: bool = False) -> None:
        """Remove the container; ``volumes`` (``rm -v``) also removes its anonymous
        volumes (``--rm`` containers always do, as podman's)."""
        with self.lock.held():
            self._refresh_locked()
            st = self.record.state
            if st in State.LIVE and not force:
                # podman's exact words (its 055-rm.bats compares them)
                raise InvalidState(
                    f"cannot remove container {self.id} as it is {State.display(st)} - "
                    "running or paused containers cannot be removed without force: "
                    "container state improper"
                )
        if self.record.state in State.ACTIVE:
            try:
                self.stop(timeout)
            except NoSuchContainer:
                return  # removed meanwhile (an attached run --rm): done all the same
        # An attached client (``run`` without -d) is reading the exit code: let it
        # finish (it removes a --rm container itself), then remove what is left.
        self._wait_for_attached_client(self.runtime.config.attached_client_grace)
        with self.lock.held():
            try:
                self._refresh_locked()
            except NoSuchContainer:
                return  # the attached client removed it: done all the same
            self._remove_locked(volumes=volumes)

    def _wait_for_attached_client(self, timeout: float) -> None:
        if self.attach_hold.held_here:
            return  # we are the attached client
        deadline = time.monotonic() + timeout
        while self.attach_hold.is_held_elsewhere() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _remove_locked(self, volumes: bool = False) -> None:
        from ..storage.fsops import remove_tree
        from ..storage.rootfs import remove_rootfs
        from .networks import forget
        from .reaping import remove_all_exec_sessions

        remove_all_exec_sessions(self.runtime, self)
        forget(self)  # torn down already (cleanup); its connections go
        # The root filesystem first: it holds the container's own files (deep trees,
        # read-only dirs), and if it cannot go, the record stays to say so.
        remove_rootfs(self.dir)
        remove_tree(self.dir)
        for _attempt in range(5):
            if self.runtime.state.delete_container(self.id):
                break
            remove_all_exec_sessions(self.runtime, self)  # one was added meanwhile
        container_event(self, "remove")
        cfg = self.record.config
        if (volumes or cfg.auto_remove) and any(m.get("anonymous") for m in cfg.mounts):
            from .volumes import remove_anonymous_volumes

            remove_anonymous_volumes(self.runtime, cfg)
        self.attach_hold.remove()
        self.stop_hold.remove()
        self.lock.remove()

    # -- reading ------------------------------------------------------------------------
    def logs(self, follow: bool = False, poll: float = 0.1) -> Iterator[tuple[str, bytes]]:
        """(stream, data) pairs from the k8s-file log; ``follow`` waits for more until
        the container has exited (engine/logs.py: tail, since, several containers)."""
        from .logs import LogOptions, follow_logs, read_log

        if follow:
            for line in follow_logs([self], LogOptions(follow=True), poll=poll):
                yield line.stream, line.data + (b"\n" if line.complete else b"")
        else:
            yield from read_log(self.log_path)

    def inspect(self) -> dict[str, Any]:
        from .views import container_inspect

        return container_inspect(self)

    def spec(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.dir / "config.json").read_text())
        except (OSError, ValueError):
            return None
        return data


def _write_conmon_pidfile(path: str, pid: int) -> None:
    """``--conmon-pidfile``: conmon's pid, for systemd units (rewritten on restarts)."""
    from ..errors import UsageError

    try:
        tmp = f"{path}.{pid}.tmp"
        with open(tmp, "w") as fh:
            fh.write(str(pid))
        Path(tmp).replace(path)
    except OSError as exc:
        raise UsageError(f"cannot write --conmon-pidfile {path}: {exc.strerror or exc}") \
            from None


def _remove_quietly(ctr: Container) -> None:
    try:
        ctr.remove(force=True, timeout=0)
    except Exception:
        pass


def _warn_stop_timeout(name: str, sig: int, timeout: float) -> None:
    """podman's warning when the stop signal did not end the container in time."""
    import sys

    try:
        sig_name = _signal.Signals(sig).name
    except ValueError:
        sig_name = str(sig)
    sys.stderr.write(f"Warning: StopSignal {sig_name} failed to stop container {name} in "
                     f"{int(timeout)} seconds, resorting to SIGKILL\n")
