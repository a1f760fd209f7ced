"""The one grammar of ipy-oci, shared by the CLI and the ``%oci`` magics.

Flag names follow podman. Parse errors raise ``UsageError`` (exit 125) rather
than argparse's exit 2, so front ends can show one clear line.
"""

from __future__ import annotations

import argparse
from functools import lru_cache
from typing import Any, NoReturn

from ..errors import UsageError
from .parser_create import add_create_flags, add_exec_flags
from .suggest import did_you_mean

# ``container X`` -> the top-level command X stands for (podman's container
# subcommands that ipy-oci has or is adding; ``container cleanup`` and ``container
# exists`` are real subcommands of ``container``).
CONTAINER_ALIASES: dict[str, str] = {
    name: name for name in (
        "attach", "commit", "cp", "create", "diff", "exec", "export", "init", "inspect",
        "kill", "logs", "pause", "port", "rename", "restart", "rm", "run", "start", "stats",
        "stop", "top", "unpause", "wait")
} | {"list": "ps", "ls": "ps", "ps": "ps"}


# The command families of their own modules, and the commands each adds. Only the
# family of the command being parsed is imported: the hot path (``exec``) must not
# pay for the others (``ps`` and the lifecycle verbs load the engine's selection code).
_FAMILIES: dict[str, tuple[str, ...]] = {
    "parser_lifecycle": ("start", "stop", "restart", "kill", "pause", "unpause", "rm",
                         "wait", "ps"),
    "parser_logs": ("logs", "events", "attach"),
    "parser_files": ("cp", "top", "stats", "diff", "export", "rename"),
    "parser_images": ("pull", "push", "images", "history", "rmi", "tag", "untag",
                      "import", "save", "load", "login", "logout", "image", "commit"),
    "parser_networks": ("network", "port"),
    "parser_volumes": ("volume",),
    "parser_rerun": ("rerun",),
    "parser_build": ("build",),
}


class _Parser(argparse.ArgumentParser):
    """No abbreviations: ``--priv`` is not ``--privileged`` (podman refuses it too);
    the only other spellings are podman's own aliases (``--net``, ``-e`` ...)."""

    command_names: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False  # subparsers too: they are made with this class
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.nargs == argparse.REMAINDER and not action.option_strings:
            # may be empty (``run IMAGE`` runs the image's command): never "required"
            action.required = False
        return action

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            hint = did_you_mean(str(value), map(str, action.choices or ()), quote=True)
            if not hint:
                raise
            head, sep, tail = exc.message.partition(" (choose from")
            raise argparse.ArgumentError(action, f"{head}; {hint}{sep}{tail}") from None

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise UsageError(message or f"{self.prog}: invalid arguments")
        raise HelpShown(message or "")


class HelpShown(Exception):  # noqa: N818 - control flow, not an error
    """``--help`` was printed; front ends stop quietly."""


def _containers(p: Any, nargs: str = "+") -> None:
    p.add_argument("containers", nargs=nargs, metavar="CONTAINER")


class _Skipped:
    """Stands in for the parser of a command that is not being parsed: building all
    twenty subparsers costs more than the hot path (``exec``) can afford."""

    def add_argument(self, *args: Any, **kwargs: Any) -> None:
        return None

    def add_subparsers(self, *args: Any, **kwargs: Any) -> _Skipped:
        return self

    def add_parser(self, *args: Any, **kwargs: Any) -> _Skipped:
        return self


_GLOBAL_WITH_VALUE = ("--root", "--runroot", "--runtime", "--runtime-flag", "--log-level",
                      "--slurm-node")
# Podman's global flags are persistent: accepted after the command name too
# (``run --runtime PATH IMG``). Each command also gets them, hidden, under a dest of its
# own that parse() folds into the global one; words after a command's image or
# container (its REMAINDER) are never read as flags.
_AFTER_PREFIX = "after_cmd_"


def _add_global_flags(p: argparse.ArgumentParser, after: bool = False) -> None:
    def arg(flag: str, **kw: Any) -> None:
        dest = flag.lstrip("-").replace("-", "_")
        if after:
            kw.update(dest=_AFTER_PREFIX + dest, default=argparse.SUPPRESS,
                      help=argparse.SUPPRESS)
        else:
            kw["dest"] = dest
        p.add_argument(flag, **kw)

    arg("--root", default=None, help="storage root (IPY_OCI_ROOT)")
    arg("--runroot", default=None, help="runtime state dir (IPY_OCI_RUNROOT)")
    arg("--runtime", default=None, help="runc, crun or a path (IPY_OCI_RUNTIME)")
    arg("--runtime-flag", action="append", default=[], metavar="FLAG",
        help="pass --FLAG to the OCI runtime (e.g. debug, log-format=json)")
    arg("--log-level", default=None,
        choices=["debug", "info", "warn", "error", "fatal", "panic"])
    arg("--noout", action="store_true", help="do not write to stdout")
    # Set on a Slurm node by the job's own commands: Slurm containers recorded on
    # this node are local here (engine/slurm.py).
    arg("--slurm-node", default=None, help=argparse.SUPPRESS)


def without_global_flags(argv: list[str]) -> list[str]:
    """``argv`` with the global flags that say where state lives (--root, --runroot,
    --runtime, --slurm-node) taken out: the same command, to run elsewhere."""
    drop = ("--root", "--runroot", "--runtime", "--slurm-node")
    out: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in drop:
            skip = True
        elif not word.startswith(tuple(f"{d}=" for d in drop)):
            out.append(word)
    return out


def _fold_global_flags(args: argparse.Namespace) -> None:
    """Global flags given after the command name count as if given before it."""
    for key in [k for k in vars(args) if k.startswith(_AFTER_PREFIX)]:
        value, name = getattr(args, key), key[len(_AFTER_PREFIX):]
        delattr(args, key)
        setattr(args, name, [*getattr(args, name), *value] if isinstance(value, list)
                else value)


def command_name(argv: list[str]) -> str | None:
    """The subcommand in ``argv`` (skipping global flags), or None."""
    it = iter(argv)
    for tok in it:
        if tok in _GLOBAL_WITH_VALUE:
            next(it, None)
        elif not tok.startswith("-"):
            return tok
    return None


def build_parser(prog: str = "ipy-oci", only: str | None = None) -> argparse.ArgumentParser:
    """The whole grammar; with ``only``, just that subcommand is really built."""
    root = _Parser(prog=prog, description="Containers from Jupyter, podman-compatible.")
    _add_global_flags(root)
    root.add_argument("--version", action="store_true")
    sub = root.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)

    root.command_names = []

    def add(name: str, help: str, add_help: bool = True) -> Any:
        root.command_names.append(name)
        if only is not None and name != only:
            return _Skipped()
        p = sub.add_parser(name, help=help, add_help=add_help)
        _add_global_flags(p, after=True)
        if not add_help:  # -h means --hostname for run/create, as in podman
            p.add_argument("--help", action="help", help="show this help message and exit")
        return p

    p = add("run", "run a command in a new container", add_help=False)
    p.add_argument("-d", "--detach", action="store_true")
    add_create_flags(p, run=True)

    p = add("create", "create a container without starting it", add_help=False)
    add_create_flags(p)

    def family(module: str) -> Any:
        """The family's module when one of its commands is built; else its names only."""
        if only is not None and only not in _FAMILIES[module]:
            root.command_names.extend(_FAMILIES[module])
            return None
        from importlib import import_module

        return import_module(f".{module}", __package__)

    if (lifecycle := family("parser_lifecycle")) is not None:
        lifecycle.add_lifecycle_commands(add)
        lifecycle.add_ps_command(add)

    p = add("inspect", "show low-level information as JSON")
    p.add_argument("--type", "-t", default="all",
                   choices=["all", "container", "image", "volume", "network", "exec"])
    p.add_argument("-f", "--format", default=None,
                   help="json, or a Go template per object ('{{.State.Status}}')")
    p.add_argument("-l", "--latest", action="store_true",
                   help="act on the latest container created (in any state)")
    p.add_argument("refs", nargs="*", metavar="NAME")

    p = add("init", "initialize containers (create them in the runtime)")
    _containers(p)

    if (logs := family("parser_logs")) is not None:
        logs.add_logs_commands(add)
    if (files := family("parser_files")) is not None:
        files.add_file_commands(add)
    if (images := family("parser_images")) is not None:
        images.add_image_commands(sub, add)
    if (networks := family("parser_networks")) is not None:
        networks.add_network_commands(sub, add)
    if (volumes := family("parser_volumes")) is not None:
        volumes.add_volume_commands(add)
    if (rerun := family("parser_rerun")) is not None:
        rerun.add_rerun_command(add)
    if (build := family("parser_build")) is not None:
        build.add_build_command(add)

    for name, hlp in (("info", "show system information (YAML; --format json or a "
                               "template such as '{{.Host.OCIRuntime.Name}}')"),
                      ("version", "show the version")):
        p = add(name, hlp)
        p.add_argument("-f", "--format", default=None,
                       help="json, or a Go template ('{{.Client.Version}}' for version)")

    p = add("exec", "run a command in a running container")
    add_exec_flags(p)

    p = add("container", "manage containers (cleanup is what conmon's exit command runs)")
    csub = p.add_subparsers(dest="ccmd", metavar="SUBCOMMAND", parser_class=_Parser)
    cp = csub.add_parser("cleanup", help="record an exit and release a container's resources")
    cp.add_argument("--rm", action="store_true")
    cp.add_argument("--exec", default=None, metavar="SESSION")
    cp.add_argument("containers", nargs="+", metavar="CONTAINER")
    # What a Slurm container's job runs on its node (engine/slurm.py); not for users.
    sh = csub.add_parser("slurm-hold")
    sh.add_argument("--attached", action="store_true")
    sh.add_argument("container")
    sa = csub.add_parser("slurm-attach")
    sa.add_argument("--rm", action="store_true")
    sa.add_argument("container")
    se = csub.add_parser("slurm-exec")
    se.add_argument("--detach", action="store_true")
    se.add_argument("--keep", action="store_true")
    se.add_argument("session")
    se.add_argument("container")
    sw = csub.add_parser("slurm-sweep")
    sw.add_argument("container")
    if only in (None, "container"):
        from .parser_files import add_container_prune
        from .parser_lifecycle import add_container_subcommands

        add_container_subcommands(csub)
        add_container_prune(csub)

    p = add("system", "system maintenance")
    ssub = p.add_subparsers(dest="scmd", metavar="SUBCOMMAND", parser_class=_Parser)
    sp = ssub.add_parser("reap", help="sync state, reap orphaned exec sessions, prune old ones")
    sp.add_argument("--prune-age", type=float, default=None,
                    help="seconds a stopped detached session is kept")
    ssub.add_parser("migrate", help="rootless: stop the user namespace's holder process "
                    "when no container uses it (after the subordinate ids changed)")

    p = add("unshare", "rootless: run a command in the user namespace of the containers")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="the command and its arguments (default: $SHELL)")
    if only in (None, "system"):
        from .parser_files import add_system_df

        add_system_df(ssub)
    return root


def _unrecognized(parser: argparse.ArgumentParser, args: argparse.Namespace,
                  extras: list[str], prog: str, extra_flags: tuple[str, ...] = ()) -> str:
    """Say which flag is unknown, and the known flags it is close to (``extra_flags``:
    a front end's own, such as the magics' ``--timeout``)."""
    where, known = prog, list(parser._option_string_actions)
    p = parser
    while True:  # down to the (sub)command that was parsed: ``image ls``, ``system reap``
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs else None
        sub = subs[0].choices.get(name) if subs and isinstance(name, str) else None
        if sub is None:
            break
        p, where, known = sub, f"{where} {name}", list(sub._option_string_actions)
    flag = next((e.split("=", 1)[0] for e in extras if e.startswith("--")), "")
    hint = did_you_mean(flag, [*known, *extra_flags])
    hint = f"; {hint}" if hint else ""
    return f"{where}: unrecognized arguments: {' '.join(extras)}{hint} (see '{where} --help')"


def _spaced_flag(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str | None:
    """An unknown ``--flag=value with spaces``: argparse takes a word with a space for a
    positional (so ``run --bogus='a b' IMG`` would call it the image); find it so the
    error names the flag. Only single-word positionals are looked at, so a command's
    REMAINDER words are never touched."""
    p = parser
    while True:
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, subs[0].dest, None) if subs else None
        sub = subs[0].choices.get(name) if subs and isinstance(name, str) else None
        if sub is None:
            break
        p = sub
    for action in p._actions:
        value = getattr(args, action.dest, None) if not action.option_strings else None
        if (isinstance(value, str) and value.startswith("--") and " " in value
                and value.split("=", 1)[0] not in p._option_string_actions):
            return value
    return None


@lru_cache(maxsize=64)
def _built(prog: str, only: str | None) -> argparse.ArgumentParser:
    """One parser per (prog, command), built once per process: a warm kernel parses
    many lines, and parsing leaves a parser as it found it (list defaults are copied
    out of the namespace in parse, so no caller can change them)."""
    return build_parser(prog, only=only)


def _command_index(argv: list[str]) -> int | None:
    """Where the subcommand is in ``argv`` (skipping global flags), or None."""
    i = 0
    while i < len(argv):
        if argv[i] in _GLOBAL_WITH_VALUE:
            i += 2
        elif not argv[i].startswith("-"):
            return i
        else:
            i += 1
    return None


def _container_alias(argv: list[str], prog: str) -> tuple[list[str], str]:
    """``container stop C`` is ``stop C``, parsed (and named in errors and help) as
    ``PROG container stop``; a verb ipy-oci lacks gets the usual unknown-command error."""
    i = _command_index(argv)
    if i is None or argv[i] != "container" or i + 1 >= len(argv):
        return argv, prog
    target = CONTAINER_ALIASES.get(argv[i + 1])
    if target is None:
        return argv, prog
    return [*argv[:i], target, *argv[i + 2:]], f"{prog} container"


def _image_build(argv: list[str], prog: str) -> tuple[list[str], str]:
    """``image build`` is ``build`` (its own family), named ``PROG image build``."""
    i = _command_index(argv)
    if i is None or argv[i] != "image" or argv[i + 1:i + 2] != ["build"]:
        return argv, prog
    return [*argv[:i], *argv[i + 1:]], f"{prog} image"


def _signal_values(argv: list[str]) -> list[str]:
    """``kill -s -HUP``: podman takes the word after -s as its value even when it starts
    with '-' (argparse would read it as an option), so it is joined to the flag."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in ("-s", "--signal") and i + 1 < len(argv) and argv[i + 1][:1] == "-":
            out.append(f"--signal={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def parse(argv: list[str], prog: str = "ipy-oci",
          extra_flags: tuple[str, ...] = ()) -> argparse.Namespace:
    """``extra_flags``: flags a front end takes out before parsing, named in the
    "did you mean" of an unknown flag."""
    argv, prog = _container_alias(argv, prog)
    argv, prog = _image_build(argv, prog)
    name = command_name(argv)
    if name == "kill":
        argv = _signal_values(argv)
    parser = _built(prog, name)
    if name is not None and name not in getattr(parser, "command_names", ()):
        parser = _built(prog, None)  # unknown command: the full grammar gives the error
    args, extras = parser.parse_known_args(argv)
    _fold_global_flags(args)
    spaced = _spaced_flag(parser, args)
    if spaced is not None:
        extras = [spaced, *extras]
    if extras:
        raise UsageError(_unrecognized(parser, args, extras, prog, extra_flags))
    for key, value in vars(args).items():
        if isinstance(value, list):  # e.g. -e's default [] is shared by every parse
            setattr(args, key, list(value))
    if getattr(args, "cmd", None) is None and not args.version:
        raise UsageError(f"{prog}: missing command (see '{prog} --help')")
    if args.cmd == "exec" and args.latest:  # ``exec -l CMD ARGS``: no CONTAINER word
        args.command, args.container = [args.container, *args.command], None
    return args
