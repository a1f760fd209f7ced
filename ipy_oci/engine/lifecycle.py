"""Lifecycle verbs that are more than one ``Container`` call, the same for every front
end: ``restart``, ``rm`` with its dependency rule and ``--depend``, and ``wait
--condition``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..errors import UsageError
from .records import State
from .selection import STATUS_WORDS, Selection, Target, status_word

if TYPE_CHECKING:
    from .container import Container
    from .runtime import Runtime

# What ``wait --condition`` accepts (podman's state words).
WAIT_CONDITIONS = tuple(w for w in STATUS_WORDS if w != "unknown")


def restart(ctr: Container, timeout: float | None = None) -> None:
    """Stop (stop signal, ``timeout``, SIGKILL), then start again."""
    from .events import container_event

    ctr.stop(timeout)
    container_event(ctr, "restart")  # between the stop and the start, as podman's
    ctr.start()


def dependents(rt: Runtime, ctr: Container) -> list[Container]:
    """Containers that need ``ctr``: they joined its network namespace."""
    mode = f"container:{ctr.id}"
    return [c for c in rt.containers(all=True, sync=False)
            if c.id != ctr.id and c.record.config.network == mode]


def remove(ctr: Container, force: bool = False, timeout: float | None = None,
           volumes: bool = False, depend: bool = False) -> None:
    """``rm``: refused while another container depends on this one (podman's rule:
    remove those first, or use ``rm --depend``, which removes them first: see
    ``with_dependents``)."""
    users = [] if depend else dependents(ctr.runtime, ctr)
    if users:
        names = ", ".join(c.name for c in users)
        raise UsageError(f"container {ctr.id} has dependent containers which must be "
                         f"removed before it: {names} (remove them first, or use "
                         "'rm --depend')")
    ctr.remove(force=force, timeout=timeout, volumes=volumes)


def with_dependents(rt: Runtime, selection: Selection) -> Selection:
    """``rm --depend`` (and ``rm --all``): each target after the containers that depend
    on it, transitively; each container once."""
    ordered: list[Target] = []
    seen: set[str] = set()

    def visit(target: Target, trail: frozenset[str]) -> None:
        if target.container.id in seen or target.container.id in trail:
            return
        for dep in dependents(rt, target.container):
            visit(Target(dep, dep.id), trail | {target.container.id})
        seen.add(target.container.id)
        ordered.append(target)

    for target in selection.targets:
        visit(target, frozenset())
    return Selection(ordered, bulk=selection.bulk)


def check_conditions(conditions: list[str]) -> list[str]:
    """``wait --condition`` values (default: stopped and exited); UsageError if bad."""
    for cond in conditions:
        if cond not in WAIT_CONDITIONS:
            raise UsageError(f"invalid --condition {cond!r}: unknown container state; "
                             f"valid conditions are {', '.join(WAIT_CONDITIONS)}")
    return conditions or ["stopped", "exited"]


def interval_seconds(text: str) -> float:
    """``wait --interval`` (a Go duration: 250ms, 1s) in seconds."""
    from .timeparse import parse_duration

    ns = parse_duration(text)
    if ns is None or ns < 0:
        raise UsageError(f"invalid --interval {text!r}: use a Go duration such as 250ms "
                         "or 1s")
    return ns / 1e9


def wait_for(ctr: Container, conditions: list[str], interval: float = 0.25) -> int:
    """Block until ``ctr`` exits (condition stopped or exited: returns its exit code)
    or reaches another wanted state (returns -1, as podman)."""
    wanted = {c for c in conditions if c not in ("stopped", "exited")}
    if len(wanted) == len(conditions):  # no exit condition: poll the state
        while True:
            ctr.refresh()
            if status_word(ctr) in wanted:
                return -1
            time.sleep(max(interval, 0.01))
    if not wanted:
        ctr.refresh()
        if ctr.record.state == State.CONFIGURED:
            # podman 4.3: a container that never ran (created, or its start failed)
            # has nothing to wait for; its exit code is 0 (libpod's WaitForExit).
            return ctr.record.exit_code or 0
        code = ctr.wait()
        return -1 if code is None else code
    while True:
        code = ctr.wait(timeout=max(interval, 0.01))
        if code is not None:
            return code
        if status_word(ctr) in wanted:
            return -1

