"""CLI handlers: ``volume create|ls|inspect|rm|prune|exists`` (engine/volumes.py)."""

from __future__ import annotations

import argparse
import sys

from ..engine import volumes as vols
from ..engine.runtime import Runtime
from ..errors import NoSuchVolume, OciError, UsageError
from ..grammar.options import parse_kv
from ..grammar.volume_text import volume_inspect_text, volume_ls_text


def cmd_volume(rt: Runtime, args: argparse.Namespace) -> int:
    sub = {"list": "ls", "remove": "rm"}.get(args.vcmd or "", args.vcmd)
    handler = _SUB.get(sub or "")
    if handler is None:
        raise UsageError("missing subcommand: try 'ipy-oci volume --help'")
    return handler(rt, args)


def _create(rt: Runtime, args: argparse.Namespace) -> int:
    rec = vols.create_volume(rt, args.name, driver=args.driver,
                             labels=parse_kv(args.label, "label"),
                             options=parse_kv(args.opt, "volume option"))
    print(rec.name)
    return 0


def _ls(rt: Runtime, args: argparse.Namespace) -> int:
    found = vols.list_volumes(rt, vols.parse_filters(args.filter))
    if args.quiet:
        for v in found:
            print(v.name)
        return 0
    sys.stdout.write(volume_ls_text(rt, found, args.format, args.noheading))
    return 0


def _inspect(rt: Runtime, args: argparse.Namespace) -> int:
    if args.all == bool(args.names):
        raise UsageError("volume inspect: give volume names or --all (not both)")
    found, rc = [], 0
    for name in args.names or vols.volume_names(rt):
        try:
            found.append(vols.get_volume(rt, name))
        except NoSuchVolume:
            sys.stderr.write(f"Error: inspecting object: no such volume {name}\n")
            rc = 125
    sys.stdout.write(volume_inspect_text(rt, found, args.format))
    return rc


def _rm(rt: Runtime, args: argparse.Namespace) -> int:
    if args.all == bool(args.names):
        raise UsageError("volume rm: choose either one or more volumes or --all")
    if args.time is not None and args.time < 0:
        raise UsageError("--time must be zero or more seconds")
    rc = 0
    for name in args.names or vols.volume_names(rt):
        try:
            print(vols.remove_volume(rt, name, force=args.force, timeout=args.time))
        except NoSuchVolume as exc:
            if args.force:
                continue  # podman: -f ignores volumes that do not exist
            sys.stderr.write(f"Error: {exc}\n")
            rc = 1
        except OciError as exc:
            sys.stderr.write(f"Error: {exc}\n")
            rc = exc.exit_code
    return rc


def _prune(rt: Runtime, args: argparse.Namespace) -> int:
    filters = vols.parse_filters(args.filter, vols.PRUNE_FILTERS)
    if not args.force:
        print("WARNING! This will remove all volumes not used by at least one container. "
              "The following volumes will be removed:")
        names = vols.unused_volumes(rt, filters)
        if not names:
            print("No dangling volumes found")
            return 0
        for name in names:
            print(name)
        sys.stdout.write("Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if not sys.stdin.readline().strip().lower().startswith("y"):
            return 0
    for name in vols.prune_volumes(rt, filters):
        print(name)
    return 0


def _exists(rt: Runtime, args: argparse.Namespace) -> int:
    try:
        vols.get_volume(rt, args.name)
    except NoSuchVolume:
        return 1
    return 0


_SUB = {"create": _create, "ls": _ls, "inspect": _inspect, "rm": _rm, "prune": _prune,
        "exists": _exists}
