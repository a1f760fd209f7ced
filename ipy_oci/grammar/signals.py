"""Signal names as podman accepts them: KILL, SIGKILL, 9, -9, RTMIN+3; podman's words
for bad ones ("invalid signal: X", "valid signals are 1 through 64")."""

from __future__ import annotations

import re
import signal

from ..errors import UsageError

_RT = re.compile(r"RT(MIN|MAX)([+-])([0-9]+)")


def _by_name(upper: str) -> int | None:
    name = upper.removeprefix("SIG")
    sig = signal.Signals.__members__.get("SIG" + name)
    if sig is not None:
        return int(sig)
    rt = _RT.fullmatch(name)  # RTMIN+n and RTMAX-n, n 1..15, as docker's table
    if rt and 1 <= int(rt[3]) <= 15 and (rt[1], rt[2]) in (("MIN", "+"), ("MAX", "-")):
        base = signal.SIGRTMIN if rt[1] == "MIN" else signal.SIGRTMAX
        return int(base) + (int(rt[3]) if rt[2] == "+" else -int(rt[3]))
    return None


def parse_signal(text: str) -> int:
    # podman drops one leading dash (kill -s -HUP), then reads a number or a name.
    raw = text[1:] if text.startswith("-") else text
    if raw.isascii() and raw.isdigit():
        n = int(raw)
        if n == 0:
            raise UsageError(f"invalid signal: {raw}")
    else:
        found = _by_name(raw.upper())
        if found is None:
            raise UsageError(f"invalid signal: {raw}")
        n = found
    if not 0 < n < signal.NSIG:
        raise UsageError(f"valid signals are 1 through {signal.NSIG - 1}")
    return n
