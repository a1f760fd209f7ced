"""Points in time as podman reads and writes them, in nanoseconds since the epoch.

- ``parse_input_time``: what ``--since``/``--until`` (logs, events) accept, podman's
  forms: RFC3339 with or without fractions, ``2006-01-02T15:04:05`` (UTC),
  ``2006-01-02Z07:00``, ``2006-01-02`` (UTC), Unix seconds (``1000``, ``1.5``) and
  Go durations (``10m``, ``1h30m``) counted back from now for ``since`` and
  forward for ``until``, as podman does.
- ``parse_rfc3339``: the timestamps conmon writes in a k8s-file log and the event
  log's ``Time``.
- ``rfc3339_nano`` / ``go_time``: Go's ``RFC3339Nano`` and ``Time.String()`` in the
  local zone (``2019-03-02 10:33:42.312377447 -0600 CST``).
"""

from __future__ import annotations

import re
import time
from functools import cache

from ..errors import UsageError

_NS = 1_000_000_000


@cache
def _re(name: str) -> re.Pattern[str]:
    """The patterns, compiled on first use: writing an event (the exec hot path) only
    formats times."""
    return re.compile({
        "stamp": r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
                 r"(Z|[+-]\d{2}:\d{2})",
        "local": r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?",
        "date": r"(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?",
        "unix": r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?",
        "duration": r"([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)",
        "part": r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)",
    }[name])

_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": _NS,
            "m": 60 * _NS, "h": 3600 * _NS}

TIME_FORMS = ("RFC3339 (2006-01-02T15:04:05Z or with an offset), 2006-01-02T15:04:05 (UTC), "
              "2006-01-02, Unix seconds, or a duration such as 10m or 1h30m")


def _offset_seconds(zone: str) -> int:
    if zone in ("", "Z"):
        return 0
    sign = -1 if zone[0] == "-" else 1
    return sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)


def _epoch_ns(parts: tuple[str, ...], frac: str | None, zone: str) -> int | None:
    import calendar

    y, mo, d, h, mi, sec = (int(p) for p in parts)
    # Go's parser refuses what timegm would roll over (month 13, second 60 ...).
    if not (1 <= mo <= 12 and 1 <= d <= calendar.monthrange(y, mo)[1] and h < 24
            and mi < 60 and sec < 60):
        return None
    secs = calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0))
    ns = int(frac.ljust(9, "0")) if frac else 0
    return (secs - _offset_seconds(zone)) * _NS + ns


def parse_rfc3339(text: str) -> int | None:
    """``2006-01-02T15:04:05.999999999Z07:00`` -> ns since the epoch; None if it is not."""
    m = _re("stamp").fullmatch(text)
    if not m:
        return None
    return _epoch_ns(m.groups()[:6], m.group(7), m.group(8))


def parse_duration(text: str) -> int | None:
    """A Go duration (``1h30m``, ``10m``, ``1.5s``, ``300ms``, ``0``) -> ns; None if not."""
    if text in ("0", "+0", "-0"):
        return 0
    m = _re("duration").fullmatch(text)
    if not m:
        return None
    total = 0.0
    for number, unit in _re("part").findall(m.group(2)):
        total += float(number) * _UNIT_NS[unit]
    return -int(total) if m.group(1) == "-" else int(total)


def parse_input_time(text: str, since: bool, now_ns: int | None = None) -> int:
    """A ``--since``/``--until`` value -> ns since the epoch (podman's ParseInputTime).

    UsageError (exit 125) names the value and the forms that work.
    """
    value = text.strip()
    m = _re("stamp").fullmatch(value)
    if m:
        ns = _epoch_ns(m.groups()[:6], m.group(7), m.group(8))
        if ns is not None:
            return ns
    m = _re("local").fullmatch(value)
    if m:
        ns = _epoch_ns(m.groups()[:6], m.group(7), "Z")
        if ns is not None:
            return ns
    m = _re("date").fullmatch(value)
    if m:
        ns = _epoch_ns((m.group(1), m.group(2), m.group(3), "0", "0", "0"), None,
                       m.group(4) or "Z")
        if ns is not None:
            return ns
    if _re("unix").fullmatch(value):
        seconds = float(value)
        whole = int(seconds)
        return whole * _NS + round((seconds - whole) * _NS)
    delta = parse_duration(value)
    if delta is not None:
        now = time.time_ns() if now_ns is None else now_ns
        return now - delta if since else now + delta
    raise UsageError(f"invalid time {text!r}: use {TIME_FORMS}")


def filter_timestamp(value: str) -> float:
    """An ``until=``/``since=`` filter value -> seconds since the epoch: a timestamp, a
    date, Unix seconds, or a duration counted back from now (``24h``: a day ago), as
    podman's filters read them; UsageError names a value that is none of these."""
    return parse_input_time(value, since=True) / 1e9


def _local(ns: int) -> tuple[time.struct_time, int]:
    secs, frac = divmod(ns, _NS)
    return time.localtime(secs), frac


def _zone(tm: time.struct_time, z_for_utc: bool) -> str:
    off = tm.tm_gmtoff or 0
    if off == 0 and z_for_utc:
        return "Z"
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"


def rfc3339_nano(ns: int) -> str:
    """Go's ``RFC3339Nano`` in the local zone: trailing zeros of the fraction dropped."""
    tm, frac = _local(ns)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", tm)
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + _zone(tm, z_for_utc=True)


def go_time(ns: int) -> str:
    """Go's ``Time.String()`` in the local zone: ``2019-03-02 10:33:42.312377447 -0600 CST``."""
    tm, frac = _local(ns)
    text = time.strftime("%Y-%m-%d %H:%M:%S", tm)
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    off = _zone(tm, z_for_utc=False).replace(":", "")
    return f"{text} {off} {tm.tm_zone or off}"
