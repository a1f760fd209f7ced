"""``container prune``: remove every container that is not running (podman's states:
created, initialized, exited), optionally narrowed by ``until`` and ``label``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import NoSuchContainer, OciError, UsageError
from ..state.records import State
from .selection import container_filter

if TYPE_CHECKING:
    from .runtime import Runtime

PRUNE_FILTERS = ("label", "label!", "until")
_PRUNABLE = (State.CONFIGURED, State.CREATED, State.STOPPED, State.EXITED)


@dataclass
class PruneResult:
    removed: list[str] = field(default_factory=list)  # full IDs
    errors: list[OciError] = field(default_factory=list)


def prune_containers(rt: Runtime, filters: Sequence[str] = ()) -> PruneResult:
    for item in filters:
        key = item.partition("=")[0]
        if key not in PRUNE_FILTERS:
            raise UsageError(f"{key} is an invalid filter: container prune takes "
                             f"{', '.join(PRUNE_FILTERS)}")
    from .lifecycle import remove

    match = container_filter(list(filters), rt)
    out = PruneResult()
    todo = [c for c in rt.containers(all=True) if c.state in _PRUNABLE and match(c)]
    # A container another one depends on (--network container:) goes after it: a
    # second round takes what the first had to leave.
    for last_round in (False, True):
        left = []
        for ctr in todo:
            try:
                remove(ctr)
            except NoSuchContainer:
                continue  # removed meanwhile by someone else
            except UsageError as exc:
                if last_round:
                    out.errors.append(exc)
                else:
                    left.append(ctr)
                continue
            except OciError as exc:
                out.errors.append(exc)
                continue
            out.removed.append(ctr.id)
        todo = left
    return out
