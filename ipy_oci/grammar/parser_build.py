"""The ``build`` command's grammar (podman's flag names); ``image build`` is the same
command (parser.py rewrites it)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from ..errors import UsageError
from .parser_images import parse_bool

AddFn = Callable[..., argparse.ArgumentParser]
PULL_WORDS = {"missing": "missing", "always": "always", "true": "always", "never": "never",
              "false": "never"}


def _pull(text: str) -> str:
    policy = PULL_WORDS.get(text.strip().lower())
    if policy is None:
        raise UsageError(f"invalid --pull {text!r}: use missing, always or never")
    return policy


def add_build_command(add: AddFn) -> None:
    p = add("build", "build an image from a Containerfile (through buildah)")
    p.add_argument("-f", "--file", action="append", default=[], metavar="FILE",
                   help="the Containerfile (default: CONTEXT/Containerfile, else "
                   "CONTEXT/Dockerfile; - reads it from stdin)")
    p.add_argument("-t", "--tag", action="append", default=[], metavar="NAME",
                   help="name the image (repeatable; short names go to localhost/)")
    p.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="set a build ARG (KEY alone takes this process's value)")
    p.add_argument("--target", default=None, metavar="STAGE", help="stop at this stage")
    p.add_argument("--no-cache", action="store_true", help="do not reuse cached layers")
    p.add_argument("--layers", nargs="?", const=True, default=True, type=parse_bool,
                   metavar="BOOL", help="cache a layer per step (default true)")
    p.add_argument("--pull", nargs="?", const="always", default="missing", type=_pull,
                   metavar="POLICY", help="base images: missing (default), always, never")
    p.add_argument("--network", default=None, metavar="MODE",
                   help="RUN steps' network: host (the default) or none")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    p.add_argument("--context", dest="context_dir", default=None, metavar="DIR",
                   help="the build context (as CONTEXT; '%%%%oci build' cells default to "
                   "the notebook's directory)")
    p.add_argument("context", nargs="?", default=None, metavar="CONTEXT",
                   help="the build context directory")


def build_args(items: list[str]) -> dict[str, str]:
    """``--build-arg K=V`` (``K`` alone: this process's value, skipped if unset)."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg {item!r}: use KEY=VALUE")
        if eq:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


def context_of(args: argparse.Namespace, default: str | None = None) -> str:
    """CONTEXT or --context (not both); ``default`` when neither (the cell magic)."""
    if args.context and args.context_dir:
        raise UsageError("build: give the context once (CONTEXT or --context DIR)")
    ctx = args.context or args.context_dir or default
    if not ctx:
        raise UsageError("build needs a CONTEXT directory, e.g. 'ipy-oci build -t NAME .'")
    return str(ctx)


def containerfile_of(args: argparse.Namespace) -> str | None:
    if len(args.file) > 1:
        raise UsageError("build: give one -f/--file (several are not supported)")
    return args.file[0] if args.file else None
