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

from ..engine.records import State
from ..engine.views import container_summary, image_inspect, reap_summary
from ..errors import (
    NoSuchContainer,
    NoSuchExecSession,
    NoSuchImage,
    NotFoundError,
    OciError,
    UsageError,
)
from ..grammar.options import container_config, exec_config
from ..grammar.signals import parse_signal
from .commands_images import IMAGE_HANDLERS
from .commands_networks import NETWORK_HANDLERS
from .execs import attached_exec, raise_for
from .handles import (
    ContainerHandle,
    ContainerList,
    ExecSessionHandle,
    InspectData,
)
from .interrupts import StopControl
from .streams import STDERR, STDOUT, CellOutput

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
    cfg = container_config(args)
    if args.detach:
        return ContainerHandle(rt, rt.run(cfg, args.name, owner_kernel=c.ctx.kernel_id))
    if args.tty or args.interactive:
        raise UsageError("%oci run: a cell has no terminal; start it with -d and open one "
                         "with '%oci exec -it CONTAINER sh'")
    ctr = rt.create_container(cfg, args.name, owner_kernel=c.ctx.kernel_id)
    out = CellOutput()
    deadline = None if c.opts.timeout is None else time.monotonic() + c.opts.timeout
    timed_out = False

    def should_stop() -> bool:
        nonlocal timed_out
        timed_out = deadline is not None and time.monotonic() > deadline
        return timed_out

    try:
        res = ctr.run_attached(out, should_stop=should_stop, interrupt_grace=c.grace)
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
    cfg = container_config(c.args)
    return ContainerHandle(c.rt, c.rt.create_container(cfg, c.args.name,
                                                       owner_kernel=c.ctx.kernel_id))


def cmd_exec(c: Call) -> Any:
    args, rt, ctx = c.args, c.rt, c.ctx
    config = exec_config(args)
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
    args, rt = c.args, c.rt
    if c.opts.widget:
        from .widgets import ContainerTable

        return ContainerTable(all=args.all)
    ctrs = []
    for ctr in rt.containers(all=args.all):
        try:
            ctrs.append(rt.touch(ctr))
        except NoSuchContainer:
            continue
    if args.quiet:
        return [ctr.id if args.no_trunc else ctr.id[:12] for ctr in ctrs]
    handles = ContainerList(ContainerHandle(rt, ctr) for ctr in ctrs)
    if args.format == "json":
        return [container_summary(hd.container, hd.exec_sessions()) for hd in handles]
    if args.format:
        raise UsageError(f"unsupported --format {args.format!r}: use 'json'")
    return handles


def cmd_logs(c: Call) -> None:
    ctr = c.rt.touch(c.rt.lookup_container(c.args.container))
    out = CellOutput()
    try:
        for stream, data in ctr.logs(follow=c.args.follow):
            out(STDERR if stream == "stderr" else STDOUT, data)
    except KeyboardInterrupt:
        pass  # stop following
    finally:
        out.close()


def cmd_inspect(c: Call) -> Any:
    found = [_inspect_one(c.rt, ref, c.args.type) for ref in c.args.refs]
    return found[0] if len(found) == 1 else found


def _inspect_one(rt: Runtime, ref: str, kind: str) -> InspectData:
    if kind in ("all", "container"):
        try:
            return InspectData(rt.touch(rt.lookup_container(ref)).inspect())
        except NoSuchContainer:
            if kind == "container":
                raise
    if kind in ("all", "image"):
        try:
            return InspectData(image_inspect(rt, rt.images.lookup(ref)))
        except NoSuchImage:
            if kind == "image":
                raise
    try:
        return InspectData(rt.lookup_exec(ref).sync().inspect())
    except NoSuchExecSession:
        raise NotFoundError(f"no such object: {ref!r} (not a container, image or exec "
                            "session known here)") from None


def cmd_info(c: Call) -> Any:
    return InspectData(c.rt.info())


def cmd_version(c: Call) -> None:
    from .. import __version__

    print(f"ipy-oci version {__version__}")


# -- lifecycle, one or many containers -----------------------------------------------------------
def _each(c: Call, action: Callable[[Container], Any], all_filter: tuple[str, ...] = (),
          refs: list[str] | None = None) -> list[Any]:
    """``action`` on every target; failures are collected and raised after the rest ran."""
    rt = c.rt
    refs = list(c.args.containers) if refs is None else refs
    if getattr(c.args, "all", False):
        targets: list[Container | str] = [
            x for x in rt.containers(all=True) if not all_filter or x.state in all_filter]
    elif not refs:
        raise UsageError("you must provide at least one container name or ID (or use --all)")
    else:
        targets = list(refs)
    done: list[Any] = []
    errors: list[OciError] = []
    for target in targets:
        try:
            ctr = rt.lookup_container(target) if isinstance(target, str) else target
            rt.touch(ctr)
            done.append(action(ctr))
        except OciError as exc:
            errors.append(exc)
    if errors:
        if done:
            print("done: " + ", ".join(d.name if isinstance(d, ContainerHandle) else str(d)
                                       for d in done))
        if len(errors) == 1:
            raise errors[0]
        raise OciError("; ".join(str(e) for e in errors))
    return done


def _handles(c: Call, items: list[Any]) -> Any:
    if len(items) == 1 and not getattr(c.args, "all", False):
        return items[0]
    return ContainerList(items)


def cmd_stop(c: Call) -> Any:
    if c.args.time is not None and c.args.time < 0:
        raise UsageError("--time must be zero or more seconds")
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).stop(c.args.time)))


def cmd_restart(c: Call) -> Any:
    def restart(ctr: Container) -> ContainerHandle:
        ctr.stop(c.args.time)
        ctr.start()
        return ContainerHandle(c.rt, ctr)

    return _handles(c, _each(c, restart))


def cmd_kill(c: Call) -> Any:
    sig = parse_signal(c.args.signal)
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).kill(sig),
                             (State.RUNNING, State.PAUSED)))


def cmd_pause(c: Call) -> Any:
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).pause(),
                             (State.RUNNING,)))


def cmd_unpause(c: Call) -> Any:
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).unpause(),
                             (State.PAUSED,)))


def cmd_start(c: Call) -> Any:
    if c.args.attach:
        raise UsageError("%oci start -a: a cell cannot attach to a container; start it "
                         "and read '%oci logs -f NAME'")
    return _handles(c, _each(c, lambda ctr: ContainerHandle(c.rt, ctr).start()))


def cmd_init(c: Call) -> Any:
    def init(ctr: Container) -> ContainerHandle:
        ctr.init()
        return ContainerHandle(c.rt, ctr)

    return _handles(c, _each(c, init))


def cmd_rm(c: Call) -> None:
    def remove(ctr: Container) -> str:
        ctr.remove(force=c.args.force, timeout=c.args.time)
        return ctr.name

    for name in _each(c, remove):
        print(name)


def cmd_wait(c: Call) -> Any:
    codes = _each(c, lambda ctr: ctr.wait())
    return codes[0] if len(codes) == 1 else codes


# -- maintenance ------------------------------------------------------------------------------
def cmd_system(c: Call) -> None:
    if c.args.scmd != "reap":
        raise UsageError("missing subcommand: try '%oci system reap'")
    print(reap_summary(c.rt.reap(prune_age=c.args.prune_age)))


def cmd_container(c: Call) -> None:
    """``container cleanup``: what conmon's exit command runs, by hand."""
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
    "ps": cmd_ps, "logs": cmd_logs, "inspect": cmd_inspect,
    "info": cmd_info, "version": cmd_version, "stop": cmd_stop, "restart": cmd_restart,
    "kill": cmd_kill, "pause": cmd_pause, "unpause": cmd_unpause, "start": cmd_start,
    "init": cmd_init, "rm": cmd_rm, "wait": cmd_wait, "system": cmd_system,
    "container": cmd_container, **IMAGE_HANDLERS, **NETWORK_HANDLERS,
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
    ns = p.parse_args(argv)
    record = find(ctx.provenance, ns.ref)
    if ns.json:
        print(json.dumps(record, indent=2))
        return None
    return Provenance(record, expanded=True)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
