"""How the magics fail: one clear line, no traceback, for every ``OciError``.

IPython shows ``exc._render_traceback_()`` instead of a traceback when an
exception has it, and the kernel still replies with an error (so "run all"
stops there). Engine errors get it set per instance; bugs keep their traceback.
"""

from __future__ import annotations

from ..errors import ExecError, OciError

_RED = "\x1b[0;31m"
_RESET = "\x1b[0m"


class ExecInterrupted(ExecError):
    """The kernel was interrupted while a command ran; it was stopped and reaped."""


class ExecTimeout(ExecError):
    """``--timeout`` expired; the command was stopped and reaped."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{_RED}{type(exc).__name__}{_RESET}: {text}"


def concise(exc: OciError) -> OciError:
    """Make IPython show ``exc`` as one line."""
    line = one_line(exc)
    exc._render_traceback_ = lambda: [line]  # type: ignore[attr-defined]
    return exc
