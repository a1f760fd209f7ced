"""``%oci`` and ``%%oci``: the shared command grammar inside IPython.

``%oci SUBCOMMAND …`` parses with the grammar the CLI uses and returns Python objects;
``%%oci exec CONTAINER`` and ``%%oci run IMAGE`` run the cell body. Engine errors
show as one line; the kernel still marks the cell as failed.
"""

from __future__ import annotations

import sys
from typing import Any

from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from traitlets import Float

from ..errors import OciError, Unsupported, UsageError
from ..grammar.parser import HelpShown, build_parser, command_name
from ..grammar.suggest import did_you_mean
from . import shutdown
from .cells import cell_exec, cell_run
from .commands import LINE_COMMANDS, Call, cmd_last, cmd_provenance
from .context import get_context
from .failures import concise
from .grammar import MAGIC_HELP, MagicLine, expand_vars, magic_flags_help, parse_line, tokenize
from .rerun import cmd_rerun

_KERNEL_ONLY = {"last": cmd_last, "provenance": cmd_provenance, "rerun": cmd_rerun}


@magics_class
class OciMagics(Magics):
    """Configurable as ``c.OciMagics.interrupt_grace = 5`` in an IPython config file."""

    interrupt_grace = Float(
        None, allow_none=True,
        help="Seconds between forwarding Ctrl-C (SIGINT) to a command and killing it "
             "(unset: interrupt_grace from ipy-oci.toml, default 2).",
    ).tag(config=True)
    shutdown_timeout = Float(
        None, allow_none=True,
        help="Seconds a command gets after SIGTERM when the kernel shuts down "
             "(unset: kernel_stop_timeout from ipy-oci.toml, default 1).",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.ctx = get_context()
        self.ctx.shutdown_timeout = self.shutdown_timeout
        self.observe(lambda ch: setattr(self.ctx, "shutdown_timeout", ch["new"]),
                     names="shutdown_timeout")
        shutdown.install(self.ctx)

    @line_cell_magic
    @needs_local_scope
    @no_var_expand
    def oci(self, line: str, cell: str | None = None,
            local_ns: dict[str, Any] | None = None) -> Any:
        """Containers from the notebook: '%oci --help' lists the subcommands."""
        try:
            return self._dispatch(expand_vars(self.shell, line, local_ns), cell)
        except HelpShown:
            return None
        except OciError as exc:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            raise concise(exc, LINE_COMMANDS) from None

    def _dispatch(self, line: str, cell: str | None) -> Any:
        prog = "%oci" if cell is None else "%%oci"
        tokens = tokenize(line, prog)
        if not tokens or tokens[0] in ("-h", "--help", "help"):
            build_parser("%oci").print_help()
            print("\n" + MAGIC_HELP)
            return None
        # The subcommand, past any global flags (--root R ...), as the CLI finds it.
        first = command_name(tokens) or tokens[0]
        if cell is not None and first not in ("exec", "run", "build"):
            hint = did_you_mean(first, ("exec", "run", "build"), quote=True)
            raise UsageError(f"%%oci {first}: the cell magic runs the cell body with "
                             "'%%oci exec CONTAINER', '%%oci run IMAGE' or "
                             "'%%oci build -t NAME'"
                             + (f"; {hint}" if hint else ""))
        if first in _KERNEL_ONLY:
            if cell is not None:
                raise UsageError(f"%oci {first} is a line magic")
            return _KERNEL_ONLY[first](self.ctx, tokens[tokens.index(first) + 1:])
        ml = _parse(tokens, prog, first)
        args = ml.args
        if args.version and args.cmd is None:
            return LINE_COMMANDS["version"](Call(self.ctx, self.ctx.runtime, ml, 0.0))
        rt = self._runtime_for(args)
        grace = ml.opts.grace if ml.opts.grace is not None else (
            self.interrupt_grace if self.interrupt_grace is not None
            else rt.config.interrupt_grace)
        if cell is not None:
            if args.cmd == "exec":
                return cell_exec(self.ctx, rt, ml, cell, grace)
            if args.cmd == "build":
                from .commands_build import cell_build

                return cell_build(self.ctx, rt, ml, cell)
            return cell_run(self.ctx, rt, ml, line, cell, grace)
        handler = LINE_COMMANDS.get(args.cmd)
        if handler is None:
            raise Unsupported(f"'%oci {args.cmd}' is not available in the kernel: run "
                              f"'ipy-oci {args.cmd}' in a terminal")
        if args.noout:  # as the CLI: nothing on stdout, no value shown
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                handler(Call(self.ctx, rt, ml, grace))
            return None
        return handler(Call(self.ctx, rt, ml, grace))

    def _runtime_for(self, args: Any) -> Any:
        """The kernel's Runtime, or a one-off one when global flags (--root …) were given."""
        if not any(getattr(args, k, None) for k in ("root", "runroot", "runtime", "log_level",
                                                      "runtime_flag")):
            return self.ctx.runtime
        from ..config import Config
        from ..engine.runtime import Runtime

        base = self.ctx.config
        config = Config.load(args.root or str(base.root), args.runroot or str(base.runroot),
                             args.runtime or base.runtime, args.log_level)
        config.runtime_flags = list(getattr(args, "runtime_flag", None) or [])
        return Runtime(config)


def _parse(tokens: list[str], prog: str, first: str) -> MagicLine:
    """The line through the shared grammar; ``--help`` adds the magic-only flags."""
    try:
        return parse_line(tokens, prog)
    except HelpShown:
        extra = magic_flags_help(first)
        if extra:
            print("\n" + extra)
        raise


def load(ipython: Any) -> None:
    from .handles import register_formatters

    ipython.register_magics(OciMagics)
    register_formatters(ipython)


def unload(ipython: Any) -> None:
    magics = ipython.magics_manager.registry.pop("OciMagics", None)
    if magics is not None:
        for kind in ("line", "cell"):
            ipython.magics_manager.magics[kind].pop("oci", None)
