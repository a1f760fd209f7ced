"""``%oci SUBCOMMAND``: the shared grammar's commands, returning Python objects.

The CLI prints text for the same commands; both take their words and JSON shapes
from engine/views.py. The image commands are in commands_images.py.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine import lifecycle
from ..engine.selection import apply, select_targets
from ..engine.views import inspect_any, inspect_refs, reap_summary
from ..errors import (
    NoSuchContainer,
    NoSuchExecSession,
    NotFoundError,
    OciError,
    UsageError,
)
from ..grammar.options import container_config, exec_config
from ..grammar.options_run import check_cell_flags, stream_filter
from ..grammar.parser_lifecycle import check_lifecycle_flags
from ..grammar.signals import parse_signal
from .commands_build import cmd_build
from .commands_files import FILE_HANDLERS
from .commands_images import IMAGE_HANDLERS
from .commands_logs import LOGS_HANDLERS
from .commands_networks import NETWORK_HANDLERS
from .commands_volumes import VOLUME_HANDLERS
from .execs import attached_exec, raise_for
from .handles import (
    ContainerHandle,
    ContainerList,
    ExecSessionHandle,
    InspectData,
)
from .interrupts import StopControl
from .streams import CellOutput

if TYPE_CHECKING:
    from ..engine.attached import ProcessResult
    from ..engine.container import Container
    from ..engine.runtime import Runtime
    from .context import KernelContext
    from .grammar import MagicLine

EXEC_MIME = "application/vnd.ipy-oci.exec+json"


class Call:
    """One ``%oci`` line: the parsed grammar plus what a handler needs."""

    def __init__(self, ctx: KernelContext, rt: Runtime, ml: MagicLine, grace: float) -> None:
        self.ctx = ctx
        self.rt = rt
        self.args = ml.args
        self.opts = ml.opts
        self.grace = grace


Handler = Callable[[Call], Any]


# -- run and exec -----------------------------------------------------------------------------
def cmd_run(c: Call) -> Any:
    args, rt = c.args, c.rt
    check_cell_flags(args)
    cfg = container_config(args)
    if args.detach:
        # The magic's --timeout is podman's here: conmon kills the container then.
        cfg.timeout = _whole_seconds(c.opts.timeout) or cfg.timeout
        return ContainerHandle(rt, rt.run(cfg, args.name, owner_kernel=c.ctx.kernel_id,
                                          replace=args.replace))
    if args.tty or args.interactive:
        raise UsageError("%oci run: a cell has no terminal; start it with -d and open one "
                         "with '%oci exec -it CONTAINER sh'")
    ctr = rt.create_container(cfg, args.name, owner_kernel=c.ctx.kernel_id,
                              replace=args.replace)
    out = CellOutput()
    deadline = None if c.opts.timeout is None else time.monotonic() + c.opts.timeout
    timed_out = False

    def should_stop() -> bool:
        nonlocal timed_out
        timed_out = deadline is not None and time.monotonic() > deadline
        return timed_out

    try:
        res = ctr.run_attached(stream_filter(args.attach, out), should_stop=should_stop,
                               interrupt_grace=c.grace)
    finally:
        out.close()
    res.finished_at = res.finished_at or time.time()
    res.interrupted, res.timed_out = res.interrupted and not timed_out, timed_out
    res.output = out.digests()
    c.ctx.last = res
    raise_for(res, shlex.join(cfg.command), c.opts.no_raise)
    if cfg.auto_remove:
        return None
    return ContainerHandle(rt, ctr)


def cmd_create(c: Call) -> ContainerHandle:
    check_cell_flags(c.args)
    cfg = container_config(c.args)
    cfg.timeout = _whole_seconds(c.opts.timeout) or cfg.timeout  # podman's --timeout
    return ContainerHandle(c.rt, c.rt.create_container(cfg, c.args.name,
                                                       owner_kernel=c.ctx.kernel_id,
                                                       replace=c.args.replace))


def _whole_seconds(timeout: float | None) -> int:
    import math

    return math.ceil(timeout) if timeout else 0


def cmd_exec(c: Call) -> Any:
    args, rt, ctx = c.args, c.rt, c.ctx
    config = exec_config(args)
    if args.latest:
        from ..engine.selection import latest_container

        ctr = rt.touch(latest_container(rt))
    else:
        ctr = rt.touch(rt.lookup_container(args.container))
    if config.tty:
        # Created, not started: the JupyterLab extension starts and attaches it.
        sess = rt.exec_create(ctr, config, owner_kernel=ctx.kernel_id)
        _publish_terminal(sess.id, ctr, config.command)
        return None
    if args.detach:
        sess = rt.exec_create(ctr, config, owner_kernel=ctx.kernel_id)
        sess.start()
        return ExecSessionHandle(sess, ctr.name)
    if config.attach_stdin:
        raise UsageError("%oci exec -i: a cell has no stdin to attach; use -it for a "
                         "terminal, or put the input in a '%%oci exec' cell body")
    if c.opts.widget:
        from .widgets import ExecSessionView

        return ExecSessionView.start(ctr, config, grace=c.grace, timeout=c.opts.timeout)
    with StopControl(c.grace, c.opts.timeout) as ctl:
        result = attached_exec(ctx, rt, ctr, config, ctl, "exec")
    ctx.last = result
    raise_for(result, _short(shlex.join(config.command), 60), c.opts.no_raise)
    return None


def _publish_terminal(session_id: str, ctr: Container, command: list[str]) -> None:
    from IPython.display import display

    payload = {"session_id": session_id, "container_id": ctr.id,
               "container_name": ctr.name, "command": list(command), "tty": True}
    text = (f"exec session {session_id[:12]} ({shlex.join(command)} in {ctr.name}) is "
            "ready: open this notebook in JupyterLab with the ipy-oci extension to use "
            "its terminal")
    display({EXEC_MIME: payload, "text/plain": text}, raw=True)


# -- listing and reading ------------------------------------------------------------------------
def cmd_ps(c: Call) -> Any:
    """Handles (a rich table) or, with -q, IDs; ``--format json`` rows; a template
    prints exactly what ``ipy-oci ps --format`` prints."""
    from ..grammar.gotemplate import is_json
    from ..grammar.ps import ps_json, ps_listing, ps_text

    args, rt = c.args, c.rt
    if c.opts.widget:
        from .widgets import ContainerTable

        return ContainerTable(all=args.all)
    listing = ps_listing(rt, args)
    if args.quiet and not args.format:
        return [ctr.id if args.no_trunc else ctr.id[:12] for ctr in listing.containers]
    if args.format and is_json(args.format):
        return ps_json(listing)
    if args.format:
        print(ps_text(listing, args), end="")
        return None
    return ContainerList(ContainerHandle(rt, ctr) for ctr in listing.containers)


def cmd_inspect(c: Call) -> Any:
    found = [inspect_any(c.rt, ref, c.args.type)
             for ref in inspect_refs(c.rt, c.args.refs, c.args.latest)]
    fmt = c.args.format
    if fmt and fmt != "json":  # a template: the CLI's text
        from ..grammar.gotemplate import render_rows
        from ..grammar.output import go_inspect_rows

        print(render_rows(fmt, go_inspect_rows(found), heading=False, name="inspect"), end="")
        return None
    data = [InspectData(d) for d in found]
    return data[0] if len(data) == 1 else data


def cmd_info(c: Call) -> Any:
    fmt = getattr(c.args, "format", None)
    if fmt:
        from ..grammar.info_text import info_text

        print(info_text(c.rt.info(), fmt), end="")
        return None
    return InspectData(c.rt.info())


def cmd_version(c: Call) -> None:
    from ..engine.info import version_data
    from ..grammar.info_text import version_text

    print(version_text(version_data(), getattr(c.args, "format", None)), end="")


# -- lifecycle, one or many containers -----------------------------------------------------------
def _each(c: Call, action: Callable[[Container], Any], states: tuple[str, ...] | None = None,
          ignore: bool | None = None, depend: bool = False) -> list[Any]:
    """``action`` on every target (engine/selection.py: names, --all, --latest,
    --cidfile, --filter, --ignore); failures are collected and raised after the rest
    ran. An action that returns None stands for the name typed (or the full ID)."""
    args, rt = c.args, c.rt
    check_lifecycle_flags(args)
    if getattr(args, "running", False):  # restart --running: every running container
        sel = select_targets(rt, [], all=True, states=("running",), check=False)
    else:
        sel = select_targets(rt, args.containers, all=args.all, latest=args.latest,
                             cidfiles=args.cidfile, filters=args.filter,
                             ignore=args.ignore if ignore is None else ignore,
                             states=states, check=False)
    if depend:
        sel = lifecycle.with_dependents(rt, sel)
    outcomes = apply(rt, sel, action, skip_gone=bool(ignore))
    done = [o.target.raw if o.value is None else o.value for o in outcomes.done]
    errors = outcomes.errors
    if errors:
        if done:
            print("done: " + ", ".join(d.name if isinstance(d, ContainerHandle) else str(d)
                                       for d in done))
        if len(errors) == 1:
            raise errors[0]
        raise OciError("; ".join(str(e) for e in errors))
    return done


def _handles(c: Call, items: list[Any]) -> Any:
    args = c.args
    one = not (args.all or args.filter or len(args.cidfile) > 1
               or getattr(args, "running", False) or len(args.containers) > 1)
    if len(items) == 1 and one:
        return items[0]
    return ContainerList(items)


def cmd_stop(c: Call) -> Any:
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).stop(c.args.time)))


def cmd_restart(c: Call) -> Any:
    def restart(ctr: Container) -> ContainerHandle:
        lifecycle.restart(ctr, c.args.time)
        return ContainerHandle(c.rt, ctr)

    return _handles(c, _each(c, restart))


def cmd_kill(c: Call) -> Any:
    sig = parse_signal(c.args.signal)
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).kill(sig),
                             ("running", "paused", "stopping")))


def cmd_pause(c: Call) -> Any:
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).pause(),
                             ("running",)))


def cmd_unpause(c: Call) -> Any:
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).unpause(),
                             ("paused",)))


def cmd_start(c: Call) -> Any:
    if c.args.attach:
        raise UsageError("%oci start -a: a cell cannot attach to a container; start it "
                         "and read '%oci logs -f NAME'")
    # --all leaves running containers alone (podman).
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).start(),
                             ("created", "initialized", "exited")))


def cmd_init(c: Call) -> Any:
    done = []
    for ref in c.args.containers:
        ctr = c.rt.touch(c.rt.lookup_container(ref))
        ctr.init()
        done.append(ContainerHandle(c.rt, ctr))
    return done[0] if len(done) == 1 else ContainerList(done)


def cmd_rm(c: Call) -> None:
    """Prints what was removed (the names typed, or the IDs), as ``ipy-oci rm``."""
    args = c.args
    depend = args.depend or args.all  # podman: --all implies --depend

    def remove(ctr: Container) -> None:
        lifecycle.remove(ctr, force=args.force, timeout=args.time, volumes=args.volumes,
                         depend=depend)

    for name in _each(c, remove, ignore=args.ignore or args.force, depend=depend):
        print(name)


def cmd_wait(c: Call) -> Any:
    conditions = lifecycle.check_conditions(c.args.condition)
    interval = lifecycle.interval_seconds(c.args.interval)
    codes = _each(c, lambda ctr: lifecycle.wait_for(ctr, conditions, interval))
    return codes[0] if len(codes) == 1 and len(c.args.containers) <= 1 \
        and not (c.args.all or c.args.filter) else codes


# -- maintenance ------------------------------------------------------------------------------
def cmd_system(c: Call) -> None:
    if c.args.scmd == "df":
        from .commands_files import system_df

        return system_df(c)
    if c.args.scmd != "reap":
        raise UsageError("missing subcommand: try '%oci system reap' or '%oci system df'")
    print(reap_summary(c.rt.reap(prune_age=c.args.prune_age)))


def cmd_container(c: Call) -> Any:
    """``container exists`` (True or False) and ``container cleanup`` (what conmon's
    exit command runs, by hand); the other ``container X`` are aliases of ``X``."""
    if c.args.ccmd == "exists":
        try:
            c.rt.lookup_container(c.args.container)
        except NoSuchContainer:
            return False
        return True
    if c.args.ccmd == "prune":
        from .commands_files import container_prune

        return container_prune(c)
    if c.args.ccmd != "cleanup":
        raise UsageError("missing subcommand: try '%oci container cleanup --help'")
    for ref in c.args.containers:
        try:
            ctr = c.rt.lookup_container(ref)
            if c.args.exec:
                c.rt.lookup_exec(c.args.exec).sync()
            else:
                ctr.cleanup(rm=c.args.rm)
        except (NoSuchContainer, NoSuchExecSession):
            continue  # already cleaned up and removed by someone else


LINE_COMMANDS: dict[str, Handler] = {
    "run": cmd_run, "create": cmd_create, "exec": cmd_exec,
    "ps": cmd_ps, "inspect": cmd_inspect,
    "info": cmd_info, "version": cmd_version, "stop": cmd_stop, "restart": cmd_restart,
    "kill": cmd_kill, "pause": cmd_pause, "unpause": cmd_unpause, "start": cmd_start,
    "init": cmd_init, "rm": cmd_rm, "wait": cmd_wait, "system": cmd_system,
    "container": cmd_container, **IMAGE_HANDLERS, **NETWORK_HANDLERS, **LOGS_HANDLERS,
    **VOLUME_HANDLERS, **FILE_HANDLERS, "build": cmd_build,
}


# -- kernel-only subcommands ---------------------------------------------------------------------
def cmd_last(ctx: KernelContext, argv: list[str]) -> ProcessResult:
    if argv:
        raise UsageError("%oci last takes no arguments")
    if ctx.last is None:
        raise NotFoundError("no '%%oci exec' or '%%oci run' has finished in this kernel yet")
    return ctx.last


def cmd_provenance(ctx: KernelContext, argv: list[str]) -> Any:
    from .grammar import _MagicParser
    from .provenance import Provenance, find

    p = _MagicParser(prog="%oci provenance", add_help=False)
    p.add_argument("ref", nargs="?", default="")
    p.add_argument("--json", action="store_true")
    p.add_argument("--export", default=None, metavar="PATH")
    ns = p.parse_args(argv)
    if ns.export is not None:
        return _export_provenance(ctx, ns.export, ns.ref or ns.json)
    record = find(ctx.provenance, ns.ref)
    if ns.json:
        print(json.dumps(record, indent=2))
        return None
    return Provenance(record, expanded=True)


def _export_provenance(ctx: KernelContext, path: str, extra: Any) -> None:
    """``%oci provenance --export PATH``: every record of this kernel, for ``ipy-oci
    rerun PATH``."""
    from ..engine.rerun import write_export

    if extra:
        raise UsageError("%oci provenance --export PATH writes every record of this "
                         "kernel: it takes no REF and no --json")
    out = write_export(path, ctx.provenance, ctx.kernel_id)
    print(f"exported {len(ctx.provenance)} provenance record(s) to {out}: re-run them "
          f"with 'ipy-oci rerun {out}'")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
