"""CLI handlers for the container lifecycle: start, stop, restart, kill, pause, rm ...

(run and create are in commands_run.py.) Targets come from engine/selection.py
(names, --all, --latest, --cidfile, --filter, --ignore); as podman, each success
prints the name typed (the full ID for --all, --latest and --filter) and each
failure one ``Error:`` line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..engine import lifecycle
from ..engine.container import Container
from ..engine.runtime import Runtime
from ..engine.selection import Outcomes, Selection, apply, select_targets
from ..errors import InvalidState, NoSuchContainer, OciError
from ..grammar.parser_lifecycle import check_lifecycle_flags
from ..grammar.signals import parse_signal


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(exc: Exception) -> None:
    sys.stderr.write(f"Error: {exc}\n")


def _select(rt: Runtime, args: argparse.Namespace, states: Sequence[str] | None = None,
            ignore: bool | None = None) -> Selection:
    check_lifecycle_flags(args)
    return select_targets(rt, args.containers, all=args.all, latest=args.latest,
                          cidfiles=args.cidfile, filters=args.filter,
                          ignore=args.ignore if ignore is None else ignore,
                          states=states, check=False)


def _report(outcomes: Outcomes, show: Callable[[Any, str], str] | None = None) -> int:
    """Print what was done and what failed; the exit code of the first failure."""
    rc = 0
    for o in outcomes.items:
        if o.error is not None:
            _err(o.error)
            rc = rc or o.error.exit_code
        else:
            _out(show(o.value, o.target.raw) if show else o.target.raw)
    return rc


def _verb(rt: Runtime, args: argparse.Namespace, action: Callable[[Container], Any],
          states: Sequence[str] | None = None) -> int:
    return _report(apply(rt, _select(rt, args, states), action))


# 126 (cannot invoke) and 127 (not found) are run's codes; podman's start exits 125
# for the same failures (its 130-kill.bats checks it).
_RUN_ONLY_CODES = (126, 127)


def cmd_start(rt: Runtime, args: argparse.Namespace) -> int:
    if args.attach:
        if args.detach_keys is not None:
            from ..engine.options import parse_detach_keys

            parse_detach_keys(args.detach_keys)  # a bad value is an error, tty or not
        sel = _select(rt, args)
        if not sel.targets:
            return 0
        ctr = sel.targets[0].container
        ctr.refresh()
        from .commands_run import run_attached

        try:
            if args.detach_keys is not None:
                return run_attached(ctr, detach_keys=args.detach_keys,
                                    remove=ctr.record.config.auto_remove)
            return run_attached(ctr, remove=ctr.record.config.auto_remove)
        except OciError as exc:
            if exc.exit_code not in _RUN_ONLY_CODES:
                raise
            _err(exc)
            return 125
    # --all leaves running containers alone (podman).
    states = ("created", "initialized", "exited", "stopped")
    rc = _verb(rt, args, lambda c: c.start(), states)
    return 125 if rc in _RUN_ONLY_CODES else rc


def cmd_stop(rt: Runtime, args: argparse.Namespace) -> int:
    return _verb(rt, args, lambda c: c.stop(args.time))


def cmd_restart(rt: Runtime, args: argparse.Namespace) -> int:
    if args.running:  # every running container (podman)
        check_lifecycle_flags(args)
        sel = select_targets(rt, [], all=True, states=("running",), check=False)
        return _report(apply(rt, sel, lambda c: lifecycle.restart(c, args.time)))
    return _verb(rt, args, lambda c: lifecycle.restart(c, args.time))


def cmd_kill(rt: Runtime, args: argparse.Namespace) -> int:
    sig = parse_signal(args.signal)
    return _verb(rt, args, lambda c: c.kill(sig), ("running", "paused", "stopping"))


def cmd_pause(rt: Runtime, args: argparse.Namespace) -> int:
    return _verb(rt, args, lambda c: c.pause(), ("running",))


def cmd_unpause(rt: Runtime, args: argparse.Namespace) -> int:
    return _verb(rt, args, lambda c: c.unpause(), ("paused",))


def cmd_rm(rt: Runtime, args: argparse.Namespace) -> int:
    """podman's exit codes: 1 if a container does not exist, 2 if one is running
    (without --force), else 125 on failure; ``rm -f`` of a missing one is quiet."""
    try:
        sel = _select(rt, args, ignore=args.ignore or args.force)
    except NoSuchContainer as exc:
        _err(exc)
        return 1
    depend = args.depend or args.all  # podman: --all implies --depend
    if depend:
        sel = lifecycle.with_dependents(rt, sel)

    def remove(ctr: Container) -> None:
        lifecycle.remove(ctr, force=args.force, timeout=args.time, volumes=args.volumes,
                         depend=depend)

    outcomes = apply(rt, sel, remove, skip_gone=args.force or args.ignore)
    rc = 0
    for o in outcomes.items:
        if o.error is None:
            _out(o.target.raw)
            continue
        _err(o.error)
        if isinstance(o.error, NoSuchContainer):
            rc = 1
        elif isinstance(o.error, InvalidState):
            rc = rc if rc == 1 else 2
        else:
            rc = rc or o.error.exit_code
    return rc


def cmd_wait(rt: Runtime, args: argparse.Namespace) -> int:
    conditions = lifecycle.check_conditions(args.condition)
    interval = lifecycle.interval_seconds(args.interval)
    outcomes = apply(rt, _select(rt, args),
                     lambda c: lifecycle.wait_for(c, conditions, interval))
    return _report(outcomes, lambda code, raw: str(code))


def cmd_init(rt: Runtime, args: argparse.Namespace) -> int:
    rc = 0
    for ref in args.containers:
        try:
            ctr = rt.touch(rt.lookup_container(ref))
            ctr.init()
            _out(ctr.id)
        except OciError as exc:
            _err(exc)
            rc = rc or exc.exit_code
    return rc


def cmd_container(rt: Runtime, args: argparse.Namespace) -> int:
    if args.ccmd == "exists":
        try:
            rt.lookup_container(args.container)
        except NoSuchContainer:
            return 1
        return 0
    if args.ccmd == "prune":
        from .commands_files import cmd_container_prune

        return cmd_container_prune(rt, args)
    if args.ccmd.startswith("slurm-"):
        return _slurm_node_command(rt, args)
    if args.ccmd != "cleanup":
        raise OciError("missing subcommand: try 'ipy-oci container --help'")
    from ..errors import NoSuchExecSession

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


def _slurm_node_command(rt: Runtime, args: argparse.Namespace) -> int:
    """The node half of a Slurm container (engine/slurm_node.py): run by its job only."""
    from ..engine import slurm_node

    if not rt.config.slurm_node:
        raise OciError(f"container {args.ccmd} runs on a Slurm node for a job: "
                       "it is not a command for users")
    if args.ccmd == "slurm-hold":
        slurm_node.record_node(rt, rt.lookup_container(args.container).id)
    ctr = rt.lookup_container(args.container)
    if args.ccmd == "slurm-hold":
        return slurm_node.hold(rt, ctr, args.attached)
    if args.ccmd == "slurm-attach":
        return slurm_node.attach_on_node(rt, ctr, args.rm)
    if args.ccmd == "slurm-exec":
        return slurm_node.exec_on_node(rt, ctr, args.session, args.detach, args.keep)
    slurm_node.sweep(rt, ctr)
    return 0
