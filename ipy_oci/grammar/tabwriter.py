"""Go's text/tabwriter as podman sets it up for its tables (its own module: listings
that need no template, such as the default ``ps`` table, align without loading the
template engine)."""

from __future__ import annotations


def tabwrite(text: str, minwidth: int = 12, padding: int = 2) -> str:
    """Go's text/tabwriter with podman's settings (minwidth 12, padding 2, spaces).

    Tab-terminated cells of adjacent lines form a column, padded to its widest
    cell plus ``padding`` (at least ``minwidth``); a line's last cell is not
    part of a column.
    """
    raw = text.split("\n")
    lines = [ln.split("\t") for ln in raw]
    if lines[-1] == [""]:
        lines[-1] = []
    elif lines[-1][-1] == "":
        lines[-1].pop()
    if len({len(ln) for ln in lines[:-1]}) == 1 and (not lines[-1] or
                                                    len(lines[-1]) == len(lines[0])):
        return _uniform(lines, minwidth, padding)
    return _general(lines, minwidth, padding)


def _general(lines: list[list[str]], minwidth: int, padding: int) -> str:
    """Go's algorithm: a column is a run of adjacent lines that have that cell."""
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for k in range(line0, line1):
            line = lines[k]
            for j, cell in enumerate(line):
                out.append(cell)
                if j < len(widths):
                    out.append(" " * (widths[j] - len(cell)))
            if k + 1 < len(lines):
                out.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column < len(lines[this]) - 1:
                write_lines(line0, this)
                line0 = this
                width = minwidth
                while this < line1 and column < len(lines[this]) - 1:
                    width = max(width, len(lines[this][column]) + padding)
                    this += 1
                widths.append(width)
                fmt(line0, this)
                widths.pop()
                line0 = this
            this += 1
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "".join(out)


def _uniform(lines: list[list[str]], minwidth: int, padding: int) -> str:
    """Every line has the same cells (a listing's table): each column is one block as
    wide as its widest cell plus ``padding`` (at least ``minwidth``) — what the general
    algorithm computes, in one pass."""
    cells = [ln for ln in lines if ln]
    widths = [max(minwidth, max(len(ln[j]) for ln in cells) + padding)
              for j in range(len(cells[0]) - 1)]
    out = ["".join(c.ljust(w) for c, w in zip(ln[:-1], widths, strict=True)) + ln[-1]
           for ln in cells]
    return "\n".join(out) + ("\n" if not lines[-1] else "")
