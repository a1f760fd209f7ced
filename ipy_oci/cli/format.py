"""Plain-text output: aligned tables and sizes (relative times: engine/views.py)."""

from __future__ import annotations


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [headers, *rows]:
        cells = [c.ljust(widths[i]) for i, c in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{n} B"
        n = n / 1000  # type: ignore[assignment]
    return f"{n} B"


def parse_size(text: str) -> int:
    """'64m' -> bytes (podman's units: b, k, m, g; binary multiples)."""
    from ..errors import UsageError

    t = text.strip().lower().removesuffix("b") or "0"
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(t[-1], 1)
    num = t[:-1] if t[-1] in "kmgt" else t
    try:
        value = int(float(num) * mult)
    except ValueError:
        raise UsageError(f"invalid size {text!r}: use a number with an optional unit "
                         "(b, k, m, g), e.g. 64m") from None
    if value <= 0:
        raise UsageError(f"invalid size {text!r}: it must be positive")
    return value
