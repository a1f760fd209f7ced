"""``ipy-oci rerun FILE [--index N]``: exported ``%%oci run`` records, run again.

Exit status (docs/CLI.md): 0 when every record re-ran identical, 1 when any differs,
125 on bad input or an engine error, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..engine.rerun import BadRecord, compare, load_export, plan, run_plan
from ..engine.runtime import Runtime
from ..errors import OciError


def cmd_rerun(rt: Runtime, args: argparse.Namespace) -> int:
    records = load_export(args.file)
    indexes = list(range(len(records)))
    if args.index is not None:
        if not -len(records) <= args.index < len(records):
            raise BadRecord(f"no record {args.index} in {args.file}: it has "
                            f"{len(records)} (0 to {len(records) - 1}, or -1 the last)")
        indexes = [args.index % len(records)]
    # Every record is checked before the first runs: bad input runs nothing.
    plans = [(i, plan(records[i], f"record {i}")) for i in indexes]
    code, results = 0, []
    for i, p in plans:
        try:
            result, capture = run_plan(rt, p)
        except OciError as exc:
            sys.stderr.write(f"Error: record {i}: {exc}\n")
            code = 125
            continue
        comp = compare(records[i], result, capture, p.label)
        if args.json:
            results.append(comp.to_json())
        else:
            sys.stdout.write(comp.text())
            sys.stdout.flush()
        if comp.interrupted:
            code = 130
            break
        if not comp.identical and code == 0:
            code = 1
    if args.json:
        print(json.dumps(results, indent=2))
    return code
