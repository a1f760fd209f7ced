"""Signal names as podman accepts them: KILL, SIGKILL, 9."""

from __future__ import annotations

import signal

from ..errors import UsageError


def parse_signal(text: str) -> int:
    t = text.strip().upper()
    if t.isdigit():
        n = int(t)
        if 0 < n < signal.NSIG:
            return n
    else:
        name = t if t.startswith("SIG") else "SIG" + t
        sig = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ \
            else None
        if sig is not None:
            return int(sig)
    raise UsageError(f"invalid signal {text!r}: use a name such as TERM or KILL, or a number")
