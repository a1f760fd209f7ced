"""``--tz``: the container's /etc/localtime, a copy of a host zone file (as podman).

A zone is a name under /usr/share/zoneinfo (``Europe/Paris``, ``UTC``, ``MST7MDT``),
or ``local`` for the host's own /etc/localtime. Like podman, no ``TZ`` variable is
set: the C library reads /etc/localtime, which works in images with no zoneinfo.
"""

from __future__ import annotations

import os
from pathlib import Path

from ipy_oci.errors import UsageError

ZONEINFO = Path("/usr/share/zoneinfo")
HOST_LOCALTIME = Path("/etc/localtime")
_MAX_ZONE_FILE = 1 << 20


def zone_file(tz: str) -> Path:
    """The host file of zone ``tz`` (UsageError naming it when it is no zone)."""
    if tz == "local":
        path = HOST_LOCALTIME
        what = "the host's time zone (/etc/localtime)"
    else:
        parts = tz.split("/")
        if not tz or tz.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise UsageError(f"invalid --tz {tz!r}: give a zone name such as Europe/Paris "
                             f"or UTC (see {ZONEINFO}), or 'local'")
        path = ZONEINFO / tz
        what = f"time zone {tz!r}"
    try:
        real = Path(os.path.realpath(path))
        with open(real, "rb") as fh:
            magic = fh.read(4)
    except IsADirectoryError:
        raise UsageError(f"invalid --tz {tz!r}: {path} is a directory of zones; pick one "
                         f"of them, e.g. {tz}/{_first_zone(path)}") from None
    except OSError:
        raise UsageError(f"unknown --tz {tz!r}: {what} has no zone file at {path}; give a "
                         f"zone name under {ZONEINFO} (e.g. Europe/Paris) or 'local'") from None
    if magic != b"TZif":
        raise UsageError(f"invalid --tz {tz!r}: {path} is not a time zone file")
    return real


def _first_zone(directory: Path) -> str:
    try:
        return sorted(p.name for p in directory.iterdir() if p.is_file())[0]
    except (OSError, IndexError):
        return "..."


def write_localtime(userdata: Path, tz: str) -> str:
    """Copy the zone's file to ``userdata/localtime``; returns its path (to bind)."""
    data = zone_file(tz).read_bytes()[:_MAX_ZONE_FILE]
    dest = userdata / "localtime"
    tmp = userdata / "localtime.tmp"
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, dest)
    return str(dest)
