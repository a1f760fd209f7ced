"""Durations and sizes written as podman writes them (Go's ``time.Duration.String``
and go-units' ``HumanSize``/``BytesSize``), for ``top``, ``stats`` and ``system df``."""

from __future__ import annotations

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _fraction(value: int, digits: int) -> str:
    """``value`` / 10**digits with trailing zeros (and a bare dot) dropped."""
    whole, frac = divmod(value, 10 ** digits)
    text = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{text}" if text else str(whole)


def go_duration(ns: int) -> str:
    """``1h2m12.497061672s``, ``823.451711ms``, ``0s`` (Go's Duration.String)."""
    sign = "-" if ns < 0 else ""
    ns = abs(int(ns))
    if ns == 0:
        return "0s"
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 6)}ms"
    hours, rest = divmod(ns, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{_fraction(rest, 9)}s"


def _custom(size: float, base: float, units: tuple[str, ...], digits: int = 4) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{digits}g}{units[i]}"


def go_human_size(n: float, digits: int = 4) -> str:
    """Decimal units, 4 significant digits: ``372.7kB``, ``2.233MB``, ``0B`` (``ps -s``
    uses 3: ``1.99MB``)."""
    return _custom(float(n), 1000.0, _DECIMAL, digits)


def go_bytes_size(n: float) -> str:
    """Binary units, 4 significant digits: ``364KiB``, ``23.54GiB``."""
    return _custom(float(n), 1024.0, _BINARY)
