"""CLI handlers that read state: ps, inspect, info, system."""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..engine.runtime import Runtime
from ..engine.views import inspect_any, inspect_refs, reap_summary
from ..errors import NotFoundError, OciError


def cmd_ps(rt: Runtime, args: argparse.Namespace) -> int:
    from ..grammar.ps import ps_listing, ps_text

    sys.stdout.write(ps_text(ps_listing(rt, args), args))
    return 0


def cmd_inspect(rt: Runtime, args: argparse.Namespace) -> int:
    out = []
    rc = 0
    for ref in inspect_refs(rt, args.refs, args.latest):
        try:
            out.append(inspect_any(rt, ref, args.type))
        except NotFoundError as exc:
            sys.stderr.write(f"Error: {exc}\n")
            rc = 125
    fmt = args.format
    if fmt and fmt != "json":
        from ..grammar.gotemplate import render_rows
        from ..grammar.output import go_inspect_rows

        sys.stdout.write(render_rows(fmt, go_inspect_rows(out), heading=False, name="inspect"))
        return rc
    print(json.dumps(out, indent=4))
    return rc


def cmd_info(rt: Runtime, args: argparse.Namespace) -> int:
    from ..grammar.info_text import info_text

    sys.stdout.write(info_text(rt.info(), getattr(args, "format", None)))
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    """``version`` and ``--version`` (no Runtime needed: nothing is opened)."""
    from ..engine.info import version_data
    from ..grammar.info_text import version_text

    if args.version and args.cmd is None:
        from .. import __version__

        print(f"ipy-oci version {__version__}")  # --version: podman's one line
        return 0
    sys.stdout.write(version_text(version_data(), getattr(args, "format", None)))
    return 0


def cmd_system(rt: Runtime, args: argparse.Namespace) -> int:
    if args.scmd == "df":
        from .commands_files import cmd_system_df

        return cmd_system_df(rt, args)
    if args.scmd == "migrate":
        return _system_migrate(rt)
    if args.scmd != "reap":
        raise OciError("missing subcommand: try 'ipy-oci system reap', 'system df' or "
                       "'system migrate'")
    rep = rt.reap(prune_age=args.prune_age)
    print(reap_summary(rep))
    return 0


# Containers with a conmon (and processes) in the namespace.
ACTIVE = ("created", "running", "paused", "stopping")


def _system_migrate(rt: Runtime) -> int:
    from ..engine.rootless import migrate

    live = [c.name for c in rt.containers(all=True, sync=True) if c.state in ACTIVE]
    if live:
        raise OciError(f"containers are running in the user namespace ({', '.join(live[:5])}"
                       "): stop them first (ipy-oci stop --all)")
    stopped, users = migrate(rt.runroot)
    deadline = time.monotonic() + 10
    while users and time.monotonic() < deadline:
        # A container that just stopped still has its conmon (running the exit
        # command), fuse-overlayfs or slirp4netns winding down.
        time.sleep(0.1)
        stopped, users = migrate(rt.runroot)
    if users:
        raise OciError(f"the user namespace is in use by {len(users)} process(es) "
                       f"({', '.join(map(str, users[:5]))}): stop the containers first "
                       "(ipy-oci stop --all)")
    if stopped:
        print("stopped the user namespace holder")
    return 0


def cmd_unshare(rt: Runtime, args: argparse.Namespace) -> int:
    from ..engine.rootless import unshare_exec

    unshare_exec(rt.runroot, rt.root, list(args.command))
    return 0  # not reached: the command replaced this process
