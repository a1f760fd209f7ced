"""CLI handlers for the container lifecycle: start, stop, restart, kill, pause, rm ...

(run and create are in commands_run.py.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..engine.container import Container
from ..engine.runtime import Runtime
from ..errors import InvalidState, NoSuchContainer, OciError
from ..grammar.signals import parse_signal


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(exc: Exception) -> None:
    sys.stderr.write(f"Error: {exc}\n")


def _for_each(rt: Runtime, refs: list[str], all_: bool,
              action: Callable[[Container], str | None], all_filter: tuple[str, ...] = (),
              ignore_missing: bool = False) -> int:
    """Apply ``action`` to each container; report each failure; 125 if any failed."""
    if all_:
        targets: list[Container | str] = [
            c for c in rt.containers(all=True) if not all_filter or c.state in all_filter]
    else:
        if not refs:
            raise InvalidState("you must provide at least one container name or ID "
                               "(or use --all)")
        targets = list(refs)
    rc = 0
    for target in targets:
        try:
            ctr = rt.lookup_container(target) if isinstance(target, str) else target
            rt.touch(ctr)
            printed = action(ctr)
            if printed is not None:
                _out(printed)
        except OciError as exc:
            if ignore_missing and isinstance(exc, NoSuchContainer):
                continue
            _err(exc)
            rc = exc.exit_code if rc == 0 else rc
    return rc


def cmd_start(rt: Runtime, args: argparse.Namespace) -> int:
    if args.attach:
        if len(args.containers) != 1:
            raise InvalidState("you can only attach to one container at a time")
        ctr = rt.lookup_container(args.containers[0])
        ctr.refresh()
        from .commands_run import run_attached

        return run_attached(ctr, remove=ctr.record.config.auto_remove)

    def start(ctr: Container) -> str:
        ctr.start()
        return _ref(ctr, args.containers)

    return _for_each(rt, args.containers, False, start)


def _ref(ctr: Container, refs: list[str]) -> str:
    """Podman echoes the reference the user typed."""
    for r in refs:
        if r in (ctr.name, ctr.id) or ctr.id.startswith(r):
            return r
    return ctr.id


def cmd_stop(rt: Runtime, args: argparse.Namespace) -> int:
    if args.time is not None and args.time < 0:
        raise InvalidState("--time must be zero or more seconds")
    def stop(ctr: Container) -> str:
        ctr.stop(args.time)
        return _ref(ctr, args.containers)

    return _for_each(rt, args.containers, args.all, stop)


def cmd_restart(rt: Runtime, args: argparse.Namespace) -> int:
    def restart(ctr: Container) -> str:
        ctr.stop(args.time)
        ctr.start()
        return ctr.id

    return _for_each(rt, args.containers, args.all, restart)


def cmd_kill(rt: Runtime, args: argparse.Namespace) -> int:
    sig = parse_signal(args.signal)
    def kill(ctr: Container) -> str:
        ctr.kill(sig)
        return _ref(ctr, args.containers)

    return _for_each(rt, args.containers, args.all, kill, all_filter=("running", "paused"))


def cmd_pause(rt: Runtime, args: argparse.Namespace) -> int:
    def pause(ctr: Container) -> str:
        ctr.pause()
        return ctr.id

    return _for_each(rt, args.containers, args.all, pause, all_filter=("running",))


def cmd_unpause(rt: Runtime, args: argparse.Namespace) -> int:
    def unpause(ctr: Container) -> str:
        ctr.unpause()
        return ctr.id

    return _for_each(rt, args.containers, args.all, unpause, all_filter=("paused",))


def cmd_rm(rt: Runtime, args: argparse.Namespace) -> int:
    def remove(ctr: Container) -> str:
        ctr.remove(force=args.force, timeout=args.time)
        return ctr.id

    return _for_each(rt, args.containers, args.all, remove, ignore_missing=args.ignore)


def cmd_wait(rt: Runtime, args: argparse.Namespace) -> int:
    return _for_each(rt, args.containers, False, lambda c: str(c.wait()))


def cmd_init(rt: Runtime, args: argparse.Namespace) -> int:
    def init(ctr: Container) -> str:
        ctr.init()
        return ctr.id

    return _for_each(rt, args.containers, False, init)


def cmd_container(rt: Runtime, args: argparse.Namespace) -> int:
    if args.ccmd != "cleanup":
        raise InvalidState("missing subcommand: try 'ipy-oci container cleanup --help'")
    from ..errors import NoSuchContainer, NoSuchExecSession

    rc = 0
    for ref in args.containers:
        try:
            ctr = rt.lookup_container(ref)
            if args.exec:
                sess = rt.lookup_exec(args.exec)
                sess.sync()
            else:
                ctr.cleanup(rm=args.rm)
        except (NoSuchContainer, NoSuchExecSession):
            continue  # already cleaned up and removed by someone else: nothing to do
        except OciError as exc:
            _err(exc)
            rc = exc.exit_code
    return rc
