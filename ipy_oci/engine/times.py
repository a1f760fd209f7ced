"""Time values in filters (``until=`` of ``volume prune`` and friends), as seconds.

The parsing itself is engine/timeparse.py (podman's forms, shared with ``logs`` and
``events``).
"""

from __future__ import annotations

from .timeparse import parse_input_time


def timestamp(value: str) -> float:
    """An ``until=`` filter value -> seconds since the epoch. Timestamps, dates, Unix
    seconds, or a duration counted back from now (``24h``: a day ago), as podman's
    filters read them; UsageError names a value that is none of these."""
    return parse_input_time(value, since=True) / 1e9
