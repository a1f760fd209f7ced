"""``ipy-oci``: the podman-compatible command line.

Exit codes follow podman: 125 engine or usage error, 126 command cannot be
invoked, 127 command not found, otherwise the container's or command's own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from ..engine.runtime import Runtime


# command -> the module of cli/ that holds ``cmd_<command>``: only that module is
# imported (the hot path, ``exec``, loads neither the lifecycle nor the image commands).
# Commands not listed are in commands_containers.py.
_MODULES: dict[str, str] = {
    "exec": "commands_exec",
    "run": "commands_run", "create": "commands_run",
    "ps": "commands_info", "inspect": "commands_info", "info": "commands_info",
    "system": "commands_info", "unshare": "commands_info",
    "logs": "commands_logs", "events": "commands_logs", "attach": "commands_logs",
    "network": "commands_networks", "port": "commands_networks",
    "cp": "commands_files", "top": "commands_files", "stats": "commands_files",
    "diff": "commands_files", "export": "commands_files", "rename": "commands_files",
    "volume": "commands_volumes",
    "rerun": "commands_rerun",
    "build": "commands_build",
}


def _handler(name: str) -> Callable[[Runtime, argparse.Namespace], int]:
    """The handler of command ``name``, importing only its own module."""
    from importlib import import_module

    from ..grammar.parser_images import IMAGE_COMMANDS

    if name in IMAGE_COMMANDS:
        from .commands_images import HANDLERS

        return HANDLERS[name]
    module = import_module(f".{_MODULES.get(name, 'commands_containers')}", __package__)
    handler: Callable[[Runtime, argparse.Namespace], int] = getattr(module, f"cmd_{name}")
    return handler


def run() -> None:
    """The ``ipy-oci`` process: ``main()``, then a quick exit.

    Once the output is flushed nothing is left to do, and an orderly interpreter
    shutdown costs more than most commands (tens of milliseconds): tearing down
    modules, and SQLite checkpointing and deleting its WAL when the last
    connection closes (the WAL is durable as it is; the next writer goes on
    with it).
    """
    code = main()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code & 0xFF if code >= 0 else 125)


def main(argv: list[str] | None = None) -> int:
    from ..errors import OciError
    from ..grammar.parser import HelpShown, parse

    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse(argv)
    except HelpShown:
        return 0
    except OciError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return exc.exit_code
    if args.noout:  # everything on fd 1 goes, a container's own output included
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    if args.version or args.cmd == "version":
        from .commands_info import cmd_version

        try:
            return cmd_version(args)
        except OciError as exc:
            sys.stderr.write(f"Error: {exc}\n")
            return exc.exit_code
    if args.cmd in ("exec", "run") and args.preserve_fds > 0:
        from ..grammar.options import check_preserved_fds

        try:
            check_preserved_fds(args.preserve_fds)
        except OciError as exc:
            sys.stderr.write(f"Error: {exc}\n")
            return exc.exit_code
    from ..config import Config
    from ..engine.runtime import Runtime

    try:
        config = Config.load(args.root, args.runroot, args.runtime, args.log_level)
        config.runtime_flags = list(args.runtime_flag)
        config.slurm_node = args.slurm_node or config.slurm_node
        # migrate stops the namespace holder: it must not start or join one.
        rt = Runtime(config, enter_userns=not (args.cmd == "system"
                                               and getattr(args, "scmd", "") == "migrate"))
        if rt.userns_warning:
            sys.stderr.write(f"WARN: {rt.userns_warning}\n")
        return _handler(args.cmd)(rt, args)
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
