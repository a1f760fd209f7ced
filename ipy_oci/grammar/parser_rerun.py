"""The grammar of ``rerun FILE [--index N]`` (ipy-oci's own: podman has no notebooks)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

AddFn = Callable[[str, str], Any]

RERUN_EPILOG = """\
FILE is what '%oci provenance --export FILE' writes in a notebook (also a list of
records, or one record as '%oci provenance --json' prints it). Each record is run
again in a fresh container, the image pinned by digest, with the same body, env and
flags, and its exit code and the sha256 of stdout and stderr are compared.

exit status: 0 every record re-ran identical, 1 at least one differs (its diff is
printed), 125 bad input (no such file, not JSON, wrong schema, no record N) or an
engine error, 130 interrupted."""


def add_rerun_command(add: AddFn) -> None:
    p = add("rerun", "re-run exported notebook run cells (their provenance records) "
                    "and compare the output")
    if isinstance(p, argparse.ArgumentParser):
        p.epilog = RERUN_EPILOG
        p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--index", type=int, default=None, metavar="N",
                   help="only record N (0 the first, -1 the last), as '%%oci provenance "
                        "N' numbers them")
    p.add_argument("--json", action="store_true",
                   help="print the comparisons as JSON instead of text")
    p.add_argument("file", metavar="FILE", help="an export of provenance records")
