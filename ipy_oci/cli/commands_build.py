"""``ipy-oci build`` (and ``image build``): buildah's output live, the image ID last."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine.build import build_image
from ..grammar.parser_build import build_args, containerfile_of, context_of

if TYPE_CHECKING:
    import argparse

    from ..engine.runtime import Runtime


def _write(stream: int, data: bytes) -> None:
    out = sys.stderr if stream == 2 else sys.stdout
    out.buffer.write(data)
    out.flush()


def cmd_build(rt: Runtime, args: argparse.Namespace) -> int:
    context = Path(context_of(args))
    file = containerfile_of(args)
    text = sys.stdin.read() if file == "-" else None
    image_id = build_image(
        rt, context, containerfile=Path(file) if file and text is None else None,
        containerfile_text=text, tags=args.tag, build_args=build_args(args.build_arg),
        target=args.target, no_cache=args.no_cache, layers=args.layers, pull=args.pull,
        network=args.network, on_output=None if args.quiet else _write)
    print(image_id)
    return 0
