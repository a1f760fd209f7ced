"""``%%oci build -t NAME [opts] [CONTEXT]``: the cell body is the Containerfile.

The context is CONTEXT, ``--context DIR``, or the kernel's working directory (the
notebook's). buildah's output streams into the cell; the value is the image's
inspect data, and the output's metadata records what was built under
``ipy_oci.build``. ``%oci build … CONTEXT`` (a line) builds from the context's own
Containerfile.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.build import build_image
from ..engine.images import image_store
from ..engine.views import image_inspect
from ..errors import UsageError
from ..grammar.parser_build import build_args, containerfile_of, context_of
from . import html as h
from .handles import InspectData
from .provenance import METADATA_KEY
from .streams import STDERR, STDOUT, CellOutput

if TYPE_CHECKING:
    import argparse

    from ..engine.runtime import Runtime
    from .commands import Call
    from .context import KernelContext
    from .grammar import MagicLine


class BuiltImage(InspectData):
    """The built image's inspect data, with the build record as output metadata."""

    def __init__(self, data: dict[str, Any], record: dict[str, Any]) -> None:
        super().__init__(data)
        self.record = record

    def summary(self) -> str:
        r = self.record
        names = ", ".join(r["tags"]) or "no name"
        return f"built {r['image'][:12]} ({names}) {r['digest'][:19]}"

    def __repr__(self) -> str:
        return self.summary()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> tuple[dict[str, Any], dict[str, Any]]:
        html = (f"<div>{h.esc(self.summary())}</div>" + self._repr_html_())
        return ({"text/plain": self.summary(), "text/html": html},
                {METADATA_KEY: {"build": self.record}})


def _build(rt: Runtime, args: argparse.Namespace, context: str, text: str | None
           ) -> BuiltImage:
    file = containerfile_of(args)
    if file == "-":
        raise UsageError("%oci build: a cell has no stdin; put the Containerfile in a "
                         "'%%oci build' cell body, or give -f FILE")
    out = CellOutput()
    try:
        image_id = build_image(
            rt, Path(context), containerfile=Path(file) if file else None,
            containerfile_text=text, tags=args.tag, build_args=build_args(args.build_arg),
            target=args.target, no_cache=args.no_cache, layers=args.layers, pull=args.pull,
            network=args.network,
            on_output=None if args.quiet else
            lambda s, d: out(STDERR if s == 2 else STDOUT, d))
    finally:
        out.close()
    img = image_store(rt).lookup(image_id)
    record: dict[str, Any] = {
        "image": image_id, "digest": img.digest, "tags": list(img.names),
        "context": str(Path(os.path.abspath(context))),
    }
    if text is not None:
        record["containerfile_sha256"] = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return BuiltImage(image_inspect(rt, img), record)


def cell_build(ctx: KernelContext, rt: Runtime, ml: MagicLine, body: str) -> BuiltImage:
    del ctx  # the same for every kernel; kept for the cell magics' common shape
    if ml.args.file:
        raise UsageError("%%oci build: the cell body is the Containerfile; -f does not "
                         "apply (use '%oci build -f FILE CONTEXT' on a line)")
    if not body.strip():
        raise UsageError("%%oci build: the cell body is empty: write the Containerfile "
                         "in it (FROM busybox ...)")
    return _build(rt, ml.args, context_of(ml.args, os.getcwd()), body)


def cmd_build(c: Call) -> BuiltImage:
    return _build(c.rt, c.args, context_of(c.args), None)
