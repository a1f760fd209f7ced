"""The cell magics: ``%%oci exec CONTAINER`` and ``%%oci run IMAGE``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ..engine.records import ExecConfig
from ..engine.rerun import OutputCapture
from ..errors import NoSuchContainer, OciError, UsageError
from ..grammar.options import container_config, exec_config
from .execs import attached_exec, body_program, raise_for
from .handles import ContainerHandle
from .interrupts import StopControl
from .provenance import Provenance, build_record
from .streams import CellOutput

if TYPE_CHECKING:
    from ..engine.container import Container
    from ..engine.runtime import Runtime
    from .context import KernelContext
    from .grammar import MagicLine

def _no_command_on_line(ml: MagicLine, what: str) -> None:
    if ml.args.command:
        raise UsageError(f"%%oci {ml.cmd} takes its command from the cell body: the line "
                         f"ends with the {what} (extra: {' '.join(ml.args.command)!r})")
    if ml.args.tty or ml.args.interactive or ml.args.detach:
        raise UsageError(f"%%oci {ml.cmd}: -t, -i and -d do not apply to a cell (for a "
                         "terminal use '%oci exec -it CONTAINER sh')")


def cell_exec(ctx: KernelContext, rt: Runtime, ml: MagicLine, body: str,
              grace: float) -> Any:
    args, opts = ml.args, ml.opts
    _no_command_on_line(ml, "CONTAINER")
    program = body_program(body, opts.shell, opts.interpreter)
    args.command = list(program.command)
    config = exec_config(args)
    config.env = [*program.env, *config.env]
    ctr = rt.touch(rt.lookup_container(args.container))
    if opts.widget:
        from .widgets import ExecSessionView

        return ExecSessionView.start(ctr, config, stdin=program.stdin, grace=grace,
                                     timeout=opts.timeout)
    with StopControl(grace, opts.timeout) as ctl:
        result = attached_exec(ctx, rt, ctr, config, ctl, "exec", stdin=program.stdin)
    ctx.last = result
    raise_for(result, f"the cell ({program.label})", opts.no_raise)
    return None


def _merged_env(base: list[str], extra: list[str]) -> list[str]:
    env: dict[str, str] = {}
    for item in [*base, *extra]:
        key, _, val = item.partition("=")
        env[key] = val
    return [f"{k}={v}" for k, v in env.items()]


def _remove(ctr: Container) -> bool:
    try:
        ctr.remove(force=True, timeout=0)
    except NoSuchContainer:
        pass  # conmon's exit command (--rm) got there first
    except OciError as exc:
        sys.stderr.write(f"ipy-oci: could not remove container {ctr.name}: {exc}\n")
        return False
    return True


def _show_rerun_button(ctx: KernelContext, record: dict[str, Any]) -> None:
    """The live Re-run button (ipywidgets) under the provenance summary."""
    from IPython.display import display

    from .rerun import actions

    widget = actions(ctx, record)
    if widget is not None:
        display(widget)


def cell_run(ctx: KernelContext, rt: Runtime, ml: MagicLine, line: str, body: str,
             grace: float) -> Any:
    """The reproducible experiment cell: a fresh container, the body, provenance."""
    from IPython.display import display

    args, opts = ml.args, ml.opts
    _no_command_on_line(ml, "IMAGE")
    if args.entrypoint is not None:
        raise UsageError("%%oci run: --entrypoint does not apply, the cell body is the "
                         "command (use --shell or --interpreter to choose its program)")
    program = body_program(body, opts.shell, opts.interpreter)
    cfg = container_config(args)
    # PID 1 only idles (catatonit -P) while the body runs as an exec session, so
    # Ctrl-C reaches the body as in a terminal, and any image works.
    cfg.entrypoint, cfg.cmd, cfg.idle = None, None, True
    cfg.auto_remove = not opts.keep  # so kernel shutdown removes it if the cell cannot
    run_config = json.loads(cfg.to_json())  # as asked: create resolves ports, volumes...
    cell = CellOutput()
    capture = OutputCapture(tee=cell)  # the output streams into the cell as it comes
    with StopControl(grace, opts.timeout) as ctl:
        ctr = rt.create_container(cfg, args.name, owner_kernel=ctx.kernel_id,
                                  pull=args.pull)
        image = rt.images.lookup(ctr.record.image_id)
        removed = False
        try:
            ctr.start()
            spec = ctr.spec() or {}
            env = _merged_env((spec.get("process") or {}).get("env") or [], program.env)
            result = attached_exec(ctx, rt, ctr, ExecConfig(command=list(program.command),
                                                            env=list(program.env)),
                                   ctl, "run", stdin=program.stdin, on_output=capture)
        finally:
            cell.close()
            if not opts.keep:
                removed = _remove(ctr)
    result.output = capture.digests()
    record = build_record(
        line=line, body=body, image_ref=cfg.image, image=image, ctr=ctr, env=env,
        env_args=list(cfg.env), program=program, result=result, removed=removed,
        runtime=ctx.runtime_info(rt, cfg.runtime), kernel_id=ctx.kernel_id,
        run_config=run_config, captured=capture.captured())
    ctx.remember(record)
    ctx.last = result
    display(Provenance(record))
    if not (result.interrupted or result.timed_out):  # else no result to compare with
        _show_rerun_button(ctx, record)
    if opts.keep:
        sys.stderr.write(f"kept container {ctr.name} (running): exec into it with "
                         f"'%oci exec {ctr.name} …', remove it with '%oci rm -f {ctr.name}'\n")
    raise_for(result, f"the cell ({program.label})", opts.no_raise)
    return ContainerHandle(rt, ctr.refresh()) if opts.keep else None
