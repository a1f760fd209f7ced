"""Subordinate id ranges from /etc/subuid and /etc/subgid (by user name or uid)."""

from __future__ import annotations

from dataclasses import dataclass

SUBUID_FILE = "/etc/subuid"
SUBGID_FILE = "/etc/subgid"


@dataclass(frozen=True)
class IdRange:
    start: int
    count: int


def all_ranges(path: str) -> list[tuple[str, IdRange]]:
    """(owner as written, range) of every valid line of a subuid/subgid file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    out: list[tuple[str, IdRange]] = []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3:
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if start > 0 and count > 0:
            out.append((parts[0], IdRange(start, count)))
    return out


def read_ranges(path: str, name: str, uid: int) -> list[IdRange]:
    """The ranges listed for ``name`` or ``uid`` (as shadow's tools accept both)."""
    return [r for owner, r in all_ranges(path) if owner in (name, str(uid))]


def free_range(count: int = 65536) -> IdRange:
    """A range no line of /etc/subuid or /etc/subgid uses yet (for the hint that tells
    the administrator what to add): after the highest one, from 100000 up."""
    end = max([r.start + r.count for path in (SUBUID_FILE, SUBGID_FILE)
               for _owner, r in all_ranges(path)], default=100000)
    return IdRange(max(end, 100000), count)
