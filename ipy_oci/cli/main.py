"""``ipy-oci``: the podman-compatible command line.

Exit codes follow podman: 125 engine or usage error, 126 command cannot be
invoked, 127 command not found, otherwise the container's or command's own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ..engine.runtime import Runtime


def _handlers() -> dict[str, Callable[[Runtime, argparse.Namespace], int]]:
    from . import commands_containers as c
    from . import commands_info as i
    from .parser_images import IMAGE_COMMANDS

    def exec_(rt: Runtime, args: argparse.Namespace) -> int:
        from .commands_exec import cmd_exec

        return cmd_exec(rt, args)

    return {
        "run": c.cmd_run, "create": c.cmd_create, "start": c.cmd_start, "stop": c.cmd_stop,
        "restart": c.cmd_restart, "kill": c.cmd_kill, "pause": c.cmd_pause,
        "unpause": c.cmd_unpause, "rm": c.cmd_rm, "wait": c.cmd_wait, "init": c.cmd_init,
        "container": c.cmd_container, "ps": i.cmd_ps, "logs": i.cmd_logs,
        "inspect": i.cmd_inspect, "info": i.cmd_info,
        "system": i.cmd_system, "exec": exec_,
        **{n: _image_command(n) for n in IMAGE_COMMANDS},
    }


def _image_command(name: str) -> Callable[[Runtime, argparse.Namespace], int]:
    def run(rt: Runtime, args: argparse.Namespace) -> int:
        from .commands_images import HANDLERS

        return HANDLERS[name](rt, args)

    return run


def main(argv: list[str] | None = None) -> int:
    from ..errors import OciError
    from .parser import HelpShown, parse

    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
    except HelpShown:
        return 0
    except OciError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return exc.exit_code
    if args.version or args.cmd == "version":
        from .. import __version__

        print(f"ipy-oci version {__version__}")
        return 0
    if args.cmd == "exec" and args.preserve_fds > 0:
        from .options import check_preserved_fds

        try:
            check_preserved_fds(args.preserve_fds)
        except OciError as exc:
            sys.stderr.write(f"Error: {exc}\n")
            return exc.exit_code
    from ..config import Config
    from ..engine.runtime import Runtime

    try:
        rt = Runtime(Config.load(args.root, args.runroot, args.runtime, args.log_level))
        return _handlers()[args.cmd](rt, args)
    except OciError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not a user error: say so in one line
        if args.log_level == "debug":
            raise
        sys.stderr.write(f"Error: internal error: {type(exc).__name__}: {exc} "
                         "(rerun with --log-level debug for a traceback)\n")
        return 125
