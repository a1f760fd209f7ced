"""How the magics fail: one clear line, no traceback, for every ``OciError``.

IPython shows ``exc._render_traceback_()`` instead of a traceback when an
exception has it, and the kernel still replies with an error (so "run all"
stops there). Engine errors get it set per instance; bugs keep their traceback.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from ..errors import ExecError, OciError

_RED = "\x1b[0;31m"
_RESET = "\x1b[0m"


class ExecInterrupted(ExecError):
    """The kernel was interrupted while a command ran; it was stopped and reaped."""


class ExecTimeout(ExecError):
    """``--timeout`` expired; the command was stopped and reaped."""


# A hint naming a CLI command: "(see 'ipy-oci ps -a')".
_CLI_HINT = re.compile(r"'ipy-oci ([a-z][a-z-]*)")


def for_notebook(text: str, commands: Collection[str]) -> str:
    """The engine's hints name the CLI; in a cell, name the magic that does the same
    (commands the kernel lacks keep their 'ipy-oci X', to run in a terminal)."""
    return _CLI_HINT.sub(lambda m: f"'%oci {m.group(1)}" if m.group(1) in commands
                         else m.group(0), text)


def one_line(exc: BaseException, commands: Collection[str] = ()) -> str:
    text = for_notebook(" ".join(str(exc).split()), commands) or "(no message)"
    return f"{_RED}{type(exc).__name__}{_RESET}: {text}"


def concise(exc: OciError, commands: Collection[str] = ()) -> OciError:
    """Make IPython show ``exc`` as one line; ``commands``: the ``%oci`` subcommands
    its hints may name instead of the CLI's."""
    line = one_line(exc, commands)
    exc._render_traceback_ = lambda: [line]  # type: ignore[attr-defined]
    return exc
