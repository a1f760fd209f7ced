"""``%oci`` lines -> the shared grammar, plus a few flags only magics have.

One parser, two front ends: everything but the magic-only flags goes through
``ipy_oci.grammar.parser.parse``, which the CLI uses too. The magic-only flags
(``--shell``, ``--timeout`` …) are taken out first by a small parser of their own,
wherever they appear on the line, except inside a command: in
``%oci exec c1 python3 --timeout 3`` the ``--timeout`` belongs to python3.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from typing import Any, NoReturn

from ..errors import UsageError
from ..grammar.parser import parse

# flag -> takes a value
MAGIC_FLAGS = {"--shell": True, "--interpreter": True, "--timeout": True, "--grace": True,
               "--no-raise": False, "--widget": False, "--keep": False}

# Which subcommands each magic-only flag means something to.
_APPLIES = {
    "shell": ("exec", "run"), "interpreter": ("exec", "run"), "timeout": ("exec", "run", "create"),
    "grace": ("exec", "run"), "no_raise": ("exec", "run", "attach"), "widget": ("ps", "exec"),
    "keep": ("run",),
}

MAGIC_HELP = """\
Magic-only flags (besides the CLI grammar above):
  %%oci exec [opts] CONTAINER   run the cell body in CONTAINER (default: sh -c BODY)
  %%oci run  [opts] IMAGE       run the cell body in a fresh container, removed after,
                                with provenance in the output metadata
  %%oci build -t NAME [opts]    the cell body is the Containerfile; the context is the
                                notebook's directory (or --context DIR)
  --shell PATH            the shell for the body (PATH -c BODY)
  --interpreter PROG      e.g. python3: the body is its program
  --timeout SECONDS       stop and reap the command after SECONDS
  --grace SECONDS         after an interrupt (or the timeout), SIGKILL after SECONDS
  --no-raise              a non-zero exit does not raise ExecError
  --widget                %oci ps: a live ContainerTable; %%oci exec: run in the
                          background in an ExecSessionView
  --keep                  %%oci run: keep the container (running) after the cell
Kernel-only subcommands:
  %oci last               the last cell's exit code, duration and session id
  %oci provenance [REF] [--json]
                          the last (or REF: index, session or container id) run record
  %oci provenance --export PATH
                          every run record of this kernel as one JSON file, for
                          'ipy-oci rerun PATH' (0 all identical, 1 any differs)
  %oci rerun [REF]        run that record again (the image by digest) in a fresh
                          container; returns a RerunComparison (identical, diffs)
"""


class _MagicParser(argparse.ArgumentParser):
    """``prog`` is the subcommand as typed (``%%oci exec``); ``see``: the help to name
    (the subcommand's, which lists the magic-only flags that apply to it)."""

    see: str | None = None

    def error(self, message: str) -> NoReturn:
        see = self.see or self.prog.split()[0]
        raise UsageError(f"{self.prog}: {message} (see '{see} --help')")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seconds must not be negative: {text!r}")
    return value


def magic_parser(prog: str = "%oci") -> argparse.ArgumentParser:
    p = _MagicParser(prog=prog, add_help=False, allow_abbrev=False)
    p.see = prog
    p.add_argument("--shell", default=None)
    p.add_argument("--interpreter", default=None)
    p.add_argument("--timeout", type=_positive, default=None)
    p.add_argument("--grace", type=_positive, default=None)
    p.add_argument("--no-raise", action="store_true")
    p.add_argument("--widget", action="store_true")
    p.add_argument("--keep", action="store_true")
    return p


@dataclass
class MagicLine:
    args: argparse.Namespace  # the shared CLI grammar
    opts: argparse.Namespace  # the magic-only flags

    @property
    def cmd(self) -> str:
        return str(self.args.cmd)


# A Go template action: ``{{.Names}}``, ``{{range $k, $v := .Labels}}`` ...
_GO_ACTION = re.compile(r"\{\{.*?\}\}", re.S)


def expand_vars(shell: Any, line: str, local_ns: dict[str, Any] | None) -> str:
    """IPython's ``{expr}`` and ``$name`` expansion, except inside ``{{…}}``.

    IPython would turn ``{{.Names}}`` into ``{.Names}``; Go templates must reach the
    parser as typed, while notebooks keep writing ``%oci run {flags} …``. Text that
    does not expand (an unknown name, a syntax error) stays as it is, as in IPython.
    """
    if shell is None:
        return line
    from IPython.utils.text import DollarFormatter

    ns = dict(shell.user_ns)
    ns.update(local_ns or {})
    formatter = DollarFormatter()

    def expand(text: str) -> str:
        if "{" not in text and "$" not in text:
            return text
        try:
            return formatter.vformat(text, args=[], kwargs=ns)
        except Exception:
            return text

    out, last = [], 0
    for m in _GO_ACTION.finditer(line):
        out += [expand(line[last:m.start()]), m.group()]
        last = m.end()
    out.append(expand(line[last:]))
    return "".join(out)


def tokenize(line: str, prog: str = "%oci") -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"{prog}: cannot split the line: {exc} (check the quotes)") from None


def _split(tokens: list[str], stop: int) -> tuple[list[str], list[int]]:
    """Indices of magic-only tokens before ``stop`` (flags and their values)."""
    taken: list[int] = []
    i = 0
    while i < min(stop, len(tokens)):
        tok = tokens[i]
        if tok == "--":
            break
        name = tok.split("=", 1)[0]
        if name in MAGIC_FLAGS:
            taken.append(i)
            if MAGIC_FLAGS[name] and "=" not in tok and i + 1 < len(tokens):
                taken.append(i + 1)
                i += 1
        i += 1
    return [t for j, t in enumerate(tokens) if j not in taken], taken


def parse_line(tokens: list[str], prog: str = "%oci") -> MagicLine:
    """Parse one ``%oci`` line (``prog`` "%%oci" for a cell magic's line, so messages
    and help name the magic that was typed); raises UsageError (or HelpShown)."""
    rest, taken = _split(tokens, len(tokens))
    args = parse(rest, prog=prog, extra_flags=tuple(MAGIC_FLAGS))
    command = getattr(args, "command", None) or []
    if command and taken:
        # Where the command starts in the original tokens: flags after it are its own.
        kept = [j for j in range(len(tokens)) if j not in taken]
        start = kept[len(kept) - len(command)]
        if any(j > start for j in taken):
            rest, taken = _split(tokens, start)
            args = parse(rest, prog=prog, extra_flags=tuple(MAGIC_FLAGS))
    where = f"{prog} {args.cmd}" if args.cmd else prog
    opts = magic_parser(where).parse_args([tokens[j] for j in taken])
    for dest, cmds in _APPLIES.items():
        value = getattr(opts, dest)
        if value not in (None, False) and args.cmd not in cmds:
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"{where}: {flag} is not a flag of '{where}' "
                             f"(it applies to: {', '.join(cmds)})")
    return MagicLine(args, opts)


def magic_flags_help(cmd: str) -> str:
    """The lines of MAGIC_HELP's flags that apply to ``cmd``, for ``%oci CMD --help``."""
    names = {"--" + dest.replace("_", "-") for dest, cmds in _APPLIES.items() if cmd in cmds}
    lines, keep = [], False
    for line in MAGIC_HELP.splitlines():
        if line.startswith("  --"):
            keep = line.split()[0] in names
        elif not line.startswith("      "):
            keep = False
        if keep:
            lines.append(line)
    return "Magic-only flags:\n" + "\n".join(lines) if lines else ""
