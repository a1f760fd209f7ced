"""Clear the teaching notebooks' outputs before committing them.

The notebooks are stored without outputs (tests/notebooks/test_notebooks.py checks
it): outputs hold machine-specific ids, paths and times, and the tests regenerate
them against real containers anyway. After editing a notebook in JupyterLab, run

    .venv/bin/python notebooks/tools/clear_outputs.py            # every notebook
    .venv/bin/python notebooks/tools/clear_outputs.py --check    # only report

Besides outputs and execution counts, this drops the saved widget state and the
per-cell execution timing metadata that JupyterLab may add. Cell ids stay: the tests
find cells by them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent.parent
_CELL_METADATA_DROP = ("execution", "collapsed", "scrolled")


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What would have to be cleared (empty when the notebook is clean)."""
    found = []
    if "widgets" in nb.metadata:
        found.append("saved widget state")
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.outputs:
            found.append(f"outputs in cell {cell.get('id', '?')}")
        if cell.execution_count is not None:
            found.append(f"an execution count in cell {cell.get('id', '?')}")
        for key in _CELL_METADATA_DROP:
            if key in cell.metadata:
                found.append(f"metadata {key!r} in cell {cell.get('id', '?')}")
    return found


def clear(nb: nbformat.NotebookNode) -> None:
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in _CELL_METADATA_DROP:
            cell.metadata.pop(key, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report, change nothing")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(HERE.glob("*.ipynb"))
    dirty = 0
    for path in paths:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        found = problems(nb)
        if not found:
            continue
        dirty += 1
        if args.check:
            print(f"{path}: {', '.join(found)}")
        else:
            clear(nb)
            nbformat.validate(nb)
            nbformat.write(nb, path)
            print(f"{path}: cleared")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
