"""Subordinate id ranges from /etc/subuid and /etc/subgid (by user name or uid)."""

from __future__ import annotations

from dataclasses import dataclass

SUBUID_FILE = "/etc/subuid"
SUBGID_FILE = "/etc/subgid"


@dataclass(frozen=True)
class IdRange:
    start: int
    count: int


def read_ranges(path: str, name: str, uid: int) -> list[IdRange]:
    """The ranges listed for ``name`` or ``uid`` (as shadow's tools accept both)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    out: list[IdRange] = []
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (name, str(uid)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if start > 0 and count > 0:
            out.append(IdRange(start, count))
    return out


def free_range(count: int = 65536) -> IdRange:
    """A range no line of /etc/subuid or /etc/subgid uses yet (for the hint that tells
    the administrator what to add): after the highest one, from 100000 up."""
    end = 100000
    for path in (SUBUID_FILE, SUBGID_FILE):
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                end = max(end, int(parts[1]) + int(parts[2]))
    return IdRange(end, count)
