"""The layer rules of ipy_oci/, checked on the source (ast), not by importing it.

    front ends   cli/  kernel/  server/      side by side: none imports another
    grammar      grammar/                    the command grammar the CLI and magics share
    engine       engine/                     the public library API
    drivers      oci/  state/  storage/  images/  network/
    shared       config.py  errors.py

Every import counts: module level, inside functions, under ``if TYPE_CHECKING:``,
and ``importlib.import_module("ipy_oci.…")`` with a literal (or literal-prefixed)
name. A front end that needs a driver's type gets it from the engine module that
offers the matching calls (engine/images.py, engine/options.py, engine/records.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ipy_oci"

FRONT_ENDS = {"cli", "kernel", "server"}
DRIVERS = {"oci", "state", "storage", "images", "network", "userns", "slurm"}
SHARED = {"config", "errors"}
# The package root: front ends (and the engine) may read its __version__, nothing else.
ROOT = "root"
ROOT_NAMES = {"__version__"}

# layer -> the other layers it may import (a layer may always import itself).
ALLOWED: dict[str, set[str]] = {
    **{fe: {"engine", "grammar", *SHARED, ROOT} for fe in FRONT_ENDS},
    "grammar": {"engine", *SHARED},
    "engine": {*DRIVERS, *SHARED, ROOT},
    "oci": set(SHARED),
    "storage": set(SHARED),
    "images": set(SHARED),
    # netns, netavark, aardvark-dns, networks and IPAM: its tables live in state/.
    "network": {*SHARED, "state"},
    # The rootless user namespace: holder pids are checked by start time.
    "userns": {*SHARED, "state"},
    # Slurm's command-line tools (sbatch, srun, scontrol, squeue, scancel).
    "slurm": set(SHARED),
    "state": {"errors"},
    "config": {"errors"},
    "errors": set(),
    # Entry points: the IPython extension hook, ``python -m ipy_oci`` and the
    # ``ipy_oci.widgets`` shortcut each open their own front end.
    ROOT: {"kernel"},
    "__main__": {"cli"},
    "widgets": {"kernel"},
}

# Driver -> driver imports as they are today (layer -> modules it may use in another
# driver). Anything new here is a design decision: add it on purpose, or go through
# the engine.
DRIVER_TO_DRIVER: dict[str, set[str]] = {
    "oci": {"ipy_oci.state.procs", "ipy_oci.userns.enter"},
    "images": {"ipy_oci.storage.atomic", "ipy_oci.storage.extract", "ipy_oci.state.locks",
               "ipy_oci.storage.copytar"},
    # Rootless: mounts, chowns and runtime calls go into the user namespace.
    "storage": {"ipy_oci.userns.enter"},
    "network": {"ipy_oci.userns.enter"},
    "userns": {"ipy_oci.state.procs"},
}

# Violations in files under refactoring by the engine engineer, who empties this list
# (test_known_violations_are_still_real fails once one is gone, so it gets removed).
KNOWN: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. ipy_oci.kernel.cells
    target: str  # the imported module, e.g. ipy_oci.engine.views
    names: tuple[str, ...]  # for "from X import a, b": (a, b) when X is a package root
    where: str  # path:line

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def _module_name(path: Path) -> tuple[str, bool]:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    base = PACKAGE.parent / rel
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _literal_prefix(node: ast.expr) -> str | None:
    """'ipy_oci.x' from "ipy_oci.x" or f"ipy_oci.x.{name}" (up to the last full dot)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value.rsplit(".", 1)[0] if "." in first.value else None
    return None


def imports_of(path: Path) -> Iterator[Import]:
    source, is_pkg = _module_name(path)
    return imports_in(source, is_pkg, path.read_text(), path.relative_to(PACKAGE.parent))


def imports_in(source: str, is_pkg: bool, text: str, rel: Path) -> Iterator[Import]:
    """The imports of module ``source`` (whose code is ``text``)."""
    here = source.split(".") if is_pkg else source.split(".")[:-1]
    tree = ast.parse(text, str(rel))
    for node in ast.walk(tree):
        where = f"{rel}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, alias.name, (), where)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # "from pkg import sub" imports the module pkg.sub when it is one.
            plain = []
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                if _is_module(sub):
                    yield Import(source, sub, (), where)
                else:
                    plain.append(alias.name)
            if plain:
                yield Import(source, module, tuple(plain), where)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else \
                func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                target = _literal_prefix(node.args[0])
                if target:
                    yield Import(source, target, (), where)


def layer_of(module: str) -> str:
    parts = module.split(".")
    return ROOT if len(parts) == 1 else parts[1]


def violation(imp: Import) -> str | None:
    """Why ``imp`` breaks the rules, or None."""
    if imp.target != "ipy_oci" and not imp.target.startswith("ipy_oci."):
        return None  # the standard library or a third-party package
    src, dst = layer_of(imp.source), layer_of(imp.target)
    if src == dst:
        return None
    if src not in ALLOWED:
        return f"{src} is not a known layer: add it to ALLOWED in {Path(__file__).name}"
    if dst == ROOT and src != ROOT:
        extra = set(imp.names) - ROOT_NAMES
        if not imp.names or extra:
            return f"only {sorted(ROOT_NAMES)} may come from the package root"
    if dst in ALLOWED[src]:
        return None
    if src in DRIVERS and dst in DRIVERS and imp.target in DRIVER_TO_DRIVER.get(src, ()):
        return None
    if src in FRONT_ENDS and dst in FRONT_ENDS:
        return "front ends stand side by side: none imports another"
    if src in FRONT_ENDS and dst in DRIVERS:
        return f"front ends reach {dst} through the engine (re-export it from engine/)"
    return f"{src} may import only {sorted(ALLOWED[src])} (and itself)"


def _all_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" not in path.parts:
            found.extend(imports_of(path))
    return found


def _violations() -> list[tuple[Import, str]]:
    out = []
    for imp in _all_imports():
        why = violation(imp)
        if why is not None:
            out.append((imp, why))
    return out


def test_layers() -> None:
    bad = [f"{imp}: {why}" for imp, why in _violations()
           if (imp.source, imp.target) not in KNOWN]
    assert not bad, "layer rules broken:\n" + "\n".join(bad)


def test_known_violations_are_still_real() -> None:
    current = {(imp.source, imp.target) for imp, _why in _violations()}
    gone = sorted(KNOWN - current)
    assert not gone, f"fixed, so remove them from KNOWN: {gone}"


def test_driver_to_driver_list_is_current() -> None:
    """Every allowed driver -> driver import is still used (a stale entry hides drift)."""
    used = {(layer_of(i.source), i.target) for i in _all_imports()
            if layer_of(i.source) in DRIVERS and layer_of(i.target) in DRIVERS
            and layer_of(i.source) != layer_of(i.target)}
    listed = {(src, t) for src, targets in DRIVER_TO_DRIVER.items() for t in targets}
    assert listed <= used, f"no longer imported, remove: {sorted(listed - used)}"


# -- the checker itself ---------------------------------------------------------------------------
@pytest.mark.parametrize(("source", "target", "names", "ok"), [
    ("ipy_oci.kernel.cells", "ipy_oci.grammar.options", (), True),
    ("ipy_oci.kernel.cells", "ipy_oci.cli.options", (), False),
    ("ipy_oci.server.app", "ipy_oci.kernel.context", (), False),
    ("ipy_oci.cli.main", "ipy_oci.server.app", (), False),
    ("ipy_oci.cli.pull_progress", "ipy_oci.images.progress", (), False),
    ("ipy_oci.kernel.provenance", "ipy_oci", ("__version__",), True),
    ("ipy_oci.kernel.provenance", "ipy_oci", ("load_ipython_extension",), False),
    ("ipy_oci.grammar.options", "ipy_oci.engine.records", (), True),
    ("ipy_oci.grammar.options", "ipy_oci.oci.attach", (), False),
    ("ipy_oci.grammar.parser", "ipy_oci.cli.main", (), False),
    ("ipy_oci.engine.runtime", "ipy_oci.state.store", (), True),
    ("ipy_oci.engine.runtime", "ipy_oci.grammar.options", (), False),
    ("ipy_oci.engine.runtime", "ipy_oci.kernel.context", (), False),
    ("ipy_oci.oci.conmon", "ipy_oci.state.procs", (), True),
    ("ipy_oci.oci.conmon", "ipy_oci.state.db", (), False),
    ("ipy_oci.oci.conmon", "ipy_oci.engine.container", (), False),
    ("ipy_oci.state.db", "ipy_oci.config", (), False),
    ("ipy_oci.state.db", "ipy_oci.errors", (), True),
    ("ipy_oci.images.store", "ipy_oci.storage.atomic", (), True),
    ("ipy_oci.storage.rootfs", "ipy_oci.images.store", (), False),
    ("ipy_oci.kernel.commands", "json", (), True),
    ("ipy_oci.engine.container", "ipy_oci.network.driver", (), True),
    ("ipy_oci.network.ipam", "ipy_oci.state.store", (), True),
    ("ipy_oci.network.netavark", "ipy_oci.config", (), True),
    ("ipy_oci.network.driver", "ipy_oci.oci.spec", (), False),
    ("ipy_oci.network.driver", "ipy_oci.engine.container", (), False),
    ("ipy_oci.cli.main", "ipy_oci.network.ports", (), False),
    ("ipy_oci.state.store", "ipy_oci.network.errors", (), False),
])
def test_rules(source: str, target: str, names: tuple[str, ...], ok: bool) -> None:
    assert (violation(Import(source, target, names, "x.py:1")) is None) == ok


def test_every_kind_of_import_is_seen() -> None:
    text = '''
from typing import TYPE_CHECKING
import importlib
from . import handles
from ..cli import main
if TYPE_CHECKING:
    from ..state.records import State

def f():
    from ipy_oci.oci import attach
    importlib.import_module("ipy_oci.cli.commands_images")
    importlib.import_module(f"ipy_oci.images.{name}")
'''
    found = list(imports_in("ipy_oci.kernel.probe", False, text, Path("kernel/probe.py")))
    targets = {i.target for i in found}
    assert {"ipy_oci.kernel.handles", "ipy_oci.cli.main", "ipy_oci.state.records",
            "ipy_oci.oci.attach", "ipy_oci.cli.commands_images", "ipy_oci.images"} <= targets
