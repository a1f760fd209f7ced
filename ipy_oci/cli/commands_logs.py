"""CLI handlers for a container's output: logs."""

from __future__ import annotations

import argparse
import sys

from ..engine.runtime import Runtime


def cmd_logs(rt: Runtime, args: argparse.Namespace) -> int:
    ctr = rt.touch(rt.lookup_container(args.container))
    for stream, data in ctr.logs(follow=args.follow):
        out = sys.stderr if stream == "stderr" else sys.stdout
        out.buffer.write(data)
        if args.follow:
            out.buffer.flush()
    sys.stdout.flush()
    return 0
