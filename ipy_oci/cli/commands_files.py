"""CLI handlers for a container's files and resources: ``cp``, ``top``, ``stats``,
``diff``, ``export``, ``rename``, ``container prune`` and ``system df``."""

from __future__ import annotations

import argparse
import os
import sys

from ..engine.runtime import Runtime
from ..errors import UsageError


def _err(exc: Exception) -> None:
    sys.stderr.write(f"Error: {exc}\n")


def on_its_node(rt: Runtime, ref: str | None) -> int | None:
    """This very command, run on the Slurm node of container ``ref`` if it is a
    Slurm container seen from elsewhere (its processes, cgroup and mounted root
    are there); None to run it here."""
    from ..engine.records import State
    from ..engine.slurm import SlurmContainer
    from ..errors import OciError
    from ..grammar.parser import without_global_flags

    if not ref:
        return None
    try:
        ctr = rt.lookup_container(ref)
    except OciError:
        return None  # the handler says what is wrong
    if not isinstance(ctr, SlurmContainer) or ctr.refresh().state not in State.LIVE:
        return None  # an exited one's files are in the shared root: read them here
    return ctr.run_cli_on_node(without_global_flags(sys.argv[1:]))


def cmd_cp(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.copy import copy

    for end in (args.src, args.dest):
        ref, sep, _path = end.partition(":")
        if sep and not end.startswith(("/", ".")):
            code = on_its_node(rt, ref)  # host paths must be visible on the node
            if code is not None:
                return code
    copy(rt, args.src, args.dest, archive=args.archive, overwrite=args.overwrite,
         stdin=sys.stdin.buffer, stdout=sys.stdout.buffer)
    return 0


def _latest_or(rt: Runtime, ref: str | None, latest: bool, what: str) -> str:
    if latest:
        from ..engine.selection import latest_container

        return latest_container(rt).id
    if not ref:
        raise UsageError(f"you must provide the name or ID of {what} (or use --latest)")
    return ref


def cmd_top(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.top import top
    from ..grammar.files_text import top_text

    words = list(args.descriptors)
    if args.latest and args.container:
        words.insert(0, args.container)  # with -l the first word is a descriptor
    ref = _latest_or(rt, None if args.latest else args.container, args.latest,
                     "a running container")
    code = None if args.latest else on_its_node(rt, ref)
    if code is not None:
        return code
    sys.stdout.write(top_text(*top(rt.lookup_container(ref), words)))
    return 0


def cmd_stats(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.stats import reports
    from ..grammar.files_text import stats_text

    stream = not args.no_stream
    if len(args.containers) == 1 and not args.all and not args.latest:
        code = on_its_node(rt, args.containers[0])
        if code is not None:
            return code
    try:
        for rows in reports(rt, args.containers, all=args.all, latest=args.latest,
                            interval=args.interval, stream=stream, no_trunc=args.no_trunc):
            text = stats_text(rows, args.format)
            if stream and not args.no_reset:
                text = "\033[2J\033[H" + text  # podman redraws from the top
            sys.stdout.write(text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0
    return 0


def cmd_diff(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.changes import check_format, diff, diff_refs
    from ..grammar.files_text import diff_text

    check_format(args.format)
    refs = diff_refs(rt, args.refs, args.latest)
    sys.stdout.write(diff_text(diff(rt, refs[0], refs[1] if len(refs) == 2 else None),
                               args.format))
    return 0


def cmd_export(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.export import export

    code = on_its_node(rt, args.container)
    if code is not None:
        return code
    if args.output is None:
        if sys.stdout.isatty():
            raise UsageError("refusing to export to terminal. Use -o flag or redirect")
        export(rt, args.container, sys.stdout.buffer)
        sys.stdout.flush()
        return 0
    if ":" in os.path.basename(args.output):
        raise UsageError(f"invalid filename {args.output!r}: ':' is a restricted character "
                         "in file names")
    rt.lookup_container(args.container)  # a typo leaves no empty file behind
    try:
        fh = open(args.output, "wb")  # noqa: SIM115 - removed again on failure below
    except OSError as exc:
        why = (exc.strerror or str(exc)).lower()
        raise UsageError(f'creating file "{args.output}": {why}') from None
    try:
        with fh:
            export(rt, args.container, fh)
    except BaseException:
        try:
            os.unlink(args.output)
        except OSError:
            pass
        raise
    return 0


def cmd_rename(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.rename import rename

    rename(rt, args.container, args.new_name)
    return 0


def cmd_container_prune(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.prune import prune_containers

    if not args.force:
        sys.stdout.write("WARNING! This will remove all non running containers.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        answer = sys.stdin.readline()
        if not answer.strip().lower().startswith("y"):
            return 0
    result = prune_containers(rt, args.filter)
    for cid in result.removed:
        print(cid)
    for exc in result.errors:
        _err(exc)
    return result.errors[0].exit_code if result.errors else 0


def cmd_system_df(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.disk_usage import disk_usage
    from ..grammar.files_text import df_text

    sys.stdout.write(df_text(disk_usage(rt), args.verbose, args.format))
    return 0
